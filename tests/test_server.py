import gzip
import json
import sqlite3

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import lamina
from conftest import FAST, make_table
from lamina.cli import main
from lamina.serving import server as server_module
from lamina.serving.server import create_app
from lamina.serving.sources import find_models

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two trained runs in one folder: a classifier and a regressor."""
    folder = tmp_path_factory.mktemp("serve")
    lamina.fit(make_table(rows=500), target="y", out=folder / "runs" / "shop", progress=False, **FAST)
    lamina.fit(make_table(rows=500, task="regression"), target="y", out=folder / "runs" / "price",
               progress=False, **FAST)
    return folder / "runs"


@pytest.fixture
def client(runs):
    for suffix in ("", "-wal", "-shm"):
        (runs / "shop" / f"monitor.sqlite{suffix}").unlink(missing_ok=True)
    with TestClient(create_app(find_models(runs / "shop"), token=TOKEN)) as client:
        yield client  # leaving it shuts the server down: its drift recorder writes what it holds and closes


def rows(count=3, seed=9):
    return make_table(rows=count, seed=seed).drop(columns="y").to_dict(orient="records")


def test_predict_one_record_and_a_batch(client):
    one = client.post("/predict", json=rows(1)[0], headers=AUTH)
    assert one.status_code == 200
    [answer] = one.json()["predictions"]
    assert answer["prediction"] in ("yes", "no")
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    batch = client.post("/models/shop/predict", json={"records": rows(5)}, headers=AUTH)
    assert batch.status_code == 200 and len(batch.json()["predictions"]) == 5


def test_served_predictions_equal_model_predict(client, runs):
    records = rows(8, seed=4)
    served = client.post("/predict", json={"records": records}, headers=AUTH).json()["predictions"]
    local = lamina.load(runs / "shop").predict(pd.DataFrame(records))
    assert [p["prediction"] for p in served] == local["prediction"].tolist()
    assert [p["probabilities"]["yes"] for p in served] == pytest.approx(local["proba_yes"].tolist(), abs=1e-6)


def test_explain_attributions_are_complete(client):
    response = client.post("/explain", json={"records": rows(4)}, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert set(body["columns"]) == {"signal", "skewed", "colour", "member", "day", "comment"}
    for row, attributions in enumerate(body["attributions"]):
        difference = body["output"][row] - body["baseline_output"][row]
        assert sum(attributions) == pytest.approx(difference, abs=0.05)
    assert body["completeness_gap"] < 0.05


def test_token_is_required_except_for_health(client):
    assert client.get("/health").status_code == 200
    assert client.post("/predict", json=rows(1)[0]).status_code == 401
    wrong = client.post("/predict", json=rows(1)[0], headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "token" in wrong.json()["error"]
    assert client.get("/schema").status_code == 401
    assert client.get("/metrics").status_code == 401


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda r: r.update(signal="abc"), "signal", "valid number"),
        (lambda r: r.update(colour=["red"]), "colour", "takes text, a number or true/false, not an array"),
        (lambda r: r.pop("colour"), "colour", "Field required"),
        (lambda r: r.update(surprise=1), "surprise", "Extra inputs"),
        (lambda r: r.update(comment="x" * 100_001), "comment", "at most 100000"),
    ],
    ids=["wrong-type", "list-for-category", "missing-field", "extra-field", "text-too-long"],
)
def test_invalid_fields_get_a_4xx_naming_them(client, change, field, message):
    record = rows(1)[0]
    change(record)
    response = client.post("/predict", json=record, headers=AUTH)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error.startswith(field) and message in error


def test_malformed_json_oversize_and_overfull_requests_are_refused(client):
    bad_json = client.post("/predict", content=b'{"signal": ', headers={**AUTH, "Content-Type": "application/json"})
    assert bad_json.status_code == 422 and "not valid JSON" in bad_json.json()["error"]
    huge = client.post("/predict", content=b" " * 1_100_000, headers={**AUTH, "Content-Type": "application/json"})
    assert huge.status_code == 413

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(30):
            yield b" " * 50_000

    chunked = client.post("/predict", content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert chunked.status_code == 413
    overfull = client.post("/predict", json={"records": rows(1) * (server_module.MAX_BATCH + 1)}, headers=AUTH)
    assert overfull.status_code == 422 and "records" in overfull.json()["error"]
    empty = client.post("/predict", json={"records": []}, headers=AUTH)
    assert empty.status_code == 422


@pytest.mark.parametrize("body", [rows(2), [], "signal", {}, {"rows": rows(2)}, {"records": rows(1)[0]}],
                         ids=["list", "empty-list", "string", "empty-object", "misspelt-wrapper", "record-for-records"])
def test_a_body_of_the_wrong_shape_is_told_the_two_shapes_predict_and_explain_take(client, body):
    """A bare list of records (or any body that is no record and no batch) once drew 'body: Input should be a valid
    dictionary' alone: the answer names both bodies the route takes."""
    shape = ('send a body of the form {"records": [{...}, ...]} or {"signal": ..., "skewed": ..., "colour": ..., '
             '"member": ..., "day": ..., "comment": ...}: ')
    for path in ("/predict", "/explain", "/models/shop/predict"):
        answer = client.post(path, json=body, headers=AUTH)
        assert answer.status_code == 422 and answer.json()["error"].startswith(shape), answer.text


def test_schema_and_openapi_are_typed_from_the_model(client):
    schema = client.get("/schema", headers=AUTH).json()
    assert (schema["task"], schema["problem"], schema["classes"]) == ("classification", "binary", ["no", "yes"])
    colour = next(c for c in schema["columns"] if c["name"] == "colour")
    assert colour["values"] == ["blue", "green", "red"]
    openapi = client.get("/openapi.json", headers=AUTH).json()
    record = openapi["components"]["schemas"]["ShopRecord"]
    assert set(record["required"]) == {"signal", "skewed", "colour", "member", "day", "comment"}
    assert {"type": "number"} in record["properties"]["signal"]["anyOf"]
    assert record["additionalProperties"] is False


def test_metrics_count_requests_latency_errors_and_predictions(client):
    client.post("/predict", json={"records": rows(4)}, headers=AUTH)
    client.post("/predict", json={"bad": 1}, headers=AUTH)
    text = client.get("/metrics", headers=AUTH).text
    assert 'lamina_requests_total{path="/predict",status="200"} 1.0' in text
    assert 'lamina_errors_total{path="/predict",status="422"} 1.0' in text
    assert 'lamina_request_seconds_count{path="/predict"} 2.0' in text
    counted = sum(float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith("lamina_predictions_total{"))
    assert counted == 4


def test_a_folder_of_runs_serves_each_by_name(runs):
    client = TestClient(create_app(find_models(runs), token=None, monitor=False))
    assert client.get("/health").json()["models"] == ["price", "shop"]
    price = client.post("/models/price/predict", json=rows(1)[0])
    assert price.status_code == 200 and isinstance(price.json()["predictions"][0]["prediction"], float)
    assert client.post("/predict", json=rows(1)[0]).status_code == 404
    assert "models/shop/" in client.get("/").text
    other = client.post("/models/price/translate", json={"texts": ["a"]})  # another task's route: a 404 naming
    assert other.status_code == 404 and other.json()["error"] == (  # the model's own
        "price is a regression model: it has no /translate; send POST /models/price/predict (or "
        "/models/price/explain) with its records (GET /models/price/schema for the columns).")


def test_requests_are_summarised_not_stored(runs):
    for suffix in ("", "-wal", "-shm"):
        (runs / "shop" / f"monitor.sqlite{suffix}").unlink(missing_ok=True)
    with TestClient(create_app(find_models(runs / "shop"), token=TOKEN)) as client:  # shut down on leaving it
        client.post("/predict", json={"records": rows(6)}, headers=AUTH)
    with sqlite3.connect(runs / "shop" / "monitor.sqlite") as db:
        [(count, summary)] = db.execute("SELECT rows, summary FROM requests").fetchall()
    assert count == 6
    counts = json.loads(summary)
    assert sum(counts["columns"]["signal"]) == 6 and sum(counts["prediction"]) == 6
    assert "great value" not in summary, "no raw text is kept"


def test_serving_beyond_loopback_needs_a_token(runs, capsys):
    assert main(["serve", str(runs / "shop"), "--host", "0.0.0.0"]) == 2
    assert "--token" in capsys.readouterr().err


def test_runs_whose_names_collide_are_refused_and_named(runs, tmp_path):
    """'a b' and 'a-b' are both served as 'a-b': one would silently replace the other."""
    import shutil

    for name in ("a b", "a-b", "a.b", "c"):
        shutil.copytree(runs / "shop", tmp_path / name)
    with pytest.raises(lamina.LaminaError) as refused:
        find_models(tmp_path)
    assert "'a b', 'a-b', 'a.b' (all served as 'a-b')" in str(refused.value)
    shutil.rmtree(tmp_path / "a b")
    shutil.rmtree(tmp_path / "a.b")
    assert sorted(find_models(tmp_path)) == ["a-b", "c"]


def test_a_gzip_body_is_decompressed_within_the_size_limit_and_other_encodings_are_refused(client):
    batch = json.dumps({"records": rows(4, seed=6)}).encode()
    json_headers = {**AUTH, "Content-Type": "application/json"}
    plain = client.post("/predict", content=batch, headers=json_headers)
    for coding, body in (("gzip", gzip.compress(batch)), ("x-gzip", gzip.compress(batch)), ("identity", batch),
                         ("gzip", gzip.compress(batch[:40]) + gzip.compress(batch[40:]))):  # two gzip members
        sent = client.post("/predict", content=body, headers={**json_headers, "Content-Encoding": coding})
        assert sent.status_code == 200 and sent.json() == plain.json(), coding
    # A zip bomb: 5 kB that inflate to 5 MB, five times the limit. Refused with 413 once the limit is passed.
    bomb = gzip.compress(b'{"records": [' + b" " * 5_000_000 + b"]}")
    assert len(bomb) < 10_000
    refused = client.post("/predict", content=bomb, headers={**json_headers, "Content-Encoding": "gzip"})
    assert refused.status_code == 413 and "once decompressed" in refused.json()["error"]
    # 47,000 empty members before the body: each member copied the rest, a second of the event loop per request
    many = gzip.compress(b"") * 47_000 + gzip.compress(batch)
    refused = client.post("/predict", content=many, headers={**json_headers, "Content-Encoding": "gzip"})
    assert refused.status_code == 413 and "more than 16 members" in refused.json()["error"]
    for body, says in ((batch, "not valid gzip"), (gzip.compress(batch)[:-20], "ends before its compressed data")):
        broken = client.post("/predict", content=body, headers={**json_headers, "Content-Encoding": "gzip"})
        assert broken.status_code == 400 and says in broken.json()["error"]
    for coding in ("br", "deflate", "gzip, gzip", "zstd"):
        refused = client.post("/predict", content=batch, headers={**json_headers, "Content-Encoding": coding})
        error = refused.json()["error"]
        assert refused.status_code == 415 and f"Content-Encoding {coding!r}" in error, coding
        assert "uncompressed" in error and "'Content-Encoding: gzip'" in error, coding
    assert client.post("/predict", content=batch, headers={"Content-Type": "application/json",
                                                           "Content-Encoding": "gzip"}).status_code == 401


def test_head_health_and_non_json_bodies(client):
    assert client.head("/health").status_code == 200
    record = json.dumps(rows(1)[0])
    for content_type, said in [(None, "it had none"),
                               ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
                               ("text/plain", "'text/plain'")]:
        headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
        refused = client.post("/predict", content=record, headers=headers)
        assert refused.status_code == 415
        assert "Content-Type: application/json" in refused.json()["error"] and said in refused.json()["error"]
    latin_1 = json.dumps({**rows(1)[0], "colour": "rougé"}, ensure_ascii=False).encode("latin-1")
    latin = client.post("/predict", content=latin_1,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert latin.status_code == 400 and "is not UTF-8" in latin.json()["error"]
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        accepted = client.post("/predict", content=record, headers={**AUTH, "Content-Type": content_type})
        assert accepted.status_code == 200


def test_a_body_received_too_slowly_is_answered_408():
    """BodyLimit bounds the time to receive a body (a client dribbling it would hold a worker)."""
    import asyncio

    from lamina.serving.server import BodyLimit

    async def never_called(scope, receive, send):
        raise AssertionError("the app must not see an incomplete body")

    async def dribble():
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b" ", "more_body": True}

    sent = []

    async def send(message):
        sent.append(message)

    limit = BodyLimit(never_called, limit=1000, seconds=0.3)
    asyncio.run(asyncio.wait_for(limit({"type": "http", "path": "/predict"}, dribble, send), 5))
    started = sent[0]
    assert started["type"] == "http.response.start" and started["status"] == 408
    assert json.loads(sent[1]["body"]) == {"error": "request body not received within 0.3 s"}


def deep(levels: int, inner: str = "") -> bytes:
    return ('{"records":' + "[" * levels + inner + "]" * levels + "}").encode()


def test_deeply_nested_bodies_are_refused_with_a_400_on_row_and_task_routes(client, tmp_path):
    """Parsing and walking a body recurse once a level: 5000 levels was a RecursionError, a 500."""
    from lamina.tasks.base import TASKS
    from test_tasks import LineTask

    headers = {**AUTH, "Content-Type": "application/json"}
    refused = client.post("/predict", content=deep(5000), headers=headers)
    assert refused.status_code == 400
    assert refused.json()["error"] == (f"body nested too deeply: arrays and objects 5001 levels deep, at most "
                                       f"{server_module.MAX_NESTING} accepted")
    # Brackets inside strings (escaped quotes too) are text, not nesting: such a body reaches the fields' checks.
    in_text = client.post("/predict", content=deep(1, json.dumps('[[["\\"' * 100)), headers=headers)
    assert in_text.status_code == 422 and "records.0" in in_text.json()["error"]
    within = client.post("/predict", content=deep(server_module.MAX_NESTING - 1), headers=headers)
    assert within.status_code == 422, "as deep as allowed: answered by the fields' checks"

    TASKS["line"] = LineTask
    try:
        frame = pd.DataFrame({"x": [i / 50 for i in range(100)], "y": [i / 25 for i in range(100)]})
        line = lamina.fit(frame, "y", task="line", epochs=2, out=tmp_path / "line", progress=False)
        task = TestClient(create_app({"line": line}, monitor=False))
        refused = task.post("/line", content=b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
                            headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and "nested too deeply" in refused.json()["error"]
        assert task.post("/line", json={"x": [0.5]}).status_code == 200
    finally:
        TASKS.pop("line")


def test_codes_sent_as_numbers_and_blank_strings_predict_as_in_training(tmp_path):
    """Trained from a CSV: `code` zero-padded text ("008"), `vip` "Y" or an empty cell (missing). A number 8
    is the code "008", and "" or "  " is the empty cell, from the Python API and from the server alike."""
    import numpy as np

    rng = np.random.default_rng(3)
    code = rng.choice(["008", "003", "017"], 400)
    vip = rng.choice(["Y", ""], 400)
    noise = rng.normal(size=400)
    score = (code == "008") * 2.0 - (code == "003") * 1.0 + (vip == "Y") * 1.5 + 0.3 * noise
    pd.DataFrame({"code": code, "vip": vip, "noise": noise, "y": np.where(score > 0.8, "yes", "no")}).to_csv(
        tmp_path / "codes.csv", index=False)
    model = lamina.fit(tmp_path / "codes.csv", target="y", out=tmp_path / "run", progress=False, **FAST)
    assert {c.name: c.kind for c in model.schema.features}["code"] == "category"

    def proba(frame):
        return model.predict(frame)["proba_yes"].tolist()

    padded = proba(pd.DataFrame({"code": ["008", "003"], "vip": [None, None], "noise": [0.0, 0.0]}))
    assert proba(pd.DataFrame({"code": [8, 3], "vip": [None, None], "noise": [0.0, 0.0]})) == pytest.approx(padded)
    blanks = proba(pd.DataFrame({"code": ["008"] * 3, "vip": [None, "", "  "], "noise": [0.0] * 3}))
    assert blanks == pytest.approx([padded[0]] * 3)
    assert proba(pd.DataFrame({"code": ["008"], "vip": ["Y"], "noise": [0.0]}))[0] != pytest.approx(padded[0])

    client = TestClient(create_app({"codes": model}, monitor=False))
    records = [{"code": 8, "vip": None, "noise": 0.0}, {"code": "003", "vip": "", "noise": 0.0},
               {"code": 8.0, "vip": "  ", "noise": 0.0}]
    served = client.post("/predict", json={"records": records}).json()["predictions"]
    assert [p["probabilities"]["yes"] for p in served] == pytest.approx([padded[0], padded[1], padded[0]], abs=1e-6)


def test_a_record_of_nothing_but_blanks_is_refused_while_one_blank_field_is_a_missing_value(client):
    record = rows(1)[0]
    empty = {name: ("  " if isinstance(value, str) else None) for name, value in record.items()}
    assert "  " in empty.values()
    refused = client.post("/predict", json={"records": [record, empty]}, headers=AUTH)
    assert refused.status_code == 422 and "record 1: every field is null or blank" in refused.json()["error"]
    partly = client.post("/predict", json={"records": [{**record, "colour": ""}]}, headers=AUTH)
    assert partly.status_code == 200


def test_serve_runs_pytorch_on_one_thread_unless_omp_num_threads_says_otherwise(monkeypatch):
    """A served request is a few rows: one intra-op thread, so a forward never waits for a descheduled one. What
    was loaded before serving is kept out of the garbage collector's full passes."""
    import gc

    import torch
    import uvicorn
    from fastapi import FastAPI

    threads, frozen = [], []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)  # this test process keeps its own count
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))  # and its own collector
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    server_module.serve(FastAPI(), "127.0.0.1", 8000)
    assert threads == [1] and frozen == [True]
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's choice, which PyTorch reads itself
    server_module.serve(FastAPI(), "127.0.0.1", 8000)
    assert threads == [1]


def test_a_date_only_the_other_order_reads_is_refused_at_predict_and_serve_and_a_declared_order_is_kept(
        tmp_path, capsys):
    """A model trained on dates that read either way (05/02/2020) reads them month first; pandas once read a new
    13/02/2020 day first beside them, half a file misread without a word. It is refused, naming the column, the row,
    the value and the order, at `lamina predict` (exit 2) and the server (4xx). --date-order declares the order."""
    import numpy as np

    rng = np.random.default_rng(4)
    when = [f"{d:02d}/{m:02d}/2020" for d, m in zip(rng.integers(1, 13, 120), rng.integers(1, 13, 120), strict=True)]
    x = rng.normal(size=120)
    pd.DataFrame({"when": when, "x": x, "y": np.where(x > 0, "yes", "no")}).to_csv(tmp_path / "d.csv", index=False)
    fast = [f"--{k}={v}" for k, v in FAST.items()] + ["--quiet"]
    assert main(["train", str(tmp_path / "d.csv"), "--target", "y", "--out", str(tmp_path / "run"), *fast]) == 0
    pd.DataFrame({"when": ["05/02/2020", "13/02/2020"], "x": [0.1, 0.2]}).to_csv(tmp_path / "new.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), str(tmp_path / "new.csv")]) == 2
    said = capsys.readouterr().err
    assert "Column 'when', row 3 (counting the header as row 1): '13/02/2020' can only be read day first" in said
    assert "the column's dates are read month first: an order assumed" in said and "year first (2020-02-13)" in said

    client = TestClient(create_app(find_models(tmp_path / "run"), monitor=False))
    answer = client.post("/predict", json={"records": [{"when": "05/02/2020", "x": 0.1},
                                                       {"when": "13/02/2020", "x": 0.2}]})
    assert answer.status_code == 422, answer.text
    assert "'when', record 1: '13/02/2020' can only be read day first" in answer.text

    day_first = ["--date-order", "day_first"]
    assert main(["train", str(tmp_path / "d.csv"), "--target", "y", "--out", str(tmp_path / "declared"), *fast,
                 *day_first]) == 0
    assert lamina.load(tmp_path / "declared").schema.features[0].date_order == "day_first"
    assert main(["predict", str(tmp_path / "declared"), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    pd.DataFrame({"when": ["02/13/2020"], "x": [0.1]}).to_csv(tmp_path / "other.csv", index=False)
    assert main(["predict", str(tmp_path / "declared"), str(tmp_path / "other.csv")]) == 2
    assert "'02/13/2020' can only be read month first" in capsys.readouterr().err
    when[50] = "02/13/2020"  # a training file the declared order cannot read: refused before training
    pd.DataFrame({"when": when, "x": x, "y": np.where(x > 0, "yes", "no")}).to_csv(tmp_path / "d.csv", index=False)
    assert main(["train", str(tmp_path / "d.csv"), "--target", "y", "--out", str(tmp_path / "no"), *day_first]) == 2
    assert ("Column 'when', row 52 (counting the header as row 1): '02/13/2020' can only be read month first (1 such "
            "value(s)), yet the column's dates are read day first: the order is set (data.date_order: day_first)"
            in capsys.readouterr().err)


def test_columns_the_schema_dropped_are_accepted_and_identifiers_echoed_while_unknown_fields_are_refused(tmp_path):
    """`lamina predict` ignores an ID-like column (and any other the schema dropped) in its table; the server
    accepts it too, answers as without it, and echoes an identifier in its prediction. A typo is still a 422."""
    table = make_table(rows=300).drop(columns="comment")
    table.insert(0, "pid", [f"P{i:05d}" for i in range(len(table))])
    table["source"] = "shop"  # one value in every row: dropped, not an identifier
    model = lamina.fit(table, target="y", progress=False, **FAST)
    assert [c.name for c in model.schema.identifiers] == ["pid"] and "source" in [c.name for c in model.schema.dropped]
    client = TestClient(create_app({"m": model}, monitor=False))
    records = table.drop(columns="y").head(3).to_dict(orient="records")
    bare = [{k: v for k, v in r.items() if k not in ("pid", "source")} for r in records]
    plain = client.post("/predict", json={"records": bare}).json()["predictions"]
    keyed = client.post("/predict", json={"records": records})
    assert keyed.status_code == 200, keyed.text
    assert keyed.json()["predictions"] == [{"pid": r["pid"], **p} for r, p in zip(records, plain, strict=True)]
    one = client.post("/predict", json={**bare[0], "source": None}).json()["predictions"]
    assert one == plain[:1], "a dropped column that is not an identifier is accepted, not echoed"
    assert client.get("/schema").json()["identifiers"] == ["pid"]
    typo = client.post("/predict", json={**records[0], "pidd": "P00000"})
    assert typo.status_code == 422 and "pidd" in typo.text


def test_a_port_in_use_is_refused_before_the_server_says_it_is_serving(runs, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", str(runs / "shop"), "--port", str(port), "--no-monitor"])
    said = capsys.readouterr().err
    assert code == 2 and f"port {port} is in use on 127.0.0.1" in said and "choose another with --port" in said
    assert "serving" not in said


def test_head_answers_every_get_route_as_get_does_without_a_body_and_post_routes_keep_405(runs):
    shop = ["/models/shop/", "/models/shop/schema"]
    apps = {"one": (create_app(find_models(runs / "shop"), monitor=False), [*shop, "/", "/schema"]),
            "two": (create_app(find_models(runs), monitor=False), [*shop, "/", "/models/price/schema"])}
    for label, (app, pages) in apps.items():
        documented = [path for path, methods in app.openapi()["paths"].items() if "get" in methods]
        with TestClient(app) as client:
            for path in {*pages, *documented, "/health", "/metrics", "/docs", "/redoc", "/openapi.json"}:
                got, head = client.get(path), client.head(path)
                assert (got.status_code, head.status_code, head.content) == (200, 200, b""), (label, path)
                assert head.headers["content-type"] == got.headers["content-type"], (label, path)
                if path != "/metrics":  # its counts grow with each request
                    assert head.headers["content-length"] == str(len(got.content)), (label, path)
            for path in ("/models/shop/predict", "/models/shop/explain"):
                refused = client.head(path)
                assert refused.status_code == 405 and refused.headers["allow"] == "POST", (label, path)
            for path in ("/health", "/models/shop/schema"):  # a GET route's 405 names the HEAD it answers too
                refused = client.options(path)
                assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD", (label, path)
            for path in ("/openapi.json", "/docs"):  # FastAPI's own routes name HEAD already: once
                assert client.post(path).headers["allow"] in ("GET, HEAD", "HEAD, GET"), (label, path)


def test_a_misspelt_field_is_named_before_the_required_fields_it_leaves_missing(runs):
    """A record with every field misspelt drew ten 'Field required' and its unknown field in "and N more"."""
    client = TestClient(create_app({"shop": lamina.load(runs / "shop")}, monitor=False))
    record = make_table(rows=1, seed=3).drop(columns=["y", "signal"]).to_dict(orient="records")[0]
    error = client.post("/predict", json={"Signall": 1.0, **record}).json()["error"]
    assert error.startswith("Signall: Extra inputs are not permitted; signal: Field required"), error


def test_an_input_column_named_records_is_read_as_a_record_s_field(tmp_path):
    """A model with a column named `records`: a record sending it drew 'records: Input should be a valid list'
    (read as the batch form) instead of the record's own problems."""
    frame = make_table(rows=120)[["signal", "colour", "y"]].rename(columns={"signal": "records"})
    client = TestClient(create_app({"m": lamina.fit(frame, "y", progress=False, **FAST)}, monitor=False))
    assert client.post("/predict", json={"records": 0.5, "colour": "red"}).status_code == 200
    error = client.post("/predict", json={"records": 0.5}).json()["error"]
    assert error.startswith("colour: Field required"), error
    assert client.post("/predict", json={"records": [{"records": 0.5, "colour": "red"}]}).status_code == 200


def test_the_schema_of_a_table_model_gives_a_typical_record_it_answers(runs):
    """/schema of a classifier held no example (an anomaly model's did): a client had to build a record from the
    column list."""
    client = TestClient(create_app({"shop": lamina.load(runs / "shop")}, monitor=False))
    schema = client.get("/schema").json()
    example = schema["example"]
    assert list(example) == [column["name"] for column in schema["columns"]]
    assert client.post("/predict", json=example).status_code == 200
    assert client.post("/explain", json=example).status_code == 200
