"""Budgets of a run. Time budgets that plan the schedule: with `--time-budget` and the epochs left to the recipe,
the Trainer times its first epochs and sets the epochs (and so the cosine schedule's length) that fill the budget.
Step budgets: a recipe that counts its run and its patience in optimiser steps rather than epochs (steps_to_epochs),
so that on small data, where an epoch is a few steps, neither is cut to a few dozen updates.

After each of the first PLANNING_EPOCHS epochs (and after a resume given another budget) the plan is
    epochs = done + ⌊PLAN_SHARE · (budget − seconds used) / seconds of the latest epoch⌋,
at most MAX_EPOCH_FACTOR times the recipe's epochs; the schedule is re-planned from the learning rate it stands at
(training.optim.cosine_progress), so it never jumps. A budget too short for the recipe's fewest epochs plans the
epochs that fit (a schedule the cap cuts mid-way ends at its peak learning rate), and the report says what budget
would hold the fewest. The budget stays a cap as well, and early stopping applies.
"""

from __future__ import annotations

import math

PLANNING_EPOCHS = 2  # epochs timed for the plan: the first may pay one-off costs, the second is the steady speed
PLAN_SHARE = 0.97  # share of the remaining seconds the plan fills: epochs vary a little in length
MAX_EPOCH_FACTOR = 3  # a plan trains at most this many times the recipe's epochs (beyond, a longer schedule
# measured no better: the digits bench, 5× planned, ended at 0.970 against the recipe's 0.993)


def epoch_bounds(recipe_epochs: int, fewest: int = 1) -> tuple[int, int]:
    """(fewest, most) epochs of a budget's plan for a recipe of `recipe_epochs`: a plan never exceeds `most`; one
    below `fewest` (the budget cannot hold them) is made all the same, and the report says so."""
    return min(fewest, recipe_epochs), MAX_EPOCH_FACTOR * recipe_epochs


def steps_to_epochs(steps: int, steps_per_epoch: int, fewest: int = 1, most: int | None = None,
                    fewest_steps: int = 0) -> int:
    """The epochs of about `steps` optimiser steps at `steps_per_epoch` (⌈steps / steps_per_epoch⌉), at least
    `fewest`, at most `most` epochs, except that `most` never cuts them below `fewest_steps` steps. E.g. a patience
    of at least 1,000 steps is steps_to_epochs(1000, n, fewest=patience): the configured epochs where an epoch is
    long, more where it is a few steps."""
    per_epoch = max(int(steps_per_epoch), 1)
    epochs = max(fewest, math.ceil(steps / per_epoch))
    if most is not None:
        epochs = min(epochs, max(most, math.ceil(fewest_steps / per_epoch)))
    return int(epochs)


def step_counted(train, steps_per_epoch: int, steps: int, epoch_range: tuple[int, int], fewest_steps: int,
                 patience_steps: int) -> dict:
    """The Trainer's epochs, patience and budget_epochs for a recipe counted in optimiser steps, from the config's
    train section: epochs "auto" aims at `steps` steps within `epoch_range` (the cap never below `fewest_steps`
    steps), and a time budget may then plan them (epoch_bounds); the patience is train.patience epochs, or
    `patience_steps` steps where those are more epochs. A validation score read from decoded text (BLEU, CER) sits
    at its floor for the first hundreds of steps, which on small data are dozens of epochs."""
    auto = train.epochs == "auto"
    epochs = steps_to_epochs(steps, steps_per_epoch, *epoch_range, fewest_steps) if auto else train.epochs
    return {"epochs": epochs, "patience": steps_to_epochs(patience_steps, steps_per_epoch, fewest=train.patience),
            "budget_epochs": epoch_bounds(epochs) if auto else None}


def planned_epochs(done: int, used: float, budget: float, seconds_per_epoch: float, bounds: tuple[int, int]) -> int:
    """The epochs that fill `budget` seconds, `done` epochs having taken `used` seconds, at `seconds_per_epoch`;
    never fewer than `done`, never more than bounds[1]. Fewer than bounds[0] where only those fit: planning more
    would have the cap stop the run mid-schedule, at a high learning rate."""
    fits = done + math.floor(max(0.0, budget - used) * PLAN_SHARE / max(seconds_per_epoch, 1e-9))
    return int(min(bounds[1], max(done, fits)))


def budget_record(trainer) -> dict | None:
    """How a Trainer spent its time budget, for model.json's training record; None without a budget."""
    if trainer.time_budget is None:
        return None
    plan = trainer.plan_ or {}
    return {"seconds": float(trainer.time_budget), "used_seconds": round(trainer.elapsed_, 2),
            "epochs_run": len(trainer.history_), "recipe_epochs": trainer.recipe_epochs,
            "planned_epochs": plan.get("epochs"), "seconds_per_epoch": plan.get("seconds_per_epoch"),
            "fewest_epochs": trainer.budget_epochs[0] if trainer.budget_epochs else None,
            "stop_reason": trainer.stop_reason_}


def budget_text(record: dict) -> str:
    """One sentence for the report and the model card: the budget, what was used, the plan, why it stopped."""
    share = record["used_seconds"] / max(record["seconds"], 1e-9)
    used = (f"{record['used_seconds']:.0f} s used ({share:.0%})" if share <= 1 else
            f"{record['used_seconds']:.0f} s used, more than the budget: an epoch is never cut short")
    if record.get("planned_epochs") is None:
        how = "it was a cap only (the config sets the epochs, or the training cannot be re-planned)"
    else:
        how = (f"the learning-rate schedule was planned for {epoch_words(record['planned_epochs'])} (the recipe's "
               f"{record['recipe_epochs']}) from {record['seconds_per_epoch']:.3g} s an epoch")
        fewest = record.get("fewest_epochs")  # absent from model files written before it was recorded
        if fewest and record["planned_epochs"] < fewest:
            how += (f", fewer than the recipe's fewest ({fewest}): a budget of about "
                    f"{fewest * record['seconds_per_epoch'] / PLAN_SHARE:.0f} s would hold them")
    return (f"Time budget {seconds_text(record['seconds'])} s: {used} in {epoch_words(record['epochs_run'])}; {how}; "
            f"stopped because: {record['stop_reason']}.")


def seconds_text(seconds: float) -> str:
    """Seconds as a person reads them: whole from 10 s, three significant digits below (a 0.001 s budget)."""
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.3g}"


def epoch_words(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"
