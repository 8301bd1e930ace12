"""Vehicle insurance claim fraud (15,420 claims, 6% fraud): lamina's anomaly detector (unsupervised) and its
default binary classifier beside scikit-learn's IsolationForest and HistGradientBoosting, on the same splits.

    python bench/fraud.py [--seeds 0 1 2] [--threads 1] [--quick]

Reads $LAMINA_DATA/vehicle-insurance-fraud/fraud_oracle.csv (default ../shared/data). Per seed the claims are
split stratified 70 / 15 / 15 (train / valid / test). lamina gets train + valid as its data (its own seeded,
stratified split of them gives the same 70 / 15 sizes) and the test rows as its test file; scikit-learn's models
fit on train and pick their threshold on valid. Every method's threshold is the best F1 on the validation rows:
lamina's anomaly task is given the label as `--target`, which only picks the threshold (it is never an input; the
autoencoder learns from all training rows, frauds included, without their labels). PR-AUC is average precision.
`--quick`: a 4,000-row stratified sample and one seed, to check the script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TARGET = "FraudFound_P"
ROW_ID = "PolicyNumber"  # 1..15420: an identifier, dropped before anything trains
METHODS = ("lamina anomaly (unsupervised)", "IsolationForest", "lamina binary (default)", "HistGradientBoosting")
QUICK_ROWS = 4000


def data_path() -> Path:
    folder = Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data"))
    return folder / "vehicle-insurance-fraud" / "fraud_oracle.csv"


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    rest, test = train_test_split(frame, test_size=0.15, random_state=seed, stratify=frame[TARGET])
    train, valid = train_test_split(rest, test_size=0.15 / 0.85, random_state=seed, stratify=rest[TARGET])
    return train, valid, test


def scores(truth: np.ndarray, score: np.ndarray, threshold: float) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from lamina.evaluation.threshold import at_threshold

    flagged = at_threshold(truth, score, threshold)
    return {"pr_auc": average_precision_score(truth, score), "roc_auc": roc_auc_score(truth, score),
            "precision": flagged["precision"], "recall": flagged["recall"]}


def encoded(train: pd.DataFrame, *others: pd.DataFrame):
    """Feature matrices for scikit-learn: text columns as ordinal codes (fitted on train), numbers as they are."""
    from sklearn.preprocessing import OrdinalEncoder

    features = [c for c in train.columns if c != TARGET]
    text = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    coder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(train[text])

    def matrix(frame):
        return np.column_stack([coder.transform(frame[text]), frame[[c for c in features if c not in text]]])

    categorical = np.r_[np.ones(len(text), bool), np.zeros(len(features) - len(text), bool)]
    return categorical, [matrix(f) for f in (train, *others)]


def sklearn_methods(train, valid, test, seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest

    from lamina.evaluation.threshold import best_threshold

    categorical, (x_train, x_valid, x_test) = encoded(train, valid, test)
    y_train, y_valid, y_test = (f[TARGET].to_numpy() for f in (train, valid, test))
    results = {}
    started = time.perf_counter()
    forest = IsolationForest(random_state=seed).fit(x_train)  # unsupervised: the labels are not given
    valid_score, test_score = -forest.score_samples(x_valid), -forest.score_samples(x_test)
    results["IsolationForest"] = {**scores(y_test, test_score, best_threshold(y_valid, valid_score)),
                                  "seconds": time.perf_counter() - started}
    started = time.perf_counter()
    boosting = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed).fit(x_train, y_train)
    valid_score, test_score = boosting.predict_proba(x_valid)[:, 1], boosting.predict_proba(x_test)[:, 1]
    results["HistGradientBoosting"] = {**scores(y_test, test_score, best_threshold(y_valid, valid_score)),
                                       "seconds": time.perf_counter() - started}
    return results


def lamina_methods(train, valid, test, seed: int, work: Path) -> dict:
    import lamina

    data, test_path = work / f"claims_{seed}.csv", work / f"test_{seed}.csv"
    pd.concat([train, valid]).to_csv(data, index=False)
    test.to_csv(test_path, index=False)
    results = {}
    for method, task in (("lamina anomaly (unsupervised)", "anomaly"), ("lamina binary (default)", "auto")):
        started = time.perf_counter()
        model = lamina.fit(data, TARGET, test=test_path, task=task, seed=seed, valid_fraction=0.15 / 0.85,
                           progress=False)
        test_metrics = model.metrics["test"]
        results[method] = {**{k: test_metrics[k] for k in ("pr_auc", "roc_auc", "precision", "recall")},
                           "seconds": time.perf_counter() - started, "epochs": model.training["epochs_run"]}
        if task == "auto":
            decision = model.task.decision_
            results[method]["rule"] = f"{decision['rule']}, weights {decision['class_weights'] is not None}"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS} rows and one seed")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    frame = pd.read_csv(data_path()).drop(columns=[ROW_ID])
    seeds = args.seeds
    if args.quick:
        from sklearn.model_selection import train_test_split

        frame = train_test_split(frame, train_size=QUICK_ROWS, random_state=0, stratify=frame[TARGET])[0]
        seeds = seeds[:1]
    print(f"{len(frame)} claims, {frame[TARGET].mean():.2%} fraud; seeds {seeds}; torch threads "
          f"{torch.get_num_threads()}", flush=True)
    runs: dict[str, list[dict]] = {method: [] for method in METHODS}
    with tempfile.TemporaryDirectory() as work:
        for seed in seeds:
            train, valid, test = split(frame, seed)
            results = {**sklearn_methods(train, valid, test, seed), **lamina_methods(train, valid, test, seed, Path(work))}
            for method in METHODS:
                runs[method].append(results[method])
                print(f"seed {seed} {method}: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                                           for k, v in results[method].items()), flush=True)
    print("\n| method | PR-AUC | ROC-AUC | precision | recall | seconds per seed |")
    print("|---|---:|---:|---:|---:|---:|")
    for method in METHODS:
        cells = []
        for key in ("pr_auc", "roc_auc", "precision", "recall", "seconds"):
            values = [r[key] for r in runs[method]]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.0f}" if key == "seconds"
                         else f"{statistics.mean(values):.4f} ± {spread:.4f}")
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
