"""--track mlflow: a run's params, per-epoch metrics and files land in MLflow (a temporary SQLite store, read back
with MLflow's own client); tuning trials are nested runs under their study's."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import lamina
from lamina import tracking, tuning
from lamina.errors import LaminaError
from test_tuning import small_table


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tests")
    monkeypatch.chdir(tmp_path)  # artifacts go under ./mlruns
    client = MlflowClient(uri)
    return lambda: client.search_runs([client.get_experiment_by_name("tests").experiment_id],
                                      order_by=["attributes.start_time ASC"])


def test_a_tracked_run_logs_params_metrics_and_files(tmp_path, store):
    data = small_table(tmp_path / "table.csv")
    lamina.fit(data, "y", out=tmp_path / "run", track="mlflow", epochs=3, patience=3, width=16, progress=False)
    (run,) = store()
    client = MlflowClient()
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["data.target"] == "y" and run.data.params["model.width"] == "16"
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    logged = client.get_metric_history(run.info.run_id, "valid_loss")
    assert [m.step for m in logged] == [1, 2, 3]
    assert [m.value for m in logged] == pytest.approx(history["valid_loss"].tolist())
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert run.data.metrics["test.accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    selected = lamina.load(tmp_path / "run").training["validation"]["epoch"]
    assert run.data.metrics["best_valid_loss"] == pytest.approx(history.loc[history["epoch"] == selected, "valid_loss"].iloc[0])
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert files == {"report.html", "model"}
    assert {f.path for f in client.list_artifacts(run.info.run_id, "model")} >= {"model/model.json"}


def test_tuning_trials_are_nested_under_the_study(tmp_path, store):
    data = small_table(tmp_path / "table.csv")
    folder = tmp_path / "study"
    tuning.create(data, "y", folder, trials=2, epochs=1, pruner="none", track="mlflow",
                  space={"lr": {"low": 1e-3, "high": 1e-2}})
    tuning.optimize(folder, progress=False)
    summary = tuning.finish(folder)
    parent, *children = store()
    assert parent.info.run_name == "study study" and parent.data.tags.get(tracking.PARENT_TAG) is None
    assert [c.info.run_name for c in children] == ["0000", "0001", f"{summary['best_trial']:04d}"]  # + scoring
    assert all(c.data.tags[tracking.PARENT_TAG] == parent.info.run_id for c in children)
    assert {c.data.params["train.lr"] for c in children[:2]} == {str(v) for v in (t["lr"] for t in trial_params(folder))}
    assert parent.data.metrics["best_valid_loss"] == pytest.approx(summary["validation"]["score"])
    assert "test.accuracy" not in children[0].data.metrics and "test.accuracy" in children[2].data.metrics


def trial_params(folder):
    return [t.params for t in tuning.load_study(folder, tuning.read_settings(folder)).trials]


def test_tracking_without_mlflow_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(LaminaError, match=r"lamina\[track\]"):
        tracking.client()


@pytest.mark.parametrize("command", ["train", "tune"])
def test_an_unreachable_tracking_server_is_refused_before_any_folder(tmp_path, monkeypatch, command):
    """Port 9 (discard) is closed here: MLflow alone would retry for minutes, silently."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setattr(tracking, "CONNECT_SECONDS", 0.5)
    data = small_table(tmp_path / "table.csv")
    with pytest.raises(LaminaError, match="MLflow tracking server http://127.0.0.1:9 cannot be reached"):
        if command == "train":
            lamina.fit(data, "y", out=tmp_path / "out", epochs=1, track="mlflow", progress=False)
        else:
            tuning.create(data, "y", tmp_path / "out", trials=1, epochs=1, track="mlflow")
    assert not (tmp_path / "out").exists()
