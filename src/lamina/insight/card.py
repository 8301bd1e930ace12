"""The model card: intended use, data and split, test metrics with bootstrap confidence intervals,
data-quality findings, per-group results, robustness and limitations — as Markdown (`lamina card RUN`)
and as a section of report.html. Built from the run folder's files only."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

BOOTSTRAP_SAMPLES = 500  # resamples of the test rows; the 95% interval is their 2.5th-97.5th percentile
CONFIDENCE = 0.95


def fast_classification_metrics(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """The same metrics as evaluation.metrics.classification_metrics, in plain numpy: hundreds of
    bootstrap resamples through scikit-learn's validating functions would take tens of seconds.
    tests/test_card.py checks both give the same numbers."""
    from scipy.stats import rankdata

    classes = proba.shape[1]
    predicted = proba.argmax(axis=1)
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
    return {"accuracy": float(hits.sum() / len(labels)), "balanced_accuracy": float(recall.mean()),
            "macro_f1": float(f1.mean()), "roc_auc": float(np.mean(aucs)), "log_loss": float(-np.log(picked).mean())}


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

        def score(rows):
            return fast_classification_metrics(truth[rows], proba[rows])
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


def model_card(run_dir: Path) -> str:
    from lamina.evaluation.report import require_finished_run

    run_dir = Path(run_dir)
    require_finished_run(run_dir)
    model = json.loads((run_dir / "model" / "model.json").read_text(encoding="utf-8"))
    findings = json.loads((run_dir / "checks.json").read_text(encoding="utf-8"))
    predictions = pd.read_csv(run_dir / "test_predictions.csv")
    schema, training, metrics = model["schema"], model["training"], model["metrics"]
    classes = model["target"].get("classes")
    features = [c for c in schema["columns"] if c["role"] == "feature"]
    dropped = [c for c in schema["columns"] if c["role"] == "dropped"]
    lines = [
        f"# Model card: {schema['target']} ({model['task']})",
        "",
        "## Intended use",
        f"Predicts `{schema['target']}` from {len(features)} columns of a table like the training data. "
        "Meant to support a person's decision, with the explanations and audits below in view; not meant for "
        "populations, columns or value ranges the training data does not cover.",
        "",
        "## Data and split",
        f"- Split: {training['split']}; rows: " + ", ".join(f"{k} {v}" for k, v in training["sizes"].items()) + ".",
        "- Inputs: " + ", ".join(f"{c['name']} ({c['kind']})" for c in features) + ".",
    ]
    if dropped:
        lines.append("- Not used: " + ", ".join(f"{c['name']} ({c['note']})" for c in dropped) + ".")
    lines.append(f"- Network: {model['architecture']['arch']} {model['architecture']['hyperparameters']}; "
                 f"{training['epochs_run']} epochs, best epoch {training['best_epoch']} ({training['stop_reason']}).")
    lines += ["", f"## Test metrics ({int(CONFIDENCE * 100)}% bootstrap intervals, {BOOTSTRAP_SAMPLES} resamples)", "",
              "| metric | model | interval | baseline |", "|---|---:|---:|---:|"]
    for name, (value, low, high) in bootstrap_intervals(predictions, classes).items():
        base = metrics["baseline"].get(name)
        lines.append(f"| {name} | {value:.4f} | {low:.4f} – {high:.4f} | {_number(base)} |")
    lines += ["", "## Data quality", ""]
    lines += [f"- **{f['level']}** {f['message']}" for f in findings] or ["- No findings."]
    audit = _optional(run_dir / "audit.json")
    lines += ["", "## Per-group results", ""]
    if audit and audit["columns"]:
        for column, entry in audit["columns"].items():
            names = [k for k in entry["groups"][0] if k != "group"]
            lines += [f"**{column}**", "", "| group | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
            lines += ["| " + " | ".join([str(g["group"]), *(_number(g[n]) for n in names)]) + " |"
                      for g in entry["groups"]]
            lines += [f"- {d['name']}: {d['value']:.3f} (limit {d['limit']}){' — flagged' if d['flagged'] else ''}"
                      for d in entry["disparities"]] + [""]
    else:
        lines.append(f"- Not audited yet: run `lamina audit {run_dir} DATA --sensitive COLUMNS`.")
    robustness = (audit or {}).get("robustness")
    lines += ["", "## Robustness", ""]
    if robustness and robustness["applicable"]:
        lines += [f"Accuracy under attack, {robustness['space']} ({robustness['rows']} rows):", "",
                  "| budget | FGSM | PGD | random noise |", "|---:|---:|---:|---:|"]
        lines += [f"| {p['budget']} | {p['fgsm']:.4f} | {p['pgd']:.4f} | {p['random']:.4f} |" for p in robustness["curve"]]
        lines += ["", robustness["note"] + "."]
    elif robustness:
        lines.append(f"- Not applicable: {robustness['reason']}.")
    else:
        lines.append(f"- Not audited yet: run `lamina audit {run_dir} DATA`.")
    lines += ["", "## Limitations", "",
              "- Test metrics hold for data like the test split; shifted populations need `lamina monitor`.",
              "- Per-group numbers on small groups are noisy; read their sizes.",
              "- Explanations (integrated gradients) describe the model, not the world: a large attribution is "
              "what the model used, not a cause."]
    return "\n".join(lines) + "\n"


def _optional(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _number(value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) and not float(value).is_integer() else str(int(value))


def markdown_to_html(text: str) -> str:
    """The small Markdown subset the card uses: headings, bullets, tables, bold, code, paragraphs."""
    import re

    def inline(line: str) -> str:
        line = escape(line)
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", line)

    html, table, bullets = [], [], []

    def flush():
        if bullets:
            html.append("<ul>" + "".join(f"<li>{b}</li>" for b in bullets) + "</ul>")
            bullets.clear()
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
            cells = [[inline(c.strip()) for c in r.strip().strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{c}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in cells[1:])
            html.append(f"<table><tr>{head}</tr>{body}</table>")
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        if line.startswith("- "):
            bullets.append(inline(line[2:]))
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            html.append(f"<h{level + 1}>{inline(line.lstrip('#').strip())}</h{level + 1}>")
        elif line.strip():
            html.append(f"<p>{inline(line)}</p>")
    flush()
    return "".join(html)
