"""Where a table's mlp should become an ensemble: UCI Adult and the vehicle-insurance fraud claims sampled to a few
sizes, each fitted as the cross-fitted ensemble (8 TabM-mini members with the wide path, 4 folds) and as one network
(members 1, wide false, folds 0), beside HistGradientBoosting tuned on bench/scoreboard.py's grid, on the same rows.

    python bench/table_sizes.py [--seeds 0 1 2] [--tables adult adult_age fraud] [--rows 1500 5000 10000]

Per seed a table's training rows are a seeded sample of `--rows` rows (lamina takes 15% of them to validate one
network; the ensemble's members train on them too); the test rows are 4,000 of Adult's official test file, or 5,000
fraud claims left out of every sample. `adult_age` regresses Adult's `age` on the other columns, income included.
Scores: accuracy, R², PR-AUC of the fraud class. "default" names which of the two fits `lamina.fit` gives a table
of that size (nets.recipe.ENSEMBLE_TABLE_ROWS). Reads $LAMINA_DATA (default ../shared/data); a table whose files are
absent is skipped, and said so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benches that read each table

import scoreboard  # noqa: E402
import small_tables  # noqa: E402

TABLES = {"adult": ("adult", "income", "accuracy"), "adult_age": ("adult", "age", "r2"),
          "fraud": ("fraud", "FraudFound_P", "pr_auc")}  # name: (data, target, score)
FITS = {"ensemble": {"members": 8, "wide": True, "folds": 4}, "one network": {"members": 1, "wide": False, "folds": 0}}
ADULT_TEST_ROWS, FRAUD_TEST_ROWS, TEST_SEED = 4000, 5000, 123


def pools(data: str, scratch: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(rows to sample training rows from, test rows); None when the data files are absent."""
    loaded = scoreboard.load(data, scratch)
    if loaded is None:
        return None
    frame, official_test, _, _ = loaded
    if official_test is not None:
        return frame, official_test.sample(ADULT_TEST_ROWS, random_state=TEST_SEED)
    test = frame.sample(FRAUD_TEST_ROWS, random_state=TEST_SEED)
    return frame.drop(test.index), test


def lamina_score(train: pd.DataFrame, test: pd.DataFrame, target: str, metric: str, seed: int,
                 settings: dict) -> tuple[float, float, int]:
    """(test score, wall seconds, training rows) of `lamina.fit` with these config settings."""
    from lamina import api

    started = time.perf_counter()
    model = api.fit(train, target, test=test, seed=seed, progress=False, **settings)
    return model.metrics["test"][metric], time.perf_counter() - started, model.training["sizes"]["train"]


def main() -> int:
    from lamina.nets.recipe import ENSEMBLE_TABLE_ROWS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    parser.add_argument("--rows", type=int, nargs="+", default=[1500, 5000, 10000])
    args = parser.parse_args()
    lines, skipped = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.tables:
            data, target, metric = TABLES[name]
            loaded = pools(data, Path(scratch))
            if loaded is None:
                skipped.append(name)
                continue
            pool, test = loaded
            for rows in args.rows:
                scores = {**{fit: [] for fit in FITS}, "HGB": [], **{f"{fit} s": [] for fit in FITS}}
                for seed in args.seeds:
                    train = pool.sample(rows, random_state=seed)
                    for fit, settings in FITS.items():
                        score, seconds, trained = lamina_score(train, test, target, metric, seed, settings)
                        scores[fit].append(score)
                        scores[f"{fit} s"].append(seconds)
                    scores["HGB"].append(scoreboard.hgb_score(train, test, target, metric, seed)[0])
                    print(f"{name} {rows} rows seed {seed}: " + ", ".join(f"{fit} {scores[fit][-1]:.4f}"
                                                                          for fit in (*FITS, "HGB")), flush=True)
                default = "ensemble" if trained < ENSEMBLE_TABLE_ROWS else "one network"
                lines.append((name, rows, trained, metric, default, scores))
    print(f"\nThe mlp as an ensemble or one network by table size, seeds {args.seeds} ({os.cpu_count()} CPUs, "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')} torch threads; load average {os.getloadavg()[0]:.1f} at "
          f"the end)")
    print(f"{'table':<10} {'rows':>6} {'train':>6} {'score':<9} {'ensemble':>16} {'one network':>16} {'HGB (grid)':>16} "
          f"{'Δ':>8} {'s ens / one':>12} {'default':>12}")
    for name, rows, trained, metric, default, scores in lines:
        delta = statistics.mean(scores["ensemble"]) - statistics.mean(scores["one network"])
        seconds = f"{statistics.mean(scores['ensemble s']):.0f} / {statistics.mean(scores['one network s']):.0f}"
        print(f"{name:<10} {rows:>6} {trained:>6} {metric:<9} {small_tables.mean_std(scores['ensemble']):>16} "
              f"{small_tables.mean_std(scores['one network']):>16} {small_tables.mean_std(scores['HGB']):>16} "
              f"{delta:>+8.4f} {seconds:>12} {default:>12}")
    for name in skipped:
        print(f"{name}: its data is not under $LAMINA_DATA; skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
