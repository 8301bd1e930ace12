"""Several targets in one network (tasks/targets.py): masked loss, per-target metrics and their mean, prediction
columns, save/load, serving, `--target all`, and the errors for targets that cannot be learnt."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient
from sklearn.metrics import roc_auc_score

import lamina
from conftest import FAST
from lamina.cli import main
from lamina.errors import LaminaError
from lamina.serving.server import create_app


def binary_targets(rows: int = 320, seed: int = 0) -> pd.DataFrame:
    """Inputs x1..x3 and a category; three yes/no assays each read from different inputs, with labels missing
    (as in Tox21), an ID column and a row with no label at all."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    group = rng.choice(["p", "q"], size=rows)
    frame = pd.DataFrame({"mol_id": [f"M{i:04d}" for i in range(rows)], "x1": x[:, 0], "x2": x[:, 1],
                          "x3": x[:, 2], "group": group})
    frame["a1"] = (x[:, 0] > 0).astype(float)
    frame["a2"] = (x[:, 1] + (group == "p") > 0.5).astype(float)
    frame["a3"] = (x[:, 2] - x[:, 0] > 0).astype(float)
    for column, share in (("a1", 0.3), ("a2", 0.1), ("a3", 0.4)):
        frame.loc[rng.random(rows) < share, column] = np.nan
    frame.loc[0, ["a1", "a2", "a3"]] = np.nan
    return frame


@pytest.fixture(scope="module")
def assay_run(tmp_path_factory):
    """Trained through the CLI with --target all: the inputs are the columns declared with --column."""
    folder = tmp_path_factory.mktemp("assays")
    frame = binary_targets()
    frame.to_csv(folder / "assays.csv", index=False)
    code = main(["train", str(folder / "assays.csv"), "--target", "all", "--column", "x1=number", "--column",
                 "x2=number", "--column", "x3=number", "--column", "group=category", "--out", str(folder / "run"),
                 "--quiet", "--epochs", "8", "--width", "32", "--depth", "2", "--patience", "4"])
    assert code == 0
    return folder, frame


@pytest.fixture(scope="module")
def number_run(tmp_path_factory):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 3))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    frame["y1"] = 2 * x[:, 0] - x[:, 1]
    frame["y2"] = 3 * x[:, 2] + 10
    frame.loc[rng.random(400) < 0.3, "y2"] = np.nan
    out = tmp_path_factory.mktemp("numbers") / "run"
    model = lamina.fit(frame, "y1,y2", out=out, progress=False, **{**FAST, "epochs": 20, "patience": 20, "width": 64, "dropout": 0.0, "lr": 0.01})
    return model, frame, out


def test_all_takes_every_label_column_but_the_declared_inputs_and_ids(assay_run):
    folder, _ = assay_run
    model = lamina.load(folder / "run")
    assert model.target.column == ["a1", "a2", "a3"]  # mol_id is an ID, x1..group are declared inputs
    assert [c.name for c in model.schema.features] == ["x1", "x2", "x3", "group"]
    assert model.task.name == "classification"


def test_rows_without_any_label_are_the_only_ones_left_out(assay_run):
    folder, frame = assay_run
    model = lamina.load(folder / "run")
    unlabelled = int(frame[["a1", "a2", "a3"]].isna().all(axis=1).sum())
    assert unlabelled >= 1
    assert sum(model.training["sizes"].values()) == len(frame) - unlabelled
    checks = json.loads((folder / "run" / "checks.json").read_text())
    missing = {f["column"]: f["level"] for f in checks if f["code"] == "target_missing"}
    assert missing == {"a1": "info", "a2": "info", "a3": "info"}  # masked, not dropped


def test_per_target_metrics_on_labelled_rows_and_their_mean(assay_run):
    folder, _ = assay_run
    metrics = json.loads((folder / "run" / "metrics.json").read_text())
    held_out = pd.read_csv(folder / "run" / "test_predictions.csv")
    aucs = []
    for target in ("a1", "a2", "a3"):
        labelled = held_out[f"{target}:truth"].notna()
        truth = held_out.loc[labelled, f"{target}:truth"].to_numpy()
        auc = roc_auc_score(truth, held_out.loc[labelled, f"{target}:proba_1.0"])
        assert metrics["targets"][target]["rows"] == labelled.sum() < len(held_out)
        assert metrics["targets"][target]["test"]["roc_auc"] == pytest.approx(auc)
        assert metrics["targets"][target]["baseline"]["roc_auc"] == pytest.approx(0.5)
        aucs.append(auc)
    assert metrics["test"]["roc_auc"] == pytest.approx(np.mean(aucs))
    assert metrics["test"]["roc_auc"] > 0.85  # each assay is learnable from its inputs
    report = (folder / "run" / "report.html").read_text()
    assert "Test metrics per target" in report and "a3" in report


def test_masked_loss_ignores_placeholders_of_missing_labels(assay_run):
    """Training steps on targets whose missing labels hold other placeholders give the very same weights and
    losses; changing a present label does change the loss (the test can fail)."""
    folder, frame = assay_run
    model = lamina.load(folder / "run")
    task = model.task
    inputs, targets = task.encoded(task.labelled_rows(frame))
    missing = targets[:, 1] == 0
    assert missing.any()
    other = targets.clone()
    other[:, 0][missing] = torch.randint(0, 2, (int(missing.sum()),)).float() + 7.0  # any value at all
    runs = []
    for encoded in (targets, other):
        torch.manual_seed(0)  # the same dropout masks in both runs
        network = copy.deepcopy(model.network).train()
        optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
        losses = []
        for _ in range(3):
            optimizer.zero_grad()
            loss = task.loss(network(inputs), encoded)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        runs.append((losses, [p.detach().clone() for p in network.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    flipped = targets.clone()
    present = torch.nonzero(targets[:, 1, 0] > 0)[0, 0]
    flipped[present, 0, 0] = 1 - flipped[present, 0, 0]
    with torch.no_grad():
        outputs = model.network.eval()(inputs)
        assert float(task.loss(outputs, flipped)) != float(task.loss(outputs, targets))


def test_two_number_targets_learned_with_missing_values(number_run):
    model, frame, _ = number_run
    for target in ("y1", "y2"):
        scores = model.metrics["targets"][target]
        assert scores["test"]["r2"] > 0.9, target
        assert scores["test"]["rmse"] < 0.35 * scores["baseline"]["rmse"], target
    assert model.metrics["test"]["rmse"] == pytest.approx(
        np.mean([model.metrics["targets"][t]["test"]["rmse"] for t in ("y1", "y2")]))
    predicted = model.predict(frame.head(50))
    assert list(predicted.columns) == ["y1", "y2"]
    assert np.abs(predicted["y2"] - (3 * frame["c"].head(50) + 10)).mean() < 1.0  # on the target's own scale


def test_save_load_predicts_identically_and_serves_each_target(number_run, assay_run):
    model, frame, out = number_run
    loaded = lamina.load(out)
    pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame))
    assert loaded.evaluate(frame)["targets"]["y2"]["rows"] == frame["y2"].notna().sum()

    folder, assays = assay_run
    assay_model = lamina.load(folder / "run")
    row = assays[["x1", "x2", "x3", "group"]].iloc[[5]]
    client = TestClient(create_app({"assays": assay_model}, monitor=False))
    answer = client.post("/predict", json=row.to_dict("records")[0])
    assert answer.status_code == 200
    served = answer.json()["predictions"][0]["targets"]
    expected = assay_model.predict(row)
    assert list(served) == ["a1", "a2", "a3"]
    for target in served:
        assert served[target]["probabilities"]["1.0"] == pytest.approx(expected[f"{target}:proba_1.0"].iloc[0])
    refused = client.post("/explain", json=row.to_dict("records")[0])
    assert refused.status_code == 422 and "several (a1, a2, a3)" in refused.json()["error"]
    with pytest.raises(LaminaError, match="<target>:proba_<class> columns"):
        assay_model.predict_proba(assays)
    for purpose in (assay_model.explain, lambda data: assay_model.audit(data, ["group"])):
        with pytest.raises(LaminaError, match=r"reads a model of one target; this one predicts several"):
            purpose(assays)


def test_unknown_target_in_the_list_is_named(tmp_path, capsys):
    binary_targets(60).to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", str(tmp_path / "data.csv"), "--target", "a1,a4", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "'a4'" in error and "not in the data" in error and "Traceback" not in error


def test_target_without_any_label_is_named(tmp_path):
    frame = binary_targets(60)
    frame["a2"] = np.nan
    with pytest.raises(LaminaError, match="Target column 'a2' has no values"):
        lamina.fit(frame, "a1,a2", progress=False, **FAST)


def test_targets_mixing_numbers_and_classes_are_refused_naming_each(tmp_path):
    frame = binary_targets(60)
    frame["amount"] = np.arange(60) * 1.5
    with pytest.raises(LaminaError, match=r"mix numbers \(amount\) and classes \(a1\)"):
        lamina.fit(frame, "a1,amount", progress=False, **FAST)


def test_damaged_target_list_stops_at_load(number_run, tmp_path):
    _, _, out = number_run
    document = json.loads((out / "model" / "model.json").read_text())
    document["task"]["state"]["targets"][1]["target"]["column"] = "elsewhere"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text(json.dumps(document))
    (tmp_path / "model" / "weights.safetensors").write_bytes((out / "model" / "weights.safetensors").read_bytes())
    with pytest.raises(LaminaError, match=r"task.state.targets: the targets \['y1', 'elsewhere'\] differ"):
        lamina.load(tmp_path / "model")
    document["task"]["state"]["targets"][1]["target"]["column"] = "y2"
    document["metrics"]["targets"]["y2"]["rows"] = "many"
    (tmp_path / "model" / "model.json").write_text(json.dumps(document))
    with pytest.raises(LaminaError, match=r"metrics.targets.y2.rows: Input should be a valid integer"):
        lamina.load(tmp_path / "model")


def test_all_leaving_one_target_still_reports_and_names_the_empty_column(tmp_path):
    """`--target all` over one labelled column (a2 empty): the report is written as for several targets, and the
    empty column is named as left out."""
    frame = binary_targets(120).drop(columns=["a3"])
    frame["a2"] = np.nan
    frame.to_csv(tmp_path / "data.csv", index=False)
    code = main(["train", str(tmp_path / "data.csv"), "--target", "all", "--column", "x1=number", "--column",
                 "x2=number", "--column", "x3=number", "--column", "group=category", "--out", str(tmp_path / "run"),
                 "--quiet", "--epochs", "1", "--width", "8", "--depth", "1"])
    assert code == 0
    assert (tmp_path / "run" / "report.html").exists()
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert list(metrics["targets"]) == ["a1"]
    left = [f for f in json.loads((tmp_path / "run" / "checks.json").read_text())
            if f["code"] == "targets_left_out"]
    assert len(left) == 1 and "'a2'" in left[0]["message"]


@pytest.mark.parametrize(("target", "said"), [("a1,a1", "names 'a1' 2 times"), (",", "names no column")])
def test_a_target_list_of_fewer_than_two_columns_is_named(tmp_path, capsys, target, said):
    binary_targets(60).to_csv(tmp_path / "data.csv", index=False)
    assert main(["train", str(tmp_path / "data.csv"), "--target", target, "--quiet"]) == 2
    error = capsys.readouterr().err
    assert said in error and "Traceback" not in error


def test_the_card_title_names_every_target_as_the_report_does(number_run, assay_run):
    from lamina.insight.card import model_card

    _, _, out = number_run
    folder, _ = assay_run
    for run, targets in ((out, ["y1", "y2"]), (folder / "run", ["a1", "a2", "a3"])):
        title = model_card(run).splitlines()[0]
        assert title.startswith("# Model card: ") and f"{len(targets)} targets" in title, title
        assert all(target in title for target in targets), title
        assert title.removeprefix("# Model card: ") in (run / "report.html").read_text()  # the report's own title
        assert "Predicts " + ", ".join(f"`{target}`" for target in targets) + " from" in model_card(run)


def test_a_setting_one_target_reads_is_refused_for_several_saying_why():
    """--cost with several targets said "a setting of the tasks anomaly and classification, and this run's task is
    classification": the same task on both sides of the refusal."""
    frame = pd.DataFrame({"x": np.arange(60.0), "a": ["p", "q"] * 30, "b": ["r", "s", "t"] * 20})
    with pytest.raises(LaminaError, match=r"^--cost \(data.cost\) is not read by a classification model of several "
                                          r"targets: it would be ignored. Drop --cost \(data.cost\), or train one "
                                          r"model per target \(--target NAME\)\.$"):
        lamina.fit(frame, target="a,b", cost="fn=5,fp=1", progress=False)
