"""The warning for a model no better than its trivial baseline (the majority class, the mean, a copy of the
source...): its test metrics look like numbers of a working model, and only the comparison says it learnt nothing.
Said where the metrics are read: the terminal after training and the top of report.html."""

from __future__ import annotations

import math

from lamina.evaluation.metrics import HIGHER_IS_BETTER, beats

PER_TARGET = ("log_loss", "r2")  # the metric a target of a model of several is judged on: its head's (classes, numbers)


def baseline_warning(metrics: dict, judged_on: str | None, training: dict) -> str | None:
    """The warning, or None when the model beats the baseline on `judged_on` (the task's main test metric,
    Task.judged_on: a key of metrics["test"] and metrics["baseline"]) or the run has no such comparison. A model of
    several targets (metrics["targets"]) is judged on each target's own head metric (PER_TARGET), not their mean:
    one target that learnt nothing hid behind another that did. `training` is the model's training record
    (model.json): the likely causes it names come first."""
    if not isinstance(metrics, dict):
        return None
    parts = metrics.get("targets")
    if isinstance(parts, dict) and parts:
        comparisons = [(f"target {name!r}: test ", part.get("test"), part.get("baseline"))
                       for name, part in parts.items() if isinstance(part, dict)]
    else:
        comparisons = [("test ", metrics.get("test"), metrics.get("baseline"))]
    losing = []
    for label, test, baseline in comparisons:
        if not isinstance(test, dict) or not isinstance(baseline, dict):  # a task's own shape: no comparison
            continue
        key = next((k for k in PER_TARGET if k in test), None) if parts else judged_on
        ours, theirs = test.get(key), baseline.get(key)
        if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)) or \
                not math.isfinite(ours) or not math.isfinite(theirs):
            continue
        if not beats(key, ours, theirs):
            losing.append(f"{label}{key} {ours:.4f} against {theirs:.4f} for the baseline "
                          f"({'higher' if key in HIGHER_IS_BETTER else 'lower'} is better)")
    if not losing:
        return None
    return (f"The model is no better than the trivial baseline: {'; '.join(losing)}. Its predictions"
            f"{'' if len(comparisons) == 1 else ' of these targets'} are not worth using as they are. Likely causes: "
            f"{'; '.join(_causes(training))}.")


def _causes(training: dict) -> list[str]:
    """What may have kept the model from learning: privacy noise and a time budget where the training record shows
    them, then too few epochs and no signal, which any run may suffer."""
    causes, reason = [], str(training.get("stop_reason") or "")
    if privacy := training.get("privacy"):
        from lamina.training.privacy import spent_epsilon

        causes.append(f"too much privacy noise (ε = {spent_epsilon(privacy)} spent at δ = {privacy['delta']:g}, "
                      f"{privacy['accountant'].upper()} accountant; noise multiplier "
                      f"{privacy['noise_multiplier']:.3g}: a larger --privacy epsilon, or more rows)")
    if "time budget" in reason:
        causes.append("a time budget too short for the data (a longer --time-budget)")
    epochs = training.get("epochs_run")
    if not privacy:  # under a fixed ε more epochs mean more noise a step: no way out there
        causes.append(f"too few epochs{f' ({epochs} run)' if epochs else ''} (a larger --epochs, or leave it out)")
    return [*causes, "no signal in the features (nothing in them predicts the target)"]
