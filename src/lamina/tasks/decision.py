"""A binary classifier's decision: the threshold on the second (positive) class's probability, chosen on the
validation rows when the target is heavily imbalanced (training.imbalance) or a `--cost` is given, and the class
weights its loss used; saved in model.json (task.state.decision) and stated in the CLI summary and the report.
Balanced targets without a cost keep the most probable class (rule "argmax")."""

from __future__ import annotations

import numpy as np

from lamina.checked import Fault
from lamina.errors import LaminaError
from lamina.evaluation.threshold import Cost, best_threshold, describe, parse_cost

ARGMAX = {"rule": "argmax", "threshold": 0.5, "cost": None, "class_weights": None}
RULES = ("argmax", "f1", "cost")


def checked_cost(text: str | None, problem: str) -> Cost | None:
    """The parsed --cost, refused for a target of more than two classes (before any training)."""
    cost = parse_cost(text)
    if cost is not None and problem != "binary":
        raise LaminaError(f"--cost {text} prices the two errors of a yes/no decision; this target is {problem}. "
                          "Drop --cost.")
    return cost


def binary_decision(task, proba: np.ndarray, truth: np.ndarray, cost: Cost | None, cost_text: str | None,
                    judged_on: str = "validation rows") -> dict:
    """{"rule", "threshold", "cost", "class_weights"} for a trained classification task: for two classes with
    class weights or a cost, the best-F1 (or least-cost) threshold on the (calibrated) probabilities `proba`
    [rows, classes] and class indices `truth` [rows] of the rows `judged_on` names (recorded as "judged_on" where
    they are not the validation rows: cross-fitted members' out-of-fold predictions); else the most probable
    class."""
    weights = task.class_weights
    if task.target_.outputs != 2 or (cost is None and weights is None):
        return {**ARGMAX, "class_weights": weights}
    threshold = best_threshold(np.asarray(truth) == 1, proba[:, 1], cost)
    where = {} if judged_on == "validation rows" else {"judged_on": judged_on}
    return {"rule": "cost" if cost else "f1", "threshold": threshold, "cost": cost_text, "class_weights": weights,
            **where}


def checked_decision(raw, classes: int) -> dict:
    """A stored decision, or Fault naming what is wrong with it."""
    if not isinstance(raw, dict) or raw.get("rule") not in RULES:
        raise Fault("task.state.decision", f"must be a mapping whose rule is one of {', '.join(RULES)}")
    threshold = raw.get("threshold")
    if not isinstance(threshold, (int, float)) or not np.isfinite(threshold):
        raise Fault("task.state.decision.threshold", f"{threshold!r} is no finite number")
    weights = raw.get("class_weights")
    if weights is not None and (not isinstance(weights, list) or len(weights) != classes):
        raise Fault("task.state.decision.class_weights", f"must be null or {classes} numbers")
    return {**ARGMAX, **raw}


def decision_lines(decision: dict) -> list[str]:
    lines = []
    if decision["rule"] != "argmax":
        lines.append(f"Decision: the second class when its probability reaches the {describe(decision)}.")
    if decision.get("class_weights"):
        weights = ", ".join(f"{w:.3g}" for w in decision["class_weights"])
        lines.append(f"Class-weighted loss (weights {weights}): the rarest class has under a ninth of the commonest's "
                     "training rows (for two classes, under 10%).")
    return lines


def decision_text(decision: dict) -> str:
    """The CLI summary's lines about the decision (empty for the most probable class without weights)."""
    return "".join(f"\n{line}" for line in decision_lines(decision))


def decision_sections(decision: dict) -> list[str]:
    """The report's section stating the threshold and the class weights (none where neither applies)."""
    from lamina.evaluation.document import Paragraph, Section, section_html

    lines = decision_lines(decision)
    return [section_html(Section("Decision", [Paragraph([line]) for line in lines]))] if lines else []
