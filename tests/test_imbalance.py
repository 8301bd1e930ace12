"""A rare positive class (fraud): class-weighted loss under the imbalance rule, PR-AUC and precision/recall in the
metrics, a decision threshold chosen on validation (F1 or --cost) that predictions use and the model keeps."""

import json

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina.cli import main
from lamina.training.imbalance import class_weights

QUICK = {"epochs": 8, "patience": 8, "batch_size": 64, "width": 32, "depth": 2}


def fraud_table(rows: int = 800, share: float = 0.06, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount, hour = rng.normal(size=rows), rng.normal(size=rows)
    fraud = rng.random(rows) < share
    amount[fraud] += 2.0  # fraud is larger on average, with overlap: a threshold matters
    return pd.DataFrame({"amount": amount, "hour": hour, "channel": rng.choice(["web", "shop"], rows),
                         "fraud": np.where(fraud, "yes", "no")})


@pytest.fixture(scope="module")
def fraud_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("fraud") / "run"
    return lamina.fit(fraud_table(), "fraud", out=run, progress=False, **QUICK), run


def test_the_rule_weights_classes_only_under_heavy_imbalance():
    rare = np.array([0] * 95 + [1] * 5)  # 5% minority: weights n / (k · n_c)
    assert class_weights(rare, 2) == pytest.approx([100 / (2 * 95), 100 / (2 * 5)])
    assert class_weights(np.array([0] * 85 + [1] * 15), 2) is None  # 15%: no weights
    assert class_weights(np.array([0] * 50 + [1] * 50 + [2] * 4), 3) is not None  # 4 rows vs 50: under a ninth
    # A class absent from training keeps weight 1; the present ones are balanced among themselves.
    assert class_weights(np.array([0] * 50 + [2] * 4), 3) == pytest.approx([54 / 100, 1.0, 54 / 8])


def test_a_rare_class_gets_weights_a_threshold_and_pr_auc(fraud_run):
    model, run = fraud_run
    decision = model.task.decision_
    assert decision["rule"] == "f1" and decision["class_weights"][1] > 5 * decision["class_weights"][0]
    assert model.task.monitor == "valid_pr_auc"  # early stopping follows the validation PR-AUC
    assert "valid_pr_auc" in (run / "history.csv").read_text().splitlines()[0]
    test = model.metrics["test"]
    assert {"pr_auc", "precision", "recall"} <= set(test)
    assert test["pr_auc"] > model.metrics["baseline"]["pr_auc"] + 0.2
    frame = fraud_table(rows=300, seed=5)
    predictions = model.predict(frame)
    flagged = (predictions["proba_yes"] >= decision["threshold"]).to_numpy()
    np.testing.assert_array_equal(predictions["prediction"].eq("yes").to_numpy(), flagged)
    assert lamina.load(run).task.decision_ == decision
    assert "Decision" in (run / "report.html").read_text() and "best F1" in (run / "report.html").read_text()
    stored = json.loads((run / "model" / "model.json").read_text())["task"]["state"]["decision"]
    assert stored["threshold"] == decision["threshold"]


def test_a_balanced_target_keeps_the_most_probable_class():
    model = lamina.fit(fraud_table(rows=300, share=0.4), "fraud", progress=False, **{**QUICK, "epochs": 2})
    assert model.task.decision_["rule"] == "argmax" and model.task.decision_["class_weights"] is None


def test_a_dearer_miss_lowers_the_threshold(tmp_path):
    frame, quick = fraud_table(rows=500), {**QUICK, "epochs": 4}
    cheap = lamina.fit(frame, "fraud", cost="fn=1,fp=5", progress=False, **quick).task.decision_
    dear = lamina.fit(frame, "fraud", cost="fn=20,fp=1", progress=False, **quick).task.decision_
    assert cheap["rule"] == dear["rule"] == "cost"
    assert dear["threshold"] < cheap["threshold"]


def test_a_cost_on_many_classes_is_refused(tmp_path, capsys):
    path = tmp_path / "three.csv"
    fraud_table().assign(fraud=lambda f: np.arange(len(f)) % 3).to_csv(path, index=False)
    code = main(["train", str(path), "--target", "fraud", "--task", "multiclass", "--cost", "fn=2,fp=1", "--quiet",
                 "--out", str(tmp_path / "run")])
    assert code == 2 and "yes/no decision" in capsys.readouterr().err
