"""Differential privacy on UCI Adult: test accuracy of the same network trained with DP-SGD at ε = 1, 3 and 8
(δ = 1e-5) and without privacy, over 3 seeds.

    python bench/privacy_adult.py [--epochs 5] [--seeds 0 1 2] [--rows N] [--quick]

Reads $LAMINA_DATA/adult (default ../shared/data): adult-train.csv is split into train and valid by lamina,
adult-test.csv is the test set. Every run: the default mlp (width 256, depth 3), batch size 512, `--epochs`
epochs, no early stop. A private run's BatchNorm becomes a one-group GroupNorm; the run without privacy uses
LayerNorm, which computes the same on a dense layer, so every run trains the same network.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adult import data_folder, write_tables  # noqa: E402
from lamina import fit  # noqa: E402
from movielens import table  # noqa: E402

EPSILONS = (1.0, 3.0, 8.0, None)  # None: no privacy
DELTA = 1e-5  # below 1 / training rows (≈ 28k)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rows", type=int, help="train on a random sample of this many training rows (default all)")
    parser.add_argument("--quick", action="store_true", help="2000 rows, 1 epoch, 1 seed")
    args = parser.parse_args()
    seeds, epochs = ([0], 1) if args.quick else (args.seeds, args.epochs)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        train, test = write_tables(data_folder(), Path(work))
        if args.quick or args.rows:
            pd.read_csv(train).sample(n=2000 if args.quick else args.rows, random_state=0).to_csv(train, index=False)
        for epsilon in EPSILONS:
            accuracies, spent, started = [], [], time.perf_counter()
            for seed in seeds:
                privacy = {"privacy": f"epsilon={epsilon},delta={DELTA}"} if epsilon else {"norm": "layer"}
                model = fit(train, "income", test=test, progress=False, seed=seed, epochs=epochs, batch_size=512,
                            patience=epochs, **privacy)
                accuracies.append(model.metrics["test"]["accuracy"])
                spent.append(model.training.get("privacy", {}).get("epsilon"))
            rows.append({"epsilon": epsilon or "none", "accuracy_mean": round(statistics.mean(accuracies), 4),
                         "accuracy_sd": round(statistics.stdev(accuracies), 4) if len(accuracies) > 1 else 0.0,
                         "epsilon_spent": max(spent) if epsilon else None,
                         "seconds_per_run": round((time.perf_counter() - started) / len(seeds), 1)})
            print(rows[-1], flush=True)
    print(table(list(rows[0]), [[str(row.get(key)) for key in rows[0]] for row in rows]))


if __name__ == "__main__":
    main()
