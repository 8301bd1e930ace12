"""The model card (`lamina card RUN`): intended use, data and split, training, test metrics with bootstrap
confidence intervals, a classifier's calibration, data-quality findings, the bias and robustness audits and
limitations, as Markdown.

Its sections are report.html's own (evaluation/facts.py CARD), written as Markdown instead of HTML, so the
card and the report always say the same thing. Built from the run folder's files only.
"""

from __future__ import annotations

from pathlib import Path

from lamina.errors import LaminaError
from lamina.evaluation import facts
from lamina.evaluation.document import sections_markdown


def model_card(run_dir: Path) -> str:
    run, document = facts.read_run(run_dir)
    task = facts.task_of(document)
    if not task.row_model:
        raise LaminaError(f"A model card describes a model that predicts one row at a time; {run.path} holds "
                          f"{task.described} model, whose report.html holds its scores.")
    # The report's own title (Task.title): a model of several targets names each, not only the first.
    return sections_markdown(f"Model card: {task.title(document)}", facts.written(run, document, facts.CARD))
