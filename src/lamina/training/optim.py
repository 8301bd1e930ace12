"""AdamW with a linear warm-up then cosine decay of the learning rate; the decay can be re-planned mid-run
(a time budget sets its length once the epochs' speed is measured) and carries on from where it stands."""

from __future__ import annotations

import math

import torch
from torch import nn


def make_optimizer(module: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    # Decay matrices only: shrinking biases and norm scales hurts and is not what AdamW's L2 is for.
    decayed = [p for p in module.parameters() if p.requires_grad and p.ndim >= 2]
    kept = [p for p in module.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": kept, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def cosine_progress(step: int, warmup_steps: int, total_steps: int, start: int = 0, phase: float = 0.0) -> float:
    """How far along the cosine decay a step is, in [0, 1]: 0 at the end of warm-up, 1 at `total_steps`. A
    schedule re-planned at step `start` (at or after warm-up) goes on from the `phase` the old one had reached
    there to 1 at its new `total_steps`, so the learning rate never jumps."""
    begin = max(start, warmup_steps)
    return min(1.0, max(0.0, phase + (1.0 - phase) * (step - begin) / max(1, total_steps - begin)))


def warmup_cosine(warmup_steps: int, total_steps: int, start: int = 0, phase: float = 0.0):
    """Multiplier of the peak learning rate at a step: 0 → 1 over warm-up, then cosine to 0 (see cosine_progress
    for `start` and `phase`, which a re-planned schedule sets)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1.0 + math.cos(math.pi * cosine_progress(step, warmup_steps, total_steps, start, phase)))

    return factor


def make_schedule(optimizer, warmup_steps: int, total_steps: int, done_steps: int = 0, start: int = 0,
                  phase: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule `done_steps` steps in, setting the optimiser's learning rate for the next step; a run that
    is extended (more epochs) or re-planned (`start`, `phase`: cosine_progress) gets a schedule over its new
    length that carries on from where it stands."""
    # LambdaLR counts its own first call as a step: starting at done_steps - 1 puts it at done_steps.
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup_steps, total_steps, start, phase),
                                             last_epoch=done_steps - 1)
