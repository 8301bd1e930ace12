import json

import numpy as np
import pandas as pd
import pytest

import lamina
from conftest import FAST, make_table
from lamina.cli import main
from lamina.serving.monitor import PSI_ALERT, drift_table, offline_drift
from lamina.serving.profile import summarize


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
    assert next(r for r in table if r.column == "skewed").psi > PSI_ALERT
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

    client = TestClient(create_app(find_models(run / "run")))
    records = shifted.drop(columns="y").head(200).to_dict(orient="records")
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
    assert {sum(c) for c in counts.values()} == {200}
    assert counts["colour"][3:] == [0, 0] and counts["comment"][1] == 200, "five words a comment"
    assert {row.column: row.test for row in drift_table(profile, counts)} == {
        "signal": "KS (binned)", "colour": "chi-squared", "day": "KS (binned)", "comment": "KS (binned)",
        "__prediction__": "chi-squared"}
