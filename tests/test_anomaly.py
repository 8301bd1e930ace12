"""Anomaly detection (--task anomaly): planted outliers are found, the threshold flags what it says, the label is
never an input, and the model predicts, serves, reloads and reports."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import lamina
from lamina.cli import main
from lamina.data.split import split_rows
from lamina.errors import LaminaError
from lamina.evaluation.threshold import Cost, best_threshold, contamination_threshold, parse_cost
from lamina.serving.server import create_app

ROWS, PLANTED = 600, 12
QUICK = {"epochs": 20, "patience": 20, "batch_size": 64, "width": 32, "lr": 1e-2}
LEVELS = {"x": 1.0, "y": 0.0, "z": -1.0}


def planted_table(seed: int = 0) -> pd.DataFrame:
    """b follows a and d follows c, except in PLANTED rows (the last ones) where both relations are broken;
    `label` marks them (1) and is noise to the rows' columns."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=ROWS)
    c = rng.choice(list(LEVELS), ROWS)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 0.1 * rng.normal(size=ROWS), "c": c,
                          "d": [LEVELS[v] for v in c] + 0.1 * rng.normal(size=ROWS), "e": rng.uniform(size=ROWS)})
    out = np.arange(ROWS - PLANTED, ROWS)
    frame.loc[out, "b"] = -2 * frame.loc[out, "a"] + rng.choice([-2.0, 2.0], PLANTED)
    frame.loc[out, "d"] = [LEVELS["z"] if v == "x" else LEVELS["x"] + 0.5 for v in frame.loc[out, "c"]]
    frame["label"] = 0
    frame.loc[out, "label"] = 1
    frame.loc[out[:3], "c"] = "<script>alert(1)</script>"  # reaches the report among the most anomalous rows
    return frame


@pytest.fixture(scope="module")
def unlabelled():
    frame = planted_table().drop(columns="label")
    return frame, lamina.fit(frame, None, task="anomaly", contamination=0.05, progress=False, **QUICK)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    frame = planted_table()
    run = tmp_path_factory.mktemp("anomaly") / "run"
    return frame, lamina.fit(frame, "label", task="anomaly", out=run, progress=False, **QUICK), run


def test_planted_outliers_get_the_top_scores(unlabelled):
    frame, model = unlabelled
    scores = model.predict(frame)["anomaly_score"].to_numpy()
    top = np.argsort(-scores, kind="stable")[:PLANTED]
    assert np.mean(top >= ROWS - PLANTED) >= 0.9  # precision@k, k = the planted rows


def test_contamination_flags_that_share_of_the_training_rows(unlabelled):
    frame, model = unlabelled
    split = split_rows(frame, None, "regression", 0.15, 0.15, seed=0)  # the task's own split of these rows
    flagged = model.predict(split.train)["is_anomaly"].mean()
    assert 0.04 <= flagged <= 0.06
    assert model.task.decision_["rule"] == "contamination"
    assert "flags 0.05 of the training rows" in model.task.summary(model)


def test_the_label_is_no_input_and_picks_the_threshold(labelled):
    frame, model, _ = labelled
    assert "label" not in [c.name for c in model.task.schema_.features]
    scores = model.predict(frame)["anomaly_score"].to_numpy()
    shuffled = frame.assign(label=np.random.default_rng(1).permutation(frame["label"].to_numpy()))
    np.testing.assert_array_equal(model.predict(shuffled)["anomaly_score"].to_numpy(), scores)
    np.testing.assert_array_equal(model.predict(frame.drop(columns="label"))["anomaly_score"].to_numpy(), scores)
    assert model.task.decision_["rule"] == "f1" and model.task.labels_["positive"] == 1
    test = model.metrics["test"]
    assert test["pr_auc"] > 0.8 and test["pr_auc"] > model.metrics["baseline"]["pr_auc"] + 0.5


def test_the_prediction_names_the_columns_behind_a_flag(unlabelled):
    frame, model = unlabelled
    predictions = model.predict(frame)
    assert list(predictions.columns[-3:]) == ["anomaly_score", "is_anomaly", "top_columns"]
    assert predictions["anomaly_score"].between(0, 1).all()
    usual = frame.head(40)
    broken_b = usual.assign(b=-2 * usual["a"] + np.where(usual["a"] > 0, -2.0, 2.0))  # only a–b is broken
    broken_d = usual.assign(d=[LEVELS["z"] if v == "x" else LEVELS["x"] for v in usual["c"]])  # only c–d
    for rows, pair in ((broken_b, {"a", "b"}), (broken_d, {"c", "d"})):
        first = model.predict(rows)["top_columns"].str.split(" ").str[0]
        assert first.isin(pair).mean() >= 0.9


def test_a_saved_model_scores_the_same_and_serves_predict(labelled):
    frame, model, run = labelled
    loaded = lamina.load(run)
    rows = frame.drop(columns="label").tail(5)
    np.testing.assert_allclose(loaded.predict(rows)["anomaly_score"], model.predict(rows)["anomaly_score"])
    client = TestClient(create_app({"fraud": loaded}, monitor=False))
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in rows.to_dict(orient="records")]
    answer = client.post("/predict", json={"records": records})
    assert answer.status_code == 200
    served = [p["anomaly_score"] for p in answer.json()["predictions"]]
    np.testing.assert_allclose(served, model.predict(rows)["anomaly_score"], rtol=1e-6)
    assert client.post("/predict", json={"records": [{"a": 1}]}).status_code == 422
    assert client.get("/").status_code == 200 and client.get("/schema").json()["task"] == "anomaly"


def test_the_server_takes_a_record_or_records_as_a_table_model_does_and_tells_other_shapes(labelled, capsys):
    """A bare record is answered as the same record in {"records": [...]} (it drew 422 'Extra inputs' for every
    field); a list, a record where the records go or a misspelt wrapper draws one 422 naming both shapes; /schema's
    example (it was null) is such a body, answered."""
    from pydantic import create_model

    frame, _, run = labelled
    client = TestClient(create_app({"fraud": lamina.load(run)}, monitor=False))
    record = {k: (None if pd.isna(v) else v) for k, v in frame.drop(columns="label").iloc[0].items()}
    for path in ("/predict", "/models/fraud/predict"):
        alone, wrapped = client.post(path, json=record), client.post(path, json={"records": [record]})
        assert alone.status_code == wrapped.status_code == 200 and alone.json() == wrapped.json()
        for body in ([record], {"records": record}, {"rows": [record]}):
            answer = client.post(path, json=body)
            assert answer.status_code == 422
            assert answer.json()["error"].startswith('send a body of the form {"records": [{...}, ...]} or '
                                                     '{"a": ..., "b": ..., "c": ..., "d": ..., "e": ...}: ')
    wrong_value = client.post("/predict", json={"records": [{**record, "a": "many"}]}).json()["error"]
    assert "records.0.a" in wrong_value and "send a body" not in wrong_value  # the shape was right
    misspelt = client.post("/predict", json={**record, "ee": 1.0}).json()["error"]
    assert misspelt.startswith("ee: Extra inputs") and "send a body" not in misspelt  # a record: its field is named
    example = client.get("/schema").json()["example"]
    assert list(example["records"][0]) == ["a", "b", "c", "d", "e"]
    assert example["records"][0]["c"] in set(frame["c"])  # a value the model learnt, not a placeholder
    assert len(client.post("/predict", json=example).json()["predictions"]) == 1
    from lamina.serving.server import SHAPE_FIELDS, request_shape

    row = create_model("Row", x=(float, ...))  # every task's request says its shape alike (a forecast's history)
    assert request_shape(create_model("History", history=(list[row], ...))) == '{"history": [{...}, ...]}'
    assert request_shape(create_model("Users", users=(list[str], ...), k=(int, 10))) == '{"users": [...]}'
    assert request_shape(create_model("Generate", n=(int, 16))) == '{"n": ...}'
    wide = create_model("Wide", **{f"x{i}": (float, ...) for i in range(SHAPE_FIELDS + 3)})
    assert request_shape(wide).endswith(f'"x{SHAPE_FIELDS - 1}": ..., ...}}')  # GET /schema lists them all
    assert main(["info", str(run)]) == 0
    listed = capsys.readouterr().out.split("columns:\n")[1]  # as a classifier lists them (none were, once)
    assert [line.split()[:3] for line in listed.splitlines()[:6]] == [
        ["a", "number", "feature"], ["b", "number", "feature"], ["c", "category", "feature"],
        ["d", "number", "feature"], ["e", "number", "feature"], ["label", "category", "target"]]


def test_the_report_shows_curves_top_k_and_escaped_rows(labelled):
    _, _, run = labelled
    page = (run / "report.html").read_text()
    for heading in ("Anomaly scores (test)", "Precision at the top k (test)", "Most anomalous test rows"):
        assert heading in page
    assert "Precision-recall curve" in page and "ROC curve" in page
    assert "<script>alert" not in page
    metrics = json.loads((run / "metrics.json").read_text())  # the terminal's table, on the page too
    table = page[page.index("<h2>Test metrics</h2>"):page.index("Anomaly scores (test)")]
    for name in ("pr_auc", "precision", "recall", "f1", "flagged_share"):
        assert f"<td>{name}</td>" in table and f"{metrics['test'][name]:.4f}" in table
    assert "Learning curves" in table and "neither (a description)" in table


def test_a_cost_moves_the_threshold_the_right_way():
    labels = np.array([0, 0, 1, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    # Flagging ≥ 0.3 catches all 4 positives with 2 false alarms (F1 0.8); ≥ 0.7 catches 2 with none.
    assert best_threshold(labels, scores) == 0.3
    assert best_threshold(labels, scores, Cost(fn=10, fp=1)) == 0.3  # misses dear: cost 2, flag more
    assert best_threshold(labels, scores, Cost(fn=1, fp=10)) == 0.7  # false alarms dear: cost 2, flag fewer
    cuts = [best_threshold(labels, scores, Cost(fn=fn, fp=1)) for fn in (0.1, 0.6, 1.5, 10)]
    assert cuts == sorted(cuts, reverse=True) and cuts[0] > cuts[-1]
    # A false alarm dearer than missing every positive: flag nothing (a cut above every score).
    assert best_threshold(np.array([1, 0]), np.array([0.1, 0.9]), Cost(fn=1, fp=10)) > 0.9


def test_contamination_is_a_quantile_of_the_training_scores():
    scores = np.arange(100.0)
    assert (scores >= contamination_threshold(scores, 0.05)).sum() == 5


@pytest.mark.parametrize("flags, message", [
    (["--contamination", "0.7"], "contamination"),
    (["--target", "label", "--cost", "fn=10,fx=1"], "'fx=1' is not fn=NUMBER"),
    (["--cost", "fn=10,fp=1"], "--cost needs labels"),
])
def test_bad_settings_stop_with_a_clear_error(tmp_path, capsys, flags, message):
    path = tmp_path / "claims.csv"
    planted_table().head(200).to_csv(path, index=False)
    assert main(["train", str(path), "--task", "anomaly", "--out", str(tmp_path / "run"), "--quiet", *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_a_label_of_more_than_two_values_is_refused():
    frame = planted_table().head(200).assign(label=lambda f: np.arange(200) % 3)
    with pytest.raises(LaminaError, match="'label' must hold two values"):
        lamina.fit(frame, "label", task="anomaly", progress=False, epochs=1)


def test_the_anomaly_is_the_label_value_named_so_else_the_rarer_and_a_tie_is_refused():
    from lamina.tasks.anomaly import _labels

    def anomaly(values):
        return _labels(pd.Series(values), "label")["positive"]

    assert anomaly(["anomaly"] * 20 + ["normal"] * 20) == "anomaly"  # folders read in this order once gave 'normal'
    assert anomaly(["Defect"] * 30 + ["good"] * 10) == "Defect"  # its name says so, though it is the commoner
    assert anomaly(["cat"] * 30 + ["normal"] * 40) == "cat"  # beside 'normal'
    assert anomaly([0] * 30 + [1] * 3) == 1 and anomaly(["yes"] * 3 + ["no"] * 30) == "yes"  # the rarer
    with pytest.raises(LaminaError, match=r"'cat' and 'dog' 5 times each, so neither is the rarer"):
        anomaly(["cat", "dog"] * 5)


def test_a_cost_is_read_or_named_wrong():
    assert parse_cost("fn=10, fp=1") == Cost(10.0, 1.0)
    for text, part in (("fn=10", "needs both"), ("fn=ten,fp=1", "'ten'"), ("fn=-1,fp=1", "≥ 0")):
        with pytest.raises(LaminaError, match=part):
            parse_cost(text)


def test_lamina_predict_adds_the_scores_to_the_rows(labelled, tmp_path):
    frame, model, run = labelled
    rows = frame.drop(columns="label").tail(12)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(run), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "scored.csv")]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == [*rows.columns, "anomaly_score", "is_anomaly", "top_columns"]
    np.testing.assert_allclose(scored["anomaly_score"], model.predict(rows)["anomaly_score"], rtol=1e-6)


def test_a_convolutional_autoencoder_finds_the_odd_pictures(tmp_path):
    from PIL import Image

    from lamina import api
    from test_images import stripes

    rng = np.random.default_rng(0)
    for name, orientation, count in (("usual", "horizontal", 60), ("odd", "vertical", 6)):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(stripes(orientation, rng)).save(tmp_path / "pictures" / name / f"{i}.png")
    lamina.fit(tmp_path / "pictures", task="anomaly", out=tmp_path / "run", progress=False, epochs=8, width=8,
               lr=1e-2, batch_size=16)
    scored = api.predict(tmp_path / "run", tmp_path / "pictures")  # the class folders' label is no input
    top = scored.sort_values("anomaly_score", ascending=False).head(6)
    assert (top["label"] == "odd").all() and top["image"].str.contains("odd").all()


def test_a_flat_picture_folder_trains_and_class_folders_not_naming_anomalies_are_left_out(tmp_path, capsys):
    import json

    from PIL import Image

    from test_images import stripes

    rng = np.random.default_rng(1)
    for folder, count in (("flat", 45), ("zoo/cat", 15), ("zoo/dog", 15), ("zoo/bird", 15)):
        (tmp_path / folder).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(stripes("horizontal", rng, size=12)).save(tmp_path / folder / f"{i}.png")
    quick = ["--task", "anomaly", "--epochs", "1", "--width", "8", "--quiet"]
    # A flat test folder too: it was refused for having no class subfolders, where the training folder needs none.
    assert main(["train", str(tmp_path / "flat"), "--test", str(tmp_path / "zoo" / "cat"), "--out",
                 str(tmp_path / "flat-run"), *quick]) == 0
    assert json.loads((tmp_path / "flat-run" / "model" / "model.json").read_text())["training"]["sizes"]["test"] == 15
    assert main(["train", str(tmp_path / "zoo"), "--out", str(tmp_path / "zoo-run"), *quick]) == 0
    said = capsys.readouterr()
    assert "--target" not in said.err and "are not a normal/anomaly label" in said.out  # a warning, printed
    [note] = json.loads((tmp_path / "zoo-run" / "checks.json").read_text())
    assert note["code"] == "folder_classes_ignored" and "(bird, cat, dog: " in note["message"]
    model = lamina.load(tmp_path / "zoo-run")
    assert [c.name for c in model.task.schema_.features] == ["image"] and model.task.labels_ is None
    assert len(lamina.load(tmp_path / "flat-run").predict(str(tmp_path / "zoo"))) == 45
    np.savez(tmp_path / "digits.npz", x=rng.integers(0, 256, (45, 12, 12), dtype=np.uint8), y=np.arange(45) % 3)
    assert main(["train", str(tmp_path / "digits.npz"), "--out", str(tmp_path / "npz-run"), *quick]) == 0


def test_a_target_named_for_a_flat_picture_folder_is_refused_not_dropped(tmp_path, capsys):
    from PIL import Image

    from lamina import api
    from test_images import stripes

    rng = np.random.default_rng(2)
    (tmp_path / "flat").mkdir()
    for i in range(45):
        Image.fromarray(stripes("horizontal", rng, size=12)).save(tmp_path / "flat" / f"{i}.png")
    # The user's --target label was once dropped, and the model trained as if no target were given.
    assert main(["train", str(tmp_path / "flat"), "--task", "anomaly", "--target", "label", "--epochs", "1",
                 "--quiet", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "target 'label'" in error and "no column 'label'" in error and "Leave --target out" in error
    assert "subfolder per class" in error and not (tmp_path / "run").exists()
    with pytest.raises(LaminaError, match="no column 'label'"):
        api.check(tmp_path / "flat", "label", {"data": {"task": "anomaly"}})
    api.check(tmp_path / "flat", None, {"data": {"task": "anomaly"}})  # the folder's own, implied label is no fault
    # A target named in a config file is the user's too: Python's fit and check dropped it, tune ignored both.
    named = {"data": {"task": "anomaly", "target": "foo"}}
    with pytest.raises(LaminaError, match="no column 'foo'"):
        api.check(tmp_path / "flat", None, named)
    with pytest.raises(LaminaError, match="no column 'foo'"):
        lamina.fit(tmp_path / "flat", config=named, epochs=1, progress=False)
    from lamina import tuning

    with pytest.raises(LaminaError, match="no column 'label'"):
        tuning.create(tmp_path / "flat", "label", tmp_path / "study", config={"data": {"task": "anomaly"}})
    assert not (tmp_path / "study").exists()


def test_an_anomaly_folder_says_the_operating_system_files_it_ignored_as_a_table_task_does(tmp_path):
    from PIL import Image

    from lamina import api
    from test_images import stripes

    rng = np.random.default_rng(3)
    (tmp_path / "flat" / "__MACOSX").mkdir(parents=True)
    for i in range(40):
        Image.fromarray(stripes("horizontal", rng, size=12)).save(tmp_path / "flat" / f"{i}.png")
    (tmp_path / "flat" / "Thumbs.db").write_bytes(b"clutter")
    (tmp_path / "flat" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "flat" / "__MACOSX" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    frame, prepared, _ = api.check(tmp_path / "flat", None, {"data": {"task": "anomaly"}})
    [note] = [f.message for f in prepared.findings if f.code == "files_ignored"]  # none was said, once
    assert len(frame) == 40 and note.startswith("Ignored 3 operating-system file(s)")
    assert all(name in note for name in (".DS_Store", "Thumbs.db", "__MACOSX/"))


@pytest.mark.parametrize("flag", [["--cost", "fn=10,fp=1"], ["--contamination", "0.1"], ["--normal-only"]])
def test_decision_settings_given_to_a_task_that_ignores_them_stop_the_run(tmp_path, capsys, flag):
    rng = np.random.default_rng(0)
    pd.DataFrame({"x": rng.normal(size=60), "y": rng.normal(size=60)}).to_csv(tmp_path / "r.csv", index=False)
    assert main(["train", str(tmp_path / "r.csv"), "--target", "y", "--quiet", *flag]) == 2
    error = capsys.readouterr().err
    assert f"{flag[0]} (data." in error and "is a setting of the" in error and "anomaly" in error and "this run's task is regression" in error


def test_the_threshold_line_says_when_contamination_is_the_default():
    from lamina.evaluation.threshold import describe

    assert "(default --contamination)" in describe({"rule": "contamination", "contamination": 0.05, "default": True, "threshold": 1.0})
    assert "(--contamination)" in describe({"rule": "contamination", "contamination": 0.1, "default": False, "threshold": 1.0})


def test_what_only_classifiers_and_regressors_do_is_refused_naming_an_anomaly_model(labelled, capsys):
    from lamina.cli import main

    frame, model, run = labelled
    for refused in (lambda: model.predict_proba(frame), lambda: model.explain(frame.head(2))):
        with pytest.raises(LaminaError, match="this is an anomaly model"):
            refused()
    assert main(["card", str(run)]) == 2
    assert "holds an anomaly model" in capsys.readouterr().err


def test_a_number_far_outside_the_training_range_is_flagged_by_that_column():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"amount": rng.normal(100, 15, 240), "items": rng.integers(1, 6, 240),
                          "region": rng.choice(["north", "south"], 240)})
    model = lamina.fit(frame, task="anomaly", epochs=3, progress=False)
    knots = model.task.features_.encoders["amount"].knots_  # the training rows' values, smallest to largest
    inside = frame[frame["amount"].between(knots[0], knots[-1])]
    assert len(inside) > 0.7 * len(frame) and not model.task.range_errors(inside).any()  # the training rows' scale
    odd = pd.DataFrame({"amount": [100.0, 1e6, -1e6, np.nan], "items": [3, 3, 3, 3], "region": ["north"] * 4})
    found = model.predict(odd)
    # Ranks read every value past the largest as the largest: 10⁶ once scored as 150 did, and was not flagged.
    assert found["is_anomaly"].tolist() == [False, True, True, False]
    assert found["top_columns"].iloc[1].startswith("amount") and found["top_columns"].iloc[2].startswith("amount")
    assert found["anomaly_score"].iloc[1] == 1.0 > found["anomaly_score"].iloc[0]
    far = model.predict(odd.assign(amount=[1e30] * 4))["top_columns"].iloc[0]  # its multiple printed 60 digits
    assert re.fullmatch(r"amount \(\d\.\d\de\+\d+×\), .*", far), far


def test_lamina_evaluate_scores_a_labelled_anomaly_model_as_python_does(labelled, tmp_path, capsys):
    import json

    frame, model, run = labelled
    frame.to_csv(tmp_path / "rows.csv", index=False)
    capsys.readouterr()
    assert main(["evaluate", str(run), str(tmp_path / "rows.csv"), "--json"]) == 0  # it refused every anomaly model
    shown = json.loads(capsys.readouterr().out)
    assert shown == json.loads(json.dumps(model.evaluate(frame))) and shown["rows"] == len(frame)
    assert main(["evaluate", str(run), str(tmp_path / "rows.csv")]) == 0
    text = capsys.readouterr().out
    [flagged] = [line for line in text.splitlines() if "flagged_share" in line]
    assert "pr_auc" in text and "better" not in flagged  # a description of the answers, not a score


@pytest.mark.parametrize("chosen", [["--task", "anomaly"], ["--config", "{config}"]])
def test_check_names_the_anomaly_task_and_counts_the_rows_it_uses(tmp_path, capsys, chosen):
    """`lamina check` of an anomaly run says the anomaly task (its label's schema says binary, which is no task it
    trains) and counts the rows it will use: rows without a label and files it cannot read are left out."""
    from PIL import Image

    from test_images import stripes

    (tmp_path / "anomaly.yaml").write_text("data:\n  task: anomaly\n")
    chosen = [word.format(config=tmp_path / "anomaly.yaml") for word in chosen]
    frame = planted_table().tail(100).reset_index(drop=True).astype({"label": object})  # planted rows last
    frame.loc[[3, 8, 40], "label"] = None
    frame.to_csv(tmp_path / "claims.csv", index=False)
    assert main(["check", str(tmp_path / "claims.csv"), "--target", "label", *chosen]) == 0
    out = capsys.readouterr().out
    assert "97 of 100 rows used" in out and "\ntask anomaly, target 'label'\n" in out
    assert "3 row(s) have no value in label 'label'; they are left out (first at row 5)" in out
    rng = np.random.default_rng(0)
    (tmp_path / "flat").mkdir()
    for i in range(30):
        Image.fromarray(stripes("horizontal", rng, size=12)).save(tmp_path / "flat" / f"{i}.png")
    (tmp_path / "flat" / "broken.png").write_bytes(b"not a picture")
    assert main(["check", str(tmp_path / "flat"), *chosen]) == 0
    out = capsys.readouterr().out
    assert "30 of 31 rows used" in out and "\ntask anomaly\n" in out and "broken.png" in out


def test_the_schema_example_is_a_typical_record_the_model_does_not_flag():
    """/schema's example took a category's first value in sorted order, a generic date (2024-01-01) and medians:
    flagged as an anomaly by a model trained on other values (score 0.95-1.0). It is each column's typical
    training value: the most common category, a date of the training years, the median."""
    rng = np.random.default_rng(4)
    rows = 400
    frame = pd.DataFrame({
        "city": rng.choice(["Aarau", "Basel", "Zurich"], rows, p=[0.05, 0.05, 0.9]),
        "amount": rng.normal(100, 10, rows),
        "when": (pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D")).strftime("%Y-%m-%d"),
    })
    model = lamina.fit(frame, None, task="anomaly", contamination=0.05, progress=False, **QUICK)
    record = TestClient(create_app({"m": model}, monitor=False)).get("/schema").json()["example"]["records"][0]
    off = abs(pd.Timestamp(record["when"]) - pd.to_datetime(frame["when"]).median())  # the training rows' median
    assert record["city"] == "Zurich" and off < pd.Timedelta(days=20) and 95 < record["amount"] < 105
    assert not model.predict(pd.DataFrame([record]))["is_anomaly"].iloc[0]


def test_a_category_s_most_common_value_is_the_pooled_one_and_old_models_keep_their_first():
    from lamina.features.category import CategoryEncoder, state_of

    counts = pd.Series({"b": 5, "a": 5, "c": 1, "d": 2})
    assert state_of(counts) == {"vocabulary": ["a", "b", "d"], "most_common": "a"}  # a tie: the first sorted
    assert CategoryEncoder("x").fit(pd.Series(["c", "b", "b", "a", "b", "a"])).typical() == "b"
    assert CategoryEncoder("x").load_state({"vocabulary": ["p", "q"]}).typical() == "p"  # saved before it was kept


def test_a_date_column_s_typical_value_is_its_median_and_old_models_keep_the_middle_of_their_year():
    """The middle of the mean training year fell at the edge of dates from January to mid-July 2020 (July 1):
    an anomaly model's top reason to flag the example."""
    from lamina.features.datetime import DatetimeEncoder

    dates = pd.Series(pd.date_range("2020-01-01", "2020-07-18", freq="D").strftime("%Y-%m-%d"))
    encoder = DatetimeEncoder("d").fit(dates)
    assert encoder.typical() == "2020-04-10"  # the 101st of 200 days
    old = {key: value for key, value in encoder.state().items() if key != "median"}  # saved before it was kept
    assert DatetimeEncoder("d").load_state(old).typical() == "2020-07-01"


def test_serving_an_anomaly_model_records_nothing_and_says_so(labelled):
    """`lamina serve` said "request summaries recorded for `lamina monitor`" and made monitor.sqlite for an
    anomaly model, which `lamina monitor` refuses (no training profile): only row models are watched."""
    from lamina import api
    from lamina.serving.monitor import database_of

    frame, _, run = labelled
    app, names, recorded = api.serving_app(run)
    with TestClient(app) as client:
        record = {k: (None if pd.isna(v) else v) for k, v in frame.drop(columns="label").iloc[0].items()}
        assert client.post("/predict", json=record).status_code == 200
    assert names == ["run"] and recorded == [] and not database_of(lamina.load(run)).exists()


def test_a_date_it_cannot_read_is_refused_by_check_as_by_train_before_training(tmp_path, capsys):
    """check said nothing, and train stopped only at fitting the autoencoder's encoders."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=80), "when": pd.date_range("2024-01-01", periods=80).strftime("%Y-%m-%d")})
    frame.loc[70, "when"] = "someday"  # 1 in 80: the column still reads as dates
    frame.to_csv(tmp_path / "d.csv", index=False)
    errors = []
    for command in (["check"], ["train", "--out", str(tmp_path / "run"), "--quiet"]):
        assert main([command[0], str(tmp_path / "d.csv"), "--task", "anomaly", *command[1:]]) == 2
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1] and "Column 'when', row 72 (counting the header as row 1): 'someday' is not a date" \
        in errors[0]
    assert not (tmp_path / "run").exists()
