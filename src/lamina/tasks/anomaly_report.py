"""The anomaly task's report sections, from the run's held-out table (test rows with their scores): the test
metrics beside the baseline's with the learning curves (evaluation.facts.scores_beside_baseline), the threshold
and how it was chosen, score histograms (by class with labels), PR and ROC curves, precision at the top k and the
most anomalous test rows with the columns that make them so. Every value reaches the page escaped
(evaluation.document)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lamina.evaluation.document import Figure, Paragraph, Section, Table, section_html
from lamina.evaluation.facts import scores_beside_baseline
from lamina.evaluation.plots import Chart
from lamina.evaluation.threshold import describe, precision_at_k
from lamina.run import HELD_OUT, RunFolder

TOP_K = (10, 50, 100, 500)  # k of the precision@k table (those up to the test rows)
SHOWN_ROWS = 10  # most anomalous test rows listed
SHOWN_COLUMNS = 8  # of their input columns, the first this many are shown beside the score
OWN = ("anomaly_score", "is_anomaly", "top_columns", "anomaly_error", "truth_anomaly")  # columns the task adds


def anomaly_sections(run: RunFolder, document: dict) -> list[str]:
    state = document["task"]["state"]
    decision, labels = state["decision"], state["labels"]
    held_out = run.read_table(HELD_OUT)
    scores = held_out["anomaly_score"].to_numpy(float)
    truth = held_out["truth_anomaly"].astype(str).str.lower().eq("true").to_numpy() if labels else None
    blocks = [Paragraph([f"{describe(decision)}: a row is flagged at an anomaly score of {decision['score']:.3f} "
                         "or more (the score is the share of training rows with a smaller reconstruction error)."])]
    blocks.append(Figure(_histogram(scores, truth, labels, document["training"].get("train_score_histogram"))))
    sections = []
    if truth is not None and truth.any() and not truth.all():
        errors = held_out["anomaly_error"].to_numpy(float)
        blocks += [Figure(_pr_curve(truth, errors)), Figure(_roc_curve(truth, errors))]
        sections.append(section_html(Section("Precision at the top k (test)", [_top_k(truth, errors)])))
    sections.insert(0, section_html(Section("Anomaly scores (test)", blocks)))
    sections.append(section_html(_most_anomalous(held_out, labels)))
    return [section_html(scores_beside_baseline(run, document)), *sections]


def _histogram(scores: np.ndarray, truth: np.ndarray | None, labels: dict | None, train: list | None) -> Chart:
    chart = Chart("Anomaly scores (share of rows per bin)", "anomaly score", "share of rows", x_range=(0, 1))
    bins = len(train) if train else 20
    centres = (np.arange(bins) + 0.5) / bins

    def shares(values):
        counts = np.histogram(values, bins, (0, 1))[0]
        return counts / max(counts.sum(), 1)

    if truth is not None:
        for name, chosen in ((f"{labels['normal']} (normal)", ~truth), (f"{labels['positive']} (anomaly)", truth)):
            if chosen.any():
                chart.add(name, centres, shares(scores[chosen]))
    else:
        chart.add("test rows", centres, shares(scores))
    if train:
        counts = np.asarray(train, dtype=float)
        chart.add("training rows", centres, counts / max(counts.sum(), 1), style="dashed")
    return chart


def _pr_curve(truth: np.ndarray, errors: np.ndarray) -> Chart:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(truth, errors)
    chart = Chart("Precision-recall curve (test)", "recall", "precision", x_range=(0, 1), y_range=(0, 1.02))
    chart.add(f"chance ({truth.mean():.3f})", [0, 1], [truth.mean()] * 2, style="dashed")
    return chart.add(f"model (PR-AUC {average_precision_score(truth, errors):.3f})", recall, precision)


def _roc_curve(truth: np.ndarray, errors: np.ndarray) -> Chart:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(truth, errors)
    chart = Chart("ROC curve (test)", "false positive rate", "true positive rate", x_range=(0, 1), y_range=(0, 1))
    chart.add("chance", [0, 1], [0, 1], style="dashed")
    return chart.add(f"model (ROC AUC {roc_auc_score(truth, errors):.3f})", fpr, tpr)


def _top_k(truth: np.ndarray, errors: np.ndarray) -> Table:
    positives = int(truth.sum())
    rows = [[k, precision_at_k(truth, errors, k), precision_at_k(truth, errors, k) * k / positives]
            for k in TOP_K if k <= len(truth)]
    return Table(["k (most anomalous test rows)", "precision@k (share that are anomalies)",
                  "recall@k (share of the anomalies)"], rows)


def _most_anomalous(held_out: pd.DataFrame, labels: dict | None) -> Section:
    top = held_out.sort_values("anomaly_score", ascending=False, kind="stable").head(SHOWN_ROWS)
    inputs = [c for c in held_out.columns if c not in OWN and (labels is None or c != labels["column"])]
    shown = inputs[:SHOWN_COLUMNS]
    columns = ["anomaly score", "flagged", *(["label"] if labels else []), "top columns (× usual error)", *shown]
    rows = []
    for _, row in top.iterrows():
        label = [_cell(row[labels["column"]])] if labels else []
        rows.append([row["anomaly_score"], _cell(row["is_anomaly"]), *label, _cell(row["top_columns"]),
                     *(_cell(row[c]) for c in shown)])
    note = f" (the first {SHOWN_COLUMNS} of {len(inputs)} input columns)" if len(inputs) > SHOWN_COLUMNS else ""
    return Section("Most anomalous test rows", [Paragraph([f"The {len(top)} test rows with the highest scores{note}."]),
                                                Table(columns, rows)])


def _cell(value):
    """A number stays a number (formatted by the page); anything else is shown as its text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return value
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)
