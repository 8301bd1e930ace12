"""lamina tune: a tiny study on a synthetic table, checked for what it chooses, what it never looks at, and what it
hands back (a config `lamina train` reproduces the winner with); pruning, two workers on one SQLite study, resume."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

from lamina import api, tuning
from lamina.cli import main
from lamina.errors import LaminaError
from lamina.tasks.table import TableTask

FAST = {"epochs": 2, "patience": 2}
WORKERS = 2  # the study's worker processes
FIXED_LR = {name: None for name in ("width", "depth", "dropout", "batch_size", "weight_decay")}  # only lr searched


def small_table(path, rows: int = 200, seed: int = 0, regression: bool = False):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows),
                          "c": rng.choice(["x", "y", "z"], size=rows)})
    score = frame.a + 0.5 * frame.b + (frame.c == "x")
    frame["y"] = score if regression else np.where(score > 0.3, "yes", "no")
    frame.to_csv(path, index=False)
    return path


@contextlib.contextmanager
def scorings_counted():
    """Counts the times a table task scores its test split within the block (in this process)."""
    count = [0]
    original = TableTask.score

    def counting(self, model, prepared):
        count[0] += 1
        return original(self, model, prepared)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TableTask, "score", counting)
        yield count


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A 3-trial study run by two worker processes on its one SQLite file, then finished here."""
    root = tmp_path_factory.mktemp("tune")
    data = small_table(root / "table.csv")
    folder = root / "study<&>"  # a name the report must escape
    tuning.create(data, "y", folder, trials=3, pruner="none", **FAST)
    tuning.optimize(folder, workers=WORKERS, progress=False)
    with scorings_counted() as scored:
        summary = tuning.finish(folder)
    return {"data": data, "folder": folder, "summary": summary, "scored_by_finish": scored[0]}


def optuna_study(folder):
    return tuning.load_study(folder, tuning.read_settings(folder))


def test_the_winner_has_the_best_validation_score_and_is_tested_once(study):
    trials = optuna_study(study["folder"]).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    winner = min(trials, key=lambda t: t.value)
    assert study["summary"]["best_trial"] == winner.number
    best = api.load(study["folder"] / tuning.BEST)
    assert best.training["validation"]["score"] == pytest.approx(winner.value)
    assert best.training["validation"]["metric"] == "valid_loss"
    # the score a trial reports is its selected epoch's validation loss in its own history
    history = pd.read_csv(study["folder"] / winner.user_attrs["run"] / "history.csv")
    selected = history.loc[history["epoch"] == best.training["validation"]["epoch"], "valid_loss"]
    assert winner.value == pytest.approx(float(selected.iloc[0]))
    assert study["scored_by_finish"] == 1
    assert best.metrics["test"]["accuracy"] == study["summary"]["test"]["test"]["accuracy"]


def test_two_workers_ran_the_trials_on_one_study(study):
    trials = optuna_study(study["folder"]).trials
    assert sorted(t.number for t in trials) == [0, 1, 2]
    assert sorted(p.name for p in (study["folder"] / tuning.TRIALS).iterdir()) == ["0000", "0001", "0002"]
    assert len({json.dumps(t.params) for t in trials}) == 3  # each worker draws its own settings


def test_trials_hold_no_test_metrics(study):
    winner = study["summary"]["best_trial"]
    for run in sorted((study["folder"] / tuning.TRIALS).iterdir()):
        document = json.loads((run / "model" / "model.json").read_text())
        assert document["training"]["validation"]["score"] > 0
        if run.name != f"{winner:04d}":
            assert document["metrics"] is None
            assert not (run / "metrics.json").exists() and not (run / "test_predictions.csv").exists()


def test_the_best_config_reproduces_the_winner_through_lamina_train(study, tmp_path):
    again = tmp_path / "again"
    # Trained with the thread count of the winner's worker: sums are taken in the same order. With another count
    # float noise grows over the epochs (Adam scales up gradients that are rounding noise, e.g. of an input
    # column constant within a batch before batch norm) until a test metric moves by a pair of rows.
    threads = torch.get_num_threads()
    torch.set_num_threads(tuning.worker_threads(WORKERS))
    try:
        assert main(["train", str(study["data"]), "--config", str(study["folder"] / tuning.BEST_CONFIG),
                     "--out", str(again), "--quiet"]) == 0
    finally:
        torch.set_num_threads(threads)
    retrained, best = api.load(again), api.load(study["folder"] / tuning.BEST)
    assert retrained.training["validation"]["score"] == pytest.approx(best.training["validation"]["score"], rel=1e-5)
    test, expected = retrained.metrics["test"], best.metrics["test"]
    assert test.keys() == expected.keys()
    for name, value in expected.items():  # a metric undefined on the test rows (NaN) is saved as null
        assert test[name] == (None if value is None else pytest.approx(value, rel=1e-5)), name
    assert retrained.architecture["hyperparameters"] == best.architecture["hyperparameters"]


def test_the_report_shows_trials_and_charts_escaped(study):
    page = (study["folder"] / tuning.REPORT).read_text()
    assert page.count("<svg") == len(tuning_charts())
    assert "study&lt;&amp;&gt;" in page and "study<&>" not in page
    assert page.count("<tr>") == 1 + 3  # the trial table's head and one row per trial


def tuning_charts():
    from lamina.tuning_report import CHARTS

    return CHARTS


def test_resume_runs_the_remaining_trials(study, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(study["folder"], folder)
    before = {t.number: t.value for t in optuna_study(folder).trials}
    with scorings_counted() as scored:
        tuning.optimize(folder, trials=4, progress=False)
    assert scored[0] == 0  # a trial never scores the test split
    assert main(["tune", "--resume", str(folder), "--width", "8"]) == 2  # a resume keeps the study's settings
    assert main(["tune", "--resume", str(folder), "--quiet"]) == 0  # nothing left to run: keeps the winner
    assert (folder / tuning.BEST / "metrics.json").exists()
    trials = optuna_study(folder).trials
    assert len(trials) == 4 and {t.number: t.value for t in trials[:3]} == before
    assert (folder / tuning.TRIALS / "0003" / "model" / "model.json").exists()


def test_pruning_stops_a_hopeless_regression_trial(tmp_path):
    data = small_table(tmp_path / "table.csv", regression=True)
    folder = tmp_path / "study"
    space = {**FIXED_LR, "lr": {"low": 1e-9, "high": 0.05, "log": True}}
    tuning.create(data, "y", folder, trials=2, epochs=4, patience=4, warmup_epochs=0, space=space,
                  pruner="median", prune_after_trials=1, prune_after_epochs=0)
    study = optuna_study(folder)
    study.enqueue_trial({"lr": 0.03})
    study.enqueue_trial({"lr": 1e-9})  # learns nothing: its validation loss lags from the first epoch
    tuning.optimize(folder, progress=False)
    good, hopeless = optuna_study(folder).trials
    assert tuning.read_settings(folder).direction == "minimize"  # the regression task's validation MSE
    assert (good.state, hopeless.state) == (TrialState.COMPLETE, TrialState.PRUNED)
    history = pd.read_csv(folder / tuning.TRIALS / "0001" / "history.csv")
    assert len(history) < 4 and hopeless.last_step == len(history)
    assert not (folder / tuning.TRIALS / "0001" / ".lock").read_text()  # the run folder was let go


def test_a_bad_search_space_is_refused_before_any_trial(tmp_path):
    data = small_table(tmp_path / "table.csv")
    with pytest.raises(LaminaError, match="'dropout' cannot take 1.5"):
        tuning.create(data, "y", tmp_path / "study", space={"dropout": {"low": 0.1, "high": 1.5}})
    assert not (tmp_path / "study" / tuning.SETTINGS).exists()


@pytest.mark.parametrize("settings, says", [
    ({"storage": "notaurl"}, "'notaurl' is not an SQLAlchemy database URL"),
    ({"storage": "postgresql+nosuchdriver://u:p@127.0.0.1:1/db"}, "postgresql"),
    ({"budget": "abc"}, "'abc' is not a duration"),
    ({"budget": "0s"}, "'0s' leaves no time"),
    ({"space": {"lr": {"choices": []}}}, "choices is empty"),
    ({"storage": "sqlite:///{tmp}/nonexistent/x.db"}, "nonexistent/x.db cannot be opened"),
])
def test_a_bad_study_setting_is_refused_before_the_folder_exists(tmp_path, settings, says):
    """A refused study leaves nothing, so the same --out can be given again once the setting is fixed."""
    data = small_table(tmp_path / "table.csv")
    settings = {key: value.format(tmp=tmp_path) if key == "storage" else value for key, value in settings.items()}
    with pytest.raises(LaminaError, match=says):
        tuning.create(data, "y", tmp_path / "study", **settings)
    assert not (tmp_path / "study").exists()


def test_tune_takes_the_date_order_and_columns_as_train_does_and_refuses_them_on_resume(tmp_path, monkeypatch,
                                                                                       capsys):
    """`lamina tune --date-order day_first --column c=category`: the study's base config, which every trial
    trains with, reads dates written 01/02/2020 day first (data.date_order) and the kinds given (data.columns), as
    `lamina train` would; a resume keeps its own."""
    data = small_table(tmp_path / "table.csv")
    frame = pd.read_csv(data)
    frame["when"] = [f"{day:02d}/{month:02d}/2020" for day, month in zip(frame.index % 12 + 1, frame.index % 7 + 1,
                                                                        strict=True)]
    frame.to_csv(data, index=False)

    def stop(*args, **kwargs):
        raise LaminaError("stopped before the winner is kept")

    monkeypatch.setattr(tuning, "optimize", lambda *args, **kwargs: None)
    monkeypatch.setattr(tuning, "finish", stop)
    folder = tmp_path / "study"
    assert main(["tune", str(data), "--target", "y", "--date-order", "day_first", "--column", "c=category",
                 "--out", str(folder), "--quiet"]) == 2
    assert "stopped before the winner is kept" in capsys.readouterr().err
    base = tuning.read_settings(folder).base_config().data
    assert base.date_order == "day_first" and base.columns == {"c": "category"}
    assert main(["tune", "--resume", str(folder), "--date-order", "month_first"]) == 2
    assert "--date-order cannot be given with it" in capsys.readouterr().err
    assert main(["tune", "--resume", str(folder), "--column", "when=text"]) == 2
    assert "--column cannot be given with it" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [
    ["--target", "nosuch", "--task", "classification", "--arch", "mlp"],  # named: no column-based choice, same check
    ["--target", "y", "--task", "regression", "--arch", "mlp"],  # y holds yes/no
    ["--target", "y", "--test", "{missing}"],
    ["--target", "y", "--test", "{unlabelled}"],
    ["--target", "y", "--task", "forecast", "--arch", "lstm"],  # forecasting without --time and --horizon
])
def test_tune_refuses_up_front_what_train_refuses_in_the_same_words(tmp_path, capsys, bad):
    """Bad input `lamina train` refuses before training is refused by `lamina tune` before the study folder
    exists, with train's message: not in the first trial, with a traceback and a study a rerun is told to resume."""
    data = small_table(tmp_path / "table.csv")
    pd.read_csv(data).drop(columns="y").to_csv(tmp_path / "unlabelled.csv", index=False)
    bad = [word.format(missing=tmp_path / "missing.csv", unlabelled=tmp_path / "unlabelled.csv") for word in bad]
    assert main(["train", str(data), *bad, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    refused = capsys.readouterr().err
    assert main(["tune", str(data), *bad, "--out", str(tmp_path / "study"), "--quiet"]) == 2
    assert capsys.readouterr().err == refused and refused.startswith("error: ")
    assert not (tmp_path / "study").exists()


def test_trials_stopped_by_a_refused_setting_leave_no_study_and_no_traceback(tmp_path, capsys, caplog):
    """A setting refused only when a trial builds its network (an architecture for text, and no text column) stops
    the study with its message alone, and removes the study's files but nothing else in --out: the corrected
    command can be given again with the same --out."""
    data = small_table(tmp_path / "table.csv")
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's own")
    assert main(["tune", str(data), "--target", "y", "--arch", "gru", "--trials", "2", "--out", str(folder),
                 "--quiet"]) == 2
    assert "error: Architecture 'gru' reads text" in capsys.readouterr().err
    assert not [record for record in caplog.records if "failed" in record.getMessage()]  # told once, by lamina
    assert sorted(path.name for path in folder.iterdir()) == ["notes.txt"]
    tuning.create(data, "y", folder, arch="mlp")  # not refused as "already holds a study"
    assert tuning.read_settings(folder).config["model"]["arch"] == "mlp"


REFUSED = ["--arch", "gru"]  # refused only when a trial builds its network: the table has no text column


@pytest.mark.parametrize("workers", [1, WORKERS])
def test_a_setting_refused_in_the_trials_is_told_once_without_traceback_or_resume_advice(tmp_path, capfd, workers):
    """Each worker process's trial meets the refused setting: the message is printed once and alone (not once per
    worker, nor again by Optuna's "Trial 0 failed" line, nor with a worker's traceback), with no advice to resume
    the study that was removed."""
    data = small_table(tmp_path / "table.csv")
    folder = tmp_path / "new" / "study"
    assert main(["tune", str(data), "--target", "y", *REFUSED, "--trials", "2", "--epochs", "1",
                 "--workers", str(workers), "--out", str(folder)]) == 2
    err = capfd.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("error: Architecture 'gru' reads text"), err
    assert not (tmp_path / "new").exists()  # the folders the run made go with the study


def test_a_worker_process_hands_its_refusal_to_the_parent_and_keeps_library_warnings_off(monkeypatch, capsys):
    """What a worker process runs (tuning._worker, here in this process): a LaminaError goes to the parent's queue
    and ends the process with exit status 2, no traceback; a library's warning (opacus' under --privacy) is not
    shown, as in the CLI's own process."""
    import multiprocessing
    import warnings

    def work(*args):
        warnings.warn_explicit("a library's note", UserWarning, "library.py", 1)
        raise LaminaError("refused in the trial")

    monkeypatch.setattr(tuning, "work", work)
    refusals = multiprocessing.get_context("spawn").SimpleQueue()
    with warnings.catch_warnings(record=True) as shown, pytest.raises(SystemExit) as stopped:
        warnings.simplefilter("always")
        tuning._worker(refusals, "study", 1, None, False)
    assert stopped.value.code == 2 and refusals.get() == "refused in the trial"
    assert not shown and capsys.readouterr().err == ""


def test_optuna_keeps_a_diverged_trials_line_without_traceback():
    """A trial whose training diverged (caught: the study goes on) keeps Optuna's lines, without the traceback, even
    after a refused trial of the same number (another study in the same process), whose lines went."""
    import logging

    from lamina.training.trainer import TrainingDiverged

    tuning._optuna()
    told = logging.getLogger("optuna.study._optimize").filters[-1]
    records = []
    for number, error in ((0, LaminaError("refused")), (0, TrainingDiverged("the loss became NaN"))):
        for message, exc in ((f"Trial {number} failed with parameters: {{}}", error),
                             (f"Trial {number} failed with value None.", None)):
            record = logging.LogRecord("optuna", logging.WARNING, __file__, 1, message, None,
                                       (type(exc), exc, None) if exc else None)
            if told.filter(record):
                records.append(record)
    assert [(r.getMessage()[:14], r.exc_info) for r in records] == [("Trial 0 failed", None)] * 2


@pytest.mark.parametrize("out", [".", "link"])
def test_the_clean_up_keeps_the_users_folder_and_the_error(tmp_path, monkeypatch, capsys, out):
    """A refused setting stops the trials; the clean-up removes the study's files but not the --out folder the user
    made (the current folder, a link to a folder), and the error printed is the setting's."""
    data = small_table(tmp_path / "table.csv")
    (tmp_path / "real").mkdir()
    (tmp_path / "work" / "link").parent.mkdir()
    (tmp_path / "work" / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    if out == ".":
        (tmp_path / "work" / "link").unlink()
    monkeypatch.chdir(tmp_path / "work")
    assert main(["tune", str(data), "--target", "y", *REFUSED, "--trials", "1", "--out", out, "--quiet"]) == 2
    assert "error: Architecture 'gru' reads text" in capsys.readouterr().err
    assert Path(out).is_dir() and not list(Path(out).iterdir())


def test_a_failed_clean_up_is_told_after_the_error_that_caused_it(tmp_path, monkeypatch, capsys):
    data = small_table(tmp_path / "table.csv")

    def fails(*args):
        raise PermissionError(13, "Permission denied", "study.sqlite")

    monkeypatch.setattr(tuning, "discard_unstarted", fails)
    assert main(["tune", str(data), "--target", "y", *REFUSED, "--trials", "1", "--out", str(tmp_path / "s"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Architecture 'gru' reads text") and "could not be removed" in err


@pytest.mark.parametrize("name", tuning.OWNED)
@pytest.mark.parametrize("kind", ["file", "folder"])
def test_an_out_holding_any_file_a_study_writes_is_refused_and_kept(tmp_path, name, kind):
    """`finish` replaces best/, config.yaml and study.html: a user's own file of such a name is refused up front,
    as `lamina train --out` refuses a folder holding config.yaml."""
    data = small_table(tmp_path / "table.csv")
    folder = tmp_path / "u1"
    mine = folder / name / "x.txt" if kind == "folder" else folder / name
    mine.parent.mkdir(parents=True)
    mine.write_text("keep")
    with pytest.raises(LaminaError, match=f"already holds {name}: a study there would overwrite"):
        tuning.create(data, "y", folder, trials=1)
    assert mine.read_text() == "keep"
    assert sorted(path.name for path in folder.iterdir()) == [name]


def test_a_study_name_taken_in_a_shared_storage_is_refused_and_never_deleted(tmp_path, capsys):
    """Optuna names a study after the last folder of --out: a second study `f/job` in the storage of `e/job` is
    refused (it would share the first's trials), and a study stopped by a refused setting deletes only its own
    record."""
    import optuna

    data = small_table(tmp_path / "table.csv")
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    tuning.create(data, "y", tmp_path / "e" / "job", storage=storage)
    optuna.load_study(study_name="job", storage=storage).enqueue_trial({"lr": 0.01})  # the first study's record
    command = ["tune", str(data), "--target", "y", *REFUSED, "--trials", "1", "--storage", storage, "--quiet"]
    assert main([*command, "--out", str(tmp_path / "f" / "job")]) == 2
    assert "already holds a study named 'job'" in capsys.readouterr().err
    assert not (tmp_path / "f").exists()
    assert main([*command, "--out", str(tmp_path / "g" / "other")]) == 2
    assert optuna.get_all_study_names(storage) == ["job"]
    assert len(optuna.load_study(study_name="job", storage=storage).trials) == 1


@pytest.mark.parametrize("damage, says", [
    (lambda folder: (folder / tuning.STORAGE).unlink(), "study.sqlite is missing"),
    (lambda folder: (folder / tuning.STORAGE).write_text("not a database"), "study.sqlite cannot be opened"),
    (lambda folder: (folder / tuning.SETTINGS).write_text('{"name": 1}'), "study.json is damaged"),
    (lambda folder: (folder / tuning.SETTINGS).write_text("{"), "study.json is damaged"),
])
def test_resuming_a_damaged_study_names_the_file(study, tmp_path, capsys, damage, says):
    folder = tmp_path / "copy"
    shutil.copytree(study["folder"], folder)
    damage(folder)
    before = sorted(path.name for path in folder.iterdir())
    assert main(["tune", "--resume", str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {folder}") and says in err and "another --out" in err
    assert sorted(path.name for path in folder.iterdir()) == before  # nothing made, nothing removed


def test_the_report_names_files_as_the_user_can_give_them(study, tmp_path, monkeypatch):
    """`lamina tune DATA --out studies/wine`: the page's command runs from where tune ran."""
    from html import unescape

    shutil.copytree(study["folder"], tmp_path / "studies" / "wine")
    monkeypatch.chdir(tmp_path)
    tuning.finish(Path("studies/wine"))
    page = unescape((tmp_path / "studies" / "wine" / tuning.REPORT).read_text())
    command = shlex.split(page.split("Train it again with <code>")[1].split("</code>")[0])
    assert command[:2] == ["lamina", "train"] and Path(command[2]).samefile(study["data"])
    assert command[3:] == ["--config", "studies/wine/config.yaml"]
    assert "its run is in studies/wine/best." in page


def test_trial_lines_name_the_score(study, capsys):
    import optuna

    printer = tuning.TrialPrinter(tuning.read_settings(study["folder"]))
    optuna.create_study().optimize(lambda trial: trial.suggest_float("lr", 0.1, 0.2), n_trials=1, callbacks=[printer])
    assert "trial 0 complete, validation valid_loss (lower is better) 0.1" in capsys.readouterr().out


def test_a_forecast_fitted_without_epochs_is_refused_with_the_way_out(tmp_path, capsys):
    """--arch linear forecasts are fitted in one step: no validation score, and the advice was --valid-fraction."""
    from test_tasks import daily

    daily(steps=200).to_csv(tmp_path / "sales.csv", index=False)
    assert main(["tune", str(tmp_path / "sales.csv"), "--task", "forecast", "--time", "date", "--target", "sales",
                 "--horizon", "7", "--arch", "linear", "--trials", "1", "--out", str(tmp_path / "study")]) == 2
    assert "fitted in one step without epochs (a forecast's --arch linear: tune another" in capsys.readouterr().err
    assert not (tmp_path / "study").exists()
