"""Test metrics with bootstrap confidence intervals: how much a metric could move on another test set of
the same size. Computed from the held-out predictions a run keeps (RunFolder HELD_OUT)."""

from __future__ import annotations

import numpy as np
import pandas as pd

BOOTSTRAP_SAMPLES = 500  # resamples of the test rows; the 95% interval is their 2.5th-97.5th percentile
CONFIDENCE = 0.95


def fast_classification_metrics(labels: np.ndarray, proba: np.ndarray,
                                predicted: np.ndarray | None = None) -> dict[str, float]:
    """The same metrics as evaluation.metrics.classification_metrics, in plain numpy: hundreds of
    bootstrap resamples through scikit-learn's validating functions would take tens of seconds.
    tests/test_card.py checks both give the same numbers."""
    from scipy.stats import rankdata

    classes = proba.shape[1]
    predicted = proba.argmax(axis=1) if predicted is None else predicted
    confusion = np.bincount(labels * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    support, chosen, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
    present = support > 0
    recall = hits[present] / support[present]
    precision = np.divide(hits, chosen, out=np.zeros(classes), where=chosen > 0)[present]
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(recall), where=precision + recall > 0)
    picked = np.clip(proba[np.arange(len(labels)), labels], 1e-7, 1.0) / np.clip(proba, 1e-7, 1.0).sum(axis=1)
    aucs = []
    for k in ([1] if classes == 2 else range(classes)):
        positive = labels == k
        count = positive.sum()
        if count == 0 or count == len(labels):
            aucs.append(np.nan)
            continue
        ranks = rankdata(proba[:, k])  # ties share their mean rank, as in the Mann-Whitney U statistic
        aucs.append((ranks[positive].sum() - count * (count + 1) / 2) / (count * (len(labels) - count)))
    result = {"accuracy": float(hits.sum() / len(labels)), "balanced_accuracy": float(recall.mean()),
              "macro_f1": float(f1.mean()), "roc_auc": float(np.mean(aucs)), "log_loss": float(-np.log(picked).mean())}
    if classes == 2:  # of the second class, as classification_metrics
        positive = labels == 1
        result["pr_auc"] = _average_precision(positive, proba[:, 1]) if positive.any() else float("nan")
        result["precision"] = float(confusion[1, 1] / chosen[1]) if chosen[1] else float("nan")
        result["recall"] = float(confusion[1, 1] / support[1]) if support[1] else float("nan")
    return result


def _average_precision(positive: np.ndarray, score: np.ndarray) -> float:
    """scikit-learn's average_precision_score: Σ (R_n − R_{n−1}) P_n over the distinct score thresholds."""
    order = np.argsort(-score, kind="mergesort")
    ranked, hit = score[order], positive[order]
    ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # the last row of each run of tied scores
    true_positives = np.cumsum(hit)[ends]
    precision = true_positives / (ends + 1)
    recall = true_positives / true_positives[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def fast_regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = truth - predicted
    spread = ((truth - truth.mean()) ** 2).sum()
    return {"rmse": float(np.sqrt((error**2).mean())), "mae": float(np.abs(error).mean()),
            "r2": float(1 - (error**2).sum() / spread) if spread > 0 else float("nan")}


def bootstrap_intervals(predictions: pd.DataFrame, classes: list | None, seed: int = 0) -> dict[str, tuple]:
    """metric → (value, low, high) on the held-out rows, resampled with replacement."""
    generator = np.random.default_rng(seed)
    if classes is not None:
        truth = predictions["truth_index"].to_numpy(dtype=int)
        proba = predictions[[f"proba_{c}" for c in classes]].to_numpy()
        index = {str(c): i for i, c in enumerate(classes)}  # the predicted class: a decision threshold may move it
        chosen = predictions["prediction"].astype(str).map(index) if "prediction" in predictions else None
        predicted = proba.argmax(axis=1) if chosen is None or chosen.isna().any() else chosen.to_numpy(dtype=int)

        def score(rows):
            return fast_classification_metrics(truth[rows], proba[rows], predicted[rows])
    else:
        truth = predictions["truth"].to_numpy(dtype=float)
        predicted = predictions["prediction"].to_numpy(dtype=float)

        def score(rows):
            return fast_regression_metrics(truth[rows], predicted[rows])

    everything = np.arange(len(predictions))
    point = score(everything)
    samples = {name: [] for name in point}
    for _ in range(BOOTSTRAP_SAMPLES):
        rows = generator.choice(everything, size=len(everything), replace=True)
        for name, value in score(rows).items():
            samples[name].append(value)
    tail = (1 - CONFIDENCE) / 2 * 100
    return {name: (point[name], float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail)))
            for name, values in samples.items()}
