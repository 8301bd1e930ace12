"""lamina.sklearn's estimators inside scikit-learn's own model selection, beside scikit-learn's usual baselines:
5-fold cross_val_score (shuffled, stratified for classes) repeated over seeds, on the tables scikit-learn ships
(no download): breast cancer (569 rows, 30 numbers, 2 classes; accuracy) and diabetes (442 rows, 10 numbers;
R²). Every model is a Pipeline(StandardScaler, model) given the same folds; lamina runs on its default settings.

    python bench/sklearn_estimators.py [--seeds 0 1 2] [--threads N]

Prints mean ± std over every fold of every seed, and the mean seconds a fold's fit and score take.
"""

from __future__ import annotations

import argparse
import statistics
import time

from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FOLDS = 5


def models(task: str, seed: int) -> dict:
    from lamina.sklearn import LaminaClassifier, LaminaRegressor

    if task == "classification":
        return {"lamina (LaminaClassifier)": LaminaClassifier(random_state=seed),
                "LogisticRegression": LogisticRegression(max_iter=1000),
                "HistGradientBoosting": HistGradientBoostingClassifier(random_state=seed)}
    return {"lamina (LaminaRegressor)": LaminaRegressor(random_state=seed),
            "RidgeCV": RidgeCV(),
            "HistGradientBoosting": HistGradientBoostingRegressor(random_state=seed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tables = [("breast cancer", load_breast_cancer, "classification", "accuracy"),
              ("diabetes", load_diabetes, "regression", "r2")]
    print(f"{'table':<14} {'model':<26} {'score':>8} {'mean ± std':>16} {'s/fold':>8}")
    for table, load, task, metric in tables:
        X, y = load(return_X_y=True)
        scores: dict[str, list[float]] = {}
        seconds: dict[str, list[float]] = {}
        for seed in args.seeds:
            folds = (StratifiedKFold if task == "classification" else KFold)(FOLDS, shuffle=True, random_state=seed)
            for name, model in models(task, seed).items():
                result = cross_validate(make_pipeline(StandardScaler(), model), X, y, cv=folds, scoring=metric)
                scores.setdefault(name, []).extend(result["test_score"])
                seconds.setdefault(name, []).extend(result["fit_time"] + result["score_time"])
        for name in scores:
            mean, std = statistics.mean(scores[name]), statistics.stdev(scores[name])
            print(f"{table:<14} {name:<26} {metric:>8} {mean:>9.4f} ± {std:.4f} {statistics.mean(seconds[name]):>8.2f}")
    print(f"({FOLDS} folds × seeds {args.seeds}; finished at {time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
