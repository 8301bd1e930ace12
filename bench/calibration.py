"""Calibrated probabilities: the expected calibration error (ECE, 10 equal-width bins) and the log loss (NLL)
of the test predictions before and after temperature scaling (T fitted on lamina's validation rows), with the
accuracy (unchanged: T never changes the most probable class), on the demo table (scikit-learn's breast-cancer
copy, `lamina demo`'s split) and UCI Adult (the official test file), mean ± std over seeds.

    python bench/calibration.py [--seeds 0 1 2] [--skip-adult]

Reads $LAMINA_DATA/adult (default ../shared/data/adult) for Adult; the demo table ships with scikit-learn.
The "before" figures are the same network's probabilities with T = 1, recovered from the saved ones and T.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

import lamina  # noqa: E402
from adult import data_folder, write_tables  # noqa: E402  (the Adult bench's reader: one copy of it)
from lamina.data.read import read_table  # noqa: E402
from lamina.evaluation.calibration import expected_calibration_error, uncalibrated  # noqa: E402


def measure(train: Path, test: Path, target: str, seed: int) -> dict:
    started = time.perf_counter()
    model = lamina.fit(train, target, test=test, progress=False, seed=seed)
    # lamina's reader, as the model read its test file: '?' and the other missing spellings are missing values
    rows, truth = model.task.labelled(read_table(test))
    after = model.predict_array(rows)
    temperature = model.task.temperature_
    before = uncalibrated(after, temperature)
    labels = np.arange(after.shape[1])
    result = {"T": temperature, "ece_before": expected_calibration_error(truth, before),
              "ece_after": expected_calibration_error(truth, after),
              "nll_before": log_loss(truth, before, labels=labels), "nll_after": log_loss(truth, after, labels=labels),
              "acc_before": float((before.argmax(1) == truth).mean()), "acc_after": model.metrics["test"]["accuracy"],
              "seconds": time.perf_counter() - started}
    print(f"{train.name} seed {seed}: {result}", flush=True)
    return result


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    return f"{mean:.4f} ± {statistics.stdev(values):.4f}" if len(values) > 1 else f"{mean:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-adult", action="store_true")
    args = parser.parse_args()
    from lamina.demo import write_demo_data

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        sets = {"demo (breast cancer)": (*write_demo_data(work / "demo"), "diagnosis")}
        if not args.skip_adult:
            if (data_folder() / "adult-train.csv").exists():
                sets["UCI Adult"] = (*write_tables(data_folder(), work), "income")
            else:
                print(f"Adult skipped: {data_folder()} is absent (set LAMINA_DATA).")
        results = {}
        for name, (train, test, target) in sets.items():
            results[name] = [measure(train, test, target, seed) for seed in args.seeds]
    columns = ["T", "ece_before", "ece_after", "nll_before", "nll_after", "acc_before", "acc_after", "seconds"]
    print(f"\n{len(args.seeds)} seeds, mean ± std\n| data | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, rows in results.items():
        print(f"| {name} | " + " | ".join(spread([r[c] for r in rows]) for c in columns) + " |")


if __name__ == "__main__":
    main()
