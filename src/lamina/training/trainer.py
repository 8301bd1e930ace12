"""The training loop: backprop, AdamW, warm-up + cosine schedule, clipping, early stopping,
time budget, checkpoints after every epoch, clean stop on Ctrl-C / SIGTERM, exact resume.

`Trainer(module, loss_fn, ...)` trains any nn.Module on any re-iterable of (inputs, targets)
batches; `lamina.fit` uses this same loop. Inputs may be a tensor or a dict of tensors.

`Trainer(module, step=...)` runs a task's own `TrainingStep` (step.py) in the same loop: several
optimisers, batches of any shape, its own validation record. Inside a step the Trainer's verbs
`autocast()`, `backward(loss)` and `optimizer_step(name)` give it the loop's precision, clipping and
schedules. A fitted Trainer fitted again after raising `epochs` carries on with the same optimisers.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from lamina.errors import LaminaError
from lamina.training import checkpoint, distributed
from lamina.training.batches import move
from lamina.training.budget import PLANNING_EPOCHS, planned_epochs, seconds_text
from lamina.training.optim import cosine_progress, make_schedule
from lamina.training.privacy import DPSGD
from lamina.training.progress import Progress
from lamina.training.step import LossStep, TrainingStep

LAST = "last.safetensors"
BEST = "best.safetensors"


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C or SIGTERM, once the checkpoint to resume from is on disk."""

    def __init__(self, checkpoint_path: Path | None):
        super().__init__("training interrupted")
        self.checkpoint_path = checkpoint_path


class TrainingDiverged(LaminaError):
    pass


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" (a GPU when there is one), or a device torch knows and this machine has; else a LaminaError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise LaminaError(f"Unknown device {name!r}: use auto, cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise LaminaError(f"Device {name!r} is not on this machine (it has {torch.cuda.device_count()} GPU(s)). "
                          "Use --device auto or cpu.")
    if device.type not in ("cpu", "cuda"):
        raise LaminaError(f"Device {name!r} is not supported: use auto, cpu, cuda or cuda:N.")
    return device


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on a GPU ("auto" or "bf16") and on the CPU when asked ("bf16"); "auto" keeps the CPU
    in fp32 because bf16 only pays off there for convolutions on CPUs with bf16 units (see cpu_has_bf16)."""
    if device.type == "cuda" and precision in ("auto", "bf16"):
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and precision == "bf16":
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX-512 BF16 or AMX); elsewhere bf16 is emulated and slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@torch.no_grad()
def infer(module: nn.Module, batches: Iterable, device: torch.device, precision: str = "auto") -> torch.Tensor:
    """The module's outputs over every batch, in eval mode, concatenated on the CPU as float32."""
    if module.training:  # eval() walks every submodule: a tenth of a served row's time when it is already set
        module.eval()
    outputs = []
    with autocast_for(device, precision):
        for batch in batches:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            outputs.append(module(move(inputs, device)).float().cpu())
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


def to_device(batch, device: torch.device):
    """A batch (a tensor, a dict of tensors, or a tuple/list of those) on `device`."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(part, device) for part in batch)
    return move(batch, device)


class Trainer:
    def __init__(
        self,
        module: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        *,
        step: TrainingStep | None = None,  # a task's own step, instead of loss_fn
        epochs: int = 10,
        lr: float = 1e-3,  # peak learning rate
        weight_decay: float = 0.0,  # decoupled L2 strength
        warmup_epochs: float = 0.0,  # linear warm-up, in epochs
        clip_norm: float | None = None,  # max global gradient L2 norm
        patience: int | None = None,  # epochs without improvement before stopping; None: never
        smoothing: float = 0.0,  # weight of the past in the moving average of the monitored score; 0: raw score
        metric: Callable[[torch.Tensor, torch.Tensor], float] | None = None,  # on validation outputs
        metric_name: str = "metric",
        mode: str = "min",  # whether a lower ("min") or higher ("max") metric is better
        time_budget: float | None = None,  # seconds of training, summed across resumes
        device: str = "auto",
        precision: str = "auto",
        checkpoint_dir: str | Path | None = None,
        seed: int = 0,
        progress: bool = True,
        label: str = "",  # the network's name in the progress lines (its architecture); "": none
        callbacks: Iterable[Callable[[dict], None]] = (),  # each called with every epoch's record
        adversary: Callable | None = None,  # (module, inputs, targets) → inputs to train on instead
        freeze: tuple[list[nn.Parameter], int] | None = None,  # (parameters, epochs) held fixed at the start
        # (parameters, share): trained in the first share of the epochs only (of `epochs` as a time budget plans it)
        settle: tuple[list[nn.Parameter], float] | None = None,
        fingerprint: dict | None = None,  # JSON of what the training depends on (config, data); kept in checkpoints
        fall_back_to_best: bool = False,  # a resume whose last checkpoint is missing or damaged continues from best
        trained_before: bool = False,  # epochs were recorded (history.csv): a resume needs this network's checkpoints
        privacy: DPSGD | None = None,  # differential privacy (training/privacy.py): per-row clipping, noise, budget
        budget_epochs: tuple[int, int] | None = None,  # (fewest, most) epochs a time budget may plan (budget.py);
        # None: the budget is a cap only
        clock: Callable[[], float] = time.perf_counter,  # seconds; tests inject a fake one
    ):
        if (loss_fn is None) == (step is None):
            raise TypeError("Trainer takes a loss_fn or a step=, exactly one of them")
        if step is not None and (metric is not None or adversary is not None):
            raise TypeError("metric and adversary belong to the default loss step; a custom step reports its "
                            "metrics from validate() and makes its own inputs in training_step()")
        self.module = module
        self.loss_fn = loss_fn
        self.step = step
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.clip_norm = clip_norm
        self.patience = patience
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing is the weight of the past in a moving average, in [0, 1), not {smoothing}")
        self.smoothing = smoothing
        self.metric = metric
        self.metric_name = metric_name
        self.mode = mode
        self.time_budget = time_budget
        self.device = device
        self.precision = precision
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.seed = seed
        self.progress = progress
        self.label = label
        self.callbacks = list(callbacks)
        self.adversary = adversary
        self.freeze = freeze
        self.settle = settle
        self.fingerprint = fingerprint
        self.fall_back_to_best = fall_back_to_best
        self.trained_before = trained_before
        self.privacy = privacy
        self.budget_epochs = budget_epochs
        self.clock = clock
        self.recipe_epochs = epochs  # what was asked for, before a time budget's plan

    # ---- the loop -------------------------------------------------------------------------------

    def fit(self, train: Iterable, valid: Iterable | None = None, resume: bool = False) -> list[dict]:
        """Trains to `epochs` and returns the history (one record per epoch). A Trainer fitted before carries
        on from where it stopped (its epochs, optimisers, early-stop state and random stream), so raising
        `epochs` and fitting again trains more epochs; a federated client does that every round."""
        self.device_ = resolve_device(self.device)
        self.module.to(self.device_)
        steps = len(train) if hasattr(train, "__len__") else None
        self.steps_ = steps
        self.step_ = self.step if self.step is not None else LossStep(
            self.loss_fn, self.metric, self.metric_name, self.mode, self.adversary)
        distributed.refuse_unsharded(train)  # under torchrun each rank trains on its shard of the rows
        if self.fingerprint is not None:
            self.fingerprint = {**self.fingerprint, **distributed.fingerprint()}
        continuing = hasattr(self, "optimizers_")
        if not continuing:
            self.optimizers_ = self.step_.optimizers(self.module, self.lr, self.weight_decay)
            self._clipped = self._clipped_parameters()
            self._new_state()
        if self.privacy is not None:  # per-row clipped, noised optimiser steps over Poisson-sampled batches
            self.optimizers_, train = self.privacy.attach(self.module, self.optimizers_, train, self.epochs)
            steps = len(train)
        self.optimizer_ = next(iter(self.optimizers_.values()))  # the only one on the default path
        self.schedules_ = self._schedules(steps)
        if resume and self.checkpoint_dir and self._resumable():
            self._resume(steps)
        elif continuing:
            self.finished_ = False
        else:
            torch.manual_seed(distributed.seed_of_rank(self.seed))
        if self.finished_:
            self._restore_best()
            return self.history_
        self._stop_requested = False
        self.trained_ = distributed.wrap(self.module, self.device_, freeze=self.freeze,
                                         adversary=getattr(self.step_, "adversary", None))  # DDP under torchrun
        try:
            with self._signals_caught(), Progress(self.epochs, steps, self.progress and distributed.is_writer(),
                                                       label=self.label) as progress:
                while self.epoch_ < self.epochs:
                    if not self._run_epoch(train, valid, progress):
                        break
            if self.privacy is not None:
                self.privacy.detach()
            self.finished_ = True
            self._save_checkpoint()
        finally:
            self._release()
        self._restore_best()
        return self.history_

    def _release(self) -> None:
        """Frees the DDP wrapper, and under several processes the optimisers too: both go before the process
        group is destroyed (distributed.processes), so a distributed Trainer is not fitted again. Parameters held
        fixed for part of the run (freeze, settle) train again."""
        self.trained_ = None
        for parameters, _ in self._windows():  # the fitted module comes back with all of them trainable
            for parameter in parameters:
                parameter.requires_grad_(True)
        if distributed.active():
            del self.optimizers_, self.optimizer_, self.schedules_

    def _run_epoch(self, train, valid, progress: Progress) -> bool:
        """One epoch from wherever it stands; False once training should stop."""
        started = self.clock()
        if hasattr(train, "set_epoch"):
            train.set_epoch(self.epoch_)
        progress.start_epoch(self.epoch_)
        trains: dict[nn.Parameter, bool] = {}  # a parameter in both windows trains where both let it
        for parameters, now in self._windows():
            for parameter in parameters:
                trains[parameter] = trains.get(parameter, True) and now
        for parameter, now in trains.items():
            parameter.requires_grad_(now)
        self.module.train()
        loss_sum = torch.tensor(self.partial_loss_sum_, device=self.device_)
        rows = self.partial_rows_
        refresh = max(1, (len(train) if hasattr(train, "__len__") else 50) // 20)
        for batch in itertools.islice(train, self.batch_, None):
            batch = to_device(batch, self.device_)
            loss = self._train_on(batch)
            count = self.step_.batch_size_of(batch)
            loss_sum += loss.detach().float() * count
            rows += count
            self.batch_ += 1
            if self.batch_ % refresh == 0:
                self._check_finite(loss_sum)
                progress.step(self.batch_, loss_sum.item() / rows)
            if distributed.any_rank(self._stop_requested):  # every rank stops after the same batch
                total, every_row = distributed.summed([loss_sum.item(), rows])  # kept in rank 0's checkpoint
                self.partial_loss_sum_, self.partial_rows_ = total, int(every_row)
                self.elapsed_ += self.clock() - started
                raise TrainingInterrupted(self._save_checkpoint())
        self._check_finite(loss_sum)
        loss_total, rows = distributed.summed([loss_sum.item(), rows])  # over every rank's rows
        record = {"epoch": self.epoch_ + 1, "train_loss": loss_total / max(rows, 1)}
        if valid is not None and distributed.is_writer():  # rank 0 validates; its record goes to every rank
            self.module.eval()
            with torch.no_grad():
                batches = (to_device(batch, self.device_) for batch in valid)
                record.update(self.step_.validate(self.module, batches, self))
        if self.settle is not None and any(parameter.requires_grad for parameter in self.settle[0]):
            self.settled_epochs_ += 1  # counted once the epoch is whole: a resumed epoch starts again
        self.epoch_ += 1
        self.batch_, self.partial_loss_sum_, self.partial_rows_ = 0, 0.0, 0
        record["lr"] = self.optimizer_.param_groups[0]["lr"]
        record["seconds"] = self.clock() - started
        record = distributed.from_writer(record)
        self.elapsed_ += record["seconds"]
        self.history_.append(record)
        self._plan_to_budget()
        progress.epochs = self.epochs
        improved = self._track_best(record)
        self._save_checkpoint(best_improved=improved)
        for callback in self.callbacks if distributed.is_writer() else ():  # they report: rank 0 alone
            callback(record)
        progress.end_epoch(record, self.epochs - self.epoch_)
        stop, self.stop_reason_ = distributed.from_writer([self._should_stop(record), self.stop_reason_])
        return not stop

    def _windows(self):
        """(parameters, whether they train this epoch) for each set of parameters that trains part of the run."""
        if self.freeze is not None:
            parameters, epochs = self.freeze
            yield parameters, self.epoch_ >= epochs
        if self.settle is not None:
            parameters, share = self.settle
            yield parameters, self.epoch_ < max(1, round(self.epochs * share))

    def _train_on(self, batch) -> torch.Tensor:
        """One training step on a batch; the loss it reports."""
        if len(self.optimizers_) > 1:
            # The step drives its optimisers itself. A backward may reach another optimiser's parameters (a
            # generator's loss runs through the discriminator), so no gradient carries over between batches.
            for optimizer in self.optimizers_.values():
                optimizer.zero_grad(set_to_none=True)
            return self.step_.training_step(self.trained_, batch, self)
        loss = self.step_.training_step(self.trained_, batch, self)
        # Zeroed after the step's forward, not before: an adversary's attack leaves gradients on the weights.
        self.optimizer_.zero_grad(set_to_none=True)
        self.backward(loss)
        self.optimizer_step(next(iter(self.optimizers_)))
        return loss

    def _schedules(self, steps: int | None, at: int | None = None) -> dict:
        """A warm-up + cosine schedule per optimiser over all `epochs` (None without a known epoch length),
        each as far along as the optimiser has stepped when the Trainer carries on with more epochs, or `at`
        steps along for every optimiser (a resume from the best checkpoint, which holds no schedule)."""
        if not steps:
            return dict.fromkeys(self.optimizers_)
        warmup = int(round(self.warmup_epochs * steps))
        done = {name: schedule.last_epoch for name, schedule in getattr(self, "schedules_", {}).items() if schedule}
        if at is not None:
            done = dict.fromkeys(self.optimizers_, at)
            for optimizer in self.optimizers_.values():  # what a schedule started mid-way reads its peak from
                for group in optimizer.param_groups:
                    group.setdefault("initial_lr", group["lr"])
        plan = getattr(self, "plan_", None) or {}  # a time budget's (_plan_to_budget)
        return {name: make_schedule(optimizer, warmup, self.epochs * steps, done.get(name, 0), plan.get("start", 0),
                                    plan.get("phase", 0.0))
                for name, optimizer in self.optimizers_.items()}

    def _plan_to_budget(self) -> None:
        """With a time budget to plan for (budget_epochs), after each of the first PLANNING_EPOCHS epochs or
        under a budget other than the plan's (a resume given more time): the epochs that fill the budget at the
        latest epoch's speed, and the schedules re-planned to end with them from where they stand (no jump in
        the learning rate). Every rank computes the same plan from rank 0's record."""
        if self.budget_epochs is None or self.time_budget is None or self.privacy is not None or not self.steps_:
            return
        if self.plan_ is not None and self.plan_["budget"] == self.time_budget and self.epoch_ > PLANNING_EPOCHS:
            return
        seconds = self.history_[-1]["seconds"]
        epochs = planned_epochs(self.epoch_, self.elapsed_, self.time_budget, seconds, self.budget_epochs)
        warmup, plan = int(round(self.warmup_epochs * self.steps_)), self.plan_ or {}
        start = self.epoch_ * self.steps_
        phase = cosine_progress(start, warmup, self.epochs * self.steps_, plan.get("start", 0), plan.get("phase", 0.0))
        self.plan_ = {"budget": self.time_budget, "epochs": epochs, "start": start, "phase": phase,
                      "seconds_per_epoch": round(seconds, 4)}
        self.epochs = epochs
        self.schedules_ = self._schedules(self.steps_)

    def _clipped_parameters(self) -> dict[str, list[nn.Parameter]]:
        """Each optimiser's parameters in the module's order (then any from outside the module): the order
        clipping has always summed gradient norms in, so a default run stays bit-identical."""
        order = {id(p): i for i, p in enumerate(self.module.parameters())}
        return {name: sorted((p for group in optimizer.param_groups for p in group["params"]),
                             key=lambda p: order.get(id(p), len(order)))
                for name, optimizer in self.optimizers_.items()}

    # ---- verbs for a step -----------------------------------------------------------------------

    def autocast(self):
        """The precision context of this run (bf16 autocast where it pays, else nothing): forward passes
        and losses go inside it, backward and optimiser steps outside."""
        return autocast_for(self.device_, self.precision)

    def backward(self, loss: torch.Tensor) -> None:
        """Accumulates the gradients of a scalar loss on every parameter it depends on."""
        loss.backward()

    def optimizer_step(self, name: str) -> None:
        """Steps the optimiser `name`: clips its parameters' global gradient norm to `clip_norm`, steps it,
        advances its schedule, then zeroes its gradients."""
        optimizer, schedule = self.optimizers_[name], self.schedules_[name]
        if self.clip_norm:
            nn.utils.clip_grad_norm_(self._clipped[name], self.clip_norm)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        optimizer.zero_grad(set_to_none=True)

    def _check_finite(self, loss_sum: torch.Tensor) -> None:
        if not math.isfinite(loss_sum.item()):
            kept = f" The last good checkpoint is kept in {self.checkpoint_dir}." if self.checkpoint_dir else ""
            raise TrainingDiverged(
                f"The training loss became {loss_sum.item()} in epoch {self.epoch_ + 1}: training diverged."
                f"{kept} Lower the learning rate (train.lr, now {self.lr}) or look for extreme values in the inputs."
            )

    # ---- early stopping and the time budget -----------------------------------------------------

    def monitored(self, record: dict) -> float | None:
        return record.get(self.step_.monitor)

    def _track_best(self, record: dict) -> bool:
        score = self.monitored(record)
        if score is None:  # no validation data: the latest weights are the best we know
            self.best_epoch_ = record["epoch"]
            self.best_state_ = None
            return False
        score = self._smoothed(score)
        lower = self.step_.mode == "min"
        better = self.best_score_ is None or (score < self.best_score_ if lower else score > self.best_score_)
        if better:
            self.best_score_, self.best_epoch_, self.bad_epochs_ = score, record["epoch"], 0
            self.best_state_ = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        else:
            self.bad_epochs_ += 1
        return better

    def _smoothed(self, score: float) -> float:
        """The monitored score as best-epoch selection and patience follow it: with `smoothing` s, the exponential
        moving average m_t = s·m_(t-1) + (1 - s)·score_t (m_1 = score_1). A validation set of a few dozen rows
        scores one lucky epoch far above its neighbours; the average prefers an epoch whose neighbourhood scored
        well, whose weights generalise more surely."""
        if self.smoothing and self.smoothed_ is not None:
            score = self.smoothing * self.smoothed_ + (1 - self.smoothing) * score
        self.smoothed_ = score
        return score

    def _all_epochs_done(self) -> str:
        return "the one epoch done" if self.epochs == 1 else f"all {self.epochs} epochs done"

    def _should_stop(self, record: dict) -> bool:
        if self.epoch_ >= self.epochs:  # the run is over whatever else holds: that is why it stopped
            self.stop_reason_ = self._all_epochs_done()
            return False
        patience = self._patience()
        if patience is not None and self.bad_epochs_ >= patience:
            self.stop_reason_ = f"early stop: no validation improvement for {patience} epochs"
            return True
        # an epoch is never cut short, so the run stops where one more like the last would pass the budget
        if self.time_budget is not None and self.elapsed_ + record["seconds"] > self.time_budget:
            self.stop_reason_ = (f"time budget of {seconds_text(self.time_budget)}s reached: another epoch (about "
                                 f"{seconds_text(record['seconds'])} s) would pass it")
            return True
        if self.privacy is not None and self.privacy.exhausted:
            self.stop_reason_ = "privacy budget spent: one more step would take ε above the target"
            return True
        return False

    def _patience(self) -> int | None:
        """Epochs without improvement before stopping: `patience`, stretched as a time budget's plan stretches the
        schedule (a plan of 3× the recipe's epochs waits 3× as long), so a slower-decaying learning rate is not cut
        short by a patience sized for the recipe's schedule."""
        if self.patience is None or getattr(self, "plan_", None) is None:  # no plan (or not fitted yet)
            return self.patience
        return math.ceil(self.patience * max(1.0, self.epochs / max(self.recipe_epochs, 1)))

    def _restore_best(self) -> None:
        if self.best_state_ is not None:
            self.module.load_state_dict(self.best_state_)

    # ---- state, checkpoints and signals ---------------------------------------------------------

    def _new_state(self) -> None:
        self.epoch_, self.batch_ = 0, 0
        self.partial_loss_sum_, self.partial_rows_ = 0.0, 0
        self.history_: list[dict] = []
        self.best_score_, self.best_epoch_, self.bad_epochs_ = None, 0, 0
        self.smoothed_: float | None = None  # the moving average of the monitored score (see _smoothed)
        self.settled_epochs_ = 0  # epochs in which the settled parameters trained
        self.best_state_: dict | None = None
        self.elapsed_ = 0.0
        self.plan_: dict | None = None  # a time budget's plan: {budget, epochs, start, phase, seconds_per_epoch}
        self.finished_ = False
        self.stop_reason_ = self._all_epochs_done()

    def _save_checkpoint(self, best_improved: bool = False) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        optim_tensors, optim_meta = checkpoint.flatten_optimizers(self.optimizers_, self.schedules_)
        rng = {"rng.cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["rng.cuda"] = torch.cuda.get_rng_state()
        for name, state in list(rng.items()):  # every rank's random state, so each resumes its own stream
            rng.update(distributed.gathered(name, state))
        path = self.checkpoint_dir / LAST
        if not distributed.is_writer():  # rank 0 writes; the others wait until it has
            distributed.barrier()
            return path
        tensors = {**checkpoint.with_prefix("model", self.module.state_dict()), **optim_tensors, **rng}
        if self.best_state_ is not None:
            tensors.update(checkpoint.with_prefix("best", self.best_state_))
        meta = {
            "epoch": self.epoch_, "batch": self.batch_, "finished": self.finished_,
            "partial_loss_sum": self.partial_loss_sum_, "partial_rows": self.partial_rows_,
            "history": self.history_, "best_score": self.best_score_, "best_epoch": self.best_epoch_,
            "bad_epochs": self.bad_epochs_, "smoothed": self.smoothed_, "elapsed": self.elapsed_,
            "settled_epochs": self.settled_epochs_,
            "stop_reason": self.stop_reason_, "plan": self.plan_, "fingerprint": self.fingerprint, **optim_meta,
        }
        checkpoint.write_atomically(path, tensors, meta)
        if best_improved:
            checkpoint.write_atomically(self.checkpoint_dir / BEST, self.best_state_, {
                "epoch": self.best_epoch_, "best_score": self.best_score_, "history": self.history_,
                "fingerprint": self.fingerprint})
        distributed.barrier()
        return path

    def _resumable(self) -> bool:
        """Whether this network has checkpoints to resume from; none at all (a run stopped before its first
        epoch ended, or before this network's turn) starts it from the beginning, unless epochs of it were
        recorded: then its checkpoints were lost, and starting over would be a silent restart."""
        if any((self.checkpoint_dir / name).exists() for name in (LAST, BEST)):
            return True
        if self.trained_before:
            raise LaminaError(f"The checkpoints in {self.checkpoint_dir} are missing, though epochs of this training "
                              "were recorded: the run cannot continue where it stopped. Restore them, or start a "
                              "new run with another --out.")
        return False

    def _resume(self, steps: int | None) -> None:
        """Continues from the last checkpoint; where it is missing or damaged, from the best one if the user
        asked for that (its epoch and weights, a fresh optimiser state), else stops saying how to."""
        last, best = self.checkpoint_dir / LAST, self.checkpoint_dir / BEST
        try:
            self._load_checkpoint(last)
        except checkpoint.DamagedCheckpoint as error:
            if not best.exists():
                raise LaminaError(f"{error} There is no best checkpoint beside it to fall back to: start the run "
                                  "again with another --out (or delete the folder).") from None
            if not self.fall_back_to_best:
                raise LaminaError(f"{error} To continue from the best checkpoint {best} instead (its epoch's weights, "
                                  "with a fresh optimiser state), resume with `--from best` "
                                  "(Python: resume_run(run, start='best')).") from None
            self._load_best(best, steps)

    def _load_weights(self, tensors: dict[str, torch.Tensor], path: Path, meta: dict) -> None:
        """The module's weights from a checkpoint made by the same training: same config, data and network."""
        recorded = meta.get("fingerprint")  # absent from checkpoints of older lamina versions: nothing to compare
        changed = checkpoint.changes(recorded, self.fingerprint) if None not in (recorded, self.fingerprint) else []
        if changed:
            raise LaminaError(f"The checkpoint {path} was made with other settings or data; resuming would mix two "
                              f"trainings. What changed: {'; '.join(changed[:5])}. Restore them, or start a new run "
                              "with another --out.")
        expected = {name: list(t.shape) for name, t in self.module.state_dict().items()}
        stored = {name: list(t.shape) for name, t in tensors.items()}
        if stored != expected:
            different = checkpoint.changes(stored, expected)
            raise LaminaError(f"The network changed since the checkpoint {path} was made (its architecture or "
                              f"settings differ): {'; '.join(different[:3])}. Resume with the settings the run began "
                              "with, or start a new run with another --out.")
        self.module.load_state_dict(tensors)

    def _load_best(self, path: Path, steps: int | None) -> None:
        tensors, meta = checkpoint.read(path)
        self._load_weights(tensors, path, meta)
        self.best_state_ = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        self.epoch_ = self.best_epoch_ = meta.get("epoch", 0)
        self.best_score_ = meta.get("best_score")
        self.history_ = list(meta.get("history") or [])[:self.epoch_]
        self.schedules_ = self._schedules(steps, at=self.epoch_ * (steps or 0))
        torch.manual_seed(distributed.seed_of_rank(self.seed + self.epoch_))  # not the interrupted run's stream

    def _load_checkpoint(self, path: Path) -> None:
        tensors, meta = checkpoint.read(path)
        try:
            self._load_state(path, tensors, meta)
        except (KeyError, TypeError, ValueError, IndexError) as error:  # readable, but not what a checkpoint holds
            raise checkpoint.DamagedCheckpoint(f"The checkpoint {path} is damaged ({type(error).__name__}: "
                                               f"{str(error)[:200]}).") from None

    def _load_state(self, path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        self._load_weights(checkpoint.under_prefix("model", tensors), path, meta)
        states = checkpoint.optimizer_states(tensors, meta, single=next(iter(self.optimizers_)))
        if states.keys() != self.optimizers_.keys():
            raise LaminaError(f"The checkpoint {path} holds the optimisers {sorted(states)}, but this training "
                              f"step makes {sorted(self.optimizers_)}: it was written by another kind of training.")
        self.plan_ = meta.get("plan")  # a time budget's plan: the schedules are its, before their state is loaded
        if self.plan_ is not None:
            self.epochs = self.plan_["epochs"]
            self.schedules_ = self._schedules(self.steps_)
        for name, (optimizer_state, schedule_state) in states.items():
            self.optimizers_[name].load_state_dict(optimizer_state)
            if self.schedules_[name] is not None and schedule_state is not None:
                self.schedules_[name].load_state_dict(schedule_state)
        torch.set_rng_state(distributed.own("rng.cpu", tensors))
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(distributed.own("rng.cuda", tensors))
        best = checkpoint.under_prefix("best", tensors)
        self.best_state_ = {k: v.to(self.device_) for k, v in best.items()} or None
        self.epoch_, self.batch_, self.finished_ = meta["epoch"], meta["batch"], meta["finished"]
        self.partial_loss_sum_, self.partial_rows_ = meta["partial_loss_sum"], meta["partial_rows"]
        if not distributed.is_writer():  # rank 0's checkpoint holds the epoch's sums over every rank
            self.partial_loss_sum_, self.partial_rows_ = 0.0, 0
        self.history_ = meta["history"]
        self.best_score_, self.best_epoch_, self.bad_epochs_ = meta["best_score"], meta["best_epoch"], meta["bad_epochs"]
        self.smoothed_ = meta.get("smoothed")  # absent from checkpoints written before smoothing existed
        self.settled_epochs_ = meta.get("settled_epochs", 0)  # and before settle existed
        self.elapsed_, self.stop_reason_ = meta["elapsed"], meta["stop_reason"]

    @contextlib.contextmanager
    def _signals_caught(self):
        """Ctrl-C / SIGTERM ask the loop to stop after the current batch and save; a second Ctrl-C
        interrupts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, _frame):
            self._stop_requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
