import re

import numpy as np
import pandas as pd
import pytest

from lamina.data.checks import has_errors, require_enough_rows, run_checks
from lamina.data.schema import Schema, infer_schema
from lamina.errors import LaminaError


def codes(findings, level=None):
    return {f.code for f in findings if level is None or f.level == level}


def findings_for(frame, target="y"):
    return run_checks(frame, infer_schema(frame, target))


def test_a_clean_table_has_no_warnings(table):
    findings = findings_for(table)
    assert not has_errors(findings)
    assert codes(findings, "warning") == set()


def test_duplicates_missing_targets_and_heavy_missingness_are_warned(table):
    table = pd.concat([table, table.iloc[:5]], ignore_index=True)
    table.loc[10:14, "y"] = None
    table.loc[100 : 100 + len(table) * 0.6, "skewed"] = None
    found = codes(findings_for(table), "warning")
    assert {"duplicate_rows", "target_missing", "heavy_missing"} <= found


def test_columns_missing_some_values_are_listed_once_as_information(table):
    """A column 40% or 5% missing drew no finding at all (only 50% and more is a warning)."""
    table.loc[:159, "skewed"] = None
    table.loc[:19, "colour"] = None
    findings = [f for f in findings_for(table) if f.code == "missing_values"]
    assert [(f.level, f.message) for f in findings] == [(
        "info", "Missing values (empty cells, or spelt NA, ?, null...): 'skewed' 160 (40.0%), 'colour' 20 (5.0%) "
                "rows; the model sees a missing-value flag for each of these columns.")]


def test_imbalance_and_small_classes(table):
    table.loc[:, "y"] = "no"
    table.loc[:14, "y"] = "yes"
    found = findings_for(table)
    assert {"class_imbalance", "class_small"} <= codes(found, "warning")
    assert not has_errors(found)


def test_findings_quote_numbers_of_the_data_as_written_not_as_numpy_reprs():
    """Class labels and cells read by pandas are numpy scalars; a message quotes 1, not np.int64(1)."""
    from lamina.errors import quoted

    assert [quoted(v) for v in (np.int64(1), np.float64(0.5), np.str_("a"), np.bool_(True), "b")] == \
        ["1", "0.5", "'a'", "True", "'b'"]
    rows = 600
    frame = pd.DataFrame({"amount": np.arange(rows) % 7, "flat": np.full(rows, 5),
                          "fraud": (np.arange(rows) < 40).astype(int)})
    messages = [f.message for f in findings_for(frame, "fraud")] + [c.note for c in infer_schema(frame, "fraud").columns]
    assert "Classes are imbalanced: 1 has 40 rows against 560 for 0." in " ".join(messages)
    assert "constant (every value is 5)" in messages
    assert not [m for m in messages if "np." in m or "numpy" in m], messages
    with pytest.raises(LaminaError, match=r"a single value \(1\) in every row"):
        infer_schema(frame.assign(fraud=1), "fraud")


def test_a_class_with_too_few_rows_is_an_error(table):
    table.loc[:1, "y"] = "rare"
    findings = findings_for(table)
    assert "class_too_small" in codes(findings, "error")
    assert "'rare'" in next(f.message for f in findings if f.code == "class_too_small")


def test_too_few_labelled_rows_are_refused_first():
    frame = pd.DataFrame({"x": np.arange(12.0), "y": ["a"] * 6 + [None] * 6})
    with pytest.raises(LaminaError, match="Only 6 row.*at least 10"):
        require_enough_rows(frame, "y")


def test_a_leaking_column_is_named(table):
    table["decision"] = np.where(table["y"] == "yes", "approved", "rejected")
    leaks = [f for f in findings_for(table) if f.code == "target_leak"]
    assert [f.column for f in leaks] == ["decision"]


def test_a_leaking_number_is_named_in_regression(table):
    table = table.assign(y=table["signal"] * 3.0 + 1.0)
    table["copy"] = table["y"] * 2.0
    leaks = {f.column for f in findings_for(table) if f.code == "target_leak"}
    assert "copy" in leaks and "colour" not in leaks


def test_dropped_columns_are_reported(table):
    table["constant"] = 1
    dropped = [f for f in findings_for(table) if f.code == "column_dropped"]
    assert [f.column for f in dropped] == ["constant"]


def test_many_tiny_classes_make_one_finding_that_suggests_regression_for_a_quantity():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})  # every value its own "class"
    schema = infer_schema(frame, "y", "multiclass")
    errors = [f for f in run_checks(frame, schema) if f.code == "class_too_small"]
    assert len(errors) == 1 and "200 classes have fewer than 3 rows" in errors[0].message
    assert "--task regression" in errors[0].message


def test_infinite_values_are_missing_in_a_feature_and_refused_in_a_regression_target(tmp_path):
    import lamina
    from conftest import FAST, make_table

    frame = make_table(rows=300).drop(columns="comment")
    frame.loc[5, "signal"] = np.inf
    frame.loc[9, "skewed"] = -np.inf
    schema = infer_schema(frame, "y")
    warnings = {f.column: f.message for f in run_checks(frame, schema) if f.code == "infinite_values"}
    assert warnings == {"signal": "1 infinite value(s) in 'signal' (row(s) 7); they are read as missing values.",
                        "skewed": "1 infinite value(s) in 'skewed' (row(s) 11); they are read as missing values."}
    model = lamina.fit(frame, "y", progress=False, **FAST)
    assert model.predict(frame.head(5))["prediction"].notna().all()
    with pytest.raises(LaminaError, match=r"Column 'signal', row 7 .* is an infinite number"):  # as POST /predict
        model.predict(frame.head(12))
    numbers = frame.assign(y=np.linspace(0, 1, 300)).drop(columns=["day"])
    numbers.loc[[3, 40], "y"] = [np.inf, -np.inf]
    errors = [f for f in run_checks(numbers, infer_schema(numbers, "y")) if f.level == "error"]
    assert [f.message for f in errors] == ["2 infinite value(s) in 'y' (row(s) 5, 42): a target must be a finite "
                                           "number. Fix or drop those rows."]


def test_a_table_with_nothing_to_learn_from_or_an_unlabelled_test_file_stops_before_training(tmp_path):
    import lamina
    from conftest import FAST, make_table

    only_target = pd.DataFrame({"y": ["a", "b"] * 20})
    with pytest.raises(LaminaError, match="No column is left to learn 'y' from \\(the table has only the target\\)"):
        lamina.fit(only_target, "y", progress=False, **FAST)
    ids = pd.DataFrame({"code": [f"c{i}" for i in range(40)], "y": ["a", "b"] * 20})
    with pytest.raises(LaminaError, match="'code': ID-like.*--column NAME=KIND"):
        lamina.fit(ids, "y", progress=False, **FAST)
    unlabelled = make_table(rows=50, seed=3).assign(y=None)
    with pytest.raises(LaminaError, match=r"The test data \(a DataFrame\) has no value in target 'y'"):
        lamina.fit(make_table(rows=200), "y", test=unlabelled, out=tmp_path / "run", progress=False, **FAST)
    assert not (tmp_path / "run").exists()  # refused before any run folder was made


def churn(tmp_path, rows=300, filled=73):
    """`vip` is "Y" or an empty cell, as is `churned` (a target with no second class written down)."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"spend": rng.normal(size=rows), "vip": np.where(np.arange(rows) % 10 < 3, "Y", ""),
                          "churned": np.where(np.arange(rows) < filled, "Y", "")})
    frame.to_csv(tmp_path / "churn.csv", index=False)
    return tmp_path / "churn.csv"


def test_a_target_of_one_value_and_blanks_says_what_the_blanks_are(tmp_path, capsys):
    from lamina.cli import main

    assert main(["check", str(churn(tmp_path)), "--target", "churned"]) == 2
    error = capsys.readouterr().err
    assert "in every row" not in error
    assert "has one value ('Y') in 73 rows and is blank in 227" in error
    assert "blank targets are unlabelled rows (left out of training), not a class" in error
    assert "fill the blanks with the other class (e.g. N)" in error
    filled = pd.read_csv(churn(tmp_path)).fillna({"churned": "N"})
    filled.to_csv(tmp_path / "filled.csv", index=False)
    assert main(["check", str(tmp_path / "filled.csv"), "--target", "churned"]) == 0


def test_one_value_or_blank_is_not_warned_as_missing(tmp_path):
    """Blank is the second value of such a column (binary), so a 70% blank `vip` is no missing-value warning;
    a column of two values that is 70% blank still is."""
    frame = pd.read_csv(churn(tmp_path)).fillna({"churned": "N"})
    assert {c.name: c.kind for c in infer_schema(frame, "churned").features}["vip"] == "binary"
    assert "heavy_missing" not in codes(findings_for(frame, "churned"))
    frame["vip"] = frame["vip"].where(frame["vip"].isna(), np.resize(["Y", "N"], len(frame)))
    missing = [f for f in findings_for(frame, "churned") if f.code == "heavy_missing"]
    assert [f.message for f in missing] == ["Column 'vip' is 70% missing; the model sees a missing-value flag for it."]


def test_an_infinity_among_classes_spelled_as_numbers_is_refused_before_the_split():
    frame = pd.DataFrame({"x": np.arange(20.0), "y": [np.inf, 5.0] * 10})
    schema = infer_schema(frame, "y")
    errors = [f.message for f in run_checks(frame, schema) if f.level == "error"]
    assert any("10 infinite value(s) in 'y'" in message for message in errors), errors


@pytest.mark.parametrize("scale, words", [(1e-300, "below the 1e-150"), (1e200, "past the 1e+150")])
def test_regression_targets_too_small_or_too_large_for_float64_are_refused_with_the_fix(scale, words):
    x = np.linspace(0, 1, 60)
    frame = pd.DataFrame({"x": x, "y": (1 + x) * scale})
    errors = [f.message for f in run_checks(frame, infer_schema(frame, "y")) if f.level == "error"]
    assert len(errors) == 1 and words in errors[0] and "scaled by a power of ten" in errors[0], errors


def test_an_extreme_target_outlier_is_warned_in_the_report_and_refused_where_it_would_blur_every_other_value(tmp_path):
    from sklearn.metrics import r2_score

    import lamina
    from conftest import make_table

    frame = make_table(rows=200, task="regression").drop(columns=["comment", "day"])
    frame.loc[5, "y"] = 1e30  # a placeholder: scaled with it, every other value is one float32 number
    errors = [f.message for f in findings_for(frame) if f.code == "target_outlier" and f.level == "error"]
    assert len(errors) == 1 and "row(s) 7 (1e+30)" in errors[0] and "could not be told apart" in errors[0]
    with pytest.raises(LaminaError, match="could not be told apart"):
        lamina.fit(frame, "y", progress=False, epochs=1)

    frame.loc[5, "y"] = 1e4  # thousands of interquartile ranges out, yet every value keeps its precision
    model = lamina.fit(frame, "y", out=tmp_path / "run", progress=False, epochs=2, width=8, depth=1)
    warned = [f.message for f in findings_for(frame) if f.code == "target_outlier"]
    assert len(warned) == 1 and "row(s) 7 (1e+04)" in warned[0]
    assert "row(s) 7 (1e+04)" in (tmp_path / "run" / "report.html").read_text()
    held_out = pd.read_csv(tmp_path / "run" / "test_predictions.csv")
    assert model.metrics["test"]["r2"] == pytest.approx(r2_score(held_out["truth"], held_out["prediction"]), rel=1e-6)
    scored = frame.head(20).assign(y=1.0)
    scored.loc[3, "y"] = 1e300  # past float32 once standardised: refused by row, not scored as infinity
    with pytest.raises(LaminaError, match=r"Target 'y', row 5 \(counting the header as row 1\): 1e\+300 lies"):
        model.evaluate(scored)


def test_the_order_dates_are_read_in_is_decided_on_the_whole_file_and_said_with_the_value_that_decides_it():
    """01/02/2020 reads as 2 January or 1 February: lamina once chose month first without a word, then chose on the
    training rows only, so a proving 13/02/2021 in the validation or test rows went unseen and the warning that
    "every such date reads either way" was false for the file. The order is how the file is written: decided on
    every row, recorded in the schema, and read by the encoder."""
    from lamina.api import check
    from lamina.features.pipeline import FeaturePipeline

    rng = np.random.default_rng(0)
    days = [f"{d:02d}/{m:02d}/{y}" for d, m, y in zip(rng.integers(1, 13, 60), rng.integers(1, 13, 60),
                                                       rng.integers(2019, 2023, 60), strict=True)]
    frame = pd.DataFrame({"when": days, "x": rng.normal(size=60), "y": ["a", "b"] * 30})

    def said(frame):
        prepared = check(frame, "y")[1]
        (finding,) = [f for f in prepared.findings if f.code == "date_order"]
        return finding, prepared

    either, _ = said(frame)
    assert (either.level, either.column) == ("warning", "when")
    assert "reads its dates month first (01/02/2020 is 2 January)" in either.message
    assert f"as {days[0]!r} in row 2 (counting the header as row 1)" in either.message, "the file's first row"
    assert "`data.date_order: day_first` or `month_first` in the config (--date-order)" in either.message
    _, prepared = said(frame)
    held_out = sorted(set(frame.index) - set(prepared.split.train.index))
    frame.loc[held_out[0], "when"] = "13/02/2021"  # the one proving value, in a row the model does not train on
    proven, prepared = said(frame)
    assert held_out[0] not in prepared.split.train.index
    assert proven.level == "info"
    assert proven.message == (f"Column 'when' reads its dates day first (01/02/2020 is 1 February): '13/02/2021' in "
                              f"row {held_out[0] + 2} (counting the header as row 1) has a first number over 12, so "
                              "the day comes first.")
    assert [c.date_order for c in prepared.schema.columns if c.name == "when"] == ["day_first"]
    pipeline = FeaturePipeline(prepared.schema).fit(prepared.split.train)
    assert pipeline.encoders["when"].day_first_, "the encoder reads as the finding says, from rows without the proof"
    frame.loc[1::4, "when"] = "02/13/2021"
    mixed, prepared = said(frame)
    assert mixed.level == "warning" and "mixes both orders" in mixed.message
    assert [c.date_order for c in prepared.schema.columns if c.name == "when"] == ["mixed"]
    frame["when"] = pd.date_range("2020-01-01", periods=60).strftime("%Y-%m-%d")
    assert not [f for f in check(frame, "y")[1].findings if f.code == "date_order"], "a year written first: no order"


def test_a_separate_test_file_writes_its_dates_in_the_data_files_order_or_proves_it():
    """The order is how the files are written: a test file may prove what the data file leaves open, and must not
    contradict an order the data file proves (its row and value named)."""
    from lamina.data.schema import record_date_orders

    frame = pd.DataFrame({"when": ["01/02/2020", "03/04/2021", "05/06/2022"], "y": [1.0, 2.0, 3.0]})
    test = pd.DataFrame({"when": ["07/08/2020", "14/02/2021"], "y": [1.0, 2.0]})
    schema = infer_schema(frame, "y", overrides={"when": "datetime"})
    (order,) = record_date_orders(schema, frame, test).values()
    assert (order.day_first, order.proven, schema.columns[0].date_order) == (True, True, "day_first")
    assert "the test file's '14/02/2021' in row 3" in order.why
    frame.loc[1, "when"] = "03/24/2021"  # the data file now proves month first
    with pytest.raises(LaminaError, match=r"Column 'when', row 3 .* of the test file: '14/02/2021' can only be read "
                                          r"day first .*, yet the column's dates are read month first: in the data "
                                          r"file, '03/24/2021' in row 3 .* has a second number over 12"):
        record_date_orders(infer_schema(frame, "y", overrides={"when": "datetime"}), frame, test)


def test_a_test_file_mixing_both_orders_beside_a_data_file_that_reads_either_way_is_refused_before_training():
    """The model took month first and, trained, refused the test file's 13/02/2020: no model for the hours spent.
    Refused at prepare, naming a value of each order and the option; the schema says the order was assumed."""
    from lamina.data.schema import record_date_orders

    frame = pd.DataFrame({"when": ["01/02/2020", "03/04/2021", "05/06/2022"], "y": [1.0, 2.0, 3.0]})
    test = pd.DataFrame({"when": ["07/08/2020", "13/02/2020", "02/13/2020"], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(LaminaError, match=r"Column 'when', row 4 .* of the test file: '02/13/2020' can only be read "
                                          r"month first .*: the test file's '13/02/2020' in row 3 .* can only be "
                                          r"read so, and every such date of the data file reads either way: the test "
                                          r"file mixes both orders.*\(--date-order\)"):
        record_date_orders(infer_schema(frame, "y", overrides={"when": "datetime"}), frame, test)
    schema = infer_schema(frame, "y", overrides={"when": "datetime"})
    record_date_orders(schema, frame, test.head(1))
    assert (schema.columns[0].date_order, schema.columns[0].date_order_assumed) == ("month_first", True)
    assert Schema.from_dict(schema.to_dict()).columns[0].date_order_assumed


def test_every_refusal_of_a_date_only_the_other_order_reads_is_worded_alike():
    """Where a declared order, a data file's proof, a test file's mix, a trained encoder or a series reader refuses
    a date: one sentence naming the column, the place, the value, both orders, how the order was decided and the
    option (data.dates.other_order_refusal)."""
    from lamina.data.dates import date_order, file_date_order
    from lamina.data.series import SeriesLayout, regular_series
    from lamina.features.datetime import DatetimeEncoder

    shape = re.compile(r"Column 'when', (.+): '(.+)' can only be read (day|month) first \((\d+) such value\(s\)\), yet "
                       r"the column's dates are read (day|month) first: (.+)\. .*(`--date-order|data\.date_order).*",
                       re.DOTALL)
    ambiguous = pd.Series(["01/02/2020", "03/04/2021"], name="when")
    history = pd.DataFrame({"when": ["01/02/2020", "02/02/2020", "03/02/2020", "13/02/2020"], "y": [1.0] * 4})
    cases = {
        "declared": (lambda: date_order(pd.Series(["01/02/2020", "02/13/2020"], name="when"), "day_first"),
                     "row 3 (counting the header as row 1)", "the order is set (data.date_order: day_first)"),
        "proved": (lambda: file_date_order(pd.Series(["13/02/2020"], name="when"), pd.Series(["02/13/2020"])),
                   "row 2 (counting the header as row 1) of the test file",
                   "in the data file, '13/02/2020' in row 2 (counting the header as row 1) has a first number over 12"),
        "mixed test file": (lambda: file_date_order(ambiguous, pd.Series(["13/02/2020", "02/13/2020"])),
                            "row 3 (counting the header as row 1) of the test file", "the test file mixes both orders"),
        "assumed": (lambda: DatetimeEncoder("when", "month_first", assumed=True).fit(ambiguous).dates(
            pd.Series(["13/02/2020"])), "row 2 (counting the header as row 1)", "an order assumed"),
        "series": (lambda: regular_series(history, SeriesLayout("when", ["y"], [], None, "D", 7, False), "h"),
                   "line 5 of h", "the order of the series' training data"),
    }
    for case, (refused, place, how) in cases.items():
        with pytest.raises(LaminaError) as caught:
            refused()
        message = str(caught.value)
        matched = shape.fullmatch(message)
        assert matched and matched.group(1) == place and how in message, (case, message)


def test_check_counts_the_rows_training_uses_and_names_the_task(tmp_path, capsys):
    """Rows without a target are left out of training, so `lamina check` counts them out of the rows it says are
    used; the task line names the task that trains and its kind (classification of two classes)."""
    from lamina.cli import main

    frame = pd.read_csv(churn(tmp_path)).fillna({"churned": "N"})
    frame.loc[[0, 5], "churned"] = None
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    assert main(["check", str(tmp_path / "gaps.csv"), "--target", "churned"]) == 0
    out = capsys.readouterr().out
    assert "298 of 300 rows used" in out and "\ntask classification (binary), target 'churned'\n" in out
    assert main(["check", str(tmp_path / "gaps.csv"), "--target", "spend"]) == 0
    assert "300 rows, 3 columns\ntask regression, target 'spend'\n" in capsys.readouterr().out
