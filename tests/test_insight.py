import json
import re

import numpy as np
import pandas as pd
import pytest

import lamina
from conftest import make_table
from lamina.cli import main
from lamina.insight.explain import explain_rows, permutation_importance
from lamina.insight.fairness import audit, audit_text, binary_group_metrics


def biased_table(rows: int, seed: int) -> pd.DataFrame:
    """Group B is labelled 'yes' far more often than its features explain."""
    generator = np.random.default_rng(seed)
    table = make_table(rows=rows, seed=seed)
    table["group"] = generator.choice(["A", "B"], size=rows)
    table.loc[(table["group"] == "B") & (generator.random(rows) < 0.5), "y"] = "yes"
    return table


@pytest.fixture(scope="module")
def model():
    # dropout 0.3: eight epochs at the small-table default (0.5) leave the group's bias half learnt, and these
    # tests audit a model that learnt it
    return lamina.fit(biased_table(1200, 0), target="y", progress=False, epochs=8, width=32, dropout=0.3)


def test_integrated_gradients_are_complete(model):
    explanation = explain_rows(model, biased_table(20, 3))
    assert explanation["columns"] == ["signal", "skewed", "day", "colour", "member", "group", "comment"]
    for row, values in enumerate(explanation["attributions"]):
        change = explanation["output"][row] - explanation["baseline_output"][row]
        assert sum(values) == pytest.approx(change, rel=0.01, abs=0.02)  # within 1% of the change
    assert explanation["completeness_gap"] < 0.01 * max(abs(o - b) for o, b in zip(explanation["output"], explanation["baseline_output"], strict=True))  # 1% of the largest change


def test_permutation_importance_finds_the_signal_and_not_the_noise(model):
    importance = {e["column"]: e for e in permutation_importance(model, biased_table(600, 4), repeats=3)}
    assert importance["signal"]["drop"] > 0.1
    assert importance["signal"]["drop"] > 5 * abs(importance["skewed"]["drop"])  # skewed never sets y
    assert importance["signal"]["std"] < importance["signal"]["drop"]


def test_fairness_numbers_match_a_hand_computed_example():
    # Group A: 4 rows, truth 1,1,0,0, predicted 1,0,1,0 → selection 2/4, TPR 1/2, FPR 1/2, accuracy 2/4.
    # Group B: 4 rows, truth 1,1,0,0, predicted 1,1,0,0 → selection 2/4, TPR 1, FPR 0, accuracy 1.
    # Group C: 2 rows, truth 1,0, predicted 0,0 → selection 0, TPR 0, FPR 0, accuracy 1/2.
    truth = np.array([1, 1, 0, 0, 1, 1, 0, 0, 1, 0], dtype=bool)
    predicted = np.array([1, 0, 1, 0, 1, 1, 0, 0, 0, 0], dtype=bool)
    groups = pd.Series(list("AAAABBBBCC"))
    table, disparities = binary_group_metrics(truth, predicted, groups)
    assert table.loc["A"].to_dict() == pytest.approx(
        {"size": 4, "selection_rate": 0.5, "accuracy": 0.5, "true_positive_rate": 0.5, "false_positive_rate": 0.5})
    assert table.loc["B", "true_positive_rate"] == 1.0 and table.loc["C", "selection_rate"] == 0.0
    values = {d.name: d.value for d in disparities}
    assert values["demographic_parity_difference"] == pytest.approx(0.5)  # 0.5 (A, B) − 0 (C)
    assert values["demographic_parity_ratio"] == pytest.approx(0.0)  # 0 / 0.5
    assert values["equalized_odds_difference"] == pytest.approx(1.0)  # TPR: 1 (B) − 0 (C)
    assert all(d.flagged for d in disparities)


def test_threshold_mitigation_lowers_the_demographic_parity_difference(model):
    result = audit(model, biased_table(1200, 7), ["group"], mitigate="threshold")
    [disparity] = [d for d in result["columns"]["group"]["disparities"] if d["name"] == "demographic_parity_difference"]
    assert disparity["flagged"]
    report = result["mitigation"]["group"]
    assert report["before"]["demographic_parity_difference"] > 0.1
    assert report["after"]["demographic_parity_difference"] < report["before"]["demographic_parity_difference"] / 3
    assert report["after"]["accuracy"] > 0.6


def test_an_unknown_sensitive_column_is_named(model):
    with pytest.raises(lamina.LaminaError, match="'gruop'.*Did you mean 'group'"):
        audit(model, biased_table(50, 1), ["gruop"])


def test_explain_and_audit_commands_write_results_into_the_report(tmp_path, capsys):
    biased_table(800, 0).to_csv(tmp_path / "train.csv", index=False)
    biased_table(400, 9).to_csv(tmp_path / "test.csv", index=False)
    assert main(["train", str(tmp_path / "train.csv"), "--target", "y", "--out", str(tmp_path / "run"),
                 "--epochs", "5", "--width", "32", "--quiet"]) == 0
    assert main(["explain", str(tmp_path / "run"), str(tmp_path / "test.csv"), "--rows", "0,3", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "row 3 →" in out and "Permutation importance" in out
    explained = json.loads((tmp_path / "run" / "explain.json").read_text())
    assert explained["rows"] == [0, 3] and len(explained["importance"]) == 7
    assert main(["audit", str(tmp_path / "run"), str(tmp_path / "test.csv"), "--sensitive", "group,colour",
                 "--mitigate", "threshold"]) == 0
    assert "demographic_parity_difference" in capsys.readouterr().out
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<h2>Explanations</h2>" in html and "<h2>Bias audit</h2>" in html and "Threshold mitigation" in html
    assert "<h2>Robustness audit</h2>" in html and ">Accuracy under attack</text>" in html
    # The report shows the robustness the audit measured (audit.json) as an HTML table: the accuracy under each
    # attack at every budget, with no raw Markdown left over.
    robustness = json.loads((tmp_path / "run" / "audit.json").read_text())["robustness"]
    shown = [[re.sub(r"<[^>]*>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
             for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html, re.S)]
    assert any(p["budget"] == 0.5 for p in robustness["curve"])
    for point in robustness["curve"]:
        cells = [str(point["budget"]), *(f"{point[k]:.4f}" for k in ("fgsm", "pgd", "random"))]
        assert cells in shown, cells
    assert "| 0.5 |" not in html
    assert main(["explain", str(tmp_path / "run"), str(tmp_path / "test.csv"), "--rows", "999"]) == 2
    capsys.readouterr()
    # Without --rows: the first 5, or every row of a shorter table (a one-row file had been refused: "Row 1 is
    # outside the data", a row the user never named).
    biased_table(400, 9).head(2).to_csv(tmp_path / "two.csv", index=False)
    for name, rows in (("test.csv", [0, 1, 2, 3, 4]), ("two.csv", [0, 1])):
        assert main(["explain", str(tmp_path / "run"), str(tmp_path / name), "--repeats", "1"]) == 0, name
        assert json.loads((tmp_path / "run" / "explain.json").read_text())["rows"] == rows


def test_explain_on_rows_without_the_target_says_why_there_is_no_importance(tmp_path, capsys):
    # Permutation importance scores predictions against the target; rows without it get a note where the
    # importance would be (terminal, explain.json, report), not a section silently left out.
    run = tmp_path / "run"
    lamina.fit(biased_table(300, 0), target="y", out=run, progress=False, epochs=2, width=16)
    rows = biased_table(40, 5)
    rows.drop(columns=["y"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    rows.assign(y=None).to_csv(tmp_path / "empty_labels.csv", index=False)
    for name, says in (("unlabelled.csv", "it is not there"), ("empty_labels.csv", "no value in any of the 40 rows")):
        assert main(["explain", str(run), str(tmp_path / name), "--rows", "0,1", "--repeats", "1"]) == 0, name
        out = capsys.readouterr().out
        assert "row 1 →" in out and "Permutation importance: none; permutation importance needs the target column " \
            "'y' in the rows; " in out and says in out, name
        explained = json.loads((run / "explain.json").read_text())
        assert "importance" not in explained and says in explained["importance_missing"], name
        html = (run / "report.html").read_text()
        assert "Permutation importance: none; permutation importance needs the target column &#x27;y&#x27;" in html
    # Mostly unlabelled rows: the importance says how few rows it stood on (it printed all-zero drops, unexplained)
    rows.loc[5:, "y"] = None
    rows.to_csv(tmp_path / "few_labels.csv", index=False)
    assert main(["explain", str(run), str(tmp_path / "few_labels.csv"), "--rows", "0", "--repeats", "1"]) == 0
    said = "the 5 row(s) with a 'y' value; 35 row(s) without one left out"
    assert f"over 1, on {said})" in capsys.readouterr().out
    assert json.loads((run / "explain.json").read_text())["importance_rows"] == said
    assert f"on {said}".replace("'", "&#x27;") in (run / "report.html").read_text()
    assert "importance" not in lamina.load(run).explain(rows.drop(columns=["y"]), rows=[0], importance=False)
    assert "importance_missing" not in lamina.load(run).explain(rows.drop(columns=["y"]), rows=[0], importance=False)


def numeric_table(rows: int, seed: int) -> pd.DataFrame:
    return make_table(rows=rows, seed=seed).drop(columns=["comment"])


def test_pgd_lowers_accuracy_and_adversarial_training_raises_robust_accuracy():
    from lamina.insight.robustness import robustness_curve

    standard = lamina.fit(numeric_table(1500, 0), target="y", progress=False, epochs=10, width=32)
    hardened = lamina.fit(numeric_table(1500, 0), target="y", progress=False, epochs=10, width=32,
                          adversarial="pgd", adversarial_budget=0.3)
    held_out = numeric_table(600, 5)
    plain, robust = robustness_curve(standard, held_out), robustness_curve(hardened, held_out)
    at = {p["budget"]: p for p in plain["curve"]}
    assert at[0.0]["pgd"] > 0.8
    assert at[0.5]["pgd"] < at[0.0]["pgd"] - 0.4, "PGD must hurt an undefended model"
    assert all(p["pgd"] <= p["fgsm"] + 1e-9 for p in plain["curve"]), "PGD is at least as strong as FGSM"
    assert plain["large_budget"]["pgd"] < 0.05 and not plain["masking_suspected_at"]
    hard = {p["budget"]: p for p in robust["curve"]}
    assert hard[0.5]["pgd"] > at[0.5]["pgd"] + 0.2, "adversarial training raises robust accuracy"
    assert hard[0.0]["pgd"] > at[0.0]["pgd"] - 0.05, "at little clean cost"


def test_sensitive_columns_declared_in_the_config_are_audited_and_can_be_kept_out(tmp_path):
    model = lamina.fit(biased_table(600, 2), target="y", out=tmp_path / "run", progress=False, epochs=4, width=16,
                       sensitive=["group"], exclude_sensitive=True)
    assert "group" not in {c.name for c in model.schema.features}
    assert next(c for c in model.schema.columns if c.name == "group").role == "dropped"
    audited = json.loads((tmp_path / "run" / "audit.json").read_text())
    assert set(audited["columns"]) == {"group"} and audited["robustness"]["applicable"]
    assert "<h2>Bias audit</h2>" in (tmp_path / "run" / "report.html").read_text()


def test_adversarial_training_of_a_regressor_is_refused_before_any_work(tmp_path):
    frame = make_table(rows=120, task="regression")
    with pytest.raises(lamina.LaminaError, match=r"--adversarial \(train.adversarial\) cannot apply to this data: its attacks raise the cross-entropy of the "
                                                 r"true class, and the target is a quantity \(regression\). Drop --adversarial"):
        lamina.fit(frame, target="y", adversarial="pgd", out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())  # nothing left to resume


def test_audit_groups_are_the_values_the_model_reads_and_a_column_may_be_named_like_a_metric(tmp_path):
    """A file read as text keeps 1.50 beside 1.5 and 02 beside 2.0, which the model reads as one learnt value: the
    audit had made each spelling a group of its own, and a sensitive column named `size` clashed with the group
    table's own `size` column (a traceback)."""
    table = biased_table(600, 3)
    table["size"] = np.random.default_rng(3).choice([1.5, 2.0], size=600)
    model = lamina.fit(table, target="y", progress=False, epochs=2, width=16, columns={"size": "category"})
    assert model.features.encoders["size"].vocabulary_ == ["1.5", "2"]
    rows = table.astype({"size": object})
    rows.loc[::3, "size"] = "1.50"
    rows.loc[1::3, "size"] = "02"
    rows.loc[5, "size"] = None
    result = audit(model, rows, ["size", "group"], mitigate="threshold")
    groups = {g["group"]: g["size"] for g in result["columns"]["size"]["groups"]}
    assert set(groups) == {"1.5", "2", "(missing)"} and sum(groups.values()) == 600, groups
    assert {g["group"] for g in result["columns"]["group"]["groups"]} == {"A", "B"}
    assert set(result["mitigation"]["size"]["before"]["groups"][0]) >= {"group", "size", "selection_rate"}


def test_threshold_mitigation_leaves_out_groups_it_cannot_fit_and_says_so(model):
    """fairlearn fits a threshold per group and needs both outcomes in each: a small group crashed the audit
    (Degenerate labels), and a column of a value per row (an ID, a number) crashed it with an empty split."""
    rows = biased_table(400, 11)
    rows["band"] = np.where(np.arange(400) < 200, "low", "high")
    rows.loc[7, "band"] = "tiny"  # one row: no threshold can be fitted for it
    rows["uid"] = [f"u{i}" for i in range(400)]
    result = audit(model, rows, ["band", "uid"], mitigate=None)
    assert "note" not in result["columns"]["band"]
    assert "400 groups, 400 of them a single row" in result["columns"]["uid"]["note"]
    result = audit(model, rows, ["band"], mitigate="threshold")
    mitigated = result["mitigation"]["band"]
    assert mitigated["groups_left_out"] == ["tiny"]
    assert "1 group(s) left out, with fewer than 2 rows of an outcome to fit a threshold on: 'tiny'" in \
        audit_text(result)
    assert mitigated["fitted_on_rows"] + mitigated["measured_on_rows"] == 399
    with pytest.raises(lamina.LaminaError, match=r"Threshold mitigation on 'uid'.*0 of its 400 groups have them"):
        audit(model, rows, ["uid"], mitigate="threshold")
