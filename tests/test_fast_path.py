"""The server's record path (features.records): records encoded straight to tensors give model.predict's answers
to the last digit; models it cannot take answer through the DataFrame path; drift summaries recorded off the
request path are all written by shutdown; a bad field is a 4xx naming it."""

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

import lamina
from conftest import make_table
from lamina.data.read import MISSING_SPELLINGS
from lamina.errors import LaminaError
from lamina.features.records import RecordInputs
from lamina.serving.monitor import Recorder, database_of, recorded_counts
from lamina.serving.server import batch_model, create_app, record_model, request_records

QUICK = {"epochs": 3, "width": 16, "depth": 1}  # small models: what is compared is the path, not the fit

# Missing values in every column, a colour never seen in training, numbers sent as integers and as text, yes/no as
# other spellings, dates in other spellings and one left blank.
ODD_RECORDS = [
    {"signal": None, "skewed": 3, "colour": "purple", "member": "yes", "day": "2024-03-05"},
    {"signal": 0.25, "skewed": None, "colour": None, "member": None, "day": None},
    {"signal": -2, "skewed": 1e6, "colour": "red", "member": "no", "day": "2024/07/01 13:30"},
    {"signal": "1.5", "skewed": 0.5, "colour": 7, "member": "Y", "day": "  "},
    {"signal": 0.5, "skewed": 2, "colour": "red", "member": True, "day": "05-Mar-24"},
    {"signal": 0.5, "skewed": 2, "colour": "red", "member": 0, "day": "3/5/2024"},
]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A binary model whose decision is a threshold (priced errors), a regressor, a model with text, one with PLR
    numeric embeddings (which do not read the rank pieces) and an ensemble of members sharing one network."""
    folder = tmp_path_factory.mktemp("fast")
    table = make_table(rows=300).drop(columns="comment")
    cases = {"binary": (table, {"cost": "fn=5,fp=1"}),
             "regression": (make_table(rows=300, task="regression").drop(columns="comment"), {}),
             "text": (make_table(rows=300), {}),
             "plr": (table, {"numbers": "plr"}),
             "members": (table, {"members": 3})}
    models = {}
    for name, (rows, settings) in cases.items():
        model = lamina.fit(rows, "y", progress=False, **QUICK, **settings)
        models[name] = lamina.load(model.save(folder / name))  # a folder of its own: its drift database
    return models


def served(model, name="m", monitor=False):
    return TestClient(create_app({name: model}, monitor=monitor))


def some_records(count: int, seed: int) -> list[dict]:
    rows = make_table(rows=count, seed=seed).drop(columns=["y", "comment"])
    return rows.to_dict(orient="records") + ODD_RECORDS


@pytest.mark.parametrize("name", ["binary", "regression", "plr", "members"])
def test_records_are_encoded_and_answered_as_model_predict_does_to_the_last_digit(models, name):
    model = models[name]
    records = some_records(20, seed=5)
    frame = pd.DataFrame(records)
    unread = model.architecture["hyperparameters"].get("plr_unread", [])
    assert (name == "plr") == bool(unread), "a PLR network leaves the rank pieces unread; the others read them"
    record_inputs = RecordInputs.of(model.features, unread)
    assert record_inputs is not None, "numbers, categories, yes/no and dates all take the record path"
    body = batch_model("m", record_model("m", model.schema.features)).model_validate({"records": records})
    got_inputs, expected_inputs = record_inputs(request_records(body)), model.features.transform(frame)
    assert list(got_inputs) == list(expected_inputs)
    read = np.setdiff1d(np.arange(expected_inputs["numbers"].shape[1]), unread)
    assert torch.equal(got_inputs["numbers"][:, read], expected_inputs["numbers"][:, read])
    assert not got_inputs["numbers"][:, unread].any(), "the floats the network does not read are not computed"
    assert torch.equal(got_inputs["categories"], expected_inputs["categories"])

    client = served(model)
    batch = client.post("/predict", json={"records": records})
    assert batch.status_code == 200
    assert batch.json()["predictions"] == model.task.response(model.predict(frame))
    for i in (0, len(records) - 3, len(records) - 1):  # one record a request: a forward pass of one row
        one = client.post("/predict", json=records[i])
        assert one.json()["predictions"] == model.task.response(model.predict(frame.iloc[[i]]))


def test_a_binary_models_threshold_decides_the_served_class(models):
    model = models["binary"]
    decision = model.task.decision_
    assert decision["rule"] == "cost"
    records = some_records(200, seed=6)
    answers = served(model).post("/predict", json={"records": records}).json()["predictions"]
    negative, positive = model.classes
    probabilities = np.array([a["probabilities"][positive] for a in answers])
    assert [a["prediction"] for a in answers] == [positive if p >= decision["threshold"] else negative
                                                  for p in probabilities]
    near = (probabilities >= decision["threshold"]) != (probabilities >= 0.5)
    assert near.any(), "some rows fall between the threshold and 0.5, where the most probable class differs"


def test_a_model_with_text_answers_through_the_dataframe_path(models):
    model = models["text"]
    assert RecordInputs.of(model.features) is None, "text has no record path"
    rows = make_table(rows=6, seed=8).drop(columns="y")
    records = rows.to_dict(orient="records")
    answer = served(model).post("/predict", json={"records": records})
    assert answer.status_code == 200
    assert answer.json()["predictions"] == model.task.response(model.predict(rows))


@pytest.mark.parametrize("name", ["binary", "text"])  # the record path and the DataFrame path
def test_text_a_csv_reads_as_missing_is_missing_when_served_in_every_column(models, name, tmp_path):
    """Each spelling `lamina predict` reads as missing in a CSV cell ("NA", "null", "nan", "?", "", " ?" ...) put in
    each column in turn: the server answers those rows as the CSV's predictions, not as an unknown category."""
    model = models[name]
    base = make_table(rows=1, seed=8).drop(columns="y").iloc[0].to_dict()
    base = {c.name: base[c.name] for c in model.schema.features}
    # a CSV skips a cell's leading spaces (", ?" is missing), and a space before the next comma ("? ,") is no part
    # of a category either
    spellings = [*sorted(MISSING_SPELLINGS), " ?", " NA", "? ", " NA "]
    records = [{**base, column: spelling} for spelling in spellings for column in base]
    path = tmp_path / "rows.csv"
    pd.DataFrame(records).to_csv(path, index=False)
    read = pd.read_csv(path, dtype=str, keep_default_na=False)  # the file holds each spelling as written
    assert sorted(set(read.to_numpy().ravel()) & MISSING_SPELLINGS) == sorted(MISSING_SPELLINGS)
    answer = served(model).post("/predict", json={"records": records})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == model.task.response(model.predict(path))
    def spelt(spelling: str) -> list:  # each column's probabilities with it
        start = spellings.index(spelling) * len(base)
        return [p["probabilities"] for p in answer.json()["predictions"][start:start + len(base)]]

    missing = [pytest.approx(p, abs=1e-6) for p in spelt("?")]  # a batch's rows differ in the 7th digit
    assert spelt("? ") == missing and spelt(" NA ") == missing, "spaces around a missing spelling are no part of it"
    unknown = served(model).post("/predict", json={**base, "colour": "NA!"}).json()["predictions"][0]
    missing = answer.json()["predictions"][list(base).index("colour")]
    assert unknown != missing, "an unknown colour and a missing one predict differently, so the test can fail"


def test_drift_recorded_off_the_request_path_is_complete_after_shutdown(models, tmp_path):
    model = models["binary"]
    database_of(model).unlink(missing_ok=True)
    records = some_records(40, seed=9)
    with served(model, monitor=True) as client:
        for record in records:  # one request a record
            assert client.post("/predict", json=record).status_code == 200
        assert client.post("/predict", json={"records": records}).status_code == 200
    counts = recorded_counts(database_of(model))
    assert counts["rows"] == 2 * len(records)
    assert {sum(c) for c in counts["columns"].values()} == {2 * len(records)}
    assert sum(counts["prediction"]) == 2 * len(records)

    recorder = Recorder(tmp_path / "monitor.sqlite")
    for start in range(0, 40, 4):
        recorder.record("m", model.profile, records[start:start + 4], ["yes"] * 4)
    recorder.close()
    recorder.record("m", model.profile, records[:3], ["no"] * 3)  # after close: written at once, not lost
    assert recorded_counts(tmp_path / "monitor.sqlite")["rows"] == 43


def test_a_bad_field_is_a_4xx_naming_it(models):
    client = served(models["binary"])
    good = some_records(3, seed=1)[0]
    wrong = client.post("/predict", json={**good, "signal": "high"})
    assert wrong.status_code == 422 and "signal" in wrong.json()["error"]
    extra = client.post("/predict", json={**good, "colur": "red"})
    assert extra.status_code == 422 and "colur" in extra.json()["error"]
    third = client.post("/predict", json={"records": [good, good, {**good, "skewed": [1]}]})
    assert third.status_code == 422 and "records.2.skewed" in third.json()["error"]
    empty = client.post("/predict", json={key: None for key in good})
    assert empty.status_code == 422 and "every field is null" in empty.json()["error"]


# A value of the wrong type for its column, and what the answer must say (besides the field's name).
CONFUSIONS = {
    "truth-for-number": ("signal", True, "not true/false"),
    "text-python-reads-as-a-number": ("signal", "1_000", "'1_000' is not a number as a table's column reads one"),
    # Python's float reads "NAN" as NaN; a CSV cell does not read it as missing ("NaN" and "nan" are: those are
    # missing values, test_text_a_csv_reads_as_missing_is_missing_when_served_in_every_column)
    "text-for-nan": ("skewed", "NAN", "'NAN' is not a number"),
    "list-for-number": ("skewed", [1.0], "valid number"),
    "object-for-number": ("signal", {"value": 1}, "valid number"),
    "object-for-category": ("colour", {"name": "red"}, "takes text, a number or true/false, not an object"),
    "list-for-yes-no": ("member", ["yes"], "not an array"),
    "number-for-date": ("day", 20240305, "valid string"),
    "truth-for-date": ("day", False, "valid string"),
    "text-that-is-no-date": ("day", "next tuesday-ish", "'next tuesday-ish' is not a date"),
    "a-date-read-from-the-clock": ("day", "now", "'now' is not a date"),
    "a-time-on-the-clocks-day": ("day", "12:30", "'12:30' is not a date"),
    "a-date-without-its-year": ("day", "1,5", "'1,5' is not a date"),
    "a-date-in-other-digits": ("day", "٢٠٢٤-٠١-٠٢", "is not a date"),
    "a-word-for-yes-no": ("member", "banana", "'banana' is not a yes/no value"),
    "a-number-for-yes-no": ("member", 2, "2 is not a yes/no value"),
    "number-for-text": ("comment", 5, "valid string"),
}


@pytest.mark.parametrize("name", ["binary", "text"], ids=["record-path", "dataframe-path"])
@pytest.mark.parametrize("confusion", CONFUSIONS, ids=list(CONFUSIONS))
def test_a_value_of_the_wrong_type_is_a_422_naming_its_field_on_both_paths(models, name, confusion):
    field, value, said = CONFUSIONS[confusion]
    if field == "comment" and name == "binary":
        pytest.skip("the record-path model has no text column")
    good = make_table(rows=2, seed=2).drop(columns="y").to_dict(orient="records")
    if name == "binary":
        good = [{k: v for k, v in record.items() if k != "comment"} for record in good]
    answer = served(models[name]).post("/predict", json={"records": [good[0], {**good[1], field: value}]})
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert said in error and ("records.1." + field in error or f"Column {field!r}, record 1" in error), error


def test_model_predict_on_a_frame_refuses_the_same_confusions_naming_column_and_row(models):
    from lamina.errors import LaminaError

    model = models["text"]
    rows = make_table(rows=3, seed=2).drop(columns="y").astype(object)
    for field, value, said in [("signal", True, "True (bool) is not a number"),
                               ("colour", ["red"], "is not a category value"),
                               ("day", 20240305, "20240305 (int) is not a date"),
                               ("day", "next tuesday-ish", "'next tuesday-ish' is not a date"),
                               ("day", "1,5", "'1,5' is not a date"),
                               ("member", "banana", "'banana' is not a yes/no value"),
                               ("comment", 5, "5 (int) is not text")]:
        frame = rows.copy()
        frame.at[1, field] = value
        with pytest.raises(LaminaError, match=f"Column '{field}', row 3 \\(counting the header as row 1\\)") as caught:
            model.predict(frame)
        assert said in str(caught.value)
    underscored = rows.copy()
    underscored.at[1, "signal"] = "1_000"  # Python's float reads it; a table's column, and so the server, does not
    with pytest.raises(LaminaError, match=r"'signal' holds numbers but 1 value\(s\) are not numbers, first '1_000' "
                                          r"at row 3 \(counting the header as row 1\)"):
        model.predict(underscored)
    blank = rows.copy()
    blank.at[1, "day"], blank.at[2, "day"] = None, ""
    assert len(model.predict(blank)) == 3, "a null or empty date is still a missing value"


@pytest.mark.parametrize("value", [float("inf"), "-Infinity", "1e400"])
def test_model_predict_refuses_an_infinite_number_as_post_predict_does(models, value):
    frame = pd.DataFrame(some_records(2, seed=4)[:2])
    frame["signal"] = frame["signal"].astype(object)
    frame.loc[1, "signal"] = value
    with pytest.raises(LaminaError, match=r"Column 'signal', row 3 .*is an infinite number"):
        models["binary"].predict(frame)
