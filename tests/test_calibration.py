"""Calibrated probabilities: temperature scaling (Guo et al. 2017) fitted on the validation rows, the expected
calibration error before and after it, and a saved model that predicts the same calibrated probabilities."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from lamina.evaluation.calibration import (
    expected_calibration_error,
    fit_temperature,
    scaled_softmax,
    temperature_shown,
    temperature_text,
    uncalibrated,
)
from lamina.evaluation.metrics import log_loss


def nll(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(torch.nn.functional.cross_entropy(logits, labels))


def overconfident(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits 4× those of a calibrated model: the labels are drawn from softmax(z), the model says softmax(4z)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(rows, 3, generator=generator) * 1.5
    labels = torch.multinomial(torch.softmax(z, dim=1), 1, generator=generator).squeeze(1)
    return 4 * z, labels


def test_temperature_scaling_lowers_nll_and_ece_of_an_overconfident_model():
    valid_logits, valid_labels = overconfident(3000, seed=0)
    test_logits, test_labels = overconfident(3000, seed=1)
    temperature = fit_temperature(valid_logits, valid_labels)
    assert 3.5 < temperature < 4.5  # it finds the factor the logits were inflated by
    assert nll(valid_logits / temperature, valid_labels) < nll(valid_logits, valid_labels) - 0.3
    before = expected_calibration_error(test_labels.numpy(), torch.softmax(test_logits, 1).numpy())
    after = expected_calibration_error(test_labels.numpy(), scaled_softmax(test_logits, temperature).numpy())
    assert before > 0.1 and after < before / 3  # on rows T was not fitted on
    # The most probable class never changes, so accuracy does not either.
    assert torch.equal(scaled_softmax(test_logits, temperature).argmax(1), test_logits.argmax(1))



def test_a_few_validation_rows_all_right_neither_sharpen_nor_soften_the_model_much():
    # 22 rows of 3 classes, each right with a margin of 4–8 logits: the likelihood alone drives T towards 0
    # (ever sharper; T = 0.007 on such a set, and a test log loss of 6.7), smoothed targets drove it to 3.
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(22) % 3
    logits = torch.zeros(22, 3)
    logits[torch.arange(22), labels] = 4 + 4 * torch.rand(22, generator=generator)
    assert 0.6 < fit_temperature(logits, labels) <= 1.0

def test_a_temperature_of_one_leaves_probabilities_unchanged():
    logits = torch.randn(50, 4)
    assert torch.equal(scaled_softmax(logits, 1.0), torch.softmax(logits, dim=1))
    proba = torch.softmax(logits, dim=1).numpy()
    assert uncalibrated(proba, 1.0) is proba
    # And the probabilities before scaling are recovered from the scaled ones and T.
    np.testing.assert_allclose(uncalibrated(scaled_softmax(logits, 2.5).numpy(), 2.5), proba, atol=1e-6)


def test_ece_equals_a_hand_computation():
    # Two classes: P(second class) per row, 10 equal-width bins; each row falls in its own bin here.
    proba = np.array([[0.75, 0.25], [0.65, 0.35], [0.25, 0.75], [0.15, 0.85]])
    labels = np.array([0, 1, 1, 1])
    by_hand = (abs(0.25 - 0) + abs(0.35 - 1) + abs(0.75 - 1) + abs(0.85 - 1)) / 4
    assert expected_calibration_error(labels, proba) == pytest.approx(by_hand)
    # Three classes: top-class confidence against whether the top class is right. Bins 0.6-0.7: rows 0 and 1
    # (mean confidence 0.64, one of two right); 0.9-1.0: row 2 (0.92, right).
    proba = np.array([[0.62, 0.2, 0.18], [0.1, 0.66, 0.24], [0.04, 0.04, 0.92]])
    labels = np.array([0, 2, 2])
    by_hand = 2 / 3 * abs(0.64 - 0.5) + 1 / 3 * abs(0.92 - 1.0)
    assert expected_calibration_error(labels, proba) == pytest.approx(by_hand)


def three_classes(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    noisy = a + 0.8 * rng.normal(size=rows)  # overlapping classes: probabilities that can be over-confident
    label = np.where(noisy > 0.5, "high", np.where(noisy < -0.5, "low", "mid"))
    return pd.DataFrame({"a": a, "b": b, "label": label})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("calibration") / "run"
    model = lamina.fit(three_classes(), "label", out=run, progress=False, epochs=12, width=64, depth=2, seed=0)
    return model, run


def test_a_saved_model_predicts_the_same_calibrated_probabilities(trained):
    model, run = trained
    temperature = model.task.temperature_
    assert temperature != 1.0
    assert json.loads((run / "model" / "model.json").read_text())["task"]["state"]["temperature"] == temperature
    frame = three_classes(rows=100, seed=7)
    predicted = model.predict_proba(frame)
    loaded = lamina.load(run)
    assert loaded.task.temperature_ == temperature
    pd.testing.assert_frame_equal(loaded.predict_proba(frame), predicted)
    raw = torch.from_numpy(uncalibrated(predicted.to_numpy(), temperature)).log()
    np.testing.assert_allclose(scaled_softmax(raw, temperature).numpy(), predicted.to_numpy(), atol=1e-5)


def test_a_model_saved_before_calibration_loads_with_a_temperature_of_one(trained, tmp_path):
    model, run = trained
    old = tmp_path / "old"
    model.save(old)
    document = json.loads((old / "model.json").read_text())
    del document["task"]["state"]["temperature"]
    (old / "model.json").write_text(json.dumps(document))
    loaded = lamina.load(old)
    assert loaded.task.temperature_ == 1.0
    frame = three_classes(rows=50, seed=8)
    np.testing.assert_allclose(loaded.predict_proba(frame).to_numpy(),
                               uncalibrated(model.predict_proba(frame).to_numpy(), model.task.temperature_),
                               atol=1e-5)


def test_the_metrics_and_the_report_show_calibration_before_and_after(trained):
    model, run = trained
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"ece", "ece_uncalibrated"} <= set(metrics["test"]) and "ece" in metrics["baseline"]
    assert metrics["test"]["ece"] != metrics["test"]["ece_uncalibrated"]
    assert re.search(r"ece_uncalibrated .*\(lower is better\)", model.task.summary(model))
    held_out = pd.read_csv(run / "test_predictions.csv")
    before = uncalibrated(held_out.filter(like="proba_").to_numpy(), model.task.temperature_)
    assert metrics["test"]["log_loss_uncalibrated"] == pytest.approx(
        log_loss(held_out["truth_index"].to_numpy(), before), rel=1e-4)
    page = (run / "report.html").read_text()
    assert f"T = {temperature_shown(model.task.temperature_)}" in page and "Guo et al. 2017" in page
    assert f"moved the log loss from {metrics['test']['log_loss_uncalibrated']:.4f} to" in page
    chart = page[page.index("Calibration (test)") - 3000:]
    chart = chart[:chart.index("</svg>")]
    assert "before calibration" in chart and "calibrated (T =" in chart


def test_the_calibration_sentence_says_when_scaling_made_the_test_rows_worse():
    worse = {"log_loss_uncalibrated": 0.10, "log_loss": 0.12, "ece_uncalibrated": 0.02, "ece": 0.05}
    better = {**worse, "log_loss": 0.08}
    assert "both are worse here" in temperature_text(2.5, test=worse)
    assert "--valid-fraction" in temperature_text(2.5, test=worse)
    assert "fitted on the 20 validation rows" in temperature_text(2.5, {"sizes": {"valid": 20}})
    out_of_fold = temperature_text(2.5, {"cross_fit": {"folds": 5, "rows": 90}, "sizes": {"valid": 20}}, test=worse)
    assert "fitted on the out-of-fold predictions of the 90" in out_of_fold and "both are worse here" in out_of_fold
    assert "--valid-fraction" not in out_of_fold  # every row judged T already: more validation rows would not help
    noise = {**worse, "log_loss_uncalibrated": 0.0228, "log_loss": 0.0232}  # T = 1.01 on 30 rows: no finding
    assert "worse" not in temperature_text(1.01, test=noise)
    assert ("moved the log loss from 0.1000 to 0.0800 and the ECE from 0.0200 to 0.0500."
            in temperature_text(2.5, test=better))
    assert "On the test rows" not in temperature_text(2.5)  # a model scored before the key was recorded
    assert "On the test rows" not in temperature_text(2.5, test={**better, "ece": None})  # NaN read back as null


def test_each_classification_head_of_several_targets_gets_its_own_temperature(tmp_path):
    frame = three_classes(rows=300, seed=3)
    frame["sign"] = np.where(frame["b"] + 0.5 * np.random.default_rng(3).normal(size=300) > 0, "plus", "minus")
    model = lamina.fit(frame, "label,sign", progress=False, epochs=6, width=32, depth=1, seed=0)
    temperatures = [head.temperature_ for head in model.task.heads_]
    assert all(t != 1.0 for t in temperatures) and temperatures[0] != temperatures[1]
    model.save(tmp_path / "model")
    loaded = lamina.load(tmp_path / "model")
    assert [head.temperature_ for head in loaded.task.heads_] == temperatures
    pd.testing.assert_frame_equal(loaded.predict(frame.head(20)), model.predict(frame.head(20)))


def test_a_temperature_near_1_is_shown_with_the_digits_that_tell_it_from_1():
    # T = 1.0026 was printed "T = 1" beside a log loss it had moved, reading as no calibration at all
    assert [temperature_shown(t) for t in (1.0026, 0.99997, 1.0, 2.5, 1.23456)] == ["1.003", "0.99997", "1", "2.5",
                                                                                   "1.23"]
    assert "T = 1.003," in temperature_text(1.0026)
