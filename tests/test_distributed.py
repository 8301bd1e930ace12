"""Training on 2 processes (DDP over gloo on the CPU) against one process with the same global batch: the Trainer
alone (2 ranks started by hand), then the whole flow through `lamina train --nproc 2` (torchrun), where a SIGTERM to
one rank stops both with one checkpoint and the resume (2 processes again) ends where one uninterrupted process ends.

The networks here have no batch norm and no dropout, which see each rank's own slice of a global batch; so the math
of 2 × 16 rows is the math of 32 rows and the two trainings may differ only by the order floats are summed in:
TOLERANCE on every weight and every recorded loss (measured: about 2e-7)."""

import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

import lamina
from conftest import make_table
from lamina.cli import _without_option
from lamina.errors import LaminaError
from lamina.training import distributed
from lamina.training.batches import TensorBatches
from lamina.training.checkpoint import read
from lamina.training.trainer import Trainer
from test_resume import wait_for_epoch

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")

TOLERANCE = 1e-5
EPOCHS = 12  # of the stopped run: enough that the SIGTERM after its first epoch lands well before the end
PER_RANK_BATCH = 16
# members 1: one process would train the small tables' ensemble, several processes train one network (tasks.table)
EXACT = {"dropout": 0.0, "norm": "layer", "width": 32, "depth": 2, "members": 1, "patience": 100, "seed": 3}


def train_small(batch_size: int) -> tuple[dict, list[dict]]:
    """A small network trained by the Trainer (warm-up, clipping, weight decay, shuffled batches, validation)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 6, generator=generator)
    y = (x[:, :2].sum(1, keepdim=True) > 0).float()
    torch.manual_seed(1)
    module = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 1))
    trainer = Trainer(module, nn.functional.binary_cross_entropy_with_logits, epochs=3, lr=0.01, weight_decay=1e-4,
                      warmup_epochs=1, clip_norm=0.5, device="cpu", seed=2, progress=False)
    history = trainer.fit(TensorBatches(x[:192], y[:192], batch_size, shuffle=True, seed=5),
                          TensorBatches(x[192:], y[192:], 64))
    return module.state_dict(), history


# A rank: the function above, run by itself (torch and lamina's training modules are all it imports).
WORKER = f"""
import json, sys
import torch
from safetensors.torch import save_file
from torch import nn
from lamina.training import distributed
from lamina.training.batches import TensorBatches
from lamina.training.trainer import Trainer

{inspect.getsource(train_small)}
with distributed.processes("cpu"):
    state, history = train_small({PER_RANK_BATCH})
    if distributed.is_writer():
        save_file(state, sys.argv[1], metadata={{"history": json.dumps(history)}})
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_ranks_of_the_trainer_take_the_steps_one_process_takes(tmp_path):
    out = tmp_path / "two.safetensors"
    world = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2",
             "LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, "-c", WORKER, str(out)], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **world, "RANK": str(r), "LOCAL_RANK": str(r)}) for r in (0, 1)]
    errors = [rank.communicate(timeout=120)[1] for rank in ranks]
    assert [rank.returncode for rank in ranks] == [0, 0], errors
    state, history = train_small(2 * PER_RANK_BATCH)
    two = load_file(out)
    assert max(float((two[k] - state[k]).abs().max()) for k in state) < TOLERANCE
    two_history = json.loads(read_metadata(out)["history"])
    for mine, expected in zip(two_history, history, strict=True):
        for key in ("train_loss", "valid_loss", "lr"):
            assert abs(mine[key] - expected[key]) < TOLERANCE, key


def read_metadata(path: Path) -> dict:
    with safe_open(str(path), framework="pt") as stream:
        return stream.metadata()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("ddp") / "data.csv"
    make_table(rows=240, seed=4).drop(columns=["comment", "day"]).to_csv(path, index=False)
    return path


def one_process(data, out, epochs: int):
    """The reference: one process, batches of 2 × PER_RANK_BATCH rows."""
    lamina.fit(data, "y", out=out, progress=False, epochs=epochs, batch_size=2 * PER_RANK_BATCH, **EXACT)
    return out


def two_processes(data, out, epochs: int):
    command = lamina_command("train", data, "--target", "y", "--out", out, "--nproc", 2, "--quiet",
                             "--epochs", epochs, "--batch-size", PER_RANK_BATCH, *flags(EXACT))
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def flags(settings: dict) -> list[str]:
    return [word for key, value in settings.items() for word in (f"--{key.replace('_', '-')}", str(value))]


def lamina_command(*words) -> list[str]:
    return [sys.executable, "-m", "lamina.cli", *map(str, words)]


def assert_same_training(run: Path, reference: Path):
    weights, expected = (load_file(r / "model" / "weights.safetensors") for r in (run, reference))
    assert weights.keys() == expected.keys()
    worst = max(float((weights[k].float() - expected[k].float()).abs().max()) for k in weights)
    assert worst < TOLERANCE, f"weights differ by {worst}"
    history, expected_history = (pd.read_csv(r / "history.csv") for r in (run, reference))
    assert len(history) == len(expected_history)
    for key in ("valid_loss", "train_loss"):  # the training loss over both ranks' rows
        assert (history[key] - expected_history[key]).abs().max() < TOLERANCE, key


def ranks_of(launcher: int) -> dict[int, int]:
    """rank → process id of the workers torchrun started under the launcher process."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or f"PPid:\t{launcher}\n" not in (entry / "status").read_text():
                continue
            found = re.search(rb"(?:^|\0)RANK=(\d+)\0", (entry / "environ").read_bytes())
        except OSError:  # a process that ended meanwhile
            continue
        if found:
            ranks[int(found[1])] = int(entry.name)
    return ranks


@pytest.fixture(scope="module")
def stopped(data, tmp_path_factory):
    """A 2-process run stopped by SIGTERM to rank 1 after its first epoch: (run, process, stderr, ranks)."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    process = two_processes(data, run, epochs=EPOCHS)
    try:
        wait_for_epoch(process, run / "checkpoints" / "last.safetensors", 1)
        ranks = ranks_of(process.pid)
        assert sorted(ranks) == [0, 1]
        os.kill(ranks[1], signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    except BaseException:  # leave no rank behind: each runs in a session of its own
        for pid in [*ranks_of(process.pid).values(), process.pid]:
            os.kill(pid, signal.SIGKILL)
        raise
    return run, process, stderr, ranks


def test_sigterm_to_one_rank_stops_both_with_one_resumable_checkpoint(stopped):
    run, process, stderr, ranks = stopped
    assert process.returncode == 130, stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in ranks.values()), "a rank outlived the launcher"
    assert stderr.count(f"lamina train --resume {run}") == 1, stderr  # rank 0 says it, once
    assert "Traceback" not in stderr
    tensors, meta = read(run / "checkpoints" / "last.safetensors")
    assert not meta["finished"] and 1 <= meta["epoch"] < EPOCHS
    assert meta["fingerprint"]["processes"] == 2
    assert "rng.cpu.rank1" in tensors  # each rank resumes its own random stream
    assert not (run / "metrics.json").exists()


def test_resume_under_two_processes_ends_where_one_uninterrupted_process_ends(stopped, data, tmp_path):
    run = stopped[0]
    resumed = subprocess.run(lamina_command("train", "--resume", run, "--quiet"), capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("run folder:") == 1  # rank 0 alone reports
    assert_same_training(run, one_process(data, tmp_path / "one", epochs=EPOCHS))


def test_two_processes_train_a_picture_network(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, brightness in (("dark", 40), ("light", 200)):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(24):
            pixels = np.clip(rng.normal(brightness, 30, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "pictures" / name / f"{i}.png")
    out = tmp_path / "run"
    done = subprocess.run(lamina_command("train", tmp_path / "pictures", "--out", out, "--nproc", 2, "--quiet",
                                         "--epochs", 2, "--batch-size", 8, "--width", 4),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr  # the mlp's one-member rule under several processes once refused it
    model = json.loads((out / "model" / "model.json").read_text())
    # DDP cannot change which parameters train part-way: the whitening bias trains throughout
    assert model["architecture"]["arch"] == "resnet" and "whitening_bias_epochs" not in model["training"]


def test_without_option_drops_the_option_and_its_value():
    words = ["train", "d.csv", "--nproc", "2", "--out", "r", "--nproc=3", "--quiet"]
    assert _without_option(words, "--nproc") == ["train", "d.csv", "--out", "r", "--quiet"]


def as_rank(monkeypatch, rank: int, world: int = 2):
    """The sampler's view of a world of `world` processes, as rank `rank`, without a process group."""
    monkeypatch.setattr(distributed, "shard", lambda batch_size: (batch_size * world, batch_size * rank))
    monkeypatch.setattr(distributed, "world_size", lambda: world)


def test_each_rank_takes_its_slice_of_every_shuffled_global_batch(monkeypatch):
    rows = torch.arange(100.0)
    whole = [targets for _, targets in TensorBatches(rows.view(-1, 1), rows, 20, shuffle=True, seed=1)]
    slices = []
    for rank in (0, 1):
        as_rank(monkeypatch, rank)
        slices.append([targets for _, targets in TensorBatches(rows.view(-1, 1), rows, 10, shuffle=True, seed=1)])
    assert len(whole) == len(slices[0]) == len(slices[1]) == 5
    for batch, first, second in zip(whole, *slices, strict=True):
        assert torch.equal(torch.cat([first, second]), batch)
    unshuffled = TensorBatches(rows.view(-1, 1), rows, 30)  # validation and inference: every rank reads all rows
    assert torch.equal(torch.cat([targets for _, targets in unshuffled]), rows)


def test_too_few_rows_for_every_rank_is_refused_naming_the_fix(monkeypatch):
    as_rank(monkeypatch, 1)
    with pytest.raises(LaminaError, match="at least 20 training rows, and there are 15: lower --batch-size"):
        list(TensorBatches(torch.zeros(15, 1), torch.zeros(15), 10, shuffle=True))


def test_resuming_with_another_process_count_names_the_one_to_give(tmp_path, monkeypatch, capsys):
    from lamina.cli import main
    from lamina.training import distributed as processes

    monkeypatch.setattr(processes, "recorded_processes", lambda run_dir: 2)  # a run begun with --nproc 2
    code = main(["train", "--resume", str(tmp_path), "--nproc", "1"])
    error = capsys.readouterr().err
    assert code == 2 and "Resume with --nproc 2, or leave --nproc out" in error and "Traceback" not in error
