"""What one training step does, as a plug-in of the Trainer: the task owns its step, the Trainer knows none.

A `TrainingStep` names its optimisers, computes a batch's loss and the validation record. The Trainer
keeps everything else: the loop, schedules, precision, clipping, early stopping, checkpoints, signals.

With one optimiser a step only returns the loss and the Trainer takes the optimiser step. A step with
several (a GAN's generator and discriminator) drives them itself through the Trainer's verbs:

    def training_step(self, module, batch, trainer):
        with trainer.autocast():
            loss = ...
        trainer.backward(loss)
        trainer.optimizer_step("discriminator")
        ...
        return loss_to_log

`LossStep` is the default: one forward, one loss, one AdamW.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from lamina.training.batches import batch_rows
from lamina.training.optim import make_optimizer


class TrainingStep:
    monitor = "valid_loss"  # the key of the validation record that early stopping and best weights follow
    mode = "min"  # whether a lower ("min") or higher ("max") monitored value is better

    def optimizers(self, module: nn.Module, lr: float, weight_decay: float) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers; each gets its own warm-up + cosine schedule and its own part of the checkpoint.
        Names must not contain dots (they become tensor-name prefixes in the checkpoint)."""
        return {"main": make_optimizer(module, lr, weight_decay)}

    def training_step(self, module: nn.Module, batch, trainer) -> torch.Tensor:
        """The loss of one batch (a scalar tensor). `batch` is what the training iterable yields, already on
        the device; the module is in train mode. With several optimisers the step also calls
        `trainer.backward` and `trainer.optimizer_step(name)` itself and returns a loss to log."""
        raise NotImplementedError

    def validate(self, module: nn.Module, batches: Iterable, trainer) -> dict[str, float]:
        """The validation record, e.g. {"valid_loss": 0.31}; the module is in eval mode, gradients are off and
        `batches` yields each validation batch on the device (iterate it once).

        This default suits a step with one optimiser: the row-weighted mean of `training_step`'s loss. A step
        that drives several optimisers calls backward in `training_step`, so it overrides this."""
        total, rows = 0.0, 0
        for batch in batches:
            count = self.batch_size_of(batch)
            total += float(self.training_step(module, batch, trainer)) * count
            rows += count
        return {"valid_loss": total / max(rows, 1)}

    def batch_size_of(self, batch) -> int:
        """Rows in a batch, the weight of its loss in the epoch's mean training loss. Every part of a batch
        holds the same rows, so the first part is counted."""
        return batch_rows(batch[0] if isinstance(batch, (tuple, list)) else batch)


class LossStep(TrainingStep):
    """One forward and one loss on (inputs, targets) batches; `Trainer(module, loss_fn)` builds this.

    `metric(outputs, targets) -> float`, on the whole validation set on the CPU, is then what early
    stopping follows (as `valid_<metric_name>`) instead of the loss. `adversary(module, inputs, targets)`
    returns the inputs to train on instead (PGD examples for adversarial training). A subclass may set
    these as class attributes (and `loss_fn` as a property) instead of calling this constructor.
    """

    metric: Callable[[torch.Tensor, torch.Tensor], float] | None = None
    metric_name = "metric"
    adversary: Callable | None = None

    def __init__(self, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                 metric: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
                 metric_name: str = "metric", mode: str = "min", adversary: Callable | None = None):
        self.loss_fn = loss_fn
        self.metric = metric
        self.metric_name = metric_name
        self.mode = mode
        self.adversary = adversary

    @property
    def monitor(self) -> str:
        return f"valid_{self.metric_name}" if self.metric is not None else "valid_loss"

    def training_step(self, module: nn.Module, batch, trainer) -> torch.Tensor:
        inputs, targets = batch
        if self.adversary is not None:
            inputs = self.adversary(module, inputs, targets)
        with trainer.autocast():
            return self.loss_fn(module(inputs), targets)

    def validate(self, module: nn.Module, batches: Iterable, trainer) -> dict[str, float]:
        # Over the whole set at once, not a mean of batch losses: a loss or metric need not split by batch.
        outputs, targets = [], []
        with trainer.autocast():
            for inputs, batch_targets in batches:
                outputs.append(module(inputs).float())
                targets.append(batch_targets)
        outputs, targets = torch.cat(outputs), torch.cat(targets)
        record = {"valid_loss": float(self.loss_fn(outputs, targets))}
        if self.metric is not None:
            record[f"valid_{self.metric_name}"] = float(self.metric(outputs.cpu(), targets.cpu()))
        return record
