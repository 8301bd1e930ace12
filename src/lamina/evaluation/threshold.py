"""Where to cut a score into a yes/no decision: a rare class's probability, or an anomaly score.

Three rules, shared by `--task anomaly` and binary classification:

- contamination: flag the given share of the training rows (the (1 − c) quantile of their scores);
- best F1 on labelled validation rows (F1 = 2·TP / (2·TP + FP + FN));
- least cost on labelled validation rows: `--cost fn=10,fp=1` prices a missed positive and a false alarm
  (any unit; only their ratio matters), and the cut minimises fn·FN + fp·FP.

A row is flagged when its score is at or above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.errors import LaminaError

MAX_CONTAMINATION = 0.5  # beyond half the rows, the "anomalies" are the normal case


@dataclass(frozen=True)
class Cost:
    """The price of a missed positive (`fn`) and of a false alarm (`fp`), in any one unit."""
    fn: float
    fp: float


def parse_cost(text: str | None) -> Cost | None:
    """'fn=10,fp=1' → Cost(10, 1); None → None. Raises LaminaError naming the part that is wrong."""
    if text is None:
        return None
    prices: dict[str, float] = {}
    for part in str(text).split(","):
        key, equals, value = part.partition("=")
        key = key.strip().lower()
        if not equals or key not in ("fn", "fp"):
            raise LaminaError(f"--cost {text!r}: {part.strip()!r} is not fn=NUMBER or fp=NUMBER. Write it like "
                              "--cost fn=10,fp=1 (the price of a missed positive and of a false alarm).")
        try:
            price = float(value)
        except ValueError:
            raise LaminaError(f"--cost {text!r}: {value.strip()!r} (for {key}) is not a number.") from None
        if not np.isfinite(price) or price < 0:
            raise LaminaError(f"--cost {text!r}: {key} must be a finite number ≥ 0, not {value.strip()}.")
        prices[key] = price
    if set(prices) != {"fn", "fp"} or prices["fn"] + prices["fp"] == 0:
        raise LaminaError(f"--cost {text!r} needs both prices, not both zero: --cost fn=10,fp=1.")
    return Cost(prices["fn"], prices["fp"])


def contamination_threshold(scores: np.ndarray, contamination: float) -> float:
    """The score at or above which `contamination` of `scores` (the training rows') lie."""
    if not 0 < contamination <= MAX_CONTAMINATION:
        raise LaminaError(f"contamination {contamination} is outside (0, {MAX_CONTAMINATION}]: it is the share of "
                          "rows expected to be anomalies, e.g. --contamination 0.05.")
    return float(np.quantile(scores, 1 - contamination, method="higher"))


def best_threshold(labels: np.ndarray, scores: np.ndarray, cost: Cost | None = None) -> float:
    """The cut of `scores` (higher: more likely positive) with the best F1 on these `labels` (1 = positive), or
    with the least cost when `cost` is given (flagging nothing is a candidate then: a cut just above every score)."""
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ordered = np.asarray(scores, dtype=float)[order]
    # The last row of each run of equal scores: a cut there flags that row and every higher one.
    cuts = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    true_positives = np.cumsum(labels[order])[cuts]
    false_positives = cuts + 1 - true_positives
    positives = int(labels.sum())
    if cost is None:
        f1 = 2 * true_positives / np.maximum(2 * true_positives + false_positives + (positives - true_positives), 1)
        return float(ordered[cuts[int(np.argmax(f1))]])
    spent = cost.fn * (positives - true_positives) + cost.fp * false_positives
    best = int(np.argmin(spent))
    nothing = float(np.nextafter(ordered[0], np.inf))
    return nothing if cost.fn * positives <= spent[best] else float(ordered[cuts[best]])


def at_threshold(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of flagging `scores` ≥ `threshold` (NaN precision when nothing is flagged)."""
    labels = np.asarray(labels).astype(bool)
    flagged = np.asarray(scores) >= threshold
    hits = int((flagged & labels).sum())
    precision = hits / flagged.sum() if flagged.any() else float("nan")
    recall = hits / labels.sum() if labels.any() else float("nan")
    f1 = 2 * hits / (flagged.sum() + labels.sum()) if flagged.any() or labels.any() else float("nan")
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def precision_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of positives among the `k` highest scores (ties broken by row order)."""
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    return float(np.asarray(labels).astype(bool)[top].mean()) if len(top) else float("nan")


def describe(rule: dict) -> str:
    """One line for the report and the CLI: how the threshold was chosen."""
    given = "default --contamination" if rule.get("default") else "--contamination"  # older models: as given
    judged_on = rule.get("judged_on", "validation rows")  # out-of-fold predictions with cross-fitted members
    how = {"contamination": f"flags {rule.get('contamination')} of the training rows ({given})",
           "f1": f"the best F1 on the {judged_on}",
           "cost": f"the least cost on the {judged_on} (--cost {rule.get('cost')})",
           "argmax": "the most probable class"}[rule["rule"]]
    return f"threshold {rule['threshold']:.4g}: {how}"
