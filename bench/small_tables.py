"""scikit-learn's bundled tables (breast cancer, wine, diabetes, digits read as a table of 64 pixel columns): the
default `lamina.fit` beside a linear model (logistic regression, or ridge regression for diabetes, on standardised
columns) and HistGradientBoosting with its defaults, on the same split, mean ± std over seeds.

    python bench/small_tables.py [--seeds 0 1 2 3 4] [--tables breast_cancer wine diabetes digits] [--one-network]

Per seed each table is split 80 / 20 (stratified for classes) into a training and a test frame; lamina gets the
training frame (its own seeded split takes its validation rows from it) and the test frame as its test data; the
scikit-learn models fit on the whole training frame. Score: test accuracy, or R² for diabetes. Needs no data files.
`--one-network` also fits the mlp as it was before small tables got an ensemble with a linear path (members 1, wide
false), in the same run on the same splits.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

TABLES = ("breast_cancer", "wine", "diabetes", "digits")
TARGET = "target"


def sklearn_table(name: str) -> tuple[pd.DataFrame, bool]:
    """(frame with a `target` column, whether it is a classification table); classes as text labels, so lamina
    reads them as classes rather than numbers."""
    from sklearn import datasets

    frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    classification = name != "diabetes"
    if classification:
        frame[TARGET] = "class " + frame[TARGET].astype(str)
    return frame, classification


def split(frame: pd.DataFrame, classification: bool, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    return train_test_split(frame, test_size=0.2, random_state=seed,
                            stratify=frame[TARGET] if classification else None)


ONE_NETWORK = {"members": 1, "wide": False}  # the small tables' mlp before the ensemble and the linear path


def lamina_score(train: pd.DataFrame, test: pd.DataFrame, classification: bool, seed: int,
                 **settings) -> tuple[float, float]:
    """(test accuracy or R², wall seconds) of `lamina.fit`: the default, or with these config settings."""
    from lamina import api

    started = time.perf_counter()
    model = api.fit(train, TARGET, test=test, seed=seed, progress=False, **settings)
    return model.metrics["test"]["accuracy" if classification else "r2"], time.perf_counter() - started


def sklearn_score(estimator, train: pd.DataFrame, test: pd.DataFrame, classification: bool) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    estimator.fit(train.drop(columns=TARGET), train[TARGET])
    predicted = estimator.predict(test.drop(columns=TARGET))
    return (accuracy_score if classification else r2_score)(test[TARGET], predicted)


def linear_model(classification: bool):
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(max_iter=5000) if classification else RidgeCV(alphas=np.logspace(-3, 3, 13))
    return make_pipeline(StandardScaler(), model)


def boosting(classification: bool, seed: int, **settings):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kind = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    return kind(random_state=seed, **settings)


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES))
    parser.add_argument("--one-network", action="store_true", help="also fit members 1, wide false (the old mlp)")
    args = parser.parse_args()
    rows = []
    for name in args.tables:
        frame, classification = sklearn_table(name)
        scores = {"lamina": [], "one network": [], "linear": [], "HGB": [], "seconds": []}
        for seed in args.seeds:
            train, test = split(frame, classification, seed)
            score, seconds = lamina_score(train, test, classification, seed)
            scores["lamina"].append(score)
            scores["seconds"].append(seconds)
            if args.one_network:
                scores["one network"].append(lamina_score(train, test, classification, seed, **ONE_NETWORK)[0])
            scores["linear"].append(sklearn_score(linear_model(classification), train, test, classification))
            scores["HGB"].append(sklearn_score(boosting(classification, seed), train, test, classification))
            one = f", one network {scores['one network'][-1]:.4f}" if args.one_network else ""
            print(f"{name} seed {seed}: lamina {score:.4f} ({seconds:.1f} s){one}, linear {scores['linear'][-1]:.4f}, "
                  f"HGB {scores['HGB'][-1]:.4f}", flush=True)
        rows.append((name, len(frame), "accuracy" if classification else "R²", scores))
    print(f"\nscikit-learn's bundled tables, 80/20 split, mean ± std over seeds {args.seeds} "
          f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end)")
    one_header = f" {'one network':>16}" if args.one_network else ""
    print(f"{'table':<14} {'rows':>5} {'score':<9} {'lamina':>16}{one_header} {'linear':>16} {'HGB':>16} "
          f"{'Δ linear':>9} {'Δ HGB':>8} {'lamina s':>9}")
    for name, size, metric, scores in rows:
        lamina = statistics.mean(scores["lamina"])
        one = f" {mean_std(scores['one network']):>16}" if args.one_network else ""
        print(f"{name:<14} {size:>5} {metric:<9} {mean_std(scores['lamina']):>16}{one} {mean_std(scores['linear']):>16} "
              f"{mean_std(scores['HGB']):>16} {lamina - statistics.mean(scores['linear']):>+9.4f} "
              f"{lamina - statistics.mean(scores['HGB']):>+8.4f} {statistics.mean(scores['seconds']):>9.1f}")
    print("linear: logistic regression (ridge for diabetes, alpha by cross-validation) on standardised columns; "
          "HGB: HistGradientBoosting, defaults" + ("; one network: members 1, wide false" if args.one_network else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
