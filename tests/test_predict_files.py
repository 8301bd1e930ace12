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
from lamina.data.read import read_table
from lamina.features.category import UNKNOWN_INDEX
from lamina.serving.server import create_app

CODES = ["1.50", "2.50", "3.75", "none"]  # category codes that look like numbers, as "none" keeps them text
PHRASES = ["great value would buy again", "poor quality arrived broken", "fine for the price overall"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier read from a CSV whose `code` is a category of number-like codes, `note` text and `size` numbers
    declared a category (so training reads them as numbers: 1.50 is the category 1.5)."""
    folder = tmp_path_factory.mktemp("predict_files")
    rng = np.random.default_rng(5)
    code = rng.choice(CODES, 400)
    note = rng.choice(PHRASES, 400)
    size = rng.choice(["0.75", "1.50", "2.25"], 400)
    noise = rng.normal(size=400)
    score = ((code == "1.50") * 2.5 - (code == "3.75") * 1.0 + (note == PHRASES[0]) * 1.0 + (size == "1.50") * 1.5
             + 0.3 * noise)
    frame = pd.DataFrame({"code": code, "note": note, "size": size, "noise": noise,
                          "y": np.where(score > 0.8, "yes", "no")})
    frame.to_csv(folder / "train.csv", index=False)
    model = lamina.fit(folder / "train.csv", target="y", out=folder / "run", progress=False, columns={"size": "category"},
                       **FAST)
    assert {c.name: c.kind for c in model.schema.features} == {"code": "category", "note": "text", "size": "category",
                                                                "noise": "number"}
    return folder


def test_a_number_like_category_predicts_the_same_from_one_row_as_from_many(trained):
    pd.DataFrame({"code": ["1.50"], "note": [PHRASES[1]], "size": ["0.75"], "noise": [0.0]}).to_csv(
        trained / "one.csv", index=False)
    pd.DataFrame({"code": ["1.50", "none"], "note": [PHRASES[1]] * 2, "size": ["0.75"] * 2, "noise": [0.0, 0.0]}).to_csv(
        trained / "many.csv", index=False)
    one = api.predict(trained / "run", trained / "one.csv")["proba_yes"].tolist()
    many = api.predict(trained / "run", trained / "many.csv")["proba_yes"].tolist()
    assert one == pytest.approx(many[:1], abs=1e-6)
    unknown = lamina.load(trained / "run").predict(pd.DataFrame({"code": ["9.99"], "note": [PHRASES[1]], "size": ["0.75"],
                                                                 "noise": [0.0]}))
    assert one[0] != pytest.approx(unknown["proba_yes"].iloc[0], abs=1e-4)  # 1.50 was read as the learnt code


def test_a_number_like_value_predicts_the_same_from_a_file_and_from_the_server(trained):
    record = {"code": "3.75", "note": "2020", "size": 2.25, "noise": 0.5}
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


def test_a_number_declared_a_category_reads_as_learnt_however_a_file_or_a_request_spells_it(trained):
    """Training read `size` 1.50 as the number 1.5 (its category "1.5"); a file given to the model reads it as the
    text "1.50", a request may send 1.5, "1.5" or "1.500": the same category each time."""
    spellings = ["1.50", "1.5", "1.500", "15e-1"]
    frame = pd.DataFrame({"code": ["none"] * 4, "note": [PHRASES[1]] * 4, "size": spellings, "noise": [0.0] * 4})
    frame.to_csv(trained / "sizes.csv", index=False)
    model = lamina.load(trained / "run")
    learnt = model.predict(frame.assign(size=1.5))["proba_yes"].iloc[0]
    assert api.predict(trained / "run", trained / "sizes.csv")["proba_yes"].tolist() == pytest.approx([learnt] * 4)
    other = model.predict(frame.assign(size=0.75))["proba_yes"].iloc[0]
    assert learnt != pytest.approx(other, abs=1e-4)  # the category was learnt, so a miss would show
    client = TestClient(create_app({"run": model}, monitor=False))
    records = [{**frame.iloc[0].to_dict(), "size": size} for size in (1.5, "1.50", "1.500")]
    served = client.post("/predict", json={"records": records}).json()["predictions"]
    assert [p["probabilities"]["yes"] for p in served] == pytest.approx([learnt] * 3, abs=1e-6)


def test_a_dataframe_reads_missing_spellings_as_the_file_of_the_same_cells_does(tmp_path):
    """pandas' read_csv keeps "?" (UCI Adult's missing mark) as text: a model given that DataFrame read it as an
    unknown category, and refused it in a number column, where `lamina predict` on the file reads it as missing."""
    rng = np.random.default_rng(2)
    color = rng.choice(["red", "green", "blue"], 300).astype(object)
    size = rng.normal(size=300).round(3).astype(object)
    frame = pd.DataFrame({"color": color, "size": size,
                          "y": np.where((color == "red") | (size.astype(float) > 0.5), "a", "b")})
    frame.loc[rng.choice(300, 30, replace=False), "color"] = "?"
    frame.loc[rng.choice(300, 30, replace=False), "size"] = " ?"  # as a CSV of ", ?" holds it
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = lamina.fit(tmp_path / "train.csv", target="y", out=tmp_path / "run", progress=False, **FAST)
    as_pandas_reads_it = pd.read_csv(tmp_path / "train.csv", skipinitialspace=False)
    assert (as_pandas_reads_it["color"] == "?").sum() == 30  # the case: pandas keeps the spelling as text
    from_file = model.predict(tmp_path / "train.csv")["proba_a"].to_numpy()
    from_frame = model.predict(as_pandas_reads_it)["proba_a"].to_numpy()
    assert from_frame == pytest.approx(from_file, abs=1e-6)
    assert (as_pandas_reads_it["color"] == "?").sum() == 30  # the caller's frame is left as it was
    (tmp_path / "spaced.csv").write_text((tmp_path / "train.csv").read_text().replace(",", ", "))
    spaced = pd.read_csv(tmp_path / "spaced.csv")  # pandas keeps " size" where the CSV reader skips the space
    assert list(spaced.columns) == ["color", " size", " y"]
    assert model.predict(spaced)["proba_a"].to_numpy() == pytest.approx(from_file, abs=1e-6)

    trained_on_frame = lamina.fit(as_pandas_reads_it, target="y", out=tmp_path / "frame_run", progress=False, **FAST)
    assert {c.name: c.kind for c in trained_on_frame.schema.features} == {"color": "category", "size": "number"}
    assert "?" not in trained_on_frame.features.encoders["color"].vocabulary_


def test_a_semicolon_file_with_decimal_commas_predicts_as_it_trained(tmp_path):
    """Training's reader reads a column of decimal commas (1,5) as numbers, so a number column declared a category
    learns "1.5"; a file given to the model reads that column as text: "1,5" must still name 1.5, and a two-valued
    column's "0,0507" its learnt 0.0507 (every row had predicted as an unknown value)."""
    rng = np.random.default_rng(4)
    size = rng.choice(["1,5", "2", "3,25"], 300)
    sex = rng.choice(["0,0507", "-0,0446"], 300)
    noise = rng.normal(size=300)
    score = (size == "1,5") * 2.0 - (size == "3,25") * 1.0 + (sex == "0,0507") * 1.0 + 0.3 * noise
    frame = pd.DataFrame({"size": size, "sex": sex, "noise": [f"{v:.3f}".replace(".", ",") for v in noise],
                          "y": np.where(score > 0.5, "yes", "no")})
    frame.to_csv(tmp_path / "eu.csv", sep=";", index=False)
    model = lamina.fit(tmp_path / "eu.csv", target="y", out=tmp_path / "run", progress=False,
                       columns={"size": "category"}, **FAST)
    assert model.features.encoders["size"].vocabulary_ == ["1.5", "2", "3.25"]  # read as numbers in training
    as_trained = model.predict(read_table(tmp_path / "eu.csv"))["proba_yes"].to_numpy()  # the file's own guess
    assert model.predict(tmp_path / "eu.csv")["proba_yes"].to_numpy() == pytest.approx(as_trained, abs=1e-6)
    codes = model.features.encoders["size"].transform(pd.Series(["1,5", "3,25", "1,2,5"])).tolist()
    assert codes[:2] == model.features.encoders["size"].transform(pd.Series([1.5, 3.25])).tolist()
    assert codes[2] == UNKNOWN_INDEX
    assert model.features.encoders["sex"].transform(pd.Series(["0,0507", "0.0507"])).tolist()[0] > UNKNOWN_INDEX
