"""Tasks are plug-ins: the registry, a toy task written here and served with no change to src/, one Model
class for every task, forecasting through `lamina train`, and format-1 artifacts of each task still loading."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import create_model

import lamina
from lamina.cli import main
from lamina.run import RunFolder
from lamina.serving.server import create_app
from lamina.tasks.base import TASKS, Prepared, Task, register_task, task_named

GOLDEN = Path(__file__).parent / "golden"


# ---- a toy task, whole: y ≈ a·x + b by gradient descent, scored against predicting the mean ---------------

class ToyPrepared(Prepared):
    def __init__(self, train, valid, test):
        super().__init__([])
        self.train, self.valid, self.test = train, valid, test


class LineTask(Task):
    name = "line"
    route = "line"

    def prepare(self, config, frame, test_frame):
        x, y = (torch.tensor(frame[c].to_numpy(), dtype=torch.float32).view(-1, 1) for c in ("x", config.data.target))
        self.target_ = config.data.target
        return ToyPrepared((x[:60], y[:60]), (x[60:80], y[60:80]), (x[80:], y[80:]))

    def fit(self, config, prepared, session):
        network = self.build_network({})  # the flow has seeded torch with config.seed
        batches = [prepared.train]  # one batch an epoch: any re-iterable of (inputs, targets) batches
        trainer = session.trainer(network, self, epochs=config.train.epochs, lr=0.1)
        trainer.fit(batches, [prepared.valid], resume=session.resume)
        return network, {"arch": "line", "hyperparameters": {}}, {"epochs_run": len(trainer.history_)}

    def build_network(self, architecture):
        return torch.nn.Linear(1, 1)

    def loss(self, outputs, targets):
        return torch.nn.functional.mse_loss(outputs, targets)

    def score(self, model, prepared):
        x, y = prepared.test
        predicted = model.network(x).detach()
        model.metrics = {"mae": float((predicted - y).abs().mean()), "baseline_mae": float((y - y.mean()).abs().mean())}
        return pd.DataFrame({"truth": y.view(-1).numpy(), "prediction": predicted.view(-1).numpy()})

    def predict(self, model, frame):
        x = torch.tensor(frame["x"].to_numpy(), dtype=torch.float32).view(-1, 1)
        return pd.DataFrame({"prediction": model.network(x).detach().view(-1).numpy()}, index=frame.index)

    def summary(self, model):
        return f"MAE {model.metrics['mae']:.4f} (mean: {model.metrics['baseline_mae']:.4f})"

    def state(self):
        return {"target": self.target_}

    @classmethod
    def from_state(cls, state):
        task = cls()
        task.target_ = state["target"]
        return task

    def request_model(self, model, name):
        return create_model(f"{name}Request", x=(list[float], ...))

    def respond(self, model, body):
        return {"predictions": self.predict(model, pd.DataFrame({"x": body.x}))["prediction"].tolist()}


@pytest.fixture
def line_task():
    register_task(LineTask)
    yield LineTask
    TASKS.pop("line")


def test_a_toy_task_trains_saves_loads_predicts_reports_and_serves_with_no_change_to_src(line_task, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 100)
    frame = pd.DataFrame({"x": x, "y": 3 * x + 1 + rng.normal(0, 0.05, 100)})
    model = lamina.fit(frame, "y", task="line", epochs=200, patience=50, out=tmp_path / "run", progress=False)
    assert model.metrics["mae"] < 0.2 * model.metrics["baseline_mae"]  # it learnt the line
    loaded = lamina.load(tmp_path / "run")
    assert isinstance(loaded.task, LineTask)
    assert loaded.predict(pd.DataFrame({"x": [0.0, 1.0]}))["prediction"].to_numpy() == pytest.approx([1, 4], abs=0.1)
    run = RunFolder(tmp_path / "run")
    report = run.read_text("report.html")
    # The shared page: its held-out scores, learning curves and config, with no report code in the task.
    assert f"<td>mae</td><td>{model.metrics['mae']:.4f}</td>" in report and "task: line" in report
    assert ">Learning curves</text>" in report
    assert len(run.read_table("history.csv")) == model.training["epochs_run"] and run.read_config().data.task == "line"
    client = TestClient(create_app({"line": loaded}, monitor=False))
    answer = client.post("/line", json={"x": [0.5]})
    assert answer.status_code == 200 and answer.json()["predictions"][0] == pytest.approx(2.5, abs=0.15)
    assert client.post("/line", json={"x": ["not a number"]}).status_code == 422
    assert client.post("/predict", json={"x": 1}).status_code == 404  # a task has only its own route


def test_an_installed_package_adds_its_task_to_the_cli_through_an_entry_point(monkeypatch, tmp_path, capsys):
    import importlib.metadata

    point = importlib.metadata.EntryPoint("line", "test_tasks:LineTask", "lamina.tasks")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [point] if group == "lamina.tasks" else [])
    monkeypatch.delitem(TASKS, "line", raising=False)
    try:
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, 100)
        pd.DataFrame({"x": x, "y": 2 * x}).to_csv(tmp_path / "line.csv", index=False)
        out = tmp_path / "run"
        assert main(["train", str(tmp_path / "line.csv"), "--target", "y", "--task", "line", "--epochs", "30",
                     "--out", str(out), "--quiet"]) == 0
        assert "MAE" in capsys.readouterr().out
        assert main(["info", str(out)]) == 0 and "task: line" in capsys.readouterr().out
    finally:
        TASKS.pop("line", None)


def test_an_unknown_task_names_the_registered_ones():
    with pytest.raises(lamina.LaminaError, match="'forcast'.*Did you mean 'forecast'.*classification"):
        task_named("forcast")


# A value away from its default for each setting only some tasks read (tasks.base.TASK_SETTINGS).
SET_VALUES = {"valid_fraction": 0.2, "test_fraction": 0.2, "time": "v", "horizon": 3, "id": "v", "covariates": ["v"],
              "season": 7, "valid_steps": 3, "test_steps": 3, "lookback": 5, "user": "user", "item": "item",
              "rating": "v", "implicit": True, "users": "u.csv", "items": "i.csv", "source": "v",
              "source_file": "a.en", "target_file": "a.de", "test_source_file": "b.en", "test_target_file": "b.de",
              "valid_source_file": "c.en", "valid_target_file": "c.de", "cost": "fn=2,fp=1", "contamination": 0.1,
              "normal_only": True, "split": "scaffold", "sensitive": ["v"], "exclude_sensitive": True, "norm": "layer",
              "numbers": "plr", "members": 2, "wide": True, "linear_share": 0.5, "image_size": 32,
              "adversarial": "pgd", "adversarial_budget": 0.1, "crop_padding": 2, "flip": True, "cutout": 4,
              "init_from": "elsewhere", "freeze_backbone": 1, "label_smoothing": 0.1, "folds": 2,
              "columns": {"v": "number"}, "date_order": "day_first"}


def test_every_task_refuses_each_setting_of_another_task_it_would_ignore():
    """--season given to a classifier, --norm to a forecaster, --valid-fraction to a forecaster...: each task of the
    registry takes the settings it declares (Task.settings) and refuses every other one, before preparing."""
    from lamina.config import Config
    from lamina.errors import LaminaError
    from lamina.tasks.base import TASK_SETTINGS, registered_tasks, setting_named, task_for

    assert set(SET_VALUES) == set(TASK_SETTINGS), "a value to set for every setting only some tasks read"
    frame = pd.DataFrame({"user": ["a", "b"] * 10, "item": ["x", "y", "z", "w"] * 5, "v": range(20)})
    for cls in dict.fromkeys(registered_tasks().values()):
        assert set(cls.settings) <= set(TASK_SETTINGS), cls.name
        for key in TASK_SETTINGS:
            if key in cls.settings or key.endswith("_file"):  # aligned files: the config gives them to translation
                continue
            config = Config().with_overrides(task=cls.name, target="v", **{key: SET_VALUES[key]})
            named = re.escape(setting_named(key))  # the flag and the config key: "--season (data.season)"
            with pytest.raises(LaminaError, match=f"^{named} is a setting of .*, and this run's task is {cls.name}: "
                                                  f"it would be ignored. Drop {named}"):
                task_for(config, frame)


def test_every_registered_task_round_trips_its_state_through_the_registry():
    """Each built-in task is found by name and alias, and names its own route and input family."""
    for name in ("classification", "binary", "multiclass", "regression", "forecast"):
        cls = task_named(name)
        assert cls.name in ("classification", "regression", "forecast") and cls.route


# ---- forecasting through the one flow ------------------------------------------------------------------

def daily(steps=200, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    return pd.DataFrame({"date": pd.date_range("2021-01-01", periods=steps, freq="D").strftime("%Y-%m-%d"),
                         "sales": 10 + 3 * np.sin(2 * np.pi * t / 7) + 0.02 * t + rng.normal(0, 0.3, steps)})


def test_lamina_forecast_stays_callable_after_importing_the_forecast_model_name():
    assert lamina.ForecastModel is lamina.Model
    assert callable(lamina.forecast)


def test_train_with_task_forecast_writes_the_same_run_folder_and_serves_a_forecast(tmp_path, capsys):
    data = tmp_path / "sales.csv"
    daily().to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(["train", str(data), "--task", "forecast", "--time", "date", "--target", "sales", "--horizon", "7",
                 "--arch", "linear", "--out", str(out), "--quiet"]) == 0
    run = RunFolder(out)
    run.require_finished()
    config = run.read_config()
    assert (config.data.task, config.data.horizon, config.data.time) == ("forecast", 7, "date")
    model = lamina.load(out)
    mase = json.loads(run.read_text("metrics.json"))["model"]["mase"]
    assert f"{mase:.4f}" in capsys.readouterr().out
    client = TestClient(create_app({"sales": model}, monitor=False))
    history = daily().tail(40).to_dict(orient="records")
    answer = client.post("/forecast", json={"history": history})
    assert answer.status_code == 200
    expected = model.predict(daily().tail(40))
    assert [row["sales"] for row in answer.json()["forecast"]] == pytest.approx(expected["sales"].tolist())
    assert client.post("/forecast", json={"history": [{"date": "x", "sales": "y"}]}).status_code == 422
    assert client.post("/forecast", json={"history": history[:3]}).status_code == 422  # shorter than the lookback
    assert "<code>forecast</code>" in client.get("/").text  # the playground says where to send the history
    example = client.get("/schema").json()["example"]  # what the playground starts from: a request that works
    assert len(example["history"]) == model.task.lookback
    assert client.post("/forecast", json=example).status_code == 200


def test_a_forecast_run_killed_mid_training_resumes_to_the_same_model(tmp_path):
    from test_resume import wait_for_epoch

    data = tmp_path / "sales.csv"
    daily(steps=400).to_csv(data, index=False)
    command = [sys.executable, "-m", "lamina.cli", "train", str(data), "--task", "forecast", "--time", "date",
               "--target", "sales", "--horizon", "7", "--arch", "gru", "--width", "8", "--epochs", "12",
               "--patience", "12", "--quiet", "--out"]
    subprocess.run([*command, str(tmp_path / "reference")], check=True, capture_output=True)
    process = subprocess.Popen([*command, str(tmp_path / "run")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_epoch(process, tmp_path / "run" / "checkpoints" / "gru" / "last.safetensors", 2)
    process.kill()  # SIGKILL: no chance to save anything more
    process.wait()
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 0
    run, reference = RunFolder(tmp_path / "run"), RunFolder(tmp_path / "reference")
    for name in ("metrics.json", "test_predictions.csv"):
        assert run.read_text(name) == reference.read_text(name)
    assert run.read_table("history.csv")["valid_loss"].tolist() == reference.read_table("history.csv")["valid_loss"].tolist()


def test_the_format_1_forecast_artifact_loads_and_forecasts_as_recorded():
    folder = GOLDEN / "forecast-format-1"
    model = lamina.load(folder / "model")
    assert model.task.name == "forecast"
    result = model.predict(folder / "history.csv")
    expected = pd.read_csv(folder / "expected.csv")
    pd.testing.assert_frame_equal(result.drop(columns="date"), expected.drop(columns="date"), atol=1e-6)
    assert result["date"].dt.strftime("%Y-%m-%d").tolist() == expected["date"].tolist()
    # saved before the stamps' order was: a history written day first (21/03/2020...) reads as it did then
    history = pd.read_csv(folder / "history.csv")
    history["date"] = pd.to_datetime(history["date"]).dt.strftime("%d/%m/%Y")
    pd.testing.assert_frame_equal(model.predict(history), result)


# ---- damaged model files: a clear error, never a traceback, nothing allocated for an absurd architecture ----

def _damage(document: dict, how: str) -> dict:
    state, architecture = document["task"]["state"], document["architecture"]
    if how == "no task":
        del document["task"]
    elif how == "task null":
        document["task"] = None
    elif how == "task name a list":
        document["task"]["name"] = ["forecast"]
    elif how == "extra layout key":
        state["layout"]["evil"] = 1
    elif how == "lookback a string":
        state["lookback"] = "36"
    elif how == "horizon enormous":
        state["horizon"] = 10**12
    elif how == "unknown step":
        state["layout"]["step"] = "nosuch"
    elif how == "scaler of the wrong size":
        state["scaler"]["mean"] = {"": [1.0, 2.0, 3.0]}
    elif how == "a billion units":
        architecture["arch"], architecture["hyperparameters"] = "gru", {"width": 10**9, "depth": 1, "dropout": 0.1}
    elif how == "architecture and state disagree":
        architecture["inputs"]["lookback"] += 1
    elif how == "format version true":
        document["format_version"] = True
    return document


DAMAGES = ["no task", "task null", "task name a list", "extra layout key", "lookback a string", "horizon enormous",
           "unknown step", "scaler of the wrong size", "a billion units", "architecture and state disagree",
           "format version true", "weights truncated", "weights missing"]


@pytest.fixture(scope="module")
def saved_forecaster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damage") / "model"
    lamina.forecast(daily(), "date", "sales", 7, arch="linear", progress=False).save(folder)
    return folder


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_model_file_stops_with_a_clear_error(saved_forecaster, tmp_path, capsys, how):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(saved_forecaster, folder)
    weights = folder / "weights.safetensors"
    if how == "weights truncated":
        weights.write_bytes(weights.read_bytes()[:100])
    elif how == "weights missing":
        weights.unlink()
    else:
        document = json.loads((folder / "model.json").read_text())
        (folder / "model.json").write_text(json.dumps(_damage(document, how)))
    with pytest.raises(lamina.LaminaError, match=str(folder)):
        lamina.load(folder)
    assert main(["info", str(folder)]) == 2
    assert "Traceback" not in capsys.readouterr().err


# ---- the server never answers 5xx to a forecast request --------------------------------------------------

def test_forecast_requests_that_once_broke_the_server_get_answers_or_4xx(saved_forecaster):
    client = TestClient(create_app({"sales": lamina.load(saved_forecaster)}, monitor=False))
    history = daily().tail(40)
    aware = history.assign(date=pd.to_datetime(history["date"]).dt.tz_localize("Europe/Paris").astype(str))
    aware.loc[aware.index[-1], "date"] = str(pd.Timestamp(history["date"].iloc[-1]).tz_localize("UTC"))
    cases = {
        "mixed offsets": aware.to_dict(orient="records"),
        "a stray stamp a century back": [{"date": "1900-01-01", "sales": 1.0}, *history.to_dict(orient="records")],
        "hourly stamps for a daily model": history.assign(
            date=pd.date_range("2021-01-01", periods=40, freq="h").astype(str)).to_dict(orient="records"),
        "a huge value": history.assign(sales=1e300).to_dict(orient="records"),
    }
    for name, rows in cases.items():
        answer = client.post("/forecast", json={"history": rows})
        assert answer.status_code < 500, name
        assert answer.status_code == 200 or "error" in answer.json(), name


def test_a_forecast_request_reads_a_value_spelt_missing_as_a_gap_as_a_file_does(saved_forecaster, tmp_path):
    client = TestClient(create_app({"sales": lamina.load(saved_forecaster)}, monitor=False))
    history = daily().tail(40).reset_index(drop=True).astype({"sales": object})
    history.loc[[5, 9], "sales"] = ["?", " NA"]
    history.to_csv(tmp_path / "gaps.csv", index=False)
    answer = client.post("/forecast", json={"history": history.to_dict(orient="records")})
    assert answer.status_code == 200, answer.text
    from_file = lamina.load(saved_forecaster).predict(tmp_path / "gaps.csv")
    truth = history.assign(sales=history["sales"].where(history.index != 12, True)).to_dict(orient="records")
    refused = client.post("/forecast", json={"history": truth})  # a number field: true is no number, as in /predict
    assert refused.status_code == 422 and "sales" in refused.text, refused.text
    assert [row["sales"] for row in answer.json()["forecast"]] == pytest.approx(from_file["sales"].tolist(), abs=1e-5)


def test_a_forecast_requests_errors_name_its_records_as_the_server_counts_them(saved_forecaster):
    """A JSON history has no lines: its rows are "record N", 0-based like /predict's records."""
    client = TestClient(create_app({"sales": lamina.load(saved_forecaster)}, monitor=False))
    history = daily().tail(40).reset_index(drop=True)
    cases = {
        "no date": (history.assign(date=history["date"].where(history.index != 2, "no date")),
                    "Column 'date' of the history must hold dates or times, but record 2 holds 'no date'"),
        "a stamp twice": (history.assign(date=history["date"].where(history.index != 4, history["date"][3])),
                          "rows sharing a time stamp (record 3, record 4)"),
        "a huge value": (history.assign(sales=history["sales"].where(history.index != 0, 1e300)),
                         "but record 0 holds 1e+300"),
    }
    for name, (rows, says) in cases.items():
        answer = client.post("/forecast", json={"history": rows.to_dict(orient="records")})
        assert answer.status_code == 422 and says in answer.json()["error"], (name, answer.text)
    month_first = lamina.load(saved_forecaster)
    month_first.task.layout_.day_first = False  # as a model trained on stamps such as 01/02/2021 read month first
    client = TestClient(create_app({"sales": month_first}, monitor=False))
    day_first = history.assign(date=pd.date_range("2021-02-01", periods=40, freq="D").strftime("%d/%m/%Y"))
    answer = client.post("/forecast", json={"history": day_first.to_dict(orient="records")})
    assert answer.status_code == 422
    assert "Column 'date', record 12 of the history: '13/02/2021' can only be read day first" in answer.json()["error"]
