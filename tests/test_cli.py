import argparse
import json
import re
import shlex
import subprocess
import sys

import pandas as pd
import pytest

from conftest import make_table
from lamina.cli import build_parser, main

FAST_FLAGS = ["--epochs", "4", "--width", "32", "--depth", "2", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One training run through the CLI, shared by the tests that use its folder."""
    folder = tmp_path_factory.mktemp("cli")
    make_table(rows=500).to_csv(folder / "train.csv", index=False)
    make_table(rows=200, seed=7).to_csv(folder / "test.csv", index=False)
    code = main(["train", str(folder / "train.csv"), "--target", "y", "--test", str(folder / "test.csv"),
                 "--out", str(folder / "run"), *FAST_FLAGS])
    assert code == 0
    return folder


def test_train_writes_the_whole_run_folder(run):
    names = {p.name for p in (run / "run").iterdir()}
    assert {"config.yaml", "model", "checkpoints", "history.csv", "metrics.json", "checks.json",
            "report.html"} <= names
    assert {p.name for p in (run / "run" / "checkpoints").iterdir()} == {"last.safetensors", "best.safetensors"}
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > metrics["baseline"]["accuracy"]
    history = pd.read_csv(run / "run" / "history.csv")
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    assert "given test file" in (run / "run" / "report.html").read_text()


def test_predict_writes_a_row_per_input_row(run, capsys):
    out = run / "predictions.csv"
    assert main(["predict", str(run / "run"), str(run / "test.csv"), "--out", str(out)]) == 0
    predictions = pd.read_csv(out)
    assert len(predictions) == 200 and list(predictions.columns) == ["prediction", "proba_no", "proba_yes"]
    assert f"wrote 200 rows to {out}" in capsys.readouterr().err
    pd.read_csv(run / "test.csv").head(1).to_csv(run / "one.csv", index=False)
    assert main(["predict", str(run / "run"), str(run / "one.csv"), "--out", str(out)]) == 0
    assert f"wrote 1 row to {out}" in capsys.readouterr().err


def test_a_prediction_file_with_a_new_category_predicts(run, tmp_path):
    frame = make_table(rows=10, seed=8).drop(columns="y")
    frame.loc[:4, "colour"] = "turquoise"
    frame.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(run / "run"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["prediction"].notna().sum() == 10


def test_a_prediction_file_missing_a_column_is_named(run, tmp_path, capsys):
    make_table(rows=10).drop(columns=["skewed"]).to_csv(tmp_path / "lacking.csv", index=False)
    assert main(["predict", str(run / "run"), str(tmp_path / "lacking.csv")]) == 2
    assert "'skewed'" in capsys.readouterr().err


def test_test_predictions_join_back_to_the_file_their_rows_came_from(tmp_path):
    """Each held-out row's 0-based data row in its file (`row`) and the ID-like column left out of the features."""
    frame = make_table(rows=300).drop(columns=["comment", "day"])
    frame.insert(0, "customer", [f"c{i:04d}" for i in range(len(frame))])
    frame.iloc[:200].to_csv(tmp_path / "train.csv", index=False)
    test = frame.iloc[200:].reset_index(drop=True)
    test.loc[3, "y"] = None  # an unlabelled row is left out of the test metrics: row numbers must not shift
    test.to_csv(tmp_path / "test.csv", index=False)
    assert main(["train", str(tmp_path / "train.csv"), "--target", "y", "--test", str(tmp_path / "test.csv"),
                 "--out", str(tmp_path / "given"), "--epochs", "2", "--width", "8", "--depth", "1", "--quiet"]) == 0
    held = pd.read_csv(tmp_path / "given" / "test_predictions.csv")
    assert list(held.columns[:5]) == ["row", "customer", "truth", "truth_index", "prediction"]
    assert held["row"].tolist() == [i for i in range(100) if i != 3]
    assert held["customer"].tolist() == test.loc[held["row"], "customer"].tolist()
    assert held["truth"].tolist() == test.loc[held["row"], "y"].tolist()
    # lamina predict's file keeps the ID-like column, as POST /predict echoes it: was predictions alone, unjoinable.
    test.drop(columns="y").to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", str(tmp_path / "given"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert list(predicted.columns) == ["customer", "prediction", "proba_no", "proba_yes"]
    assert predicted["customer"].tolist() == test["customer"].tolist()
    # A test split drawn from the data: its rows in the data file.
    assert main(["train", str(tmp_path / "train.csv"), "--target", "y", "--out", str(tmp_path / "split"),
                 "--epochs", "2", "--width", "8", "--depth", "1", "--quiet"]) == 0
    held = pd.read_csv(tmp_path / "split" / "test_predictions.csv")
    assert held["row"].is_unique and held["row"].between(0, 199).all()
    assert held["customer"].tolist() == frame.loc[held["row"], "customer"].tolist()
    assert held["truth"].tolist() == frame.loc[held["row"], "y"].tolist()


def test_test_predictions_keep_id_like_keys_as_the_files_write_them(tmp_path):
    """A part number 156E16 (distinct whole numbers named *_id) was read as 1.56e18 and written 1.56e+18 in
    test_predictions.csv, where `lamina predict` reads identifiers as text and keeps them: no key joined back."""
    frame = make_table(rows=240).drop(columns=["comment", "day"])
    frame.insert(0, "part_id", [f"{100 + i}E16" for i in range(len(frame))])
    frame.iloc[:180].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[180:].to_csv(tmp_path / "test.csv", index=False)
    for test in (["--test", str(tmp_path / "test.csv")], []):  # a test file, and a test split of the data file
        out = tmp_path / f"run{len(test)}"
        assert main(["train", str(tmp_path / "train.csv"), "--target", "y", *test, "--out", str(out), "--epochs", "1",
                     "--width", "8", "--depth", "1", "--quiet"]) == 0
        held = pd.read_csv(out / "test_predictions.csv", dtype=str)
        written = pd.read_csv(tmp_path / ("test.csv" if test else "train.csv"), dtype=str)
        assert held["part_id"].str.endswith("E16").all(), held["part_id"].head()
        assert held["part_id"].tolist() == written.loc[held["row"].astype(int), "part_id"].tolist()


def test_a_test_file_lacking_or_misspelling_a_column_is_refused_before_training_naming_it(tmp_path, capsys):
    """A test file without 'skewed' and with 'color' for 'colour' trained the whole run, then refused at scoring
    ("The data lacks column(s) the model was trained on"), leaving checkpoints, config.yaml and history.csv."""
    make_table(rows=120).to_csv(tmp_path / "train.csv", index=False)
    test = make_table(rows=40, seed=3).drop(columns="skewed").rename(columns={"colour": "color"})
    test.to_csv(tmp_path / "test.csv", index=False)
    assert main(["train", str(tmp_path / "train.csv"), "--target", "y", "--test", str(tmp_path / "test.csv"),
                 "--out", str(tmp_path / "run"), *FAST_FLAGS]) == 2
    error = capsys.readouterr().err
    assert f"The test data file {tmp_path / 'test.csv'} lacks column(s) the model is trained on: 'skewed', " \
           "'colour'. Is its 'color' 'colour' misspelt?" in error, error
    assert "--column skewed=ignore" in error
    assert not (tmp_path / "run").exists(), "refused before the run folder is made"


@pytest.mark.parametrize("column, value, said", [
    ("signal", "n/a?", "Column 'signal' holds numbers but 1 value(s) are not numbers, first 'n/a?' at row 9"),
    ("day", "someday", "Column 'day', row 9 (counting the header as row 1): 'someday' is not a date"),
    ("signal", "1,2,3", "Column 'signal' holds numbers but 1 value(s) are not numbers, first '1,2,3' at row 9"),
])
def test_a_bad_value_in_the_test_file_is_named_in_it_by_train_and_by_check_of_a_config(tmp_path, capsys, column,
                                                                                      value, said):
    """A word in a number column of the test file said "at row 9", which the user looked for in the training file;
    and `lamina check` of a config naming that test file (data.test) passed where train refused."""
    make_table(rows=120).to_csv(tmp_path / "train.csv", index=False)
    test = make_table(rows=40, seed=3)
    test[column] = test[column].astype(str)
    test.loc[7, column] = value
    test.to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "config.yaml").write_text(f"data: {{test: {tmp_path / 'test.csv'}, target: y}}\n")
    trained = _refusal(["train", str(tmp_path / "train.csv"), "--config", str(tmp_path / "config.yaml"),
                        "--out", str(tmp_path / "run"), *FAST_FLAGS], capsys)
    checked = _refusal(["check", str(tmp_path / "train.csv"), "--config", str(tmp_path / "config.yaml")], capsys)
    assert trained == checked
    assert trained.startswith(f"error: In the test data file {tmp_path / 'test.csv'}: {said}"), trained
    assert not (tmp_path / "run").exists()


def test_check_says_it_checked_the_configs_test_file(tmp_path, capsys):
    make_table(rows=120).to_csv(tmp_path / "train.csv", index=False)
    make_table(rows=40, seed=3).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "config.yaml").write_text(f"data: {{test: {tmp_path / 'test.csv'}, target: y}}\n")
    assert main(["check", str(tmp_path / "train.csv"), "--config", str(tmp_path / "config.yaml")]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{tmp_path / 'train.csv'}: 120 rows, 7 columns\ntest file {tmp_path / 'test.csv'}: 40 "
                           "rows, checked as training reads it\n"), said


def test_an_id_column_named_row_keeps_its_values_and_the_position_moves_aside():
    from lamina.data.schema import ID_LIKE, Column, Schema
    from lamina.tasks.table import with_row_keys

    rows = pd.DataFrame({"row": ["R7", "R9"], "x": [1, 2]}, index=[7, 9])
    held = pd.DataFrame({"truth": ["a", "b"], "prediction": ["a", "a"]})
    schema = Schema([Column(name, "ignore", "dropped", f"{ID_LIKE} ...") for name in ("row", "prediction")]
                    + [Column("x", "number")], "y", "binary")
    keyed = with_row_keys(held, rows, schema)
    # the ID replaced the positions before: the README's read_csv(file).loc[row] join then failed
    assert list(keyed.columns) == ["_row", "row", "truth", "prediction"]
    assert keyed["_row"].tolist() == [7, 9] and keyed["row"].tolist() == ["R7", "R9"]
    assert keyed["prediction"].tolist() == ["a", "a"], "an ID named like a held-out column never hides it"


def test_evaluate_report_and_info(run, capsys):
    assert main(["evaluate", str(run / "run"), str(run / "test.csv"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 200 and result["metrics"]["accuracy"] > result["baseline"]["accuracy"]
    (run / "run" / "report.html").unlink()
    assert main(["report", str(run / "run")]) == 0
    html = (run / "run" / "report.html").read_text()
    metrics = json.loads((run / "run" / "metrics.json").read_text())
    for name in ("accuracy", "roc_auc", "log_loss"):  # the run's own figures, model and baseline, as written
        assert f"{metrics['test'][name]:.4f}" in html and f"{metrics['baseline'][name]:.4f}" in html, name
    page = _html_text(html)
    assert re.search(r"\by\b", page["title"]), page["title"]  # the target, named in the page's title
    assert {"no", "yes"} <= page["cells"], "the class names label the per-class table and the charts"
    assert html.count("<svg") >= 2, "the charts are drawn inline"
    assert "no better than the trivial baseline" not in html, "a model that learnt is not warned about"
    assert main(["evaluate", str(run / "run"), str(run / "test.csv")]) == 0
    assert f"\nmetrics on 200 rows of {run / 'test.csv'}  " in capsys.readouterr().out, "the file given, not 'test'"
    assert main(["info", str(run / "run")]) == 0
    info = capsys.readouterr().out
    assert "task: classification (binary); classes: ['no', 'yes']" in info
    sizes = json.loads((run / "run" / "model" / "model.json").read_text())["training"]["sizes"]
    assert f"sizes: train {sizes['train']}, valid {sizes['valid']}, test 200" in info and "{" not in info


def test_a_regression_is_named_once_and_a_metric_rounding_to_zero_has_no_minus(tmp_path, capsys):
    from lamina.evaluation.document import number
    from lamina.tasks.table import metrics_text

    text = metrics_text({"r2": 0.81, "mae": 0.5}, {"r2": -0.00001, "mae": 0.9}, 60)
    assert re.search(r"r2 +0\.8100 +0\.0000 ", text) and "-0.0000" not in text, text
    assert [number(v, percent=p, digits=d) for v, p, d in ((-0.00001, True, 1), (-0.00004, False, 4))] == \
        ["0.0%", "-4e-05"], "a value shown as zeros loses its sign; one shown in its own digits keeps it"
    make_table(rows=300, task="regression").to_csv(tmp_path / "r.csv", index=False)
    assert main(["train", str(tmp_path / "r.csv"), "--target", "y", "--out", str(tmp_path / "run"), *FAST_FLAGS]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "run")]) == 0
    assert "\ntask: regression\n" in capsys.readouterr().out


def test_a_config_file_alone_can_drive_training_and_its_warnings_are_printed(tmp_path, capsys):
    table = make_table(rows=300)
    pd.concat([table, table.tail(1)]).to_csv(tmp_path / "t.csv", index=False)  # a duplicate row: a warning
    (tmp_path / "run.yaml").write_text(
        f"data:\n  path: {tmp_path / 't.csv'}\n  target: y\n  columns: {{skewed: ignore}}\n"
        "train:\n  epochs: 2\nmodel:\n  width: 16\n"
    )
    assert main(["train", "--config", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "\n1 data-quality warning(s), in the report too:\n  - 1 row(s) repeat an earlier row exactly (first at " \
           "row 302)" in printed
    assert len(pd.read_csv(tmp_path / "run" / "history.csv")) == 2
    resolved = (tmp_path / "run" / "config.yaml").read_text()
    assert "skewed: ignore" in resolved and "width: 16" in resolved
    (tmp_path / "bad.yaml").write_text("train:\n  epochz: 2\n")
    assert main(["train", str(tmp_path / "t.csv"), "--target", "y", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "Did you mean 'epochs'" in capsys.readouterr().err


def test_check_lists_findings_without_training(tmp_path, capsys):
    frame = make_table(rows=300)
    frame["leak"] = frame["y"].map({"yes": "approved", "no": "denied"})
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["check", str(tmp_path / "t.csv"), "--target", "y"]) == 0
    out = capsys.readouterr().out
    assert "[warning] Column 'leak' alone predicts the target" in out
    assert "drop it: --column leak=ignore (config data: columns: {leak: ignore})" in out, "the flag check takes"
    assert not (tmp_path / "runs").exists()
    assert main(["check", str(tmp_path / "t.csv"), "--target", "y", "--column", "leak=ignore"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\n  leak +ignore +dropped", out) and "alone predicts the target" not in out


def test_a_table_without_a_header_row_is_said_to_lack_one(tmp_path, capsys):
    """UCI Adult's raw file begins with a data row: "Target column 'income' is not in the data. Columns: 39,
    State-gov, 77516..." left the reader to see why."""
    make_table(rows=40).to_csv(tmp_path / "raw.csv", index=False, header=False)
    make_table(rows=40).to_csv(tmp_path / "named.csv", index=False)
    for command, target in (("check", "y"), ("train", "y,colour")):
        error = _refusal([command, str(tmp_path / "raw.csv"), "--target", target], capsys)
        assert "the file may have no header row. Add a first line naming the columns." in error, error
        assert "no header row" not in _refusal([command, str(tmp_path / "named.csv"), "--target", "income"], capsys)


def _write(path, content):
    if isinstance(content, pd.DataFrame):
        content.to_csv(path, index=False)
    elif content is not None:
        path.write_bytes(content)


def _mixed():
    frame = make_table(rows=100)
    frame["signal"] = frame["signal"].astype(str)
    frame.loc[40, "signal"] = "n/a-ish"
    return frame


BAD_INPUTS = {
    "missing file": (None, "does not exist"),
    "empty file": (b"", "is empty"),
    "binary junk": (bytes(range(256)) * 8, "binary data"),
    "header only": (b"signal,colour,y\n", "no data rows"),
    "missing target": (make_table(rows=50).rename(columns={"y": "label"}), "'y' is not in the data"),
    "target all missing": (make_table(rows=50).assign(y=None), "has no values"),
    "single class": (make_table(rows=50).assign(y="yes"), "single value"),
    "one row": (make_table(rows=1), "at least 10 are needed"),
    "mixed types": (_mixed(), "'signal' holds numbers but 1 value"),
    "not utf-8": (b"signal,y\n1,caf\xe9\n", "not UTF-8"),
    "duplicate columns": (b"a,a,y\n1,2,3\n", "duplicate column names"),
    "huge regression target": (make_table(rows=60, task="regression").assign(y=lambda t: t.y * 1e200),
                               "Target 'y' holds values up to"),
}


# What each message tells the user to do (asserted beside what it says is wrong).
FIXES = {
    "missing file": "Check the path",
    "empty file": "Give a table",
    "binary junk": "Give a CSV",
    "header only": "Add rows",
    "missing target": "Did you mean 'day'?",
    "target all missing": "Fill it in",
    "single class": "at least two classes",
    "one row": "Add more rows",
    "mixed types": "{signal: category}",
    "not utf-8": "iconv -f latin1 -t utf-8",
    "duplicate columns": "Rename them",
    "huge regression target": "Predict the logarithm of the values",
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_exits_2_with_a_message(case, tmp_path, capsys):
    content, expected = BAD_INPUTS[case]
    path = tmp_path / "data.csv"
    _write(path, content)
    code = main(["train", str(path), "--target", "y", "--out", str(tmp_path / "run"), *FAST_FLAGS])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert "Traceback" not in err
    assert "error: " in err, err
    message = err[err.index("error: "):]
    assert expected in message, err
    assert str(path) in message or re.search(r"'[^']+'", message), "names the file or the column"
    assert FIXES[case] in message, "says what to do about it"
    assert [p.name for p in tmp_path.iterdir()] == ([] if content is None else ["data.csv"])  # no run folder
    if isinstance(content, bytes):
        assert path.read_bytes() == content  # the input is left as it was


def test_errors_show_no_traceback_unless_debug(tmp_path):
    command = [sys.executable, "-m", "lamina.cli", "train", str(tmp_path / "nope.csv"), "--target", "y"]
    plain = subprocess.run(command, capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr and "does not exist" in plain.stderr
    debug = subprocess.run(command[:3] + ["--debug"] + command[3:], capture_output=True, text=True)
    assert "Traceback" in debug.stderr


def test_help_does_not_import_torch():
    code = ("import sys; from lamina.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")


def _html_text(html: str) -> dict:
    """The page's title and the set of texts of its table cells and chart labels (td, th, svg text)."""
    from html.parser import HTMLParser

    class Texts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.open, self.title, self.cells = [], "", set()

        def handle_starttag(self, tag, attrs):
            self.open.append(tag)

        def handle_endtag(self, tag):
            if tag in self.open:
                del self.open[len(self.open) - 1 - self.open[::-1].index(tag):]

        def handle_data(self, data):
            if self.open and self.open[-1] == "title":
                self.title += data
            elif self.open and self.open[-1] in ("td", "th", "text"):
                self.cells.add(data.strip())

    parser = Texts()
    parser.feed(html)
    return {"title": parser.title, "cells": parser.cells}


def _subcommands() -> dict:
    [action] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_command_has_help_with_an_example(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps help to the terminal; keep each example on one line
    commands = _subcommands()
    assert {"train", "forecast", "check", "predict", "evaluate", "report", "info", "demo"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code in (0, None), name
        shown = capsys.readouterr().out
        assert "example:" in shown, f"`lamina {name} --help` shows no example"
        example = " ".join(shown.rsplit("example:", 1)[1].split())
        for alternative in example.split("|"):
            words = shlex.split(alternative)
            assert words[:2] == ["lamina", name], f"the example of {name} runs another command: {alternative}"
            try:
                parsed = build_parser().parse_args(words[1:])
            except SystemExit:
                pytest.fail(f"the example of `lamina {name}` is not a valid command line: {alternative}\n"
                            f"{capsys.readouterr().err}")
            assert parsed.command == name


# ---- nothing a user has is overwritten ---------------------------------------------------------------

def test_a_run_never_writes_over_files_it_did_not_make(run, tmp_path, capsys):
    data = tmp_path / "history.csv"  # data named like a run's own file, in the folder given as --out
    make_table(rows=120).to_csv(data, index=False)
    before = data.read_bytes()
    assert main(["train", str(data), "--target", "y", "--out", str(tmp_path), *FAST_FLAGS]) == 2
    assert "already holds history.csv" in capsys.readouterr().err and data.read_bytes() == before
    finished = (run / "run" / "model" / "weights.safetensors").read_bytes()
    assert main(["train", str(run / "train.csv"), "--target", "y", "--out", str(run / "run"), *FAST_FLAGS]) == 2
    assert "--resume" in capsys.readouterr().err  # an earlier run is kept, and the way to continue it is said
    assert (run / "run" / "model" / "weights.safetensors").read_bytes() == finished
    rows = run / "test.csv"
    kept = rows.read_bytes()
    assert main(["predict", str(run / "run"), str(rows), "--out", str(rows)]) == 2
    assert "is the data file itself" in capsys.readouterr().err and rows.read_bytes() == kept
    assert main(["predict", str(run / "run"), str(rows), "--out", str(tmp_path / "no" / "such" / "p.csv")]) == 2
    error = capsys.readouterr().err
    assert str(tmp_path / "no" / "such") in error and "Traceback" not in error
    data = run / "train.csv"  # an existing table of other columns is kept; earlier predictions may be replaced
    kept = data.read_bytes()
    assert main(["predict", str(run / "run"), str(rows), "--out", str(data)]) == 2
    assert "writing would replace it" in capsys.readouterr().err and data.read_bytes() == kept
    again = tmp_path / "again.csv"
    assert main(["predict", str(run / "run"), str(rows), "--out", str(again)]) == 0
    assert main(["predict", str(run / "run"), str(rows), "--out", str(again)]) == 0
    parquet = tmp_path / "p.parquet"  # CSV text under a Parquet name would be read back as Parquet, and fail
    assert main(["predict", str(run / "run"), str(rows), "--out", str(parquet)]) == 2
    assert "Name it .csv" in capsys.readouterr().err and not parquet.exists()


def test_a_resume_refuses_data_that_changed_since_the_run_began(tmp_path, capsys):
    data = tmp_path / "train.csv"
    make_table(rows=300).to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(["train", str(data), "--target", "y", "--out", str(out), "--epochs", "2", "--quiet"]) == 0
    (out / "report.html").unlink()  # as a run stopped before its report: a complete one is not resumed at all
    make_table(rows=300, seed=9).to_csv(data, index=False)
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert f"The data file {data.resolve()} changed since run" in capsys.readouterr().err


def test_the_demo_replaces_only_its_own_earlier_run(tmp_path):
    from lamina.config import Config
    from lamina.demo import clear_earlier_demo, write_demo_data

    train_file, _ = write_demo_data(tmp_path / "demo" / "data")
    (tmp_path / "demo" / "config.yaml").write_text(Config().with_overrides(path=str(train_file.resolve())).to_yaml())
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text(Config().to_yaml())
    clear_earlier_demo(tmp_path / "demo")
    clear_earlier_demo(other)
    assert not (tmp_path / "demo").exists() and (other / "config.yaml").exists()


def test_a_reader_that_leaves_early_ends_predict_quietly(run, tmp_path):
    """`lamina predict RUN DATA | head -1`: the reader closing the pipe is no error, so no traceback."""
    make_table(rows=5000, seed=9).to_csv(tmp_path / "many.csv", index=False)  # more than a pipe's 64 KiB buffer
    command = [sys.executable, "-m", "lamina.cli", "predict", str(run / "run"), str(tmp_path / "many.csv")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        first = process.stdout.readline()
        process.stdout.close()  # as `head -1` does once it has its line
        error = process.stderr.read().decode()
        code = process.wait(timeout=120)
    assert first.startswith(b"prediction,")
    assert code == 141 and "Traceback" not in error and "BrokenPipe" not in error, error


def test_the_summary_metrics_table_keeps_its_columns_aligned_for_long_metric_names():
    from lamina.tasks.table import metrics_text

    text = metrics_text({"accuracy": 0.9, "log_loss_uncalibrated": 0.1}, {"accuracy": 0.5}, 114)
    header, *rows = text.strip("\n").splitlines()
    model_ends = header.index("model") + len("model")
    assert all(len(line.split("   (")[0]) - len(" baseline ") - 1 == model_ends for line in rows), text


def test_check_takes_the_date_order_and_refuses_a_value_it_cannot_read(tmp_path, capsys):
    rows = pd.DataFrame({"when": ["01/02/2020", "03/04/2021", "02/13/2020"] * 5, "y": [1.0, 2.0, 3.0] * 5})
    rows.to_csv(tmp_path / "d.csv", index=False)
    assert main(["check", str(tmp_path / "d.csv"), "--target", "y"]) == 0
    assert "reads its dates month first (01/02/2020 is 2 January): '02/13/2020' in row 4" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "d.csv"), "--target", "y", "--date-order", "day_first"]) == 2
    assert "Column 'when', row 4 (counting the header as row 1): '02/13/2020' can only be read month first" in capsys.readouterr().err


def _refusal(args: list[str], capsys) -> str:
    """The one error line `lamina ARGS` ends with (exit 2)."""
    assert main(args) == 2, args
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    return error


@pytest.mark.parametrize("change, flags, said", [
    (None, ["--column", "y=number"], "Column 'y' is both a target and declared as an input (--column y=number)"),
    ("date", [], "Column 'when', row 90 (counting the header as row 1): 'someday' is not a date"),
    ("word", ["--column", "count=number"], "Column 'count' holds numbers but 1 value(s) are not numbers, first "
                                           "'many' at row 90"),
    (None, ["--season", "7"], "--season (data.season) is a setting of the forecast task, and this run's task is "
                                "classification"),
])
def test_check_refuses_what_train_refuses_in_the_same_words(tmp_path, capsys, change, flags, said):
    """check said nothing where train then refused the data and flags: a target given a kind, a date or a number
    that cannot be read (train stopped at fitting the encoders, or at scoring a test row after training)."""
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d"),
                          "count": [str(i % 7) for i in range(100)], "y": ["a", "b"] * 50})
    if change == "date":
        frame.loc[88, "when"] = "someday"  # 1 in 100: the column still reads as dates
    elif change == "word":
        frame.loc[88, "count"] = "many"
    frame.to_csv(tmp_path / "t.csv", index=False)
    checked = _refusal(["check", str(tmp_path / "t.csv"), "--target", "y", *flags], capsys)
    trained = _refusal(["train", str(tmp_path / "t.csv"), "--target", "y", *flags, "--out", str(tmp_path / "run"),
                        *FAST_FLAGS], capsys)
    assert said in checked and checked == trained
    assert not (tmp_path / "run").exists(), "refused before the run folder is made"


@pytest.mark.parametrize("data, flags", [
    ("table", ["--season", "7"]), ("table", ["--lookback", "12"]), ("table", ["--valid-steps", "5"]),
    ("table", ["--users", "users.csv"]), ("table", ["--rating", "x"]), ("table", ["--source", "x"]),
    ("series", ["--norm", "layer"]), ("series", ["--members", "2"]), ("series", ["--valid-fraction", "0.2"]),
    ("ratings", ["--season", "7"]), ("ratings", ["--split", "scaffold"]),
])
def test_a_flag_of_another_task_is_refused_naming_the_flag_the_task_and_the_fix(tmp_path, capsys, data, flags):
    """--season on a table of classes, --norm on a forecast...: accepted, and ignored while the user believed it
    took effect."""
    from lamina.tasks.base import TASK_SETTINGS, setting_named

    tables = {"table": (make_table(rows=60), ["--target", "y"]),
              "series": (pd.DataFrame({"day": pd.date_range("2021-01-01", periods=80).strftime("%Y-%m-%d"),
                                       "sales": range(80)}), ["--target", "sales", "--time", "day", "--horizon", "7"]),
              "ratings": (pd.DataFrame({"user": [i % 12 for i in range(240)], "item": [i % 17 for i in range(240)],
                                        "rating": [1 + i % 5 for i in range(240)]}), ["--task", "recommend"])}
    frame, task_flags = tables[data]
    frame.to_csv(tmp_path / "d.csv", index=False)
    error = _refusal(["train", str(tmp_path / "d.csv"), *task_flags, *flags, "--out", str(tmp_path / "run"),
                      *FAST_FLAGS], capsys)
    task = {"table": "classification", "series": "forecast", "ratings": "recommend"}[data]
    [named] = [setting_named(key) for key, (_, flag) in TASK_SETTINGS.items() if flag == flags[0]]
    assert error.startswith(f"error: {named} is a setting of ") and f"this run's task is {task}: it would be " \
        f"ignored. Drop {named}" in error, error
    assert not (tmp_path / "run").exists()


def test_check_of_interactions_without_a_target_says_how_to_read_them_as_a_recommender(tmp_path, capsys):
    """check (and train) advised --target only: the table is a recommender's, which --task recommend infers."""
    pd.DataFrame({"user_id": [i % 12 for i in range(240)], "movie": [i % 17 for i in range(240)],
                  "stars": [1 + i % 5 for i in range(240)]}).to_csv(tmp_path / "ratings.csv", index=False)
    for command in ("check", "train"):
        error = _refusal([command, str(tmp_path / "ratings.csv")], capsys)
        assert "reads as interactions (users 'user_id', items 'movie', ratings 'stars')" in error
        assert "give --task recommend (or --user user_id --item movie)" in error and "--target COL" in error
    assert main(["check", str(tmp_path / "ratings.csv"), "--task", "recommend"]) == 0
    assert "task recommend" in capsys.readouterr().out
    pd.DataFrame({"a": range(30), "b": range(30)}).to_csv(tmp_path / "plain.csv", index=False)
    assert "interactions" not in _refusal(["check", str(tmp_path / "plain.csv")], capsys)


def _options(parser: argparse.ArgumentParser, command: str) -> dict[str, argparse.Action]:
    """The options of `lamina COMMAND` by flag."""
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {flag: action for action in commands.choices[command]._actions for flag in action.option_strings}


def test_check_and_tune_take_the_data_flags_of_train_and_date_order_is_one_definition():
    from lamina.cli import DATA_FLAGS, PAIR_FILE_FLAGS, TRAIN_SETTINGS

    parser = build_parser()
    train, check, tune = (_options(parser, name) for name in ("train", "check", "tune"))
    assert DATA_FLAGS <= set(train), "every data flag is one of train's"
    assert DATA_FLAGS | {"--column", "--date-order", "--target", "--config"} <= set(check)
    assert (DATA_FLAGS - PAIR_FILE_FLAGS) | {"--date-order"} <= set(tune)
    for flag, key, _, _ in TRAIN_SETTINGS:  # each reaches the config under its key
        assert train[flag].dest == key and (flag not in check or check[flag].dest == key), flag
    choices = {name: tuple(_options(parser, name)["--date-order"].choices or ()) for name in
               ("train", "forecast", "check", "tune")}
    assert set(choices.values()) == {("auto", "day_first", "month_first")}, choices


def test_check_reads_the_data_as_train_would_and_its_advice_names_flags_it_takes(tmp_path, capsys):
    check = _options(build_parser(), "check")
    days = pd.date_range("2021-01-01", periods=60).strftime("%Y-%m-%d")
    pd.DataFrame({"day": days, "sales": range(60)}).to_csv(tmp_path / "series.csv", index=False)
    ratings = pd.DataFrame({"who": [i % 12 for i in range(240)], "what": [i % 17 for i in range(240)],
                            "stars": [1 + i % 5 for i in range(240)]})
    ratings.to_csv(tmp_path / "ratings.csv", index=False)
    for arguments in (["series.csv", "--task", "forecast", "--target", "sales"], ["ratings.csv", "--task", "recommend"]):
        assert main(["check", str(tmp_path / arguments[0]), *arguments[1:]]) == 2
        advised = set(re.findall(r"--[a-z][a-z-]+", capsys.readouterr().err))
        assert advised and advised <= set(check), advised
    assert main(["check", str(tmp_path / "series.csv"), "--task", "forecast", "--target", "sales", "--time", "day",
                 "--horizon", "7"]) == 0
    said = capsys.readouterr().out  # the series as forecasting reads it: step, season, split by time, windows
    assert "task forecast" in said and "step D (a pandas frequency), season 7 steps; targets sales" in said
    # 15% of 60 steps (9) validate and 9 test; the history is half of the 42 − 7 steps a window can span
    assert ("split by time: 60 time steps (1 series), the first 42 train, 9 from 2021-02-12 validate, 9 from "
            "2021-02-21 test; each forecast reads 17 steps to predict 7") in said, said
    assert main(["check", str(tmp_path / "ratings.csv"), "--task", "recommend", "--user", "who", "--item", "what",
                 "--rating", "stars"]) == 0
    said = capsys.readouterr().out
    assert "task recommend" in said and "interactions: 12 users ('who'), 17 items ('what'); ratings 'stars' from 1 " \
        "to 5" in said, said
    sizes = re.search(r"split per user, random: (\d+) interactions train, (\d+) validate, (\d+) test", said)
    assert sizes and sum(map(int, sizes.groups())) == len(ratings.drop_duplicates(["who", "what"])), said
    (tmp_path / "a.en").write_text("".join(f"sentence number {i}\n" for i in range(12)))
    (tmp_path / "a.de").write_text("".join(f"Satz Nummer {i}\n" for i in range(12)))
    assert main(["check", "--task", "translate", "--source-file", str(tmp_path / "a.en"), "--target-file",
                 str(tmp_path / "a.de"), "--source", "en", "--target", "de"]) == 0
    assert f"{tmp_path / 'a.en'} and {tmp_path / 'a.de'}: 12 rows, 2 columns" in capsys.readouterr().out
    assert main(["check"]) == 2
    assert "Give the data to check" in capsys.readouterr().err


def test_a_model_no_better_than_its_baseline_is_warned_in_the_terminal_and_the_report(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(3)
    for name, sign in (("train", 1), ("test", -1)):  # the test rows hold the opposite of what training taught
        a = rng.normal(size=400)
        pd.DataFrame({"a": a, "b": rng.normal(size=400), "y": np.where(sign * a > 0, "yes", "no")}).to_csv(
            tmp_path / f"{name}.csv", index=False)
    assert main(["train", str(tmp_path / "train.csv"), "--target", "y", "--test", str(tmp_path / "test.csv"),
                 "--out", str(tmp_path / "run"), *FAST_FLAGS]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    ours, theirs = metrics["test"]["log_loss"], metrics["baseline"]["log_loss"]
    assert ours >= theirs, "the premise: the model did not beat the baseline"
    said = f"The model is no better than the trivial baseline: test log_loss {ours:.4f} against {theirs:.4f}"
    printed = capsys.readouterr().out
    assert f"\nwarning: {said}" in printed and "too few epochs (4 run)" in printed
    assert said in (tmp_path / "run" / "report.html").read_text()


def test_the_baseline_warning_leads_with_the_causes_the_run_shows():
    from lamina.evaluation.baseline import baseline_warning

    metrics = {"test": {"roc_auc": 0.371, "log_loss": 0.566}, "baseline": {"roc_auc": 0.5, "log_loss": 0.519}}
    private = {"epochs_run": 3, "stop_reason": "all 3 epochs done",
               "privacy": {"epsilon": 2.9, "delta": 1e-5, "accountant": "rdp", "noise_multiplier": 1.7}}
    warning = baseline_warning(metrics, "log_loss", private)
    assert warning.index("too much privacy noise (ε = 2.9") < warning.index("no signal in the features")
    assert "epochs" not in warning  # under a fixed ε more epochs add noise a step: no advice to raise them
    plain = baseline_warning(metrics, "log_loss", {"epochs_run": 3})
    assert "privacy" not in plain and plain.index("too few epochs (3 run)") < plain.index("no signal")
    assert "time budget" in baseline_warning(metrics, "log_loss", {"stop_reason": "time budget of 60s reached"})
    assert baseline_warning(metrics, "roc_auc", private).startswith("The model is no better than the trivial "
                                                                    "baseline: test roc_auc 0.3710 against 0.5000")
    several = {"test": {"r2": 0.45}, "baseline": {"r2": -0.01}, "targets": {  # the mean beats the baseline
        "y": {"rows": 30, "test": {"r2": 0.91}, "baseline": {"r2": -0.01}},
        "y2": {"rows": 30, "test": {"r2": -0.0114}, "baseline": {"r2": -0.0082}},
        "kind": {"rows": 30, "test": {"log_loss": 0.3, "r2": 9.0}, "baseline": {"log_loss": 0.69}}}}
    warned = baseline_warning(several, None, {})
    assert "target 'y2': test r2 -0.0114 against -0.0082" in warned and "'y':" not in warned and "'kind'" not in warned
    better = {"test": {"log_loss": 0.4}, "baseline": {"log_loss": 0.519}}
    assert baseline_warning(better, "log_loss", private) is None and baseline_warning(metrics, None, {}) is None


def test_a_flag_is_written_whole_not_guessed_from_a_prefix(tmp_path, capsys):
    """`lamina check --test t.csv` was read as a prefix of --test-fraction and --test-steps ('ambiguous option')."""
    make_table(40).to_csv(tmp_path / "t.csv", index=False)
    for abbreviated in (["--test-frac", "0.2"], ["--test", str(tmp_path / "t.csv")]):
        with pytest.raises(SystemExit) as stopped:
            main(["check", str(tmp_path / "t.csv"), "--target", "y", *abbreviated])
        assert stopped.value.code == 2
        assert f"unrecognized arguments: {abbreviated[0]}" in capsys.readouterr().err


def test_evaluate_says_how_many_rows_it_left_out_for_want_of_a_label(tmp_path, capsys, run):
    """One test row with an empty target cell: 'metrics on 99 rows' and not a word why."""
    rows = make_table(rows=60, seed=9)
    rows.loc[4, "y"] = None
    rows.to_csv(tmp_path / "blank.csv", index=False)
    assert main(["evaluate", str(run / "run"), str(tmp_path / "blank.csv")]) == 0
    out = capsys.readouterr().out
    assert "metrics on 59 rows" in out and "1 of the 60 rows were left out: they hold no label" in out, out


def test_a_report_of_a_damaged_metrics_file_reads_the_checked_model_and_a_damaged_model_is_refused(run, tmp_path,
                                                                                                   capsys):
    """A string for a number in metrics.json made `lamina report` end in a TypeError traceback: the page reads
    model.json's metrics, which loading checks."""
    import json
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run / "run", copy)
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics["test"]["log_loss"], metrics["baseline"] = "x", "oops"
    (copy / "metrics.json").write_text(json.dumps(metrics))
    assert main(["report", str(copy)]) == 0
    document = json.loads((copy / "model" / "model.json").read_text())
    document["metrics"]["test"]["log_loss"] = "x"
    (copy / "model" / "model.json").write_text(json.dumps(document))
    assert main(["report", str(copy)]) == 2
    error = capsys.readouterr().err
    assert "metrics" in error and "Traceback" not in error, error


@pytest.mark.parametrize("flags, why", [
    (["--image-size", "32"], "the data has no image column"), (["--flip", "yes"], "the data has no image column"),
    (["--cutout", "4"], "the data has no image column"), (["--crop-padding", "2"], "the data has no image column"),
    (["--freeze-backbone", "2"], "no backbone is transferred to hold fixed: it needs --init-from"),
    (["--adversarial-budget", "0.1"], "it bounds the attacks of adversarial training, and --adversarial is not set"),
    (["--label-smoothing", "0.1"], "the target is a quantity (regression)"),
    (["--test-fraction", "0.2", "--test", "TEST"], "the test rows are those of the test data given (--test"),
    (["--date-order", "day_first"], "the data has no date column"),
])
def test_a_table_setting_that_cannot_apply_to_this_data_is_refused_naming_it_why_and_the_fix(tmp_path, capsys, flags,
                                                                                               why):
    """--image-size on a table without images, --label-smoothing of a quantity, --test-fraction beside a test file...
    were accepted and ignored; refused before training, by `lamina check` in the same words where it takes the flag."""
    from lamina.cli import DATA_FLAGS
    from lamina.tasks.base import TASK_SETTINGS, setting_named

    frame = make_table(rows=80, task="regression").drop(columns=["day"])
    frame.to_csv(tmp_path / "t.csv", index=False)
    flags = [str(tmp_path / "t.csv") if flag == "TEST" else flag for flag in flags]
    [named] = [setting_named(key) for key, (_, flag) in TASK_SETTINGS.items() if flag == flags[0]]
    trained = _refusal(["train", str(tmp_path / "t.csv"), "--target", "y", *flags, "--out", str(tmp_path / "run"),
                        *FAST_FLAGS], capsys)
    assert trained.startswith(f"error: {named} cannot apply to this data: ") and f"{why}" in trained, trained
    assert trained.endswith(f". Drop {named}.\n") and not (tmp_path / "run").exists()
    if flags[0] in {*DATA_FLAGS, "--date-order"} and "--test" not in flags:  # check takes no test file
        assert _refusal(["check", str(tmp_path / "t.csv"), "--target", "y", *flags], capsys) == trained


def test_the_settings_that_apply_to_this_data_are_taken(tmp_path, capsys):
    """Not refused: each of those settings where it applies (a date order for a table with dates, label smoothing
    of classes, a budget beside --adversarial, --freeze-backbone beside --init-from), or left at auto."""
    from lamina.config import Config
    from lamina.tasks.base import task_for

    frame = make_table(rows=80)
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert main(["check", str(tmp_path / "t.csv"), "--target", "y", "--date-order", "day_first"]) == 0
    for given in ({"label_smoothing": 0.1}, {"adversarial": "pgd", "adversarial_budget": 0.1},
                  {"image_size": "auto", "flip": "auto", "cutout": "auto", "crop_padding": "auto"},
                  {"init_from": "elsewhere", "freeze_backbone": 2}, {"test_fraction": 0.2}):
        config = Config().with_overrides(target="y", **given)
        assert task_for(config, frame).prepare(config, frame, None).split is not None, given
