"""Tracking runs in MLflow (`--track mlflow`, config `track: mlflow`): a run's settings as params, every
epoch's training and validation numbers as metrics, and its files (report.html, the model folder) as artifacts.

The store is MLflow's own choice: MLFLOW_TRACKING_URI when set (a server, or any database MLflow takes), else
MLflow's embedded default in the working directory (the SQLite file mlflow.db, artifacts under mlruns/), so a
project's runs gather in one place. Runs go to the experiment MLFLOW_EXPERIMENT_NAME, default "lamina". A tuning
trial is a nested run under its study's run (the tag mlflow.parentRunId). mlflow is imported only here, only when
tracking is asked for (`pip install 'lamina[track]'`).
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from lamina.errors import LaminaError

EXPERIMENT = "lamina"  # when MLFLOW_EXPERIMENT_NAME is unset
PARENT_TAG = "mlflow.parentRunId"  # what MLflow's UI nests runs by
CONNECT_SECONDS = 5.0  # how long a tracking server may take to accept a connection
MAX_PARAM = 6000  # characters MLflow keeps of a param's value


def client():
    """An MlflowClient on the tracking store (see the module's docstring); a LaminaError when mlflow is absent."""
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise LaminaError("Tracking with MLflow needs mlflow: pip install 'lamina[track]' (or mlflow-skinny), "
                          "or leave out --track.") from None
    uri = mlflow.get_tracking_uri()
    _require_reachable(uri)
    return MlflowClient(uri)


def _require_reachable(uri: str) -> None:
    """Refuses an http(s) tracking server that does not accept a connection within CONNECT_SECONDS (MLflow itself
    retries for minutes, silently), naming the URI."""
    address = urlsplit(uri)
    if address.scheme not in ("http", "https"):
        return  # a file or database store: MLflow opens it itself, and says what is wrong
    try:
        socket.create_connection((address.hostname, address.port or (443 if address.scheme == "https" else 80)),
                                 timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise LaminaError(f"The MLflow tracking server {uri} cannot be reached ({error}). Start it, set "
                          "MLFLOW_TRACKING_URI to one that runs, or leave out --track.") from None


class Tracker:
    """One MLflow run: `tracker(trainer, record)` logs an epoch (a Session observer); `finish` logs the end."""

    def __init__(self, mlflow_client, run_id: str):
        self.client, self.run_id = mlflow_client, run_id
        self.step = 0  # epochs logged, over every network the run trains: MLflow wants steps that rise

    @classmethod
    def start(cls, name: str, params: dict, parent: str | None = None) -> Tracker:
        """A new run named `name` holding `params` (nested keys joined by dots), nested under `parent`."""
        mlflow_client = client()
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        experiment = mlflow_client.get_experiment_by_name(experiment_name)
        experiment_id = (experiment.experiment_id if experiment is not None
                         else mlflow_client.create_experiment(experiment_name))
        run = mlflow_client.create_run(experiment_id, run_name=name, tags={PARENT_TAG: parent} if parent else None)
        tracker = cls(mlflow_client, run.info.run_id)
        tracker.log_params(params)
        return tracker

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        flat = flattened(params)
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:MAX_PARAM]) for k, v in flat.items()])

    def log_metrics(self, metrics: dict, step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        numbers = {k: v for k, v in flattened(metrics).items() if _is_number(v)}
        if numbers:
            self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, step) for k, v in numbers.items()])

    def __call__(self, trainer, record: dict) -> None:
        self.step += 1
        self.log_metrics({k: v for k, v in record.items() if k.startswith(("train_", "valid_")) or k == "lr"},
                         self.step)

    def finish(self, model, run) -> None:
        """The selected validation score (best_<metric>), the test metrics the run scored (test.<metric>...) and,
        for a run folder, its report.html and model folder."""
        validation = model.training.get("validation")
        if validation:
            self.log_metrics({f"best_{validation['metric']}": validation["score"]}, self.step)
        self.log_metrics(model.metrics or {}, self.step)
        if run is not None:
            from lamina.run import REPORT

            if run.exists(REPORT):
                self.client.log_artifact(self.run_id, str(run / REPORT))
            if run.model_dir.exists():
                self.client.log_artifacts(self.run_id, str(run.model_dir), "model")

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


@contextlib.contextmanager
def tracked(config, name: str, parent: str | None = None) -> Iterator[Tracker | None]:
    """The run's Tracker when `config.track` asks for one, else None. The MLflow run ends FINISHED, or KILLED
    when the block is stopped (a pruned trial, Ctrl-C), or FAILED."""
    if config.track == "none":
        yield None
        return
    tracker = Tracker.start(name, config.model_dump(mode="json", exclude={"tune"}), parent)
    try:
        yield tracker
    except BaseException as error:
        tracker.end("KILLED" if _stopped(error) else "FAILED")
        raise
    tracker.end()


def _stopped(error: BaseException) -> bool:
    """Whether the run was stopped on purpose rather than failing: Ctrl-C, SIGTERM, or a tuning trial pruned."""
    from lamina.training.trainer import TrainingInterrupted

    optuna = sys.modules.get("optuna")  # a pruned trial can only come from a loaded optuna
    return isinstance(error, (KeyboardInterrupt, TrainingInterrupted)) or (
        optuna is not None and isinstance(error, optuna.TrialPruned))


def flattened(values: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} → {"a.b": 1}: MLflow's keys are flat."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flattened(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
