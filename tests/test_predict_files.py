"""A prediction-time table file is read as the model learnt its columns: a column the model reads as text (a
category, text, a date, an identifier) keeps each cell's text, whatever this one file's values look like, so a
value predicts the same from a file of one row, of many rows, and from the server."""

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import lamina
from conftest import FAST
from lamina import api
from lamina.serving.server import create_app

CODES = ["1.50", "2.50", "3.75", "none"]  # category codes that look like numbers, as "none" keeps them text
PHRASES = ["great value would buy again", "poor quality arrived broken", "fine for the price overall"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier read from a CSV whose `code` is a category of number-like codes and `note` text."""
    folder = tmp_path_factory.mktemp("predict_files")
    rng = np.random.default_rng(5)
    code = rng.choice(CODES, 400)
    note = rng.choice(PHRASES, 400)
    noise = rng.normal(size=400)
    score = (code == "1.50") * 2.5 - (code == "3.75") * 1.0 + (note == PHRASES[0]) * 1.0 + 0.3 * noise
    frame = pd.DataFrame({"code": code, "note": note, "noise": noise, "y": np.where(score > 0.8, "yes", "no")})
    frame.to_csv(folder / "train.csv", index=False)
    model = lamina.fit(folder / "train.csv", target="y", out=folder / "run", progress=False, **FAST)
    assert {c.name: c.kind for c in model.schema.features} == {"code": "category", "note": "text", "noise": "number"}
    return folder


def test_a_number_like_category_predicts_the_same_from_one_row_as_from_many(trained):
    pd.DataFrame({"code": ["1.50"], "note": [PHRASES[1]], "noise": [0.0]}).to_csv(trained / "one.csv", index=False)
    pd.DataFrame({"code": ["1.50", "none"], "note": [PHRASES[1]] * 2, "noise": [0.0, 0.0]}).to_csv(
        trained / "many.csv", index=False)
    one = api.predict(trained / "run", trained / "one.csv")["proba_yes"].tolist()
    many = api.predict(trained / "run", trained / "many.csv")["proba_yes"].tolist()
    assert one == pytest.approx(many[:1], abs=1e-6)
    unknown = lamina.load(trained / "run").predict(pd.DataFrame({"code": ["9.99"], "note": [PHRASES[1]], "noise": [0.0]}))
    assert one[0] != pytest.approx(unknown["proba_yes"].iloc[0], abs=1e-4)  # 1.50 was read as the learnt code


def test_a_number_like_value_predicts_the_same_from_a_file_and_from_the_server(trained):
    record = {"code": "3.75", "note": "2020", "noise": 0.5}
    pd.DataFrame([record]).to_csv(trained / "numbers.csv", index=False)
    from_file = api.predict(trained / "run", trained / "numbers.csv")
    model = lamina.load(trained / "run")
    served = TestClient(create_app({"run": model}, monitor=False)).post("/predict", json=record)
    assert served.status_code == 200, served.text
    [answer] = served.json()["predictions"]
    assert answer["prediction"] == from_file["prediction"].iloc[0]
    assert answer["probabilities"]["yes"] == pytest.approx(from_file["proba_yes"].iloc[0], abs=1e-6)
    explained = model.explain(trained / "numbers.csv", importance=False)["attributions"]
    assert len(explained["attributions"]) == 1  # the file is read as the server reads the record


def test_a_test_file_reads_as_text_the_columns_the_training_file_read_as_text(trained):
    pd.DataFrame({"code": ["1.50", "2.50"], "note": ["2020", "7"], "noise": [0.1, 0.2], "y": ["yes", "no"]}).to_csv(
        trained / "test.csv", index=False)
    config = api.resolve_config(None, target="y", path=str(trained / "train.csv"), test=str(trained / "test.csv"))
    frame, test = api.tables_of(config)
    assert test["code"].tolist() == ["1.50", "2.50"] and test["note"].tolist() == ["2020", "7"]
    assert test["noise"].tolist() == [0.1, 0.2]
