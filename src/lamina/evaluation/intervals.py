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
    return ClassificationScorer(labels, proba, predicted).metrics(np.ones(len(labels)))


class ClassificationScorer:
    """Classification metrics of a resample of fixed rows, given as each row's count in it (weights [rows]).

    Every rank-based metric sorts each class's scores once, here: a resample's ROC AUC (Mann-Whitney U, ties at
    half) and average precision are then sums of counts over the sorted rows and their tie groups, O(rows)
    instead of a sort per resample (on 10,000 test rows of 10 classes, 500 resamples took 6 s with a sort each)."""

    def __init__(self, labels: np.ndarray, proba: np.ndarray, predicted: np.ndarray | None = None):
        """labels [rows] class indices; proba [rows, classes]; predicted [rows] (default: the likeliest class)."""
        self.labels = labels
        self.classes = proba.shape[1]
        self.predicted = proba.argmax(axis=1) if predicted is None else predicted
        picked = np.clip(proba[np.arange(len(labels)), labels], 1e-7, 1.0) / np.clip(proba, 1e-7, 1.0).sum(axis=1)
        self.row_loss = -np.log(picked)
        self.ranked = {k: _TieGroups(proba[:, k]) for k in ([1] if self.classes == 2 else range(self.classes))}
        self.descending = _TieGroups(-proba[:, 1]) if self.classes == 2 else None

    def metrics(self, weights: np.ndarray) -> dict[str, float]:
        """weights [rows]: how often each row is in the resample (all ones: the rows themselves)."""
        classes, labels = self.classes, self.labels
        confusion = np.bincount(labels * classes + self.predicted, weights=weights,
                                minlength=classes * classes).reshape(classes, classes)
        support, chosen, hits = confusion.sum(axis=1), confusion.sum(axis=0), np.diag(confusion)
        present = support > 0
        recall = hits[present] / support[present]
        precision = np.divide(hits, chosen, out=np.zeros(classes), where=chosen > 0)[present]
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(recall),
                       where=precision + recall > 0)
        aucs = [groups.auc(labels == k, weights) for k, groups in self.ranked.items()]
        total = weights.sum()
        result = {"accuracy": float(hits.sum() / total), "balanced_accuracy": float(recall.mean()),
                  "macro_f1": float(f1.mean()), "roc_auc": float(np.mean(aucs)),
                  "log_loss": float(self.row_loss @ weights / total)}
        if classes == 2:  # of the second class, as classification_metrics
            positive = labels == 1
            result["pr_auc"] = self.descending.average_precision(positive, weights) if weights[positive].any() \
                else float("nan")
            result["precision"] = float(confusion[1, 1] / chosen[1]) if chosen[1] else float("nan")
            result["recall"] = float(confusion[1, 1] / support[1]) if support[1] else float("nan")
        return result


class _TieGroups:
    """One class's scores [rows] sorted ascending once, each sorted row numbered by its group of equal scores."""

    def __init__(self, scores: np.ndarray):
        self.order = np.argsort(scores, kind="mergesort")
        ranked = scores[self.order]
        self.group = np.cumsum(np.diff(ranked, prepend=ranked[:1]) != 0)  # [rows], 0 for the lowest scores
        self.groups = int(self.group[-1]) + 1 if len(scores) else 0

    def _sums(self, positive: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts of positive and of negative rows per tie group, in ascending score order."""
        counted, hit = weights[self.order], positive[self.order]
        return (np.bincount(self.group, counted * hit, self.groups),
                np.bincount(self.group, counted * ~hit, self.groups))

    def auc(self, positive: np.ndarray, weights: np.ndarray) -> float:
        """P(a positive row scores above a negative one) + ½ P(tie): the Mann-Whitney U over both counts."""
        hits, misses = self._sums(positive, weights)
        pairs = hits.sum() * misses.sum()
        if pairs == 0:
            return float("nan")
        below = np.cumsum(misses) - misses
        return float(hits @ (below + misses / 2) / pairs)

    def average_precision(self, positive: np.ndarray, weights: np.ndarray) -> float:
        """scikit-learn's average_precision_score, Σ (R_n − R_(n−1)) P_n over the distinct thresholds, for
        scores sorted here by their negation (highest first)."""
        hits, misses = self._sums(positive, weights)
        true_positives, flagged = np.cumsum(hits), np.cumsum(hits + misses)
        precision = np.divide(true_positives, flagged, out=np.zeros_like(flagged), where=flagged > 0)
        return float(np.sum(hits / true_positives[-1] * precision))


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

        scorer = ClassificationScorer(truth, proba, predicted)

        def score(rows):
            return scorer.metrics(np.bincount(rows, minlength=len(truth)).astype(float))
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
