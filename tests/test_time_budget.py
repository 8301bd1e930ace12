"""A time budget plans the schedule: the Trainer times its first epochs and sets the epochs (and the cosine
schedule's length) that fill the budget, re-planning the schedule without a jump in the learning rate; a resume
keeps the plan; model.json and the report say how the budget was spent. The clock is a fake one: each reading
is one second after the last, so an epoch (two readings) takes exactly one second."""

import json

import pytest
import torch

import lamina
from lamina.evaluation import facts
from lamina.training.budget import budget_record, budget_text, epoch_bounds
from lamina.training.optim import cosine_progress, make_schedule
from lamina.training.trainer import Trainer, TrainingInterrupted

LR = 0.01


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def batches(count: int = 2) -> list:
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(16, 3, generator=generator), torch.randn(16, 1, generator=generator)) for _ in range(count)]


def trainer(budget: float, epochs: int = 10, planned: bool = True, **options) -> Trainer:
    torch.manual_seed(0)
    return Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, epochs=epochs, lr=LR, warmup_epochs=1,
                   time_budget=budget, budget_epochs=epoch_bounds(epochs) if planned else None, clock=Clock(),
                   progress=False, **options)


def test_a_budget_that_allows_more_plans_more_epochs_than_the_recipe():
    fitted = trainer(budget=25)
    history = fitted.fit(batches())
    # After epoch 2: 2 + ⌊0.97 · (25 − 2) / 1⌋ = 24 epochs, the schedule ending with them.
    assert fitted.plan_["epochs"] == 24 and len(history) == 24 > fitted.recipe_epochs
    assert fitted.stop_reason_ == "all 24 epochs done" and fitted.elapsed_ <= 25
    rates = [record["lr"] for record in history]
    assert rates[0] == pytest.approx(LR)  # the end of warm-up: the peak
    assert all(later <= earlier + 1e-12 for earlier, later in zip(rates, rates[1:], strict=False))
    assert rates[-1] == pytest.approx(0.0, abs=1e-9)  # the cosine ran its full length within the budget


def test_a_budget_too_short_for_the_recipe_plans_fewer_epochs_and_still_anneals():
    planned, capped = trainer(budget=5), trainer(budget=5, planned=False)
    planned.fit(batches())
    capped.fit(batches())
    # 1 + ⌊0.97 · 4⌋ = 4 epochs, so the learning rate reaches 0; the cap alone stops at 5 of 10, mid-schedule.
    assert planned.epochs == 4 and len(planned.history_) == 4 and planned.stop_reason_ == "all 4 epochs done"
    assert planned.history_[-1]["lr"] == pytest.approx(0.0, abs=1e-9)
    assert len(capped.history_) == 5 and capped.history_[-1]["lr"] > 0.3 * LR
    assert capped.plan_ is None and "time budget of 5s reached: another epoch (about 1 s)" in capped.stop_reason_


def test_a_run_that_ends_its_epochs_within_the_budget_stopped_because_they_were_done():
    # 2 epochs of 1 s in a 2.5 s budget: a third would not have fitted, but there was none to run (the reason
    # said "time budget reached" before)
    done = trainer(budget=2.5, epochs=2, planned=False)
    done.fit(batches())
    assert len(done.history_) == 2 and done.stop_reason_ == "all 2 epochs done"


def test_a_budget_shorter_than_one_epoch_says_the_epoch_ran_whole_rather_than_a_percentage():
    from lamina.training.budget import budget_record, budget_text

    over = trainer(budget=0.5, planned=False)
    over.fit(batches())
    text = budget_text(budget_record(over))
    assert len(over.history_) == 1 and "1 s used, more than the budget: an epoch is never cut short" in text
    assert "%" not in text



def test_a_budget_below_the_recipes_fewest_epochs_plans_what_fits_and_the_report_says_what_would_hold_them():
    torch.manual_seed(0)
    short = Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, epochs=10, lr=LR, warmup_epochs=1,
                    time_budget=5, budget_epochs=epoch_bounds(10, fewest=8), clock=Clock(), progress=False)
    short.fit(batches())
    # The fewest (8) would not fit in 5 s at 1 s an epoch: the plan is the 4 that do, so the schedule anneals
    # inside the budget rather than the cap stopping it at epoch 5 near its peak learning rate.
    assert short.epochs == 4 and short.history_[-1]["lr"] == pytest.approx(0.0, abs=1e-9)
    text = budget_text(budget_record(short))
    assert budget_text({**budget_record(short), "seconds": 0.001}).startswith("Time budget 0.001 s:")
    assert "in 4 epochs" in text and "fewer than the recipe's fewest (8): a budget of about 8 s would hold them" in text

def test_a_replanned_schedule_carries_on_from_the_learning_rate_it_stands_at():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    old = make_schedule(optimizer, warmup_steps=10, total_steps=100)
    for _ in range(30):
        optimizer.step()
        old.step()
    before = optimizer.param_groups[0]["lr"]
    phase = cosine_progress(30, 10, 100)
    make_schedule(optimizer, 10, 400, done_steps=30, start=30, phase=phase)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(before)  # no jump
    assert make_schedule(optimizer, 10, 400, done_steps=400, start=30, phase=phase).get_last_lr()[0] == 0.0


def test_a_resume_keeps_the_plan_and_trains_as_if_never_stopped(tmp_path):
    whole = trainer(budget=20)
    whole.fit(batches())

    def stop_after_epoch_5(record):
        if record["epoch"] == 5:
            interrupted._stop_requested = True

    interrupted = trainer(budget=20, checkpoint_dir=tmp_path, callbacks=[stop_after_epoch_5])
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(batches())
    resumed = trainer(budget=20, checkpoint_dir=tmp_path)
    resumed.clock.now = interrupted.clock.now
    resumed.fit(batches(), resume=True)
    assert resumed.plan_ == interrupted.plan_ and resumed.epochs == whole.epochs == whole.plan_["epochs"]
    assert [r["lr"] for r in resumed.history_] == pytest.approx([r["lr"] for r in whole.history_])
    for mine, theirs in zip(resumed.module.parameters(), whole.module.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs)


def test_model_json_and_the_report_say_how_the_budget_was_spent(tmp_path):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)  # a target of pure noise: early stopping ends the run within a few epochs
    frame = pd.DataFrame({"x": rng.normal(size=120), "y": rng.choice(["up", "down"], size=120)})
    lamina.fit(frame, "y", out=tmp_path / "run", progress=False, time_budget="1h", width=8, depth=1, patience=1)
    record = json.loads((tmp_path / "run" / "model" / "model.json").read_text())["training"]["time_budget"]
    # An hour fits the most a plan allows: 3 × the recipe's 60 epochs; early stopping ends the run long before.
    assert record["seconds"] == 3600 and record["recipe_epochs"] == 60 and record["planned_epochs"] == 180
    assert record["epochs_run"] < 180 and record["stop_reason"].startswith("early stop")
    assert 0 < record["used_seconds"] < 3600 and record["seconds_per_epoch"] > 0
    run, document = facts.read_run(tmp_path / "run")
    assert budget_text(record) in str(facts.training(run, document))
    assert "planned for 180 epochs (the recipe's 60)" in budget_text(record)


def test_a_plan_stops_at_three_times_the_recipe_and_stretches_patience_with_it():
    fitted = trainer(budget=1000, patience=2)
    fitted.fit(batches())
    assert fitted.plan_["epochs"] == 3 * fitted.recipe_epochs  # the budget would fit ~970: the ceiling holds
    assert fitted._patience() == 6  # 2 epochs of the recipe's schedule, stretched 3×
    assert trainer(budget=1000, patience=2, planned=False)._patience() == 2  # a cap only: patience as given


def test_a_recipe_counted_in_steps_keeps_long_epochs_as_they_were_and_stretches_short_ones():
    from lamina.config import Config
    from lamina.tasks import transcribe, translate
    from lamina.training.budget import step_counted

    train = Config().train  # epochs "auto", patience 8

    def settings(task, steps_per_epoch: int) -> tuple[int, int]:
        found = step_counted(train, steps_per_epoch, task.STEPS_PER_RUN, task.EPOCH_RANGE, task.MIN_STEPS,
                             task.PATIENCE_STEPS)
        assert found["budget_epochs"] == epoch_bounds(found["epochs"])  # a time budget may plan them
        return found["epochs"], found["patience"]

    # Multi30k (~200 batches an epoch) and 3,000 spoken-digit utterances (80): the epochs and patience they had
    assert settings(translate, 200) == (30, 8) and settings(transcribe, 80) == (38, 8)
    # A 120-pair toy (2 steps an epoch): 8 epochs' patience would be 16 steps, 200 epochs 400 steps
    assert settings(translate, 2) == (1500, 500)
    assert settings(transcribe, 1) == (1500, 500)  # 20 clips, one batch
    assert settings(translate, 20) == (200, 50)  # the 200-epoch cap where it leaves 4,000 steps (over 3,000)
    given = Config().with_overrides(epochs=5, patience=3).train
    assert step_counted(given, 2, 6000, (10, 200), 3000, 1000) == {"epochs": 5, "patience": 500,
                                                                   "budget_epochs": None}


@pytest.mark.parametrize("value, says", [("-5m", "leaves no time"), ("0", "leaves no time"), ("-0.5h", "leaves no time"),
                                         ("5 parsecs", "is not a duration"), ("1e400s", "is endless")])
def test_a_budget_of_no_time_or_no_duration_is_refused_naming_flag_value_and_forms(tmp_path, capsys, value, says):
    from conftest import make_table
    from lamina.cli import main

    table = make_table(rows=60)
    table.to_csv(tmp_path / "t.csv", index=False)
    # `--time-budget -5m` reached argparse as an option "-5m" ("expected one argument"); now the value's own check
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--out", str(tmp_path / "run"), "--quiet",
                 "--time-budget", value]) == 2
    error = capsys.readouterr().err
    sentence = f"--time-budget {value!r} {says}. Give a number above 0 ending in s, m, h or d (90s, 5m, 1.5h, 7d)"
    assert sentence in error and "Traceback" not in error
    assert not (tmp_path / "run").exists(), "refused before any folder or data work"
    with pytest.raises(lamina.LaminaError) as refused:  # the Python API: the same words
        lamina.fit(table, target="y", time_budget=value, progress=False)
    assert f"error: {refused.value}" in error and "train.time_budget" in str(refused.value)


def test_a_minus_value_after_an_option_is_its_value_and_a_day_is_a_duration():
    from lamina.cli import _minus_values_joined
    from lamina.config import parse_duration

    assert _minus_values_joined(["train", "t.csv", "--quiet", "--time-budget", "-5m", "--lr", "-.1", "--seed", "3"]) \
        == ["train", "t.csv", "--quiet", "--time-budget=-5m", "--lr=-.1", "--seed", "3"]
    assert parse_duration("7d") == 7 * 86400 and parse_duration(" 1.5H ") == 5400  # `lamina monitor --window 7d`
