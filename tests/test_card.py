import numpy as np
import pandas as pd
import pytest

import lamina
from conftest import FAST, make_table
from lamina.cli import main
from lamina.evaluation import facts
from lamina.evaluation.calibration import temperature_shown
from lamina.evaluation.document import number, section_html, sections_markdown
from lamina.evaluation.intervals import (
    ClassificationScorer,
    bootstrap_intervals,
    fast_classification_metrics,
    fast_regression_metrics,
)
from lamina.evaluation.metrics import classification_metrics, regression_metrics
from lamina.run import METRICS, RunFolder


@pytest.mark.parametrize("classes", [2, 4])
def test_fast_metrics_equal_scikit_learns(classes):
    generator = np.random.default_rng(classes)
    proba = generator.dirichlet(np.ones(classes), size=700).round(2) + 1e-3  # ties, like real scores
    proba /= proba.sum(axis=1, keepdims=True)
    labels = generator.integers(0, classes, size=700)
    fast, reference = fast_classification_metrics(labels, proba), classification_metrics(labels, proba)
    assert fast == pytest.approx(reference, rel=1e-9, abs=1e-12)
    moved = (proba[:, -1] > 0.3).astype(int) * (classes - 1)  # a decision threshold, as a rare class gets
    assert fast_classification_metrics(labels, proba, moved) == pytest.approx(
        classification_metrics(labels, proba, moved), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("classes", [2, 3])
def test_a_resample_scored_from_row_counts_equals_scikit_learn_on_the_resampled_rows(classes):
    generator = np.random.default_rng(10 + classes)
    proba = generator.dirichlet(np.ones(classes), size=300).round(2) + 1e-3  # ties across repeated rows too
    proba /= proba.sum(axis=1, keepdims=True)
    labels = generator.integers(0, classes, size=300)
    scorer = ClassificationScorer(labels, proba)
    for _ in range(3):
        rows = generator.choice(300, size=300, replace=True)
        counts = np.bincount(rows, minlength=300).astype(float)
        assert scorer.metrics(counts) == pytest.approx(classification_metrics(labels[rows], proba[rows]),
                                                       rel=1e-9, abs=1e-12)


def test_fast_regression_metrics_equal_scikit_learns():
    generator = np.random.default_rng(0)
    truth, predicted = generator.normal(size=300), generator.normal(size=300)
    assert fast_regression_metrics(truth, predicted) == pytest.approx(regression_metrics(truth, predicted))


def test_bootstrap_intervals_hold_the_value_and_shrink_with_more_rows():
    generator = np.random.default_rng(1)

    def table(rows):
        score = generator.random(rows)
        return pd.DataFrame({"truth_index": (generator.random(rows) < score).astype(int),
                             "proba_a": 1 - score, "proba_b": score})

    small, large = bootstrap_intervals(table(200), ["a", "b"]), bootstrap_intervals(table(5000), ["a", "b"])
    for name, (value, low, high) in small.items():
        assert low <= value <= high, name
    width = {name: high - low for name, (_, low, high) in small.items()}
    assert all(large[name][2] - large[name][1] < width[name] for name in width)


def test_the_card_and_the_report_say_the_same_once(tmp_path, capsys):
    lamina.fit(make_table(rows=400), target="y", out=tmp_path / "run", progress=False, **FAST)
    assert main(["card", str(tmp_path / "run")]) == 0
    run = RunFolder(tmp_path / "run")
    card, html = run.read_text("model_card.md"), run.read_text("report.html")
    for heading in ("Intended use", "Data and split", "Training", "Test metrics", "Calibration", "Data quality",
                    "Bias audit", "Robustness audit", "Limitations"):
        assert card.count(f"\n## {heading}\n") == 1 and html.count(f"<h2>{heading}</h2>") == 1, heading
    metrics = run.read_json(METRICS)
    for name, value in metrics["test"].items():
        row = next(line for line in card.splitlines() if line.startswith(f"| {name} |"))
        model, interval, baseline = (cell.strip() for cell in row.split("|")[2:5])
        assert model.strip("*") == number(value) and baseline == number(metrics["baseline"][name]), name
        if name.startswith("ece") or name.endswith("_uncalibrated"):  # calibration's before/after: not bootstrapped
            # (evaluation/intervals.py)
            assert interval == "n/a", name
            continue
        low, high = (float(bound) for bound in interval.split(" – "))
        assert low <= value <= high, f"{name}: the bootstrap interval holds the value"
        assert f"<td>{interval}</td>" in html, f"{name}: the report shows the card's interval"
    assert "lamina audit" in card, "how to audit, while no audit was run"
    assert main(["card", str(tmp_path)]) == 2


def test_a_classifiers_card_says_how_its_probabilities_were_calibrated_and_a_regressors_has_no_such_section(tmp_path):
    model = lamina.fit(make_table(rows=400), target="y", out=tmp_path / "run", progress=False, **FAST)
    assert main(["card", str(tmp_path / "run")]) == 0
    card = RunFolder(tmp_path / "run").read_text("model_card.md")
    section = card[card.index("\n## Calibration\n"):card.index("\n## Data quality\n")]
    test, cross_fit = model.metrics["test"], model.training.get("cross_fit")  # a small table is cross-fitted
    fitted_on = (f"out-of-fold predictions of the {cross_fit['rows']} training and validation rows" if cross_fit
                 else f"{model.training['sizes']['valid']} validation rows")
    assert model.task.temperature_ != 1.0 and f"T = {temperature_shown(model.task.temperature_)}" in section
    assert f"fitted on the {fitted_on} by" in section
    assert f"the ECE from {test['ece_uncalibrated']:.4f} to {test['ece']:.4f}" in section
    assert f"Here it is {number(test['ece'])}" in section and "are the calibrated ones" in section
    # which probability the binary ECE bins (torchmetrics' binary_calibration_error: the second class's), and why a
    # low ECE alone is no praise (a reviewer read the majority baseline's 0.005 as better calibrated than the model)
    assert "with two classes the second class's probability" in section and "predicting the base rate" in section
    lamina.fit(make_table(rows=200, task="regression"), target="y", out=tmp_path / "regression", progress=False,
               **FAST)
    assert main(["card", str(tmp_path / "regression")]) == 0
    assert "Calibration" not in RunFolder(tmp_path / "regression").read_text("model_card.md")


def test_every_value_of_the_calibration_section_is_escaped():
    hostile = "<script>alert(1)</script>|*"
    several = {"task": {"state": {"targets": [{"target": {"column": hostile}, "temperature": 1.5},
                                              {"target": {"column": "amount"}}]}},  # a regression head: no row
               "metrics": {"targets": {hostile: {"test": {"ece": "<img src=x onerror=alert(1)>", "ece_uncalibrated": 0.1}}}}}
    section = facts.calibration(None, several)
    html, markdown = section_html(section), sections_markdown("card", [section])
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<img" not in html
    assert "<td>n/a</td>" in html and "<td>0.1000</td>" in html and "amount" not in html
    assert "\\<script\\>alert(1)\\</script\\>\\|\\*" in markdown
    single = {"task": {"state": {"schema": {"target": "y"}, "target": {"classes": ["a", "b"]}, "temperature": 2.0}},
              "training": {"sizes": {"valid": "<b>40</b>"}}, "metrics": {"test": {"ece": "<i>0.1</i>"}}}
    html = section_html(facts.calibration(None, single))
    assert "<b>" not in html and "<i>" not in html and "&lt;b&gt;40&lt;/b&gt; validation rows" in html
