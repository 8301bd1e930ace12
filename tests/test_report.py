import re

import numpy as np
import pytest

import lamina
from conftest import FAST, make_table
from lamina.evaluation.metrics import class_prior, classification_metrics, regression_metrics


def train_run(tmp_path, task):
    frame = make_table(rows=400, task=task)
    frame = frame.assign(copy_of_row=frame["signal"]).iloc[list(range(400)) + [0, 1]]  # two duplicate rows
    lamina.fit(frame, target="y", out=tmp_path / "run", progress=False, **FAST)
    return (tmp_path / "run" / "report.html").read_text()


def test_classification_report_is_self_contained_and_complete(tmp_path):
    html = train_run(tmp_path, "multiclass")
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", html), "nothing is fetched from the network"
    for title in ("Learning curves", "Confusion matrix (test)", "ROC curve (test)", "Calibration (test)"):
        assert f">{title}</text>" in html, title
    assert html.count("<svg") == 4
    assert "duplicate_rows" in html, "data-quality findings are listed"
    assert "seed 0" in html and "train / valid / test" in html and "<td>test</td><td>" in html
    assert "arch: auto" in html and "<code>mlp (width 32, depth 2, dropout 0.3, norm batch)</code>" in html, \
        "the config and the architecture it resolved to are shown"
    assert "baseline" in html


def test_regression_report_plots_residuals(tmp_path):
    html = train_run(tmp_path, "regression")
    assert ">Residuals (test)</text>" in html and ">Predicted against actual (test)</text>" in html
    assert "Confusion matrix" not in html
    assert "<td>rmse</td>" in html


def test_classification_metrics_match_hand_computed_values():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    result = classification_metrics(labels, proba)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ranked right
    assert result["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.3])))


def test_majority_baseline_predicts_the_commonest_class():
    prior = class_prior(np.array([0, 1, 1, 1]), classes=2)
    assert prior == [0.25, 0.75]
    proba = np.tile(prior, (3, 1))
    assert classification_metrics(np.array([1, 1, 0]), proba)["accuracy"] == pytest.approx(2 / 3)


def test_regression_metrics():
    result = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert result["mae"] == pytest.approx(2 / 3)
    assert result["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert result["r2"] == pytest.approx(1 - 4 / 2)
