"""Federated training on UCI Adult: FedAvg and FedProx over 5 clients against centralised training on the
same rows, with the clients' rows split IID and split by household role (very different label rates).

    python bench/federated_adult.py [--rounds 15] [--rows N] [--quick]

Reads $LAMINA_DATA/adult/adult-train.csv (default ../shared/data). Each client splits its rows 70/15/15
(train / valid / test); every model is scored on the union of the clients' test rows. Centralised: the
default `lamina.fit` on the clients' train and valid rows pooled, tested on the same test rows. "Rounds to
within 1 point": the first round whose pooled test accuracy is within 0.01 of the centralised model's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adult import COLUMNS, data_folder  # noqa: E402
from lamina import fit  # noqa: E402
from lamina.config import Config  # noqa: E402
from lamina.federated import Client, partitions  # noqa: E402
from movielens import table  # noqa: E402

CLIENTS = 5
# Household role → client: Other-relative (3% of rows, 4% above 50K) joins Own-child (1%) so there are five.
HOUSEHOLD = {"Other-relative": "Own-child"}


def adult(rows: int | None) -> pd.DataFrame:
    frame = pd.read_csv(data_folder() / "adult-train.csv", header=None, names=COLUMNS, skipinitialspace=True)
    frame = frame.dropna(how="all")
    frame["household"] = frame["relationship"].replace(HOUSEHOLD)  # the clients; relationship stays a feature
    return frame.sample(n=rows, random_state=0) if rows else frame


def centralised(frame: pd.DataFrame, how: dict, settings: dict) -> float:
    """Test accuracy of the default centralised run on the clients' pooled rows (same test rows)."""
    config = Config().with_overrides(target="income", **settings)
    splits = [Client(part, config).split for _, part in partitions(frame, "income", seed=0, **how)]
    train = pd.concat([s.train for s in splits] + [s.valid for s in splits])
    test = pd.concat([s.test for s in splits])
    model = fit(train.drop(columns="household"), "income", test=test.drop(columns="household"), progress=False,
                **settings)
    return model.metrics["test"]["accuracy"]


def federated_run(frame: pd.DataFrame, how: dict, rounds: int, strategy: str, work: Path) -> dict:
    """model.json of `lamina federate` on `frame` (a process of its own per run, as a user runs it)."""
    data, out = work / "data.csv", work / f"run-{strategy}-{len(how)}-{time.monotonic_ns()}"
    frame.to_csv(data, index=False)
    split = ["--clients", str(how["clients"])] if "clients" in how else ["--partition", how["column"]]
    subprocess.run([sys.executable, "-m", "lamina.cli", "federate", str(data), "--target", "income", *split,
                    "--rounds", str(rounds), "--strategy", strategy, "--mu", "0.01", "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    return json.loads((out / "model" / "model.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--rows", type=int, help="a random sample of this many rows (default: all 32,561)")
    parser.add_argument("--quick", action="store_true", help="3000 rows, 3 rounds: checks the script runs")
    args = parser.parse_args()
    rows, rounds = (3000, 3) if args.quick else (args.rows, args.rounds)
    frame = adult(rows)
    results = []
    work = Path(tempfile.mkdtemp())
    for label, how in (("IID", {"clients": CLIENTS}), ("by household", {"column": "household"})):
        data = frame
        rates = data.groupby("household")["income"].apply(lambda s: (s == ">50K").mean()).round(3).to_dict()
        started = time.perf_counter()
        reference = centralised(data, how, {"seed": 0})
        results.append({"split": label, "method": "centralised", "accuracy": reference,
                        "wall_s": round(time.perf_counter() - started, 1)})
        for strategy in ("fedavg", "fedprox"):
            started = time.perf_counter()
            model = federated_run(data.drop(columns="household") if "clients" in how else data, how, rounds,
                                  strategy, work)
            history = model["training"]["federated"]["rounds"]
            within = next((r["epoch"] for r in history if r["test_accuracy"] >= reference - 0.01), None)
            results.append({"split": label, "method": strategy, "accuracy": model["metrics"]["test"]["accuracy"],
                            "best_round": model["training"]["best_epoch"], "rounds_to_within_1_point": within,
                            "wall_s": round(time.perf_counter() - started, 1)})
            print(json.dumps(results[-1]), flush=True)
        if "column" in how:
            print(f"label rate (>50K) per client: {rates}", flush=True)
    columns = list(dict.fromkeys(key for row in results for key in row))
    print(table(columns, [[str(row.get(key, "")) for key in columns] for row in results]))


if __name__ == "__main__":
    main()
