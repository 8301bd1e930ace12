"""report.html: one self-contained page a person can read offline, built from a run folder's files."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.errors import LaminaError
from lamina.evaluation.metrics import HIGHER_IS_BETTER
from lamina.evaluation.mistakes import mistakes_html
from lamina.evaluation.plots import Chart, heatmap

CALIBRATION_BINS = 10  # equal-width confidence bins of the calibration curve
MAX_ROC_CLASSES = 6  # one-vs-rest ROC curves drawn for at most this many classes

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.mistakes{display:flex;flex-wrap:wrap;gap:.8em}.mistakes figure{margin:0;text-align:center;font-size:.85em}
.mistakes img{image-rendering:pixelated;border:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left}
th{background:#f5f5f5}.error{color:#b91c1c;font-weight:bold}.warning{color:#b45309}.info{color:#555}
.charts{display:flex;flex-wrap:wrap;gap:1em}.better{font-weight:bold}pre{background:#f7f7f7;padding:1em}
.summary{font-size:1.1em;background:#f0f6ff;padding:.8em 1em;border-radius:6px}
"""


def require_finished_run(run_dir: Path) -> None:
    needed = ["model/model.json", "metrics.json", "checks.json", "history.csv", "test_predictions.csv", "config.yaml"]
    absent = [name for name in needed if not (run_dir / name).exists()]
    if absent:
        raise LaminaError(
            f"{run_dir} lacks {', '.join(absent)}: it is not a finished run folder. If training was interrupted, "
            f"continue it with: lamina train --resume {run_dir}"
        )


def write_report(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    require_finished_run(run_dir)
    model = json.loads((run_dir / "model/model.json").read_text(encoding="utf-8"))
    findings = json.loads((run_dir / "checks.json").read_text(encoding="utf-8"))
    history = pd.read_csv(run_dir / "history.csv")
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    config_text = (run_dir / "config.yaml").read_text(encoding="utf-8")
    from lamina.insight.card import markdown_to_html, model_card

    insight = {name: json.loads((run_dir / f"{name}.json").read_text(encoding="utf-8"))
               for name in ("explain", "audit", "mistakes") if (run_dir / f"{name}.json").exists()}
    insight["card"] = markdown_to_html(model_card(run_dir))
    html = render(model, findings, history, predictions, config_text, insight)
    path = run_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def render(model: dict, findings: list[dict], history: pd.DataFrame, predictions: pd.DataFrame, config: str,
           insight: dict | None = None) -> str:
    """`insight` may hold the results of `lamina explain` ("explain") and `lamina audit` ("audit"), the most
    confidently wrong test images of an image model ("mistakes"), and the model card as HTML ("card")."""
    insight = insight or {}
    schema, training, metrics = model["schema"], model["training"], model["metrics"]
    classes = model["target"].get("classes")
    sections = [
        f"<h1>lamina report: predicting <code>{escape(schema['target'])}</code> ({escape(model['task'])})</h1>",
        _summary(model),
        "<h2>Test metrics</h2>",
        "<p>Measured on held-out test rows the model never saw in training or model selection, beside a "
        "trivial baseline (" + ("the majority class" if classes else "the training mean") + ").</p>",
        _metrics_table(metrics),
        "<h2>Plots</h2><div class='charts'>",
        _learning_curves(history, training["best_epoch"]),
        *(_classification_plots(predictions, classes) if classes else _regression_plots(predictions)),
        "</div>",
        _per_class_table(predictions, classes) if classes else "",
        mistakes_html(insight["mistakes"]) if "mistakes" in insight else "",
        _explain_section(insight.get("explain")),
        _audit_section(insight.get("audit")),
        "<h2>Data quality</h2>",
        _findings_table(findings),
        "<h2>Data and split</h2>",
        _split_table(training),
        _columns_table(schema),
        f"<div class='card'>{insight['card']}</div>" if "card" in insight else "",
        "<h2>Configuration</h2>",
        f"<pre>{escape(config)}</pre>",
    ]
    return report_page(schema["target"], sections, model)


def report_page(title: str, sections: list[str], model: dict) -> str:
    """The whole HTML page around a report's sections, ending with the version line of the model it describes."""
    footer = f"<p class='info'>lamina {escape(str(model['lamina_version']))}, model format {model['format_version']}.</p>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lamina report: {escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(sections)}{footer}</body></html>")


def _summary(model: dict) -> str:
    training, metrics = model["training"], model["metrics"]
    headline = "accuracy" if "accuracy" in metrics["test"] else "rmse"
    value, base = metrics["test"][headline], metrics["baseline"][headline]
    return (
        f"<p class='summary'>Test {headline} <b>{_fmt(value)}</b> against {_fmt(base)} for the baseline, "
        f"on {training['sizes']['test']} test rows. Trained {training['epochs_run']} epochs "
        f"(best: epoch {training['best_epoch']}; {escape(training['stop_reason'])}) in "
        f"{training['train_seconds']:.1f}s on {escape(training['device'])}, seed {training['seed']}. "
        f"Network <code>{escape(_network(model['architecture']))}</code>.</p>"
    )


def _network(architecture: dict) -> str:
    """The architecture as resolved for this data (the config may say "auto")."""
    settings = ", ".join(f"{k} {v}" for k, v in architecture["hyperparameters"].items())
    return f"{architecture['arch']} ({settings})"


def _metrics_table(metrics: dict) -> str:
    rows = []
    for name, value in metrics["test"].items():
        base = metrics["baseline"].get(name)
        higher = name in HIGHER_IS_BETTER
        better = value is not None and base is not None and (value > base if higher else value < base)
        rows.append(f"<tr><td>{name}</td><td class='{'better' if better else ''}'>{_fmt(value)}</td>"
                    f"<td>{_fmt(base)}</td><td>{'higher' if higher else 'lower'}</td></tr>")
    return ("<table><tr><th>metric</th><th>model</th><th>baseline</th><th>better when</th></tr>"
            + "".join(rows) + "</table>")


def _learning_curves(history: pd.DataFrame, best_epoch: int) -> str:
    last = max(int(history["epoch"].max()), 2)
    chart = Chart("Learning curves", "epoch", "loss", x_range=(1, last))
    for column in ("train_loss", "valid_loss"):
        if column in history:
            chart.add(column.replace("_", " "), history["epoch"], history[column])
    losses = history[[c for c in ("train_loss", "valid_loss") if c in history]].to_numpy()
    chart.add(f"best epoch ({best_epoch}), weights kept", [best_epoch, best_epoch],
              [np.nanmin(losses), np.nanmax(losses)], style="dashed")
    return chart.svg()


def _classification_plots(predictions: pd.DataFrame, classes: list) -> list[str]:
    proba = predictions[[f"proba_{c}" for c in classes]].to_numpy()
    truth = predictions["truth_index"].to_numpy(dtype=int)
    names = [str(c) for c in classes]
    confusion = np.zeros((len(classes), len(classes)))
    np.add.at(confusion, (truth, proba.argmax(axis=1)), 1)
    plots = [heatmap("Confusion matrix (test)", confusion, names, names, "predicted", "true")]
    roc = Chart("ROC curve (test)", "false positive rate", "true positive rate", x_range=(0, 1), y_range=(0, 1))
    roc.add("chance", [0, 1], [0, 1], style="dashed")
    shown = [1] if len(classes) == 2 else range(min(len(classes), MAX_ROC_CLASSES))
    for k in shown:
        fpr, tpr = _roc_points(truth == k, proba[:, k])
        roc.add(names[k] if len(classes) > 2 else f"positive = {names[k]}", fpr, tpr)
    plots.append(roc.svg())
    if len(classes) == 2:
        confidence, correct, label = proba[:, 1], truth == 1, f"P({names[1]})"
    else:
        confidence, correct, label = proba.max(axis=1), proba.argmax(axis=1) == truth, "top-class confidence"
    mean_confidence, observed = _calibration_points(confidence, correct)
    calibration = Chart("Calibration (test)", f"predicted {label}", "observed frequency",
                        x_range=(0, 1), y_range=(0, 1))
    calibration.add("perfect", [0, 1], [0, 1], style="dashed").add("model", mean_confidence, observed)
    plots.append(calibration.svg())
    return plots


def _per_class_table(predictions: pd.DataFrame, classes: list) -> str:
    """Accuracy within each true class (recall) and precision of each predicted class, on the test rows."""
    proba = predictions[[f"proba_{c}" for c in classes]].to_numpy()
    truth, predicted = predictions["truth_index"].to_numpy(dtype=int), proba.argmax(axis=1)
    rows = []
    for k, name in enumerate(classes):
        support, claimed = int((truth == k).sum()), int((predicted == k).sum())
        hits = int(((truth == k) & (predicted == k)).sum())
        rows.append(f"<tr><td>{escape(str(name))}</td><td>{support}</td>"
                    f"<td>{_fmt(hits / support) if support else '–'}</td>"
                    f"<td>{_fmt(hits / claimed) if claimed else '–'}</td></tr>")
    return ("<h2>Per-class accuracy (test)</h2><table><tr><th>class</th><th>test rows</th>"
            "<th>accuracy within the class (recall)</th><th>precision</th></tr>" + "".join(rows) + "</table>")


def _regression_plots(predictions: pd.DataFrame) -> list[str]:
    truth, predicted = predictions["truth"].to_numpy(float), predictions["prediction"].to_numpy(float)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    fit = Chart("Predicted against actual (test)", "actual", "predicted")
    fit.add("ideal", [low, high], [low, high], style="dashed").add("rows", truth, predicted, style="points")
    residuals = Chart("Residuals (test)", "predicted", "actual − predicted")
    residuals.add("zero", [predicted.min(), predicted.max()], [0, 0], style="dashed")
    residuals.add("rows", predicted, truth - predicted, style="points")
    return [fit.svg(), residuals.svg()]


def _roc_points(positive: np.ndarray, score: np.ndarray):
    from sklearn.metrics import roc_curve

    if positive.all() or not positive.any():
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    fpr, tpr, _ = roc_curve(positive, score)
    return fpr, tpr


def _calibration_points(confidence: np.ndarray, outcome: np.ndarray):
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    means, observed = [], []
    for b in range(CALIBRATION_BINS):
        inside = bins == b
        if inside.any():
            means.append(confidence[inside].mean())
            observed.append(outcome[inside].mean())
    return np.array(means), np.array(observed)


def _bars(pairs: list[tuple[str, float]], unit: str) -> str:
    scale = max((abs(v) for _, v in pairs), default=1.0) or 1.0
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td><span style='display:inline-block;height:12px;width:{180 * abs(v) / scale:.0f}px;"
        f"background:{'#2563eb' if v >= 0 else '#dc2626'}'></span> {v:+.4f}</td></tr>" for name, v in pairs
    )
    return f"<table><tr><th>column</th><th>{escape(unit)}</th></tr>{rows}</table>"


def _explain_section(explain: dict | None) -> str:
    if not explain:
        return ""
    parts = ["<h2>Explanations</h2>"]
    if "importance" in explain:
        first = explain["importance"][0]
        parts.append(f"<p>Permutation importance: {escape(first['metric'])} lost when a column's values are shuffled "
                     f"(mean over {first['repeats']} shuffles; ± is in the JSON).</p>")
        parts.append(_bars([(e["column"], e["drop"]) for e in explain["importance"]], f"{first['metric']} drop"))
    attributions = explain["attributions"]
    parts.append(f"<p>Integrated gradients for rows {', '.join(map(str, explain['rows']))} "
                 f"({escape(attributions['output_unit'])}; completeness gap {attributions['completeness_gap']:.4f}).</p>")
    header = "".join(f"<th>{escape(c)}</th>" for c in attributions["columns"])
    body = "".join(
        f"<tr><td>{row} → {escape(str(label))}</td>" + "".join(f"<td>{v:+.3f}</td>" for v in values) + "</tr>"
        for row, label, values in zip(explain["rows"], attributions["explained_output"], attributions["attributions"],
                                      strict=True)
    )
    parts.append(f"<table><tr><th>row → explained</th>{header}</tr>{body}</table>")
    if "overlays" in attributions:
        cells = "".join(
            f"<figure><img src='data:image/png;base64,{png}' alt='attributions of row {row}'>"
            f"<figcaption>row {row} → {escape(str(label))}</figcaption></figure>"
            for row, label, png in zip(explain["rows"], attributions["explained_output"], attributions["overlays"],
                                       strict=True))
        parts.append("<p>Pixels that pushed towards the explained class in red, away from it in blue.</p>"
                     f"<div class='mistakes'>{cells}</div>")
    if "tokens" in attributions:
        lines = "".join(f"<p>row {row} → {escape(str(label))}: {_shaded_tokens(tokens)}</p>"
                        for row, label, tokens in zip(explain["rows"], attributions["explained_output"],
                                                      attributions["tokens"], strict=True))
        parts.append("<p>Tokens that pushed towards the explained output in red, away from it in blue "
                     "(hover for the value).</p>" + lines)
    return "".join(parts)


def _shaded_tokens(tokens: list) -> str:
    strongest = max((abs(value) for _, value in tokens), default=0.0) or 1.0
    spans = []
    for piece, value in tokens:
        alpha = abs(value) / strongest
        colour = f"rgba(214,39,40,{alpha:.2f})" if value > 0 else f"rgba(31,119,180,{alpha:.2f})"
        spans.append(f"<span style='background:{colour}' title='{value:+.4f}'>{escape(piece)}</span>")
    return " ".join(spans)


def _robustness_section(robustness: dict | None) -> str:
    if not robustness:
        return ""
    if not robustness["applicable"]:
        return f"<h2>Robustness audit</h2><p>Not applicable: {escape(robustness['reason'])}.</p>"
    curve = robustness["curve"]
    budgets = [p["budget"] for p in curve]
    unit = robustness.get("unit", "normal-score units")  # runs audited before images had no unit field
    chart = Chart("Accuracy under attack", f"L∞ budget ({unit})", "accuracy", y_range=(0, 1))
    for attack in ("pgd", "fgsm", "random"):
        chart.add(attack.upper() if attack != "random" else "random noise", budgets, [p[attack] for p in curve])
    large = robustness["large_budget"]
    return (f"<h2>Robustness audit</h2><p>{escape(robustness['space'])}; {robustness['rows']} rows. "
            f"{escape(robustness['note'])}. Sanity check: at budget {large['budget']} PGD accuracy is "
            f"{large['pgd']:.3f}.</p>{chart.svg()}")


def _audit_section(audit: dict | None) -> str:
    if not audit:
        return ""
    parts = [_robustness_section(audit.get("robustness"))]
    if audit["columns"]:
        parts.append(f"<h2>Bias audit</h2><p>{audit['rows']} labelled rows.</p>")
    for column, entry in audit["columns"].items():
        names = [k for k in entry["groups"][0] if k != "group"]
        header = "".join(f"<th>{escape(n)}</th>" for n in names)
        rows = "".join("<tr><td>" + escape(str(g["group"])) + "</td>" + "".join(f"<td>{_fmt(g[n])}</td>" for n in names)
                       + "</tr>" for g in entry["groups"])
        flags = "".join(
            f"<li class='{'warning' if d['flagged'] else ''}'>{escape(d['name'])} {d['value']:.3f} (limit {d['limit']})"
            f"{' — flagged' if d['flagged'] else ''}</li>" for d in entry["disparities"]
        )
        parts.append(f"<h3>{escape(column)}</h3><table><tr><th>group</th>{header}</tr>{rows}</table><ul>{flags}</ul>")
    for column, report in audit.get("mitigation", {}).items():
        rows = "".join(f"<tr><td>{k}</td><td>{_fmt(report['before'][k])}</td><td>{_fmt(report['after'][k])}</td></tr>"
                       for k in ("accuracy", "demographic_parity_difference", "demographic_parity_ratio",
                                 "equalized_odds_difference"))
        parts.append(f"<h3>Threshold mitigation for {escape(column)} ({escape(report['constraint'])})</h3>"
                     f"<p>Fitted on {report['fitted_on_rows']} rows, measured on the other {report['measured_on_rows']}.</p>"
                     f"<table><tr><th></th><th>before</th><th>after</th></tr>{rows}</table>")
    return "".join(parts)


def _findings_table(findings: list[dict]) -> str:
    if not findings:
        return "<p>No findings: no missing targets, duplicates, constant or ID-like columns, or leaks were seen.</p>"
    rows = "".join(
        f"<tr><td class='{escape(f['level'])}'>{escape(f['level'])}</td><td>{escape(f['code'])}</td>"
        f"<td>{escape(f['message'])}</td></tr>" for f in findings
    )
    return f"<table><tr><th>level</th><th>check</th><th>finding</th></tr>{rows}</table>"


def _split_table(training: dict) -> str:
    sizes = training["sizes"]
    cells = "".join(f"<tr><td>{name}</td><td>{count}</td></tr>" for name, count in sizes.items())
    return (f"<p>Split: {escape(training['split'])}. Batch size {training['batch_size']}.</p>"
            f"<table><tr><th>part</th><th>rows</th></tr>{cells}</table>")


def _columns_table(schema: dict) -> str:
    rows = "".join(
        f"<tr><td>{escape(c['name'])}</td><td>{escape(c['kind'])}</td><td>{escape(c['role'])}</td>"
        f"<td>{escape(c['note'])}</td></tr>" for c in schema["columns"]
    )
    return f"<table><tr><th>column</th><th>kind</th><th>role</th><th>note</th></tr>{rows}</table>"


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.4f}"
