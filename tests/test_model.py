import json

import numpy as np
import pandas as pd
import pytest

import lamina
from conftest import FAST, make_table
from lamina.errors import LaminaError


@pytest.fixture(scope="module")
def model():
    return lamina.fit(make_table(rows=600), target="y", progress=False, **FAST)


def test_fit_learns_beyond_the_baseline(model):
    test, baseline = model.metrics["test"], model.metrics["baseline"]
    assert test["accuracy"] > baseline["accuracy"] + 0.2
    assert test["roc_auc"] > 0.9
    assert set(test) == {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss", "pr_auc", "precision", "recall",
                         "ece", "ece_uncalibrated", "log_loss_uncalibrated"}
    assert sum(model.training["sizes"].values()) == 600


def test_predict_returns_a_label_and_a_probability_per_class(model):
    frame = make_table(rows=50, seed=9)
    predictions = model.predict(frame)
    assert list(predictions.columns) == ["prediction", "proba_no", "proba_yes"]
    assert predictions["prediction"].isin(["no", "yes"]).all()
    assert predictions[["proba_no", "proba_yes"]].sum(axis=1).to_numpy() == pytest.approx(np.ones(50), abs=1e-5)
    proba = model.predict_proba(frame)
    assert list(proba.columns) == ["no", "yes"]
    assert (proba.idxmax(axis=1) == predictions["prediction"]).all()


def test_evaluate_gives_metrics_beside_the_baseline(model):
    result = model.evaluate(make_table(rows=300, seed=11))
    assert result["rows"] == 300
    assert result["metrics"]["accuracy"] > result["baseline"]["accuracy"]
    assert result["baseline"]["balanced_accuracy"] == pytest.approx(0.5)


def test_new_categories_and_missing_values_still_predict(model):
    frame = make_table(rows=20, seed=3)
    frame.loc[0, "colour"] = "ultraviolet"
    frame.loc[1, "signal"] = None
    frame.loc[2, "comment"] = None
    frame.loc[3, "day"] = None
    predictions = model.predict(frame)
    assert predictions["prediction"].notna().all()


def test_a_missing_training_column_is_named(model):
    with pytest.raises(LaminaError, match="lacks column.*'colour'"):
        model.predict(make_table(rows=5).drop(columns=["colour"]))


def test_evaluate_needs_the_target(model):
    with pytest.raises(LaminaError, match="no target column 'y'"):
        model.evaluate(make_table(rows=5).drop(columns=["y"]))


def test_save_and_load_give_the_same_predictions(model, tmp_path):
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["model.json", "weights.safetensors"]
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format_version"] == 2 and meta["task"]["state"]["schema"]["target"] == "y"
    again = lamina.load(tmp_path / "m")
    frame = make_table(rows=40, seed=4)
    pd.testing.assert_frame_equal(model.predict(frame), again.predict(frame))


def test_a_newer_format_is_refused_with_the_fix(model, tmp_path):
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(LaminaError, match="format version 99.*Upgrade lamina"):
        lamina.load(tmp_path / "m")


def test_regression_predicts_on_the_target_scale():
    frame = make_table(rows=600, task="regression")
    frame["y"] = frame["y"] * 1000 + 50_000
    model = lamina.fit(frame, target="y", progress=False, **FAST)
    assert model.task.name == "regression"
    assert model.metrics["test"]["r2"] > 0.8
    assert model.metrics["test"]["rmse"] < model.metrics["baseline"]["rmse"] / 2
    predictions = model.predict(frame.head(100))["prediction"]
    assert abs(predictions.mean() - frame["y"].head(100).mean()) < 1000


def test_multiclass_keeps_class_names():
    model = lamina.fit(make_table(rows=600, task="multiclass"), target="y", progress=False, **FAST)
    assert (model.task.name, model.schema.task) == ("classification", "multiclass") and model.classes == ["high", "low", "mid"]
    assert model.metrics["test"]["accuracy"] > model.metrics["baseline"]["accuracy"] + 0.15


# ---- a doctored model.json: one clear error naming the key, before anything is allocated -------------------

def _doctor(folder, change) -> None:
    document = json.loads((folder / "model.json").read_text())
    change(document)
    (folder / "model.json").write_text(json.dumps(document))


DOCTORED = {  # what is changed → what the error must name
    "no task": (lambda d: d.pop("task"), "the key 'task' is missing"),
    "no architecture name": (lambda d: d["architecture"].pop("arch"), "the key 'architecture.arch' is missing"),
    "no schema in the task": (lambda d: d["task"]["state"].pop("schema"), "lacks the key 'schema'"),
    "no width": (lambda d: d["architecture"]["hyperparameters"].pop("width"),
                 "the key 'architecture.hyperparameters.width' is missing"),
    "an unknown hyperparameter": (lambda d: d["architecture"]["hyperparameters"].update(heads=4),
                                  "architecture.hyperparameters.heads: Extra inputs"),
    "width a string": (lambda d: d["architecture"]["hyperparameters"].update(width="32"),
                       "architecture.hyperparameters.width: Input should be a valid integer (it is '32')"),
    "dropout a word": (lambda d: d["architecture"]["hyperparameters"].update(dropout="high"),
                       "architecture.hyperparameters.dropout: Input should be a valid number"),
    "norm unknown": (lambda d: d["architecture"]["hyperparameters"].update(norm="bogus"),
                     "architecture.hyperparameters.norm: Input should be 'batch', 'layer' or 'none' (it is 'bogus')"),
    # metrics, training and profile: their shapes, not just that each is an object
    "test metrics a list": (lambda d: d["metrics"].update(test=[1, 2]), "metrics.test: Input should be a valid dict"),
    "baseline metrics a list": (lambda d: d["metrics"].update(baseline=[1]),
                                "metrics.baseline: Input should be a valid dict"),
    "a metric a word": (lambda d: d["metrics"]["test"].update(accuracy="high"),
                        "metrics.test.accuracy: Input should be a valid number (it is 'high')"),
    "sizes a list": (lambda d: d["training"].update(sizes=[1]), "training.sizes: Input should be a valid dict"),
    "no test size": (lambda d: d["training"]["sizes"].pop("test"), "the key 'training.sizes.test' is missing"),
    "profile columns a list": (lambda d: d["profile"].update(columns=[1]),
                               "profile.columns: Input should be a valid dict"),
    "profile edges a string": (lambda d: d["profile"]["columns"]["signal"].update(edges="abc"),
                               "profile.columns.signal.edges: Input should be a valid list (it is 'abc')"),
    "profile edges falling": (lambda d: d["profile"]["columns"]["signal"]["edges"].reverse(),
                              "profile.columns.signal: edges must rise"),
    "profile shares missing a bin": (lambda d: d["profile"]["prediction"]["expected"].pop(),
                                     "profile.prediction: expected holds 3 shares for 4 bins"),
    # the task's state: each encoder's, the target's, and their agreement with the network's weights
    "no knots": (lambda d: d["task"]["state"]["features"]["signal"].update(knots=[]),
                 "task.state.features.signal.knots: List should have at least 1 item"),
    "knots out of order": (lambda d: d["task"]["state"]["features"]["signal"]["knots"].reverse(),
                           "task.state.features.signal: knots must rise"),
    "a category a number": (lambda d: d["task"]["state"]["features"]["colour"].update(vocabulary=[1, 2]),
                            "task.state.features.colour.vocabulary.0: Input should be a valid string (it is 1)"),
    "a year scale of zero": (lambda d: d["task"]["state"]["features"]["day"].update(year_scale=0),
                             "task.state.features.day.year_scale: Input should be greater than 0"),
    "a pad token past the vocabulary": (lambda d: d["task"]["state"]["features"]["comment"].update(pad=10**6),
                                        "task.state.features.comment.pad: 1000000 is no token"),
    "a column named twice": (lambda d: d["task"]["state"]["schema"]["columns"][1].update(
        name=d["task"]["state"]["schema"]["columns"][0]["name"]),
        "task.state.schema.columns: names the column 'signal' more than once"),
    "a target of one key": (lambda d: d["task"]["state"].update(target={"classes": 5}),
                            "the key 'task.state.target.task' is missing"),
    "classes a number": (lambda d: d["task"]["state"]["target"].update(classes=5),
                         "task.state.target.classes: Input should be a valid list (it is 5)"),
    "a classification model called regression": (lambda d: d["task"].update(name="regression"),
                                                 "task.state.target.task: a binary schema's binary target is no "
                                                 "regression task's"),
    "a third class the weights lack": (lambda d: d["task"]["state"]["target"]["classes"].append("maybe"),
                                       "architecture.outputs: 2 differs from what the task's encoders and target "
                                       "give (3)"),
    "a missing-value flag the weights lack": (
        lambda d: d["task"]["state"]["features"]["skewed"].update(flag_missing=True),
        lambda model: f"architecture.inputs.numbers: {model.architecture['inputs']['numbers']} differs from what the "
                      f"task's encoders and target give ({model.architecture['inputs']['numbers'] + 1})"),
    "outputs a string": (lambda d: d["architecture"].update(outputs="2"), "architecture.outputs: Input should be"),
    "task name null": (lambda d: d["task"].update(name=None), "task.name: Input should be a valid string"),
    "metrics a list": (lambda d: d.update(metrics=[1]), "metrics: Input should be a valid dictionary"),
    "format version a float": (lambda d: d.update(format_version=2.0), "'format_version' is 2.0"),
    "format version a string": (lambda d: d.update(format_version="2"), "'format_version' is '2'"),
    "format version true": (lambda d: d.update(format_version=True), "'format_version' is True"),
    "format version zero": (lambda d: d.update(format_version=0), "'format_version' is 0"),
    "format version missing": (lambda d: d.pop("format_version"), "'format_version' is None"),
    "width enormous": (lambda d: d["architecture"]["hyperparameters"].update(width=100_000),
                       # the fixture's 420 training rows get the small tables' ensemble: its members' heads come first
                       lambda model: f"'heads' is [{model.architecture['hyperparameters']['members']}, 100000, "),
}


@pytest.mark.parametrize("how", DOCTORED)
def test_a_doctored_model_json_names_the_key_in_one_clear_error(model, tmp_path, capsys, how):
    from lamina.cli import main

    change, named = DOCTORED[how]
    named = named(model) if callable(named) else named
    model.save(tmp_path / "m")
    _doctor(tmp_path / "m", change)
    with pytest.raises(LaminaError, match=str(tmp_path / "m")) as raised:
        lamina.load(tmp_path / "m")
    assert named in str(raised.value)
    assert main(["info", str(tmp_path / "m")]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_an_enormous_width_is_refused_before_any_real_tensor_is_built(model, tmp_path, monkeypatch):
    """A width of 100000 is a 40 GB network: only its meta-device skeleton may ever be built."""
    task_class = type(model.task)
    built = []
    original = task_class.build_network

    def recording(self, architecture):
        network = original(self, architecture)
        built.append({tensor.device.type for tensor in network.state_dict().values()})
        return network

    monkeypatch.setattr(task_class, "build_network", recording)
    model.save(tmp_path / "m")
    _doctor(tmp_path / "m", lambda d: d["architecture"]["hyperparameters"].update(width=100_000, depth=3))
    with pytest.raises(LaminaError, match="do not fit the architecture"):
        lamina.load(tmp_path / "m")
    assert built == [{"meta"}]


@pytest.mark.parametrize("damage", ["nan", "infinite", "int64"])
def test_weights_that_lamina_did_not_write_as_they_are_stop_at_load(model, tmp_path, damage):
    import torch
    from safetensors.torch import load_file, save_file

    folder = model.save(tmp_path / "m")
    state = load_file(str(folder / "weights.safetensors"))
    name = next(name for name, tensor in state.items() if tensor.is_floating_point() and tensor.numel() > 1)
    if damage == "int64":  # load_state_dict would cast it, rounding every weight to a whole number
        state[name] = state[name].to(torch.int64)
    else:
        state[name] = state[name].clone()
        state[name].view(-1)[0] = float("nan") if damage == "nan" else float("inf")
    save_file(state, str(folder / "weights.safetensors"))
    said = "int64 in weights.safetensors, and the network holds it as float32" if damage == "int64" else \
        "holds values that are not finite numbers"
    with pytest.raises(LaminaError, match=f"damaged or incompatible model.*{name}.*{said}"):
        lamina.load(folder)
