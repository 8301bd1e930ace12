"""Serving on UCI Adult: HTTP requests per second and p50/p99 latency (1-row and 64-row requests)
against calling `model.predict` in-process on the same rows; ONNX Runtime against PyTorch eager;
and whether drift monitoring flags a shifted copy of the test split but not an unshifted one.

    python bench/serving.py [--requests 300]

Reads $LAMINA_DATA/adult (default ../shared/data/adult), like bench/adult.py.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
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


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "lamina.cli", "serve", str(run), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case")
    args = parser.parse_args()
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
        run = scratch / "adult"
        lamina.fit(train_path, "income", test=test_path, out=run, progress=False)
        model = lamina.load(run)
        test = pd.read_csv(test_path)
        features = test.drop(columns="income")
        one, batch = features.head(1), features.head(64)

        rows = []
        for label, frame in (("1 row", one), ("64 rows", batch)):
            local = timed(lambda frame=frame: model.predict(frame), args.requests)
            rows.append((f"in-process model.predict, {label}", local, len(frame)))
        process, url = start_server(run)
        try:
            with httpx.Client(timeout=30) as client:
                for label, frame in (("1 row", one), ("64 rows", batch)):
                    body = {"records": frame.astype(object).where(frame.notna(), None).to_dict(orient="records")}
                    remote = timed(lambda body=body: client.post(f"{url}/predict", json=body).raise_for_status(),
                                   args.requests)
                    rows.append((f"HTTP POST /predict, {label}", remote, len(frame)))
        finally:
            process.terminate()
            process.wait()

        _, difference = export_onnx(model, model.directory, features.head(512))
        engines = []
        network = model.network.eval()
        for label, frame in (("1 row", one), ("64 rows", batch), ("1024 rows", features.head(1024))):
            inputs = model.features.transform(frame)
            with torch.no_grad():
                eager = timed(lambda inputs=inputs: network(inputs), args.requests)
            onnx = timed(lambda inputs=inputs: run_onnx(model.directory / "model.onnx", inputs), args.requests)
            engines.append((label, eager, onnx))

        halves = test.sample(frac=1.0, random_state=0)
        reference = pd.read_csv(train_path).sample(8000, random_state=0)
        unshifted = halves.iloc[: len(halves) // 2]
        shifted = halves.iloc[len(halves) // 2:].copy()
        shifted[SHIFTED_COLUMN] = shifted[SHIFTED_COLUMN] + SHIFT
        drift = {name: offline_drift(model, reference, frame)[0]
                 for name, frame in (("unshifted test half", unshifted), (f"{SHIFTED_COLUMN} + {SHIFT}", shifted))}

    print(f"\nServing the default Adult model ({torch.get_num_threads()} CPU threads, {args.requests} timed calls each,"
          " sequential, one connection, drift recording on)")
    print(f"{'case':<38} {'calls/s':>8} {'rows/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, seconds, count in rows:
        p50, p99 = percentiles(seconds)
        rate = 1 / statistics.mean(seconds)
        print(f"{name:<38} {rate:>8.0f} {rate * count:>8.0f} {p50:>8.2f} {p99:>8.2f}")
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
