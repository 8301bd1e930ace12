import json

import numpy as np
import pandas as pd
import pytest

import lamina
from conftest import FAST, make_table
from lamina.cli import main
from lamina.serving.monitor import (
    MIN_ROWS,
    P_VALUE,
    PSI_MIN,
    drift_page,
    drift_table,
    drift_text,
    offline_drift,
)
from lamina.serving.profile import build_profile, summarize


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    make_table(rows=600).to_csv(folder / "train.csv", index=False)
    assert main(["train", str(folder / "train.csv"), "--target", "y", "--out", str(folder / "run"),
                 "--epochs", "4", "--width", "32", "--quiet"]) == 0
    return folder


def test_text_sequence_models_are_refused_by_the_onnx_export(tmp_path):
    model = lamina.fit(make_table(rows=200), target="y", epochs=1, arch="gru", progress=False)
    assert model.architecture["arch"] == "gru"
    model.save(tmp_path / "model")
    with pytest.raises(lamina.LaminaError, match="lamina serve"):
        from lamina.serving.export import export_onnx

        export_onnx(model, tmp_path / "model", make_table(rows=5))


def test_onnx_export_matches_pytorch_and_predicts(run, capsys):
    assert main(["export", str(run / "run"), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    difference = float(out.split("PyTorch| on ")[1].split(": ")[1])
    assert difference < 1e-4
    assert (run / "run" / "model" / "model.onnx").exists()
    rows = make_table(rows=300, seed=12)
    rows.loc[0, "colour"] = "never-seen"
    model = lamina.load(run / "run")
    eager, onnx = model.predict(rows), model.predict(rows, engine="onnx")
    assert (eager["prediction"] == onnx["prediction"]).all()
    assert np.abs(eager["proba_yes"] - onnx["proba_yes"]).max() < 1e-5
    rows.to_csv(run / "rows.csv", index=False)
    assert main(["predict", str(run / "run"), str(run / "rows.csv"), "--engine", "onnx",
                 "--out", str(run / "p.csv")]) == 0
    assert pd.read_csv(run / "p.csv")["prediction"].tolist() == eager["prediction"].tolist()


def test_predicting_with_onnx_before_export_says_how(tmp_path):
    model = lamina.fit(make_table(rows=200), target="y", progress=False, **FAST)
    model.save(tmp_path / "m")
    with pytest.raises(lamina.LaminaError, match="lamina export"):
        lamina.load(tmp_path / "m").predict(make_table(rows=3), engine="onnx")


def test_offline_drift_flags_a_moved_column_and_not_a_fresh_sample(run):
    model = lamina.load(run / "run")
    reference = make_table(rows=800, seed=20)
    moved = make_table(rows=800, seed=21)
    moved["skewed"] = moved["skewed"] * 8
    table, _, _ = offline_drift(model, reference, moved)
    flagged = {row.column for row in table if row.flagged}
    assert "skewed" in flagged and "colour" not in flagged
    assert next(r for r in table if r.column == "skewed").psi > PSI_MIN
    same_table, _, _ = offline_drift(model, reference, make_table(rows=800, seed=22))
    assert not [row.column for row in same_table if row.flagged]


def test_monitor_cli_offline_and_from_served_requests(run, capsys):
    reference, current = run / "reference.csv", run / "current.csv"
    make_table(rows=500, seed=30).to_csv(reference, index=False)
    shifted = make_table(rows=500, seed=31)
    shifted["colour"] = "red"
    shifted.to_csv(current, index=False)
    assert main(["monitor", str(run / "run"), "--reference", str(reference), "--current", str(current)]) == 0
    out = capsys.readouterr().out
    colour_line = next(line for line in out.splitlines() if line.startswith("colour"))
    assert colour_line.rstrip().endswith("DRIFT")
    assert "DRIFT" in (run / "run" / "drift.html").read_text()
    numbers = {row["column"]: row for row in json.loads((run / "run" / "drift.json").read_text())}
    assert numbers["colour"]["flagged"] and numbers["colour"]["test"] == "chi-squared"

    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app
    from lamina.serving.sources import find_models

    records = shifted.drop(columns="y").head(200).to_dict(orient="records")
    with TestClient(create_app(find_models(run / "run"))) as client:  # leaving it shuts down: summaries written
        for start in range(0, 200, 50):
            assert client.post("/predict", json={"records": records[start:start + 50]}).status_code == 200
    assert main(["monitor", str(run / "run"), "--window", "1h", "--out", str(run / "served.html")]) == 0
    out = capsys.readouterr().out
    assert next(line for line in out.splitlines() if line.startswith("colour")).rstrip().endswith("DRIFT")


def test_a_profile_saved_by_an_earlier_version_still_bins_new_rows():
    """Each entry names the drift summary that made it ("kind"); these four are what lamina has always written."""
    profile = {"rows": 100, "columns": {
        "signal": {"kind": "number", "edges": [-0.5, 0.0, 0.5], "expected": [0.3, 0.2, 0.2, 0.3, 0.0]},
        "colour": {"kind": "category", "categories": ["blue", "green", "red"], "expected": [0.3, 0.3, 0.4, 0, 0]},
        "day": {"kind": "datetime", "edges": [19800.0], "expected": [0.5, 0.5, 0.0]},
        "comment": {"kind": "text", "edges": [5, 10, 20, 50, 100, 200, 500], "expected": [0, 1, 0, 0, 0, 0, 0, 0, 0]},
    }, "prediction": {"kind": "category", "categories": ["no", "yes"], "expected": [0.5, 0.5, 0.0, 0.0]}}
    rows = make_table(rows=200, seed=3)
    counts = summarize(profile, rows, rows["y"])
    assert {sum(c) for c in [*counts["columns"].values(), counts["prediction"]]} == {200}
    assert counts["columns"]["colour"][3:] == [0, 0] and counts["columns"]["comment"][1] == 200, "five words a comment"
    assert {row.column: row.test for row in drift_table(profile, counts)} == {
        "signal": "KS (binned)", "colour": "chi-squared", "day": "KS (binned)", "comment": "KS (binned)",
        None: "chi-squared"}


NUMBER_PROFILE = {"kind": "number", "edges": [-1.0, 0.0, 1.0], "expected": [0.25, 0.25, 0.25, 0.25, 0.0]}
CLASS_PROFILE = {"kind": "category", "categories": ["no", "yes"], "expected": [0.5, 0.5, 0.0, 0.0]}


def test_a_column_named_like_the_predictions_keeps_its_own_drift_row(tmp_path):
    profile = {"rows": 1000, "columns": {"__prediction__": NUMBER_PROFILE, "prediction": NUMBER_PROFILE},
               "prediction": CLASS_PROFILE}
    rows = pd.DataFrame({"__prediction__": np.full(80, 5.0), "prediction": np.full(80, -5.0)})
    counts = summarize(profile, rows, pd.Series(["yes"] * 80))
    table = {row.column: row for row in drift_table(profile, counts)}
    assert set(table) == {"__prediction__", "prediction", None}
    assert (table["__prediction__"].kind, table["__prediction__"].rows) == ("number", 80)
    assert counts["columns"]["__prediction__"] == [0, 0, 0, 80, 0] and counts["columns"]["prediction"] == [80, 0, 0, 0, 0]
    assert (table[None].kind, table[None].label) == ("category", "(prediction)")
    assert counts["prediction"] == [0, 80, 0, 0]
    assert all(row.flagged for row in table.values()), "every part moved wholly into one bin"
    page = drift_page(list(table.values()), profile, counts, "t")
    assert page.count("<h3>") == 3 and "<h3>(prediction) — " in page and "<h3>__prediction__ — " in page


def test_no_verdict_below_the_minimum_rows():
    profile = {"rows": 1000, "columns": {"signal": NUMBER_PROFILE}, "prediction": CLASS_PROFILE}
    few = pd.DataFrame({"signal": [5.0, 6.0, 7.0]})
    table = drift_table(profile, summarize(profile, few, pd.Series(["yes"] * 3)))
    assert [row.flagged for row in table] == [None, None]
    assert table[0].psi > 1, "PSI alone would have flagged three rows"
    text = drift_text(table)
    assert "0 of 0 flagged" not in text and "Nothing judged, so no drift verdict either way." in text
    too_few = f"too few rows (< {MIN_ROWS}) to tell drift from chance"
    assert f"not judged: signal: {too_few}" in text and f"not judged: (prediction): {too_few}" in text
    assert text.splitlines()[1].endswith("not judged")
    assert f"too few rows (&lt; {MIN_ROWS})" in drift_page(table, profile, summarize(profile, few, pd.Series(["yes"] * 3)), "t")
    enough = pd.DataFrame({"signal": np.full(MIN_ROWS, 5.0)})
    assert [row.flagged for row in drift_table(profile, summarize(profile, enough, pd.Series(["yes"] * MIN_ROWS)))] == [
        True, True]


def test_summaries_recorded_by_an_earlier_version_are_read(tmp_path):
    """Before the predictions had their own place, a summary kept them among the columns as "__prediction__"."""
    import sqlite3

    from lamina.serving.monitor import Recorder, recorded_counts

    profile = {"rows": 1000, "columns": {"signal": NUMBER_PROFILE}, "prediction": CLASS_PROFILE}
    recorder = Recorder(tmp_path / "monitor.sqlite")
    recorder.record("m", profile, pd.DataFrame({"signal": [0.5, 2.0]}), pd.Series(["no", "yes"]))
    recorder.close()  # written by the recorder's thread: close waits for it
    with sqlite3.connect(tmp_path / "monitor.sqlite") as db:
        db.execute("INSERT INTO requests (time, model, rows, summary) VALUES (strftime('%s'), 'm', 1, ?)",
                   (json.dumps({"signal": [1, 0, 0, 0, 0], "__prediction__": [1, 0, 0, 0]}),))
    assert recorded_counts(tmp_path / "monitor.sqlite") == {
        "rows": 3, "columns": {"signal": [1, 0, 1, 1, 0]}, "prediction": [2, 1, 0, 0]}


def shop(rows: int, seed: int, shares=(0.55, 0.3, 0.1, 0.04, 0.01)) -> pd.DataFrame:
    """A skewed category with rare values, a binary column, a number and an all-distinct ID."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "plan": rng.choice(["basic", "plus", "pro", "team", "gov"], rows, p=shares),
        "sex": rng.choice(["Male", "Female"], rows, p=[0.67, 0.33]),
        "spend": rng.lognormal(3, 1, rows),
        "zip": [f"{seed:02d}{i:06d}" for i in range(rows)],
    })


KINDS = {"plan": "category", "sex": "binary", "spend": "number", "zip": "category"}


def drift_of(reference: pd.DataFrame, current: pd.DataFrame) -> dict:
    profile = build_profile(reference, KINDS, reference["sex"], "binary")
    return {row.label: row for row in drift_table(profile, summarize(profile, current, current["sex"]))}


@pytest.mark.parametrize("seed", range(6))
def test_samples_of_one_distribution_are_not_flagged_even_with_unseen_rare_values(seed):
    """Reviewers' false alarms: two halves of one file flagged categories, because a value rare or unseen in
    training (2 rows of 200) met an expected count near zero; an all-distinct ID was flagged by PSI."""
    reference, current = shop(2000, seed), shop(200, seed + 100)
    current.loc[0, "sex"] = "Unknown"  # a value training never saw, in one row
    current.loc[1:2, "plan"] = "charity"
    table = drift_of(reference, current)
    assert not [label for label, row in table.items() if row.flagged], table
    assert table["sex"].kind == "binary", "the schema's kind, as `lamina info` shows it"
    assert table["zip"].flagged is None and table["zip"].unjudged.startswith("an ID (100% of training values distinct)")
    assert "not judged: zip: an ID" in drift_text(list(table.values()))


def test_a_real_shift_is_flagged_and_a_trivial_one_in_a_large_sample_is_not():
    reference = shop(20_000, 1)
    moved = drift_of(reference, shop(300, 2, shares=(0.25, 0.3, 0.3, 0.1, 0.05)))
    assert moved["plan"].flagged and moved["plan"].p_value < P_VALUE and moved["plan"].psi >= PSI_MIN
    assert not moved["sex"].flagged
    nudged = drift_of(reference, shop(20_000, 3, shares=(0.52, 0.31, 0.11, 0.045, 0.015)))
    assert nudged["plan"].p_value < P_VALUE, "significant with 20 000 rows a side"
    assert nudged["plan"].psi < PSI_MIN and not nudged["plan"].flagged, "but too small to matter"


def test_drift_counts_blanks_as_missing_and_numbers_as_the_codes_spelling_them():
    """As the encoder reads them: "" is an empty cell, and 8 sent as a number is the code "008"."""
    reference = pd.DataFrame({"code": np.resize(["008", "008", "008", "003", "003", "017"], 300)})
    profile = build_profile(reference, {"code": "category"}, reference["code"], "multiclass")
    assert profile["columns"]["code"]["categories"] == ["008", "003", "017"]
    current = pd.DataFrame({"code": [8, "3", 17.0, "", "  ", None, "x"]})
    assert summarize(profile, current, current["code"])["columns"]["code"] == [1, 1, 1, 1, 3]


def test_the_prediction_profile_of_a_large_training_set_comes_from_a_sample_and_keeps_the_row_count(monkeypatch):
    import lamina.tasks.table as table

    monkeypatch.setattr(table, "PROFILE_ROWS", 50)
    model = lamina.fit(make_table(rows=300), target="y", progress=False, **FAST)
    profile = model.profile
    assert profile["rows"] > 50  # every training row, as before
    shares = np.array(profile["prediction"]["expected"])
    assert 0 < shares.max() < 1  # both classes predicted: shares that are multiples of 1/50 are then telling
    assert np.allclose(shares * 50, np.round(shares * 50))  # shares of the 50 sampled rows' predictions
