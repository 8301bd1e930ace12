import numpy as np
import pandas as pd
import pytest

import lamina
from conftest import FAST, make_table
from lamina.cli import main
from lamina.evaluation.metrics import classification_metrics, regression_metrics
from lamina.insight.card import bootstrap_intervals, fast_classification_metrics, fast_regression_metrics


@pytest.mark.parametrize("classes", [2, 4])
def test_fast_metrics_equal_scikit_learns(classes):
    generator = np.random.default_rng(classes)
    proba = generator.dirichlet(np.ones(classes), size=700).round(2) + 1e-3  # ties, like real scores
    proba /= proba.sum(axis=1, keepdims=True)
    labels = generator.integers(0, classes, size=700)
    fast, reference = fast_classification_metrics(labels, proba), classification_metrics(labels, proba)
    assert fast == pytest.approx(reference, rel=1e-9, abs=1e-12)


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


def test_card_command_and_report_section(tmp_path, capsys):
    lamina.fit(make_table(rows=400), target="y", out=tmp_path / "run", progress=False, **FAST)
    assert main(["card", str(tmp_path / "run")]) == 0
    card = (tmp_path / "run" / "model_card.md").read_text()
    for heading in ("## Intended use", "## Data and split", "## Test metrics (95% bootstrap intervals",
                    "## Data quality", "## Per-group results", "## Limitations"):
        assert heading in card, heading
    assert "| accuracy |" in card and "lamina audit" in card
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<h2>Model card: y (binary)</h2>" in html and "bootstrap intervals" in html
    assert main(["card", str(tmp_path)]) == 2
