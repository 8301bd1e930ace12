"""scikit-learn's bundled tables (breast cancer, wine, diabetes, digits read as a table of 64 pixel columns): the
default `lamina.fit` beside a linear model (logistic regression, or ridge regression for diabetes, on standardised
columns) and HistGradientBoosting with its defaults, on the same split, mean ± std over seeds.

    python bench/small_tables.py [--seeds 0 1 2 3 4] [--tables breast_cancer wine diabetes digits] [--one-network]
                                 [--no-cross-fit] [--no-linear-share]

Per seed each table is split 80 / 20 (stratified for classes) into a training and a test frame; lamina gets the
training frame (its own seeded split takes its validation rows from it) and the test frame as its test data; the
scikit-learn models fit on the whole training frame. Score: test accuracy, or R² for diabetes. Needs no data files.
`--one-network` also fits the mlp as it was before small tables got an ensemble with a linear path (members 1, wide
false), `--no-cross-fit` the ensemble judged on a validation split instead of cross-fitted (folds 0),
`--no-linear-share` the network without the ridge regression blended into a regressor (linear_share 0), in the same
run on the same splits.
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


# Earlier defaults fitted beside the default, by the flag that asks for each: (column, config settings).
COMPARISONS = {
    "one_network": ("one network", {"members": 1, "wide": False}),  # before the ensemble and the linear path
    "no_cross_fit": ("no cross-fit", {"folds": 0}),  # the ensemble judged on a validation split
    "no_linear_share": ("network alone", {"linear_share": 0}),  # no linear model blended in (regression's default)
}


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
    parser.add_argument("--no-cross-fit", action="store_true", help="also fit folds 0 (a validation split judges)")
    parser.add_argument("--no-linear-share", action="store_true", help="also fit linear_share 0 (the network alone)")
    args = parser.parse_args()
    compared = {column: settings for flag, (column, settings) in COMPARISONS.items() if getattr(args, flag)}
    rows = []
    for name in args.tables:
        frame, classification = sklearn_table(name)
        scores = {"lamina": [], **{column: [] for column in compared}, "linear": [], "HGB": [], "seconds": []}
        for seed in args.seeds:
            train, test = split(frame, classification, seed)
            score, seconds = lamina_score(train, test, classification, seed)
            scores["lamina"].append(score)
            scores["seconds"].append(seconds)
            for column, settings in compared.items():
                scores[column].append(lamina_score(train, test, classification, seed, **settings)[0])
            scores["linear"].append(sklearn_score(linear_model(classification), train, test, classification))
            scores["HGB"].append(sklearn_score(boosting(classification, seed), train, test, classification))
            others = "".join(f", {column} {scores[column][-1]:.4f}" for column in compared)
            print(f"{name} seed {seed}: lamina {score:.4f} ({seconds:.1f} s){others}, linear "
                  f"{scores['linear'][-1]:.4f}, HGB {scores['HGB'][-1]:.4f}", flush=True)
        rows.append((name, len(frame), "accuracy" if classification else "R²", scores))
    print(f"\nscikit-learn's bundled tables, 80/20 split, mean ± std over seeds {args.seeds} "
          f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the end)")
    headers = "".join(f" {column:>16}" for column in compared)
    print(f"{'table':<14} {'rows':>5} {'score':<9} {'lamina':>16}{headers} {'linear':>16} {'HGB':>16} "
          f"{'Δ linear':>9} {'Δ HGB':>8} {'lamina s':>9}")
    for name, size, metric, scores in rows:
        lamina = statistics.mean(scores["lamina"])
        others = "".join(f" {mean_std(scores[column]):>16}" for column in compared)
        print(f"{name:<14} {size:>5} {metric:<9} {mean_std(scores['lamina']):>16}{others} "
              f"{mean_std(scores['linear']):>16} {mean_std(scores['HGB']):>16} "
              f"{lamina - statistics.mean(scores['linear']):>+9.4f} {lamina - statistics.mean(scores['HGB']):>+8.4f} "
              f"{statistics.mean(scores['seconds']):>9.1f}")
    print("linear: logistic regression (ridge for diabetes, alpha by cross-validation) on standardised columns; "
          "HGB: HistGradientBoosting, defaults"
          + "".join(f"; {column}: {', '.join(f'{k} {v}' for k, v in settings.items())}"
                    for column, settings in compared.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
