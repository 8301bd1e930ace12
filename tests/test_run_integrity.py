"""Runs are never silently corrupted: a resume on changed data, settings or network stops saying what changed;
a damaged or missing checkpoint is named (and `--from best` falls back); two trainings never share a folder;
library warnings stay off the terminal."""

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from conftest import make_table
from lamina.cli import main
from lamina.errors import LaminaError
from lamina.run import LOCK, WARNINGS, RunFolder
from lamina.training.checkpoint import read
from lamina.training.trainer import BEST, LAST, Trainer

FLAGS = ["--epochs", "4", "--patience", "10", "--width", "16", "--depth", "1", "--quiet"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished table run (data.csv beside it) to copy: its checkpoints hold a last and a best."""
    folder = tmp_path_factory.mktemp("integrity")
    make_table(rows=300).drop(columns="comment").to_csv(folder / "data.csv", index=False)
    assert main(["train", str(folder / "data.csv"), "--target", "y", "--out", str(folder / "run"), *FLAGS]) == 0
    return folder


def copy_run(source, target, interrupted: bool = True):
    """A copy of a run folder (and its data.csv) whose config points at its own copy of the data; interrupted: as
    a run stopped after its last epoch, before its model and report were written (a resume has work left)."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    config = target / "run" / "config.yaml"
    config.write_text(config.read_text().replace(str((source / "data.csv").resolve()),
                                                 str((target / "data.csv").resolve())))
    if interrupted:
        stop_before_the_model(target / "run")
    return target


def stop_before_the_model(run) -> None:
    shutil.rmtree(run / "model")
    (run / "report.html").unlink()


@pytest.fixture
def copied(finished, tmp_path):
    return copy_run(finished, tmp_path)


def resume(run, *extra) -> int:
    return main(["train", "--resume", str(run), "--quiet", *extra])


# ---- 13: a resume on other data, other settings or another network stops and says what changed -------------

def test_a_resume_after_rows_were_appended_stops_naming_the_data_file(copied, capsys):
    data = copied / "data.csv"
    before = (copied / "run" / "checkpoints" / LAST).read_bytes()
    pd.concat([pd.read_csv(data), make_table(rows=40, seed=3).drop(columns="comment")]).to_csv(data, index=False)
    assert resume(copied / "run") == 2
    error = capsys.readouterr().err
    assert f"The data file {data.resolve()} changed since run" in error and "Traceback" not in error
    assert (copied / "run" / "checkpoints" / LAST).read_bytes() == before  # nothing was trained on the new rows


def test_a_resume_with_edited_settings_stops_naming_each_change(copied, capsys):
    config = copied / "run" / "config.yaml"
    more_time = config.read_text().replace("time_budget: null", "time_budget: 10m").replace("device: auto", "device: cpu")
    config.write_text(more_time)
    assert resume(copied / "run") == 0  # more time, or another device, changes nothing learnt so far
    stop_before_the_model(copied / "run")  # again: a complete run is not resumed at all
    config.write_text(more_time.replace("width: 16", "width: 24").replace("lr: auto", "lr: 0.01"))
    assert resume(copied / "run") == 2
    error = capsys.readouterr().err
    assert "config.model.width: 16 → 24" in error and "config.train.lr: 'auto' → 0.01" in error
    assert str(copied / "run" / "checkpoints" / LAST) in error


def test_a_resume_with_another_network_stops_naming_the_layer(tmp_path):
    batches = [(torch.randn(8, 3), torch.randn(8, 1))]
    Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, epochs=1, checkpoint_dir=tmp_path,
            progress=False).fit(batches)
    wider = Trainer(torch.nn.Linear(4, 1), torch.nn.functional.mse_loss, epochs=2, checkpoint_dir=tmp_path,
                    progress=False)
    with pytest.raises(LaminaError, match=r"network changed .*weight: \[1, 3\] → \[1, 4\]"):
        wider.fit([(torch.randn(8, 4), torch.randn(8, 1))], resume=True)


def series_csv(path, steps):
    t = np.arange(steps)
    pd.DataFrame({"date": pd.date_range("2021-01-01", periods=steps, freq="D").strftime("%Y-%m-%d"),
                  "sales": 10 + 3 * np.sin(2 * np.pi * t / 7)}).to_csv(path, index=False)


def test_a_forecast_resume_refuses_appended_rows_and_edited_settings(tmp_path):
    data, run = tmp_path / "sales.csv", tmp_path / "run"
    series_csv(data, 150)
    lamina.forecast(data, "date", "sales", 7, arch="mlp", epochs=2, width=8, out=run, progress=False)
    stop_before_the_model(run)  # a complete run is not resumed at all
    kept = data.read_text()
    series_csv(data, 170)  # twenty more days
    with pytest.raises(LaminaError, match=f"data file {data.resolve()} changed since run"):
        lamina.resume_run(run, progress=False)
    data.write_text(kept)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("width: 8", "width: 12"))
    with pytest.raises(LaminaError, match=r"What changed: config.model.width: 8 → 12"):
        lamina.resume_run(run, progress=False)


# ---- 14: a damaged or missing checkpoint is named; --from best falls back only when asked -------------------

DAMAGES = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "emptied": lambda path: path.write_bytes(b""),
    "random bytes": lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)),
    "deleted": lambda path: path.unlink(),
}


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_last_checkpoint_is_named_and_best_is_used_only_when_asked(copied, capsys, how):
    run = copied / "run"
    last, best = run / "checkpoints" / LAST, run / "checkpoints" / BEST
    best_epoch = read(best)[1]["epoch"]
    history = pd.read_csv(run / "history.csv")
    DAMAGES[how](last)
    assert resume(run) == 2
    error = capsys.readouterr().err
    assert str(last) in error and "--from best" in error and "Traceback" not in error
    assert resume(run, "--from", "best") == 0
    resumed = pd.read_csv(run / "history.csv")
    assert resumed["epoch"].tolist() == [1, 2, 3, 4]  # from its best epoch (here the last one) to the end
    kept = history.columns.drop("seconds")
    pd.testing.assert_frame_equal(resumed[kept].head(best_epoch), history[kept].head(best_epoch))
    assert read(last)[1]["finished"]


def test_the_fallback_continues_from_the_best_epoch_on_the_schedule_of_an_uninterrupted_run(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    train, valid = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)], [(x[48:], y[48:])]
    snapshot = tmp_path / "best-at-epoch-2.safetensors"

    def keep_epoch_2(record):
        if record["epoch"] == 2:
            shutil.copy(tmp_path / BEST, snapshot)

    def trainer(**options):
        torch.manual_seed(0)
        return Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, epochs=4, lr=0.05, warmup_epochs=1,
                       checkpoint_dir=tmp_path, progress=False, **options)

    original = trainer(callbacks=[keep_epoch_2]).fit(train, valid)
    assert read(snapshot)[1]["epoch"] == 2
    shutil.copy(snapshot, tmp_path / BEST)
    (tmp_path / LAST).unlink()
    with pytest.raises(LaminaError, match="--from best"):
        trainer().fit(train, valid, resume=True)
    resumed = trainer(fall_back_to_best=True).fit(train, valid, resume=True)
    assert [r["epoch"] for r in resumed] == [1, 2, 3, 4]
    assert resumed[:2] == original[:2]  # the best checkpoint's own history
    assert [r["lr"] for r in resumed[2:]] == pytest.approx([r["lr"] for r in original[2:]])  # same schedule
    assert resumed[3]["valid_loss"] < resumed[1]["valid_loss"]  # and it trained on from there


def test_without_a_best_checkpoint_the_damage_is_named_and_no_fallback_offered(copied, capsys):
    run = copied / "run"
    (run / "checkpoints" / BEST).unlink()
    (run / "checkpoints" / LAST).write_bytes(b"")
    assert resume(run, "--from", "best") == 2
    error = capsys.readouterr().err
    assert str(run / "checkpoints" / LAST) in error and "no best checkpoint" in error


def test_a_damaged_best_checkpoint_is_named_when_it_is_the_fallback(copied):
    run = copied / "run"
    (run / "checkpoints" / LAST).unlink()
    (run / "checkpoints" / BEST).write_bytes(b"\x00" * 10)
    with pytest.raises(LaminaError, match=f"checkpoint {run / 'checkpoints' / BEST} is damaged"):
        lamina.resume_run(run, progress=False, start="best")


# ---- 15: one training at a time in a run folder -----------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from lamina.run import RunFolder
    with RunFolder(sys.argv[1]).lock():
        print("locked", flush=True)
        time.sleep(120)
""")


def test_a_second_training_into_a_locked_folder_is_refused_naming_the_holder(finished, tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        train = ["train", str(finished / "data.csv"), "--target", "y", "--out", str(out), *FLAGS]
        assert main(train) == 2
        error = capsys.readouterr().err
        assert f"process {holder.pid} on host {socket.gethostname()}" in error
        assert sorted(p.name for p in out.iterdir()) == [LOCK]  # the refused run wrote nothing
    finally:
        holder.kill()  # killed, not released: the OS frees the lock with the process
        holder.wait()
    assert main(train) == 0
    assert RunFolder(out).is_run() and (out / LOCK).read_text() == ""


def test_a_resume_is_refused_while_the_run_is_held(copied, capsys):
    run = copied / "run"
    with RunFolder(run).lock():
        assert resume(run) == 2
    assert f"process {os.getpid()} on host {socket.gethostname()}" in capsys.readouterr().err
    assert resume(run) == 0


def test_a_refused_new_run_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "never"
    frame = make_table(rows=50)
    frame["y"] = "same"  # one class: nothing to learn, the run stops before writing
    frame.to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", str(tmp_path / "data.csv"), "--target", "y", "--out", str(out), *FLAGS]) == 2
    assert not out.exists()



@pytest.mark.parametrize("refused", [["--time-budget", "abc"], ["--time-budget", "0s"], ["--arch", "resnet"]])
def test_a_setting_refused_after_the_data_was_read_leaves_nothing_that_blocks_the_retry(tmp_path, capsys, refused):
    make_table(rows=60).drop(columns="comment").to_csv(tmp_path / "data.csv", index=False)
    out = tmp_path / "run"
    command = ["train", str(tmp_path / "data.csv"), "--target", "y", "--out", str(out), *FLAGS]
    assert main([*command, *refused]) == 2
    assert not out.exists()
    capsys.readouterr()
    assert main([*command, "--epochs", "1"]) == 0, capsys.readouterr().err


def test_a_run_that_has_a_checkpoint_keeps_its_files_when_discarding_is_asked(finished, tmp_path):
    run = RunFolder(copy_run(finished, tmp_path) / "run")
    run.discard_unstarted()
    assert run.exists("config.yaml") and run.exists("checkpoints")

# ---- library warnings go to the run's warnings.log, not the terminal ---------------------------------------

def test_a_library_warning_lands_in_the_run_log_not_on_the_terminal(copied, capsys, monkeypatch):
    from lamina import api

    def noisy_report(run):
        warnings.warn("torch.onnx exporter internals changed", FutureWarning, stacklevel=1)
        return run

    monkeypatch.setattr(api, "report", noisy_report)
    run = copied / "run"
    assert main(["report", str(run)]) == 0
    assert "exporter internals" not in capsys.readouterr().err
    assert "FutureWarning: torch.onnx exporter internals changed" in (run / WARNINGS).read_text()
    (run / WARNINGS).unlink()
    with pytest.warns(FutureWarning, match="exporter internals"):  # --debug: Python shows it as it always would
        assert main(["--debug", "report", str(run)]) == 0
    assert not (run / WARNINGS).exists()


def test_a_resume_whose_checkpoints_were_all_deleted_stops_instead_of_starting_over(copied, capsys):
    run = copied / "run"
    shutil.rmtree(run / "checkpoints")
    assert resume(run, "--from", "best") == 2
    error = capsys.readouterr().err
    assert f"The checkpoints in {run / 'checkpoints'} are missing" in error and "Traceback" not in error


# ---- a resume continues the run's own settings, says where from, and leaves a complete run alone ------------

@pytest.fixture(scope="module")
def interrupted(finished, tmp_path_factory):
    """A run stopped by Ctrl-C during its third epoch (the signal is sent once its second epoch is recorded)."""
    import signal

    from lamina.training.session import Session

    folder = tmp_path_factory.mktemp("interrupted")
    shutil.copy(finished / "data.csv", folder / "data.csv")
    original = Session.trainer

    def interrupting(self, *args, **kwargs):
        trainer = original(self, *args, **kwargs)
        trainer.callbacks.append(lambda record: record["epoch"] == 2 and os.kill(os.getpid(), signal.SIGINT))
        return trainer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Session, "trainer", interrupting)
        code = main(["train", str(folder / "data.csv"), "--target", "y", "--out", str(folder / "run"), *FLAGS])
    assert code == 130
    return folder


def test_a_resume_says_which_checkpoint_and_epoch_it_continues_from(interrupted, tmp_path, capsys):
    run = copy_run(interrupted, tmp_path, interrupted=False) / "run"
    assert read(run / "checkpoints" / LAST)[1]["epoch"] == 2
    assert resume(run) == 0
    said = capsys.readouterr().out
    assert f"Resuming {run} from {run / 'checkpoints' / LAST} (2 epoch(s) done, 1 batch(es) into epoch 3)." in said
    assert pd.read_csv(run / "history.csv")["epoch"].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize("flags", [["--epochs", "5"], ["--width", "8", "--lr", "0.1"], ["--target", "colour"],
                                   ["--column", "signal=category"]])
def test_a_setting_given_with_resume_is_refused_naming_it(interrupted, tmp_path, capsys, flags):
    run = copy_run(interrupted, tmp_path, interrupted=False) / "run"
    before = (run / "checkpoints" / LAST).read_bytes()
    assert resume(run, *flags) == 2
    error = capsys.readouterr().err
    named = [flag for flag in flags if flag.startswith("--")]
    assert f"so {', '.join(named)} cannot be given with it" in error
    assert "with its own settings" in error and "start a new run" in error and "Traceback" not in error
    assert (run / "checkpoints" / LAST).read_bytes() == before  # nothing trained


def test_resuming_a_complete_run_says_so_and_trains_nothing(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path, interrupted=False) / "run"
    files = {path: path.read_bytes() for path in run.rglob("*") if path.is_file() and path.name != WARNINGS}
    assert resume(run) == 0
    assert f"{run} is already complete" in capsys.readouterr().out
    assert {path: path.read_bytes() for path in files} == files


def test_info_on_an_interrupted_run_says_how_to_resume_it(interrupted, capsys):
    run = interrupted / "run"
    assert main(["info", str(run)]) == 2
    error = capsys.readouterr().err
    assert f"{run} is an interrupted run" in error and f"lamina train --resume {run}" in error


def test_the_report_of_a_run_with_doctored_metrics_names_the_key(finished, tmp_path, capsys):
    import json

    run = copy_run(finished, tmp_path, interrupted=False) / "run"
    document = json.loads((run / "model" / "model.json").read_text())
    document["metrics"]["test"] = [1, 2]
    (run / "model" / "model.json").write_text(json.dumps(document))
    for command in ("report", "card", "info"):
        assert main([command, str(run)]) == 2
        error = capsys.readouterr().err
        assert "metrics.test: Input should be a valid dictionary (it is [1, 2])" in error and "Traceback" not in error


def test_a_library_warning_naming_a_line_of_lamina_is_logged_and_laminas_own_is_shown(tmp_path, capsys):
    """pandas names its caller's line (find_stack_level): pd.to_datetime's "Could not infer format" called from
    lamina's series reading named a line of lamina, and reached the terminal on `lamina predict`. Both warnings are
    raised from code compiled as a file of the package, so the test holds whichever lamina code calls pandas so."""
    from lamina.library_warnings import PACKAGE, logged_to_run

    run = RunFolder(tmp_path / "run").create()
    run.write_config(lamina.Config())
    reads = compile("import pandas\npandas.to_datetime(pandas.Series(['03/05/24', '12/31/23', '1/2/24 13:00']), "
                    "errors='coerce')", str(PACKAGE / "reads.py"), "exec")
    own = compile("import warnings\nwarnings.warn('a sheet holds no table', stacklevel=1)", str(PACKAGE / "own.py"),
                  "exec")
    with logged_to_run(lambda: run.path):
        warnings.simplefilter("always")
        exec(reads, {"__name__": "lamina.reads"})  # pandas' warning, naming the "lamina" line that called it
        exec(own, {"__name__": "lamina.own"})  # a warning lamina raises about its own line
    shown = capsys.readouterr().err
    assert "Could not infer format" not in shown and "Could not infer format" in (run.path / WARNINGS).read_text()
    assert "warning: a sheet holds no table" in shown
