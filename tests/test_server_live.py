"""The server as a user runs it: `lamina serve` in its own process, a schema-driven fuzzer, a load of
10,000 requests from a second process, and the playground driven in a real headless browser."""

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

import lamina
from conftest import FAST, make_table
from lamina.serving.server import create_app, server_config
from lamina.serving.sources import find_models

TOKEN = "live-token"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live") / "shop"
    lamina.fit(make_table(rows=500), target="y", out=folder, progress=False, **FAST)
    return folder


@pytest.fixture(scope="module")
def server(run):
    """`lamina serve` on a free loopback port, with a token."""
    with serving(run, "--token", TOKEN) as url:
        yield url


@contextlib.contextmanager
def serving(run, *options: str):
    """`lamina serve RUN *options` on a free loopback port, its URL once it answers /health."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "lamina.cli", "serve", str(run), "--port", str(port), *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"server did not start: {process.stderr.read().decode()}")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


LIMIT = 0.5  # seconds allowed for a request's head and for its body in the tests below


@pytest.fixture(scope="module")
def strict_server(run):
    """The app under uvicorn in this process, configured as `lamina serve` does but with LIMIT-second waits."""
    port = free_port()
    app = create_app(find_models(run), token=None, monitor=False, body_seconds=LIMIT)
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, head_seconds=LIMIT))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(timeout=10)


def seconds_until_closed(connection: socket.socket, dribble: bytes = b"") -> tuple[float, bytes]:
    """(seconds until the server closes the connection, what it answered), sending `dribble` a byte at a
    time, a byte every 0.1 s, meanwhile."""
    started = time.monotonic()
    connection.settimeout(0.1)
    answer = b""
    while time.monotonic() - started < 10:
        try:
            received = connection.recv(4096)
        except TimeoutError:
            if dribble:
                try:
                    connection.send(dribble[:1])
                except OSError:  # closed by the server
                    break
                dribble = dribble[1:]
            continue
        except ConnectionResetError:
            break
        if not received:
            break
        answer += received
    return time.monotonic() - started, answer


def test_idle_and_dribbling_connections_are_closed(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server)) as silent:
        waited, answer = seconds_until_closed(silent)
    assert LIMIT - 0.1 < waited < LIMIT + 2 and answer == b""
    with socket.create_connection(("127.0.0.1", strict_server)) as slow_head:
        slow_head.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        waited, answer = seconds_until_closed(slow_head, dribble=b"X-Slow: " + b"a" * 100)
    assert LIMIT - 0.1 < waited < LIMIT + 2 and answer == b"", "a byte every 0.1 s does not hold it open"
    with socket.create_connection(("127.0.0.1", strict_server)) as slow_body:
        slow_body.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 1000\r\n\r\n{")
        waited, answer = seconds_until_closed(slow_body, dribble=b" " * 100)
    assert waited < LIMIT + 2 and answer.startswith(b"HTTP/1.1 408 ")
    with socket.create_connection(("127.0.0.1", strict_server)) as oversize:  # its headers say it is too large
        oversize.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 99999999999\r\n\r\n{")
        started = time.monotonic()
        oversize.settimeout(LIMIT + 2)
        oversize_answer = oversize.recv(4096)
        waited = time.monotonic() - started
    assert oversize_answer.startswith(b"HTTP/1.1 413 ") and waited < LIMIT / 2, "answered at once, not after the " \
        "body's time"
    assert httpx.get(f"http://127.0.0.1:{strict_server}/health").status_code == 200, "prompt clients are served"


def test_pipelined_requests_are_answered_in_order_then_an_idle_connection_is_closed(strict_server):
    """Requests sent back to back before any answer (HTTP/1.1 pipelining) are all answered, the head timer not
    running while a queued one waits its turn; once answered, a connection sending no further head is closed."""
    with socket.create_connection(("127.0.0.1", strict_server)) as pipelined:
        pipelined.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
                          + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        waited, answer = seconds_until_closed(pipelined)
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"200", b"404", b"200"]  # each body runs into the next
    assert LIMIT - 0.1 < waited < LIMIT + 2


def test_the_fuzzer_finds_no_server_error(run):
    """Schemathesis generates valid and invalid requests for every operation of the OpenAPI document;
    none may get a 5xx. (Its pytest plugin does not load under this pytest, so hypothesis drives it.)"""
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(find_models(run), token=None, monitor=False))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/predict", "/explain", "/schema", "/health"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()


# A second process with 4 connections in parallel (a bounded, loopback-only load).
LOAD_CLIENT = """
import sys, httpx, json
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
url, token, count, record = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
CONNECTIONS = 4

def send(share):
    codes = Counter()
    with httpx.Client(headers={"Authorization": "Bearer " + token}, timeout=30) as client:
        for _ in range(share):
            codes[client.post(url + "/predict", json=record).status_code] += 1
    return codes

with ThreadPoolExecutor(CONNECTIONS) as pool:
    total = sum(pool.map(send, [count // CONNECTIONS] * CONNECTIONS), Counter())
print(json.dumps(total))
"""


def test_ten_thousand_requests_from_another_process(server):
    import json

    record = make_table(rows=1, seed=3).drop(columns="y").to_dict(orient="records")[0]
    result = subprocess.run([sys.executable, "-c", LOAD_CLIENT, server, TOKEN, "10000", json.dumps(record)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"200": 10000}
    metrics = httpx.get(f"{server}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert 'lamina_requests_total{path="/predict",status="200"} 10000.0' in metrics


needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                    reason="Debian's chromium is not installed (.ci/run installs it)")


def launch(playwright):
    """Debian's chromium, headless."""
    return playwright.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                      args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])


@needs_chromium
def test_the_playground_predicts_and_explains_in_a_browser(server, run):
    from playwright.sync_api import sync_playwright

    row = make_table(rows=1, seed=5).drop(columns="y").iloc[0]
    expected = lamina.load(run).predict(row.to_frame().T.infer_objects())["prediction"].iloc[0]
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.goto(f"{server}/?token={TOKEN}")
        page.fill("#token", TOKEN)
        page.fill("#signal", str(row["signal"]))
        page.fill("#skewed", str(row["skewed"]))
        page.select_option("#colour", row["colour"])
        page.select_option("#member", row["member"])
        page.fill("#day", row["day"])
        page.fill("#comment", row["comment"])
        page.click("button[type=submit]")
        page.wait_for_selector("#prediction")
        shown = page.text_content("#prediction")
        page.wait_for_selector("#explanation table")
        explanation = page.text_content("#explanation")
        card = page.text_content("#card")
        browser.close()
    assert shown == expected
    assert "completeness gap" in explanation and "signal" in explanation
    assert "Model card" in card and "held-out rows" in card


@needs_chromium
def test_the_playground_sends_a_picked_picture_file_and_shows_its_prediction(tmp_path):
    from playwright.sync_api import sync_playwright

    from test_images import IMAGE_FAST, make_image_folder

    folder = make_image_folder(tmp_path / "photos", per_class=30)
    model = lamina.fit(folder, out=tmp_path / "run", progress=False, **{**IMAGE_FAST, "epochs": 4})
    pictures = [next((folder / name).iterdir()) for name in ("horizontal", "vertical")]
    expected = list(model.predict(pd.DataFrame({"image": [str(p) for p in pictures]}))["prediction"])
    shown = []
    with serving(tmp_path / "run") as url, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.goto(url)
        assert page.get_attribute("#image", "type") == "file" and page.get_attribute("#image", "accept") == "image/*"
        for picture in pictures:
            page.set_input_files("#image", str(picture))
            page.click("button[type=submit]")
            page.wait_for_selector("#prediction")
            shown.append(page.text_content("#prediction"))
            page.wait_for_selector("#explanation table")  # the explanation of this picture, before the next
        browser.close()
    assert shown == expected
