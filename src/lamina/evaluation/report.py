"""report.html: one self-contained page a person can read offline, built from a run folder's files.

The page is a shared part around the sections of the run's task (the task's `report_sections`, from the
tasks/ registry): a title, data quality and the config for every task; for a row model (one row in, one
prediction out) also a summary and the model card's sections (facts.CARD: test metrics, a classifier's
calibration, training, audits, data and split, intended use, limitations). Those are the very sections `lamina card` writes as Markdown,
so each fact is on the page once and the card and the page agree.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from lamina.evaluation import facts
from lamina.evaluation.baseline import baseline_warning
from lamina.evaluation.document import Section, Strong, pieces_html, section_html
from lamina.evaluation.explanations import explanations_html
from lamina.run import CONFIG, EXPLAIN, REPORT, RunFolder

BEFORE_TASK = (facts.test_metrics, facts.calibration)  # the card's sections above the task's own, then below them:
AFTER_TASK = (facts.training, facts.bias_audit, facts.robustness_audit, facts.data_quality, facts.data_and_split,
              facts.intended_use, facts.limitations)

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.card h2::after{content:"model card";float:right;font-size:.55em;font-weight:normal;color:#888}
.mistakes{display:flex;flex-wrap:wrap;gap:.8em}.mistakes figure{margin:0;text-align:center;font-size:.85em}
.mistakes img{image-rendering:pixelated;border:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left}
th{background:#f5f5f5}.info{color:#555}pre{background:#f7f7f7;padding:1em;overflow-x:auto}
figure.chart{display:inline-block;vertical-align:top;margin:0 1em 1em 0}.charts{display:flex;flex-wrap:wrap;gap:1em}
.bar{display:inline-block;height:12px}
.summary{font-size:1.1em;background:#f0f6ff;padding:.8em 1em;border-radius:6px}
.warning{font-size:1.1em;background:#fff4e5;border-left:4px solid #e08a00;padding:.8em 1em;border-radius:6px}
"""


def write_report(run_dir: Path) -> Path:
    run, document = facts.read_run(run_dir)
    return run.write_text(REPORT, render(run, document))


def render(run: RunFolder, document: dict) -> str:
    task = facts.task_of(document)
    title = task.title(document)
    if task.row_model:
        top = [summary(run, document), *map(_card, facts.written(run, document, BEFORE_TASK))]
        bottom = [explanations_html(run.read_json(EXPLAIN)), *map(_card, facts.written(run, document, AFTER_TASK))]
    else:  # its own sections hold its scores, curves and split
        top, bottom = [], [section_html(facts.data_quality(run, document))]
    own = task.report_sections(run, document) or [section_html(facts.held_out_scores(run, document))]
    # model.json's metrics: checked when the model is read (metrics.json, a copy for other tools, is not)
    warning = baseline_warning(document.get("metrics") or {}, task.judged_on, document.get("training") or {})
    warned = [f"<p class='warning'><strong>Warning:</strong> {escape(warning)}</p>"] if warning else []
    sections = [f"<h1>lamina report: {escape(title)}</h1>", *warned, *top, *own, *bottom,
                "<h2>Configuration</h2>", f"<pre>{escape(run.read_text(CONFIG))}</pre>"]
    return report_page(title, sections, document)


def report_page(title: str, sections: list[str], document: dict | None = None) -> str:
    """The whole HTML page around a report's HTML sections; with the model `document`, it ends with the
    version line of the model it describes."""
    footer = "" if document is None else (f"<p class='info'>lamina {escape(str(document['lamina_version']))}, "
                                          f"model format {escape(str(document['format_version']))}.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lamina report: {escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(sections)}{footer}</body></html>")


def summary(run: RunFolder, document: dict) -> str:
    """The headline: the first test metric (the task's main one) against the baseline's."""
    metrics = document["metrics"]
    headline = next(iter(metrics["test"]))
    pieces = [f"Test {headline} ", Strong(metrics["test"][headline]), " against ",
              metrics["baseline"].get(headline), " for the trivial baseline; the details follow."]
    return f"<p class='summary'>{pieces_html(pieces)}</p>"


def _card(section: Section) -> str:
    """A section of the model card, marked as such on the page."""
    return f"<div class='card'>{section_html(section)}</div>"
