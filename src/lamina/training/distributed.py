"""Data-parallel training over several processes: torch's DistributedDataParallel, started by `torchrun` (or
by `lamina train --nproc N`, which starts torchrun on this machine). Gloo on CPUs, NCCL on GPUs.

How a run trains under N processes (ranks), each a full lamina run of its own:
- every rank reads and encodes the data and builds the network from the same seed; DDP starts every rank from
  rank 0's weights and averages the gradients of each step over the ranks;
- the shuffled training batches are sharded (batches.TensorBatches): epoch e's order is drawn from (seed, e) on
  every rank, each global batch holds `batch_size × N` rows, and rank r trains on its r-th slice of it. So
  `--batch-size` is rows per process and the learning rate is taken as given, not scaled: N processes with
  batch B take the steps one process takes with batch B·N (same order, same rows per step, the mean gradient)
  except where a layer sees the per-rank batch: batch norm normalises over each rank's B rows (DDP's default;
  rank 0's running statistics are broadcast before each forward) and dropout draws each rank's own masks;
- validation runs on rank 0 alone, over the whole validation set, and its record is broadcast: history, best
  weights and early stopping are the same on every rank, and the stop decision is broadcast as well;
- rank 0 alone writes the run folder and checkpoints; the others wait at a barrier after each checkpoint;
- a stop request (Ctrl-C, SIGTERM) on any rank is all-reduced after every batch, so every rank stops after the
  same batch and rank 0 saves the one checkpoint to resume from (with every rank's random state).

Multi-node: run `torchrun --nnodes M --nproc-per-node N --rdzv-backend c10d --rdzv-endpoint HOST:PORT
--rdzv-id JOB -m lamina.cli train ...` on each machine (README, "Training on several processes").
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import timedelta

import torch
from torch import distributed as dist
from torch import nn

from lamina.errors import LaminaError

# Longer than any checkpoint or validation rank 0 does while the others wait at a barrier (minutes).
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
EXIT_INTERRUPTED = 130  # what a worker stopped by Ctrl-C or SIGTERM exits with (cli.EXIT_INTERRUPTED)


def launched() -> bool:
    """Whether this process is one of several that torchrun started (its environment names a world > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def active() -> bool:
    """Whether a process group of more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank: its group's, or before the group is up the one torchrun gave it; 0 for a lone process
    (whatever RANK its environment holds for other tools)."""
    if active():
        return dist.get_rank()
    return int(os.environ["RANK"]) if launched() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_writer() -> bool:
    """Whether this process writes the run folder, checkpoints and terminal output: rank 0, or a lone process."""
    return rank() == 0


@contextlib.contextmanager
def processes(device: str = "auto"):
    """The process group of a run torchrun started, for the block; nothing when it runs alone.

    Gloo for the CPU, NCCL when `device` is a GPU (each rank on the GPU of its local rank). On leaving normally
    every rank meets at a barrier before the group is destroyed; the Trainer has freed its DDP module and
    optimisers by then (a gloo process group destroyed under a live DDP module aborts at interpreter exit)."""
    if not launched() or (dist.is_available() and dist.is_initialized()):
        yield
        return
    backend = "gloo"
    if device not in ("auto", "cpu", "cuda"):
        raise LaminaError(f"--device {device} with several processes: each process takes the GPU of its local "
                          "rank, so give --device auto, cuda or cpu.")
    if device != "cpu" and torch.cuda.is_available():
        backend = "nccl"
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield
        barrier()
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier(device_ids=[torch.cuda.current_device()] if dist.get_backend() == "nccl" else None)


def _device() -> torch.device:
    """Where this rank's collective tensors live: its GPU under NCCL, else the CPU."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """Whether `flag` is true on any rank (an all-reduce; every rank must call it)."""
    if not active():
        return flag
    value = torch.tensor([float(flag)], device=_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def summed(values: list[float]) -> list[float]:
    """Each value summed over the ranks (an all-reduce in float64; every rank must call it)."""
    if not active():
        return values
    total = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(total)
    return total.tolist()


def from_writer(value):
    """Rank 0's `value` (any JSON value) on every rank (a broadcast; every rank must call it). JSON, not pickle:
    nothing a process receives is unpickled."""
    if not active():
        return value
    data = json.dumps(value).encode() if is_writer() else b""
    size = torch.tensor([len(data)], dtype=torch.long, device=_device())
    dist.broadcast(size, src=0)
    payload = torch.zeros(int(size.item()), dtype=torch.uint8, device=_device())
    if is_writer():
        payload.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(payload, src=0)
    return json.loads(bytes(payload.cpu().tolist()).decode())


def gathered(name: str, tensor: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every other rank's `tensor` (same shape on all ranks) under `name.rankR`, for rank 0's checkpoint (an
    all-gather; every rank must call it). Empty when running alone."""
    if not active():
        return {}
    parts = [torch.empty_like(tensor, device=_device()) for _ in range(world_size())]
    dist.all_gather(parts, tensor.to(_device()))
    return {f"{name}.rank{r}": part.cpu() for r, part in enumerate(parts) if r > 0}


def own(name: str, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """This rank's tensor `name` of a checkpoint that `gathered` filled: rank 0's is `name` itself."""
    return tensors[f"{name}.rank{rank()}"] if rank() > 0 else tensors[name]


def seed_of_rank(seed: int) -> int:
    """The random seed of this rank's training stream (dropout, augmentation): each rank draws its own masks,
    and rank 0 draws what a lone process would."""
    return seed + rank()


def shard(batch_size: int) -> tuple[int, int]:
    """(rows each global batch holds, where this rank's slice of it starts): the sampler's view of the world."""
    return batch_size * world_size(), batch_size * rank()


def fingerprint() -> dict:
    """What a checkpoint must have been made with beside the config: the number of processes (N processes train
    with a global batch N times the per-process one). Empty for a lone process, as checkpoints before DDP were."""
    return {"processes": world_size()} if active() else {}


def recorded_processes(run_dir) -> int:
    """The number of processes a run's last checkpoint was trained by (1 where it names none or is unreadable:
    the resume itself then says what is wrong)."""
    from lamina.run import RunFolder
    from lamina.training import checkpoint
    from lamina.training.trainer import LAST

    try:
        recorded = checkpoint.metadata(RunFolder(run_dir).checkpoints / LAST).get("fingerprint") or {}
    except checkpoint.DamagedCheckpoint:
        return 1
    return int(recorded.get("processes", 1)) if isinstance(recorded, dict) else 1


def wrap(module: nn.Module, device: torch.device, *, freeze=None, adversary=None) -> nn.Module:
    """`module` inside DistributedDataParallel (the module itself when running alone): its backward passes
    average the gradients over the ranks. Refuses what DDP cannot do with lamina's loop yet."""
    if not active():
        return module
    if freeze is not None:
        raise LaminaError("--freeze-backbone with several processes is not supported: DDP cannot change which "
                          "parameters train part-way. Train with one process, or leave --freeze-backbone out.")
    if adversary is not None:
        raise LaminaError("--adversarial pgd with several processes is not supported: the attack's extra backward "
                          "passes would desynchronise DDP's gradient averaging. Train with one process.")
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def refuse_unsharded(train) -> None:
    """Stops a distributed run whose training batches are not sharded (each rank would train on every row)."""
    if active() and not getattr(train, "sharded", False):
        raise LaminaError(f"Training on {world_size()} processes needs batches sharded across them, which this "
                          "task's training data does not provide. Train it with one process (no --nproc).")


def launch(nproc: int, argv: list[str]) -> int:
    """Runs `lamina <argv>` as `nproc` processes on this machine through torchrun (torch.distributed.run, with a
    standalone rendezvous on a free local port) and returns their exit status: 0, or the first failed rank's.
    Each process gets an even share of the CPU threads unless OMP_NUM_THREADS is set."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    if nproc < 1:
        raise LaminaError(f"--nproc {nproc}: give the number of processes to train with, from 1.")
    # Each rank prints its own errors and the stop; torchrun's log lines (each module's logger has its own level)
    # would only repeat that a rank failed or a signal came.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    args = parse_args(["--standalone", "--nproc-per-node", str(nproc), "--module", "lamina.cli", *argv])
    args.rdzv_backend, args.rdzv_endpoint = "c10d", "localhost:0"  # what --standalone means (torchrun's run())
    args.rdzv_id = f"lamina-{os.getpid()}"
    config, command, command_args = config_from_args(args)
    try:
        elastic_launch(config=config, entrypoint=command)(*command_args)
    except ChildFailedError as error:
        status = error.get_first_failure()[1].exitcode
        return status if status > 0 else 128 - status  # a signal's death: the shell's 128 + signal number
    except SignalException:  # Ctrl-C or SIGTERM to this launcher: torchrun passed it on to every rank
        return EXIT_INTERRUPTED
    return 0
