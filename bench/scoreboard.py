"""The scoreboard: every table the project has (UCI Adult, the vehicle-insurance fraud claims, scikit-learn's
breast cancer, wine, diabetes and digits) — the default `lamina.fit` against HistGradientBoosting tuned on a small
grid, in one run, one table of results. Most of these tables nobody here tuned lamina on.

    python bench/scoreboard.py [--seeds 0] [--tables adult fraud breast_cancer wine diabetes digits]

Adult keeps its official test file; every other table is split 80 / 20 per seed (stratified for classes). The grid
(learning_rate × max_leaf_nodes, GRID) is searched on a 15% validation part of the training rows, and the chosen
setting refitted on all of them; text columns reach HGB as ordinal codes it treats as categories. Scores: accuracy,
R² for diabetes, PR-AUC (average precision of the fraud class) for the fraud claims (6% fraud: accuracy says
little). Reads $LAMINA_DATA (default ../shared/data) for Adult and the fraud claims; a table whose files are absent
is skipped, and said so.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benches that read each table

import adult  # noqa: E402
import fraud  # noqa: E402
import small_tables  # noqa: E402

GRID = {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31, 63]}  # HGB's step shrinkage; leaves per tree
TABLES = ("adult", "fraud", *small_tables.TABLES)


def load(name: str, scratch: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, str, str] | None:
    """(frame, official test frame or None, target, score name); None when the data files are absent."""
    if name == "adult":
        if not (adult.data_folder() / "adult-train.csv").exists():
            return None
        train, test = adult.write_tables(adult.data_folder(), scratch)
        return pd.read_csv(train), pd.read_csv(test), "income", "accuracy"
    if name == "fraud":
        if not fraud.data_path().exists():
            return None
        frame = pd.read_csv(fraud.data_path()).drop(columns=fraud.ROW_ID)
        frame[fraud.TARGET] = frame[fraud.TARGET].map({0: "no", 1: "yes"})  # classes, not a number to regress
        return frame, None, fraud.TARGET, "pr_auc"
    frame, classification = small_tables.sklearn_table(name)
    return frame, None, small_tables.TARGET, "accuracy" if classification else "r2"


def hgb_score(train: pd.DataFrame, test: pd.DataFrame, target: str, metric: str, seed: int) -> tuple[float, dict]:
    """HistGradientBoosting with the GRID setting best on a validation part of `train`, refitted on all of it."""
    from sklearn.metrics import accuracy_score, average_precision_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OrdinalEncoder

    classification = metric != "r2"
    texts = [c for c in train.columns if c != target and not pd.api.types.is_numeric_dtype(train[c])]
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan).fit(train[texts].astype(str))

    def matrix(frame: pd.DataFrame) -> pd.DataFrame:
        inputs = frame.drop(columns=target).copy()
        if texts:
            inputs[texts] = codes.transform(frame[texts].astype(str))
        return inputs

    def score(model, frame: pd.DataFrame) -> float:
        if metric == "pr_auc":
            return average_precision_score(frame[target] == model.classes_[1], model.predict_proba(matrix(frame))[:, 1])
        return (accuracy_score if classification else r2_score)(frame[target], model.predict(matrix(frame)))

    def fitted(frame: pd.DataFrame, settings: dict):
        model = small_tables.boosting(classification, seed, categorical_features=[c in texts for c in
                                                                                   frame.columns if c != target],
                                      **settings)
        return model.fit(matrix(frame), frame[target])

    part, valid = train_test_split(train, test_size=0.15, random_state=seed,
                                   stratify=train[target] if classification else None)
    settings = [dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())]
    best = max(settings, key=lambda s: score(fitted(part, s), valid))
    return score(fitted(train, best), test), best


def lamina_score(train: pd.DataFrame, test: pd.DataFrame, target: str, metric: str, seed: int) -> tuple[float, float]:
    from lamina import api

    started = time.perf_counter()
    model = api.fit(train, target, test=test, seed=seed, progress=False)
    return model.metrics["test"][metric], time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    args = parser.parse_args()
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.tables:
            loaded = load(name, Path(scratch))
            if loaded is None:
                skipped.append(name)
                continue
            frame, official_test, target, metric = loaded
            results = {"lamina": [], "HGB": [], "seconds": []}
            for seed in args.seeds:
                if official_test is None:
                    train, test = small_tables.split(frame.rename(columns={target: small_tables.TARGET}),
                                                     metric != "r2", seed)
                    train, test = (f.rename(columns={small_tables.TARGET: target}) for f in (train, test))
                else:
                    train, test = frame, official_test
                score, seconds = lamina_score(train, test, target, metric, seed)
                boosted, chosen = hgb_score(train, test, target, metric, seed)
                results["lamina"].append(score)
                results["HGB"].append(boosted)
                results["seconds"].append(seconds)
                print(f"{name} seed {seed}: lamina {score:.4f} ({seconds:.1f} s), HGB {boosted:.4f} {chosen}",
                      flush=True)
            rows.append((name, len(frame), metric, results))
    print(f"\nScoreboard: default lamina against HistGradientBoosting tuned on {GRID}, seeds {args.seeds} "
          f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"{'table':<14} {'rows':>6} {'score':<9} {'lamina':>16} {'HGB (grid)':>16} {'Δ':>8} {'lamina s':>9}")
    for name, size, metric, results in rows:
        delta = statistics.mean(results["lamina"]) - statistics.mean(results["HGB"])
        print(f"{name:<14} {size:>6} {metric:<9} {small_tables.mean_std(results['lamina']):>16} "
              f"{small_tables.mean_std(results['HGB']):>16} {delta:>+8.4f} {statistics.mean(results['seconds']):>9.1f}")
    for name in skipped:
        print(f"{name}: its data is not under $LAMINA_DATA; skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
