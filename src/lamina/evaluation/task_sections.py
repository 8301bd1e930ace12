"""The sections of report.html that belong to one kind of task, drawn from the run's held-out predictions.

Each is a plain function `(run: RunFolder, document: dict) -> list[str]` (HTML sections, in page order), so a
task object can name its own (tasks/ calls these through lamina.evaluation.report).
"""

from __future__ import annotations

import numpy as np

from lamina.evaluation import facts
from lamina.evaluation.calibration import ECE_BINS, temperature_shown, uncalibrated
from lamina.evaluation.document import Figure, Section, Table, section_html
from lamina.evaluation.mistakes import mistakes_html
from lamina.evaluation.plots import Chart, Heatmap
from lamina.run import HELD_OUT, MISTAKES, RunFolder

CALIBRATION_BINS = ECE_BINS  # equal-width confidence bins of the calibration curve: the ECE's own
MAX_ROC_CLASSES = 6  # one-vs-rest ROC curves drawn for at most this many classes


def classification_sections(run: RunFolder, document: dict) -> list[str]:
    """Confusion matrix, ROC and calibration curves, per-class accuracy and the most confidently wrong rows."""
    classes = facts.classes(document)
    held_out = run.read_table(HELD_OUT)
    proba = held_out[[f"proba_{c}" for c in classes]].to_numpy()
    truth = held_out["truth_index"].to_numpy(dtype=int)
    names = [str(c) for c in classes]
    plots = Section("Test plots", [Figure(_confusion(truth, proba, names)), Figure(_roc(truth, proba, names)),
                                   Figure(_calibration(truth, proba, names, facts.temperature(document)))])
    sections = [section_html(plots), section_html(_per_class(truth, proba, names))]
    mistakes = run.read_json(MISTAKES)
    if mistakes is not None:
        sections.append(mistakes_html(mistakes))
    return sections


def regression_sections(run: RunFolder, document: dict) -> list[str]:
    """Predicted against actual, and the residuals, on the test rows."""
    held_out = run.read_table(HELD_OUT)
    truth, predicted = held_out["truth"].to_numpy(float), held_out["prediction"].to_numpy(float)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    fit = Chart("Predicted against actual (test)", "actual", "predicted")
    fit.add("ideal", [low, high], [low, high], style="dashed").add("rows", truth, predicted, style="points")
    residuals = Chart("Residuals (test)", "predicted", "actual − predicted")
    residuals.add("zero", [predicted.min(), predicted.max()], [0, 0], style="dashed")
    residuals.add("rows", predicted, truth - predicted, style="points")
    return [section_html(Section("Test plots", [Figure(fit), Figure(residuals)]))]


def _confusion(truth: np.ndarray, proba: np.ndarray, names: list[str]) -> Heatmap:
    confusion = np.zeros((len(names), len(names)))
    np.add.at(confusion, (truth, proba.argmax(axis=1)), 1)
    return Heatmap("Confusion matrix (test)", confusion, names, names, "predicted", "true")


def _roc(truth: np.ndarray, proba: np.ndarray, names: list[str]) -> Chart:
    from sklearn.metrics import roc_curve

    roc = Chart("ROC curve (test)", "false positive rate", "true positive rate", x_range=(0, 1), y_range=(0, 1))
    roc.add("chance", [0, 1], [0, 1], style="dashed")
    binary = len(names) == 2
    for k in [1] if binary else range(min(len(names), MAX_ROC_CLASSES)):
        positive = truth == k
        if positive.all() or not positive.any():  # no curve without both kinds of rows
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, k])
        roc.add(f"positive = {names[k]}" if binary else names[k], fpr, tpr)
    return roc


def _calibration(truth: np.ndarray, proba: np.ndarray, names: list[str], temperature: float = 1.0) -> Chart:
    """Mean predicted probability against the observed frequency, in CALIBRATION_BINS bins of confidence: the
    model's probabilities as predicted (temperature-scaled by T) and as the network gave them before scaling."""
    binary = len(names) == 2
    label = f"P({names[1]})" if binary else "top-class confidence"
    chart = Chart("Calibration (test)", f"predicted {label}", "observed frequency", x_range=(0, 1), y_range=(0, 1))
    chart.add("perfect", [0, 1], [0, 1], style="dashed")
    for name, shown in ((f"calibrated (T = {temperature_shown(temperature)})", proba),
                        ("before calibration", uncalibrated(proba, temperature))):
        if binary:
            confidence, outcome = shown[:, 1], truth == 1
        else:
            confidence, outcome = shown.max(axis=1), shown.argmax(axis=1) == truth
        bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
        filled = [b for b in range(CALIBRATION_BINS) if (bins == b).any()]
        chart.add(name, [confidence[bins == b].mean() for b in filled], [outcome[bins == b].mean() for b in filled])
    return chart


def _per_class(truth: np.ndarray, proba: np.ndarray, names: list[str]) -> Section:
    """Accuracy within each true class (recall) and precision of each predicted class, on the test rows."""
    predicted = proba.argmax(axis=1)
    rows = []
    for k, name in enumerate(names):
        support, claimed = int((truth == k).sum()), int((predicted == k).sum())
        hits = int(((truth == k) & (predicted == k)).sum())
        rows.append([name, support, hits / support if support else None, hits / claimed if claimed else None])
    return Section("Per-class accuracy (test)", [
        Table(["class", "test rows", "accuracy within the class (recall)", "precision"], rows)])
