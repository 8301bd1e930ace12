"""Serving on UCI Adult: one-row `POST /predict` p50/p99 latency and requests per second with 1 and 4
connections, beside a bare FastAPI endpoint that returns a constant, measured in the same run and
interleaved (rounds alternate the servers, so machine load falls on both alike); 64-row requests and
`model.predict` in-process on the same rows; where a one-row request's time goes in the server's process;
ONNX Runtime against PyTorch eager; and whether drift monitoring flags a shifted copy of the test split but
not an unshifted one.

    python bench/serving.py [--requests 2000]

Reads $LAMINA_DATA/adult (default ../shared/data/adult), like bench/adult.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adult import data_folder, write_tables  # noqa: E402

SHIFTED_COLUMN, SHIFT = "age", 15  # the drift case: everyone 15 years older


def percentiles(seconds: list[float]) -> tuple[float, float]:
    values = np.asarray(seconds) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def timed(call, repeats: int) -> list[float]:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: list[str], port: int) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the server {command} did not start")


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    return start([sys.executable, "-m", "lamina.cli", "serve", str(run), "--port", str(port)], port)


def start_bare(settings: str) -> tuple[subprocess.Popen, str]:
    """A FastAPI app whose POST /predict returns a constant, served with uvicorn's defaults ("defaults") or
    with lamina's server settings ("lamina": the same HTTP protocol and time limits)."""
    port = free_port()
    return start([sys.executable, __file__, "--bare", settings, "--port", str(port)], port)


def bare_app():
    """A FastAPI app whose POST /predict returns a constant."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict() -> dict:
        return {"model": "bare", "predictions": [{"prediction": "<=50K"}]}

    return app


def serve_bare(settings: str, port: int) -> None:
    import uvicorn

    from lamina.serving.server import server_config

    app = bare_app()
    config = (server_config(app, "127.0.0.1", port) if settings == "lamina"
              else uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    uvicorn.Server(config).run()


def stage_times(model, record: dict, calls: int) -> list[tuple[str, list[float]]]:
    """Where a one-row request's time goes in the server's process, on one PyTorch thread as `lamina serve` runs:
    the whole app called in-process without HTTP (each call one turn of an asyncio loop), beside the bare app,
    then the stages of lamina's answer."""
    import asyncio

    from pydantic import TypeAdapter

    from lamina.serving.metrics import ServerMetrics
    from lamina.serving.server import ModelService, create_app, request_records

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    body = json.dumps(record).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench"), (b"content-type", b"application/json")],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"in-process POST /predict answered {message['status']}")

    loop = asyncio.new_event_loop()
    service = ModelService("adult", model, ServerMetrics())
    validate = TypeAdapter(service.batch | service.record).validate_python
    records = request_records(validate(json.loads(body)))
    inputs = service.record_inputs(records)
    outputs = model.outputs_of(inputs)
    apps = {name: lambda app=app: loop.run_until_complete(app(scope, receive, send))
            for name, app in (("bare FastAPI", bare_app()), ("lamina", create_app({"adult": model}, monitor=False)))}
    stages = {"JSON parse, validation": lambda: request_records(validate(json.loads(body))),
              "record → tensors": lambda: service.record_inputs(records),
              "network forward, probabilities": lambda: model.outputs_of(inputs),
              "answer": lambda: model.task.answers(outputs)}
    try:
        times = [(f"{name}, whole app in-process", timed(call, calls)) for name, call in apps.items()]
        # Each stage timed right after a whole request, meeting the caches as a request leaves them: timed in a
        # loop of its own, the forward took half as long.
        for name, stage in stages.items():
            seconds = []
            for _ in range(calls):
                apps["lamina"]()
                started = time.perf_counter()
                stage()
                seconds.append(time.perf_counter() - started)
            times.append((f"  {name}", seconds))
        return times
    finally:
        loop.close()
        torch.set_num_threads(threads)


def load(url: str, body: dict, connections: int, requests: int) -> tuple[list[float], float]:
    """`requests` POST /predict spread over `connections` keep-alive connections, each sending its next request
    when the last is answered. Returns each request's seconds and the wall seconds of all."""
    clients = [httpx.Client(timeout=30) for _ in range(connections)]
    for client in clients:  # connect and warm up outside the timing
        client.post(f"{url}/predict", json=body).raise_for_status()
    seconds: list[float] = []
    start_together = threading.Barrier(connections + 1)

    def send(client: httpx.Client, count: int) -> None:
        start_together.wait()
        for _ in range(count):
            started = time.perf_counter()
            client.post(f"{url}/predict", json=body).raise_for_status()
            seconds.append(time.perf_counter() - started)

    threads = [threading.Thread(target=send, args=(c, requests // connections)) for c in clients]
    for thread in threads:
        thread.start()
    start_together.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    for client in clients:
        client.close()
    return seconds, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="timed one-row requests per server and case")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds the requests are split into")
    parser.add_argument("--calls", type=int, default=300, help="timed calls of each other case")
    parser.add_argument("--run", type=Path, help="an Adult run folder trained as below (lamina.fit defaults, seed 0) "
                        "instead of training one; its model.onnx is written")
    parser.add_argument("--bare", choices=["defaults", "lamina"], help=argparse.SUPPRESS)  # serve the bare app
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(args.bare, args.port)
        return 0
    folder = data_folder()
    if not (folder / "adult-train.csv").exists():
        print(f"UCI Adult is not at {folder}; set LAMINA_DATA to the folder that holds adult/. Nothing was run.")
        return 2
    import pandas as pd

    import lamina
    from lamina.serving.export import export_onnx, run_onnx
    from lamina.serving.monitor import offline_drift

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        train_path, test_path = write_tables(folder, scratch)
        run = args.run or scratch / "adult"
        if args.run is None:
            lamina.fit(train_path, "income", test=test_path, out=run, progress=False)
        model = lamina.load(run)
        test = pd.read_csv(test_path)
        features = test.drop(columns="income")
        one, batch = features.head(1), features.head(64)

        rows = []
        for label, frame in (("1 row", one), ("64 rows", batch)):
            local = timed(lambda frame=frame: model.predict(frame), args.calls)
            rows.append((f"in-process model.predict, {label}", local, len(frame)))
        record = one.astype(object).where(one.notna(), None).to_dict(orient="records")[0]
        stages = stage_times(model, record, args.calls * 10)
        servers = {"bare FastAPI (uvicorn defaults)": start_bare("defaults"),
                   "bare FastAPI (lamina's uvicorn settings)": start_bare("lamina"), "lamina serve": start_server(run)}
        loads_before = os.getloadavg()
        one_row = {(name, connections): ([], 0.0) for name in servers for connections in (1, 4)}
        try:
            for _ in range(args.rounds):  # each round runs every server and case once: load falls on all alike
                for name, (_, url) in servers.items():
                    for connections in (1, 4):
                        seconds, wall = load(url, record, connections, args.requests // args.rounds)
                        done, walls = one_row[name, connections]
                        one_row[name, connections] = (done + seconds, walls + wall)
            url = servers["lamina serve"][1]
            body = {"records": batch.astype(object).where(batch.notna(), None).to_dict(orient="records")}
            with httpx.Client(timeout=30) as client:
                remote = timed(lambda: client.post(f"{url}/predict", json=body).raise_for_status(), args.calls)
            rows.append(("HTTP POST /predict, 64 rows", remote, len(batch)))
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
        loads_after = os.getloadavg()

        _, difference = export_onnx(model, model.directory, features.head(512))
        engines = []
        network = model.network.eval()
        for label, frame in (("1 row", one), ("64 rows", batch), ("1024 rows", features.head(1024))):
            inputs = model.features.transform(frame)
            with torch.no_grad():
                eager = timed(lambda inputs=inputs: network(inputs), args.calls)
            onnx = timed(lambda inputs=inputs: run_onnx(model.directory / "model.onnx", inputs), args.calls)
            engines.append((label, eager, onnx))

        halves = test.sample(frac=1.0, random_state=0)
        reference = pd.read_csv(train_path).sample(8000, random_state=0)
        unshifted = halves.iloc[: len(halves) // 2]
        shifted = halves.iloc[len(halves) // 2:].copy()
        shifted[SHIFTED_COLUMN] = shifted[SHIFTED_COLUMN] + SHIFT
        drift = {name: offline_drift(model, reference, frame)[0]
                 for name, frame in (("unshifted test half", unshifted), (f"{SHIFTED_COLUMN} + {SHIFT}", shifted))}

    print(f"\nOne-row POST /predict, {args.requests} timed requests per server and case in {args.rounds} interleaved "
          f"rounds; keep-alive connections, each sending its next request when answered; drift recording on in "
          f"lamina serve. Load average before {loads_before[0]:.2f}, after {loads_after[0]:.2f} (1 min).")
    print(f"{'server':<42} {'conns':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}")
    for (name, connections), (seconds, wall) in one_row.items():
        p50, p99 = percentiles(seconds)
        print(f"{name:<42} {connections:>5} {len(seconds) / wall:>7.0f} {p50:>7.2f} {p99:>7.2f}")
    print(f"\nOther cases ({torch.get_num_threads()} CPU threads, {args.calls} timed calls each, sequential)")
    print(f"{'case':<38} {'calls/s':>8} {'rows/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, seconds, count in rows:
        p50, p99 = percentiles(seconds)
        rate = 1 / statistics.mean(seconds)
        print(f"{name:<38} {rate:>8.0f} {rate * count:>8.0f} {p50:>8.2f} {p99:>8.2f}")
    print(f"\nOne-row POST /predict in the server's process, on 1 CPU thread ({args.calls * 10} timed calls each)")
    print(f"{'stage':<38} {'p50 us':>8} {'p99 us':>8}")
    for name, seconds in stages:
        p50, p99 = percentiles(seconds)
        print(f"{name:<38} {p50 * 1000:>8.0f} {p99 * 1000:>8.0f}")
    print(f"\nNetwork only, ONNX Runtime vs PyTorch eager (max |difference| on 512 test rows: {difference:.1e})")
    print(f"{'rows':<10} {'eager p50 ms':>13} {'onnx p50 ms':>12} {'speed-up':>9}")
    for label, eager, onnx in engines:
        e50, o50 = percentiles(eager)[0], percentiles(onnx)[0]
        print(f"{label:<10} {e50:>13.3f} {o50:>12.3f} {e50 / o50:>8.1f}x")
    print("\nDrift against 8,000 training rows (flagged columns)")
    for name, table in drift.items():
        flagged = [f"{r.label} (PSI {r.psi:.2f})" for r in table if r.flagged]
        print(f"{name:<22} {', '.join(flagged) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
