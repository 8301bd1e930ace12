"""A real training process is killed mid-run (SIGKILL: no chance to save) or stopped (SIGTERM), then
resumed; it must end exactly where an uninterrupted run with the same seed ends."""

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import make_table
from lamina.training.checkpoint import read

SETTINGS = ["--epochs", "6", "--patience", "10", "--batch-size", "16", "--width", "64", "--quiet"]


def train_command(data, out, *extra):
    return [sys.executable, "-m", "lamina.cli", "train", str(data), "--target", "y", "--out", str(out),
            *SETTINGS, *extra]


def wait_for_epoch(process, checkpoint, epoch, limit=120.0):
    """Polls the checkpoint until it records `epoch` finished epochs."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"training ended (code {process.returncode}) before it could be interrupted")
        if checkpoint.exists():
            try:
                if read(checkpoint)[1]["epoch"] >= epoch:
                    return
            except Exception:  # the file is being renamed into place; look again
                pass
        time.sleep(0.01)
    pytest.fail("no checkpoint appeared in time")


@pytest.fixture(scope="module")
def data_and_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    data = folder / "data.csv"
    # No text column: its embedding table would make each step slow without testing anything more.
    make_table(rows=1000, seed=5).drop(columns="comment").to_csv(data, index=False)
    reference = folder / "reference"
    subprocess.run(train_command(data, reference), check=True, capture_output=True)
    return data, reference


def results(run):
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics, pd.read_csv(run / "test_predictions.csv"), pd.read_csv(run / "history.csv")


def assert_same_run(run, reference):
    metrics, predictions, history = results(run)
    expected_metrics, expected_predictions, expected_history = results(reference)
    assert metrics == expected_metrics
    pd.testing.assert_frame_equal(predictions, expected_predictions)
    pd.testing.assert_frame_equal(history.drop(columns="seconds"), expected_history.drop(columns="seconds"))


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(data_and_reference, tmp_path):
    data, reference = data_and_reference
    run = tmp_path / "killed"
    process = subprocess.Popen(train_command(data, run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epoch(process, run / "checkpoints" / "last.safetensors", 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (run / "metrics.json").exists(), "the run was cut short"
    resumed = subprocess.run([sys.executable, "-m", "lamina.cli", "train", "--resume", str(run), "--quiet"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run, reference)


def test_sigterm_saves_prints_the_resume_command_and_resume_matches(data_and_reference, tmp_path):
    data, reference = data_and_reference
    run = tmp_path / "stopped"
    process = subprocess.Popen(train_command(data, run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_epoch(process, run / "checkpoints" / "last.safetensors", 1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"lamina train --resume {run}" in stderr
    assert "Traceback" not in stderr
    meta = read(run / "checkpoints" / "last.safetensors")[1]
    assert not meta["finished"]
    resumed = subprocess.run([sys.executable, "-m", "lamina.cli", "train", "--resume", str(run), "--quiet"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run, reference)
