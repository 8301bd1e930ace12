import ast
import re
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest

import lamina
from conftest import FAST, make_table
from lamina.errors import LaminaError
from lamina.evaluation import facts
from lamina.evaluation.document import number
from lamina.evaluation.metrics import class_prior, classification_metrics, regression_metrics
from lamina.evaluation.plots import MAX_POINTS, Chart
from lamina.evaluation.report import AFTER_TASK, BEFORE_TASK, report_page, write_report
from lamina.insight.card import model_card
from lamina.run import AUDIT, FINISHED, HISTORY, METRICS, RunFolder

INJECTION = "<script>alert(1)</script>"  # as a column name and a class name: must reach the page as text
SHARED_HEADINGS = ("Data and split", "Data quality", "Test metrics", "Robustness audit", "Bias audit")
SVG = "{http://www.w3.org/2000/svg}"


def train_run(folder: Path, task: str) -> RunFolder:
    frame = make_table(rows=400, task=task).rename(columns={"skewed": INJECTION})
    if task == "multiclass":
        frame["y"] = frame["y"].replace("high", INJECTION)
    frame = frame.assign(copy_of_row=frame["signal"]).iloc[list(range(400)) + [0, 1]]  # two duplicate rows
    lamina.fit(frame, target="y", out=folder, progress=False, **FAST)
    return RunFolder(folder)


@pytest.fixture(scope="module")
def multiclass_run(tmp_path_factory) -> RunFolder:
    return train_run(tmp_path_factory.mktemp("multiclass") / "run", "multiclass")


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory) -> RunFolder:
    return train_run(tmp_path_factory.mktemp("regression") / "run", "regression")


def charts(html: str) -> dict[str, ElementTree.Element]:
    """Each inline <svg>, parsed (so it must be well-formed XML), by its title."""
    parsed = [ElementTree.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S)]
    return {"".join(group(svg, "title").itertext()).strip(): svg for svg in parsed}


def group(svg: ElementTree.Element, name: str) -> ElementTree.Element:
    return next(g for g in svg.iter(f"{SVG}g") if g.get("id", "").endswith(f"-{name}"))


def series(svg: ElementTree.Element) -> list[ElementTree.Element]:
    return [g for g in svg.iter(f"{SVG}g") if re.search(r"-series-\d+$", g.get("id", ""))]


def vertices(group: ElementTree.Element) -> int:
    """Points of a drawn line (M and L commands of its path), or markers of a scatter (one <use> each)."""
    markers = list(group.iter(f"{SVG}use"))
    if markers:
        return len(markers)
    return sum(len(re.findall(r"[ML] ", path.get("d"))) for path in group.iter(f"{SVG}path"))


def heading_count(html: str, heading: str) -> int:
    return len(re.findall(rf"<h[1-6]>{re.escape(heading)}</h[1-6]>|^#+ {re.escape(heading)}$", html, flags=re.M))


def metric_row(html: str, name: str) -> str:
    return re.search(rf"<tr><td>{name}</td>(.*?)</tr>", html).group(1)


def test_classification_report_states_each_fact_once_from_the_run_files(multiclass_run):
    html = multiclass_run.read_text("report.html")
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", html), "nothing is fetched from the network"
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    metrics = multiclass_run.read_json(METRICS)
    for name, value in metrics["test"].items():
        row = metric_row(html, name)
        assert number(value) in row and number(metrics["baseline"][name]) in row, name
    for heading in SHARED_HEADINGS:
        assert heading_count(html, heading) == 1, heading
    assert "Model card" not in html, "the card's sections are the page's own, not a second copy of them"
    assert html.count("<div class='card'>") == len(facts.CARD), "each of them marked as the card's"
    assert "duplicate_rows" in html, "data-quality findings are listed"
    assert "seed 0" in html and "train / valid / test" in html and "<td>test</td><td>" in html
    assert "arch: auto" in html and "<code>mlp (width 32, depth 2, dropout 0.5, norm batch, numbers plain, members 8, wide True)</code>" in html, \
        "the config and the architecture it resolved to are shown"
    assert "Numbers: plain floats (lamina picks PLR embeddings from 10,000 training rows" in html
    assert "An ensemble of 8 members sharing the dense layers" in html and "Wide path: a linear map" in html, \
        "members 8, wide True in words"
    rows = multiclass_run.read_json("model/model.json")["training"]["cross_fit"]["rows"]  # how epochs were judged
    assert f"out-of-fold loss of all {rows} training and validation rows" in html
    assert "The validation rows trained too" in html



def test_the_network_line_leaves_out_stored_layouts_and_names_the_numeric_embedding():
    item = facts.network_item({"arch": "mlp", "hyperparameters": {"width": 8, "numbers": "plr", "plr_scores": [0, 17],
                                                                  "plr_unread": [1, 2]}})
    text = "".join(str(getattr(part, "value", part)) for part in item)
    assert "mlp (width 8, numbers plr)" in text and "17" not in text and "PLR embeddings of each numeric" in text

def test_classification_charts_are_svg_with_every_series_and_point(multiclass_run):
    html = multiclass_run.read_text("report.html")
    drawn = charts(html)
    assert set(drawn) == {"Learning curves", "Confusion matrix (test)", "ROC curve (test)", "Calibration (test)"}
    history = multiclass_run.read_table(HISTORY)
    curves = series(drawn["Learning curves"])
    assert [vertices(s) for s in curves] == [len(history), len(history), 2], "train loss, valid loss, best epoch"
    ticks = [g for g in drawn["Learning curves"].iter(f"{SVG}g") if re.search(r"-xtick_\d+$", g.get("id", ""))]
    labels = ["".join(t.itertext()) for tick in ticks for t in tick.iter(f"{SVG}text")]
    assert labels and all(label.isdigit() for label in labels), f"epochs are whole numbers: {labels}"
    assert len(series(drawn["ROC curve (test)"])) == 1 + 3, "chance and one curve per class"
    assert len(series(drawn["Calibration (test)"])) == 3, "perfect, calibrated (temperature-scaled) and before"
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "no two charts share an element id"


def test_a_hostile_column_and_class_name_is_escaped_everywhere(multiclass_run):
    html = multiclass_run.read_text("report.html")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert INJECTION not in html
    assert f"<td>{escaped}</td><td>number</td>" in html, "the column table"
    assert f"<tr><td>{escaped}</td><td>" in html, "the per-class table"
    assert f">{escaped}</text>" in html, "the ROC legend names the class, escaped"
    card = model_card(multiclass_run.path)
    assert INJECTION not in card and r"\<script\>alert(1)\</script\>" in card


def test_audits_are_drawn_once_and_their_values_escaped(multiclass_run, tmp_path):
    run = RunFolder(tmp_path / "run").create()
    run.model_dir.mkdir()
    for name in FINISHED:
        run.write_text(name, multiclass_run.read_text(name))
    curve = [{"budget": b, "fgsm": 0.9 - b, "pgd": 0.8 - b, "random": 0.95 - b / 10} for b in (0.0, 0.1, 0.2, 0.4)]
    run.write_json(AUDIT, {
        "rows": 60, "task": "multiclass",
        "columns": {INJECTION: {"groups": [{"group": INJECTION, "size": 30.0, "accuracy": 0.75},
                                           {"group": "other", "size": 30.0, "accuracy": 0.8}],
                                "disparities": [{"name": "accuracy_difference", "value": 0.05, "limit": 0.1,
                                                 "flagged": False}]}},
        "robustness": {"applicable": True, "space": "standardised numbers", "unit": "normal-score units",
                       "rows": 60, "curve": curve, "large_budget": {"budget": 5.0, "pgd": 0.01},
                       "note": "PGD is at least as strong as FGSM and random noise at every budget"},
    })
    html = write_report(run.path).read_text()
    for heading in SHARED_HEADINGS:
        assert heading_count(html, heading) == 1, heading
    attack = charts(html)["Accuracy under attack"]
    assert [vertices(s) for s in series(attack)] == [len(curve)] * 3
    assert INJECTION not in html and "<td>30</td><td>0.7500</td>" in html, "group sizes are counts"
    card = model_card(run.path)
    assert "| 0.4 | 0.5000 | 0.4000 | 0.9100 |" in card, "the robustness curve as a table: budget, FGSM, PGD, noise"
    assert "<tr><td>0.4</td><td>0.5000</td><td>0.4000</td><td>0.9100</td></tr>" in html, "and under its chart"
    assert heading_count(card, "Bias audit") == 1 and INJECTION not in card


def test_regression_report_plots_every_test_row(regression_run):
    html = regression_run.read_text("report.html")
    drawn = charts(html)
    assert set(drawn) == {"Learning curves", "Predicted against actual (test)", "Residuals (test)"}
    test_rows = len(regression_run.read_table("test_predictions.csv"))
    for title in ("Predicted against actual (test)", "Residuals (test)"):
        assert [vertices(s) for s in series(drawn[title])] == [2, min(test_rows, MAX_POINTS)], title
    metrics = regression_run.read_json(METRICS)
    assert number(metrics["test"]["rmse"]) in metric_row(html, "rmse")
    assert "Confusion matrix" not in html


def test_charts_escape_their_text_and_keep_dollars():
    chart = Chart(f"costs in $ {INJECTION}", "x $1", "y").add(INJECTION, [1, 2], [3, 4])
    svg = chart.svg()
    assert INJECTION not in svg and ">costs in $ &lt;script&gt;alert(1)&lt;/script&gt;</text>" in svg
    assert ">x $1</text>" in svg, "a dollar sign is text, not the start of TeX"
    many = Chart("many", "x", "y").add("rows", np.arange(5000), np.arange(5000), style="points")
    assert vertices(series(ElementTree.fromstring(many.svg()))[0]) == MAX_POINTS


def test_report_page_is_one_escaped_page():
    page = report_page(INJECTION, ["<p>body</p>"], {"lamina_version": INJECTION, "format_version": 1})
    assert INJECTION not in page and page.count("&lt;script&gt;") == 2 and "<p>body</p>" in page


def test_number_is_the_one_format():
    assert [number(0.5), number(1), number(np.int64(3)), number(None), number(float("nan"))] == \
        ["0.5000", "1", "3", "n/a", "n/a"]
    assert number(1.5e-5) == "1.5e-05" and number(0.0004) == "0.0004", "small values keep their digits"
    assert number(0.953, digits=1, percent=True) == "95.3%" and number(0.25, signed=True) == "+0.2500"


def test_the_report_shows_every_section_of_the_card_once():
    shown = BEFORE_TASK + AFTER_TASK
    assert sorted(f.__name__ for f in shown) == sorted(f.__name__ for f in facts.CARD)


def test_evaluation_never_imports_insight():
    """insight/ (the card, audits) builds on evaluation/, never the reverse."""
    folder = Path(lamina.__file__).parent / "evaluation"
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.startswith("lamina.insight") for n in names), path.name


def test_classification_metrics_match_hand_computed_values():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    result = classification_metrics(labels, proba)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ranked right
    assert result["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.3])))



def test_a_sure_float64_probability_gives_a_finite_log_loss_without_a_warning():
    labels = np.array([0, 1])
    proba = np.array([[1 - 1e-20, 1e-20], [1.0, 0.0]])  # a logistic regression's near-certain rows, float64
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn warned "y_prob values do not sum to one" after a bare floor
        loss = classification_metrics(labels, proba)["log_loss"]
    assert loss == pytest.approx(-np.log(1e-7) / 2, rel=1e-3)  # the wrong row costs the floor's 16 nats

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


def test_a_folder_that_is_not_a_finished_run_is_refused(tmp_path):
    RunFolder(tmp_path).write_json(METRICS, {"test": {}, "baseline": {}})
    with pytest.raises(LaminaError, match="not a finished run"):
        write_report(tmp_path)
