"""The server answers any JSON a client sends per field with a 2xx or a 4xx naming the field, never a 5xx:
a property test over a table model with a column of every table kind, its drift recorder on."""

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina
from conftest import FAST, make_table
from lamina.serving.server import create_app
from lamina.serving.sources import find_models

# Strings that broke servers before: UTC offsets (two in one batch too), lone surrogates, odd dates and numbers.
AWKWARD = ["2021-03-27T10:00:00+01:00", "2021-10-31T02:30:00-05:00", "2021-03-27T10:00:00Z", "2024-02-30",
           "0001-01-01", "9999-12-31T23:59:59+14:00", "\ud800", "a\udfffb", "\ud83d\ude00", "", " ", "NaN",
           "1e999", "-0", "<script>", "red", "yes", "\x00", "0" * 400]
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**400), max_value=10**400)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20) | st.sampled_from(AWKWARD))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                              max_size=3),
                      max_leaves=4)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    run = tmp_path_factory.mktemp("fuzz") / "shop"
    lamina.fit(make_table(rows=300), target="y", out=run, progress=False, **FAST)
    return TestClient(create_app(find_models(run), token=None, monitor=True), raise_server_exceptions=False)


def records():
    """Records of every served column: a valid one with one or two fields set to an arbitrary JSON value
    (more would mostly stop at the first invalid field and never reach the model)."""
    valid = make_table(rows=1, seed=5).drop(columns="y").iloc[0].to_dict()
    changes = st.dictionaries(st.sampled_from(sorted(valid)), VALUES, min_size=1, max_size=2)
    return st.lists(changes.map(lambda changed: {**valid, **changed}), min_size=1, max_size=3)


def post(client, path: str, body) -> None:
    # json.dumps writes NaN and Infinity and escapes lone surrogates as \ud800, as a careless client would.
    response = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code < 500, (body, response.text)
    if response.status_code == 422:
        assert response.json()["error"], "a 422 says what is wrong"
    else:
        assert response.status_code == 200, response.text
        answered = response.json()["predictions"] if path == "/predict" else response.json()["attributions"]
        assert len(answered) == (len(body["records"]) if "records" in body else 1)


def test_the_model_has_a_column_of_every_table_kind(client):
    kinds = {column["kind"] for column in client.get("/schema").json()["columns"]}
    assert kinds == {"number", "category", "binary", "datetime", "text"}


@pytest.mark.parametrize("path, examples", [("/predict", 150), ("/explain", 40)])
def test_any_json_per_field_gets_no_server_error(client, path, examples):
    @given(rows=records(), batch=st.booleans())
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def answered(rows, batch):
        post(client, path, {"records": rows} if batch or len(rows) > 1 else rows[0])

    answered()


@pytest.mark.parametrize("path", ["/predict", "/explain"])
def test_offsets_and_lone_surrogates(client, path):
    """Two UTC offsets in one batch are the same instants as their UTC spelling; a lone surrogate is a 422
    naming its field and record."""
    row = make_table(rows=1, seed=5).drop(columns="y").iloc[0].to_dict()
    offsets = [{**row, "day": "2021-03-27T10:00:00+01:00"}, {**row, "day": "2021-10-31T02:30:00-05:00"}]
    utc = [{**row, "day": "2021-03-27T09:00:00Z"}, {**row, "day": "2021-10-31T07:30:00Z"}]
    answers = [client.post(path, json={"records": rows}) for rows in (offsets, utc)]
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    for column in ("colour", "member", "comment", "day"):
        body = json.dumps({"records": [row, {**row, column: "x\ud800"}]})
        refused = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert refused.status_code == 422
        assert refused.json()["error"].startswith(f"records.1.{column}: holds a lone surrogate")


def test_an_error_answer_stays_small_whatever_the_body_holds(client):
    """Thousands of problems list ten and count the rest; a huge value is not doubled back in full."""
    row = make_table(rows=1, seed=5).drop(columns="y").iloc[0].to_dict()
    unknown = client.post("/predict", json={**row, **{f"extra{i}": 1 for i in range(3000)}})
    assert unknown.status_code == 422 and len(unknown.content) < 5_000
    assert len(unknown.json()["detail"]) == 10 and unknown.json()["error"].endswith("; and 2990 more")
    huge = client.post("/predict", json={**row, "colour": "x" * 300_000})  # a category read with the value named
    assert huge.status_code in (200, 422) and len(huge.content) < 10_000
    number = client.post("/predict", json={**row, "signal": "1" * 200_000 + "z"})  # not a number: the message quotes it
    assert number.status_code == 422 and len(number.content) < 10_000 and "characters more not shown" in number.text


def test_a_whole_number_too_long_for_python_is_a_400_saying_so(client):
    row = make_table(rows=1, seed=5).drop(columns="y").iloc[0].to_dict()
    body = json.dumps({**row, "signal": 0}).replace('"signal": 0', '"signal": ' + "9" * 5000)
    answer = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "more than 4,300 digits" in answer.json()["error"]
