"""Test metrics, always beside a trivial baseline (the majority class, or the mean)."""

from __future__ import annotations

import numpy as np

CLASSIFICATION = ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "log_loss")
BINARY = ("pr_auc", "precision", "recall")  # of the second class (the positive one), for two classes only
HIGHER_IS_BETTER = {"accuracy", "balanced_accuracy", "macro_f1", "roc_auc", "r2", "pr_auc", "precision", "recall",
                    "f1", "precision_at_10", "precision_at_100", "exact", "bleu", "bleu_lowercase", "chrf"}
NEITHER_BETTER = {"flagged_share"}  # a description of the answers (an anomaly model's share of rows flagged), no score


def beats(name: str, value, baseline) -> bool:
    """Whether metric `name`'s `value` is better than the baseline's: both numbers, higher or lower as the metric
    goes (HIGHER_IS_BETTER); a description (NEITHER_BETTER) never is. What the report puts in bold and the
    no-better-than-baseline warning (evaluation.baseline) reads."""
    if name in NEITHER_BETTER or not isinstance(value, (int, float)) or not isinstance(baseline, (int, float)):
        return False
    return value > baseline if name in HIGHER_IS_BETTER else value < baseline


def log_loss(labels: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood in nats of class indices `labels` [rows] under `proba` [rows, classes]
    (scikit-learn's log_loss). A sure wrong answer costs −log(1e-7) ≈ 16 nats, not infinity; rows are
    renormalised after that floor, or a float64 row like (1, 1e-20) would sum to 1 + 1e-7 and scikit-learn warns
    that it is no distribution."""
    from sklearn import metrics

    floored = np.clip(np.asarray(proba, dtype=np.float64), 1e-7, 1.0)
    return metrics.log_loss(labels, floored / floored.sum(axis=1, keepdims=True), labels=np.arange(proba.shape[1]))


def classification_metrics(labels: np.ndarray, proba: np.ndarray, predicted: np.ndarray | None = None) -> dict[str, float]:
    """`labels` are class indices, `proba` is [rows, classes], `predicted` the predicted class indices (default: the
    most probable class). Two classes add PR-AUC (average precision of the second class's probability) and the
    precision and recall of predicting the second class (NaN where nothing is predicted or present)."""
    from sklearn import metrics

    classes = proba.shape[1]
    predicted = proba.argmax(axis=1) if predicted is None else predicted
    result = {
        "accuracy": metrics.accuracy_score(labels, predicted),
        "balanced_accuracy": metrics.balanced_accuracy_score(labels, predicted),
        "macro_f1": metrics.f1_score(labels, predicted, average="macro", labels=np.unique(labels)),
        "log_loss": log_loss(labels, proba),
    }
    present = np.unique(labels)
    if len(present) == classes == 2:
        result["roc_auc"] = metrics.roc_auc_score(labels, proba[:, 1])
    elif len(present) == classes:
        result["roc_auc"] = metrics.roc_auc_score(labels, proba, multi_class="ovr", average="macro")
    else:
        result["roc_auc"] = float("nan")  # undefined when a class is absent from the evaluated rows
    names = CLASSIFICATION
    if classes == 2:
        names += BINARY
        positive, claimed = labels == 1, predicted == 1
        hits = int((positive & claimed).sum())
        result["pr_auc"] = metrics.average_precision_score(positive, proba[:, 1]) if positive.any() else float("nan")
        result["precision"] = hits / claimed.sum() if claimed.any() else float("nan")
        result["recall"] = hits / positive.sum() if positive.any() else float("nan")
    return {name: float(result[name]) for name in names}


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn import metrics

    return {
        "rmse": float(np.sqrt(metrics.mean_squared_error(truth, predicted))),
        "mae": float(metrics.mean_absolute_error(truth, predicted)),
        "r2": float(metrics.r2_score(truth, predicted)) if len(truth) > 1 else float("nan"),
    }


def class_prior(train_labels: np.ndarray, classes: int) -> list[float]:
    """Training class frequencies: as a prediction for every row, the majority-class baseline."""
    counts = np.bincount(train_labels, minlength=classes).astype(float)
    return (counts / counts.sum()).tolist()
