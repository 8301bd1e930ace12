"""study.html: a tuning study on one offline page: the winner, every trial, and Optuna's own charts of the study
(optimisation history, parameter importances, parallel coordinates), drawn with its matplotlib backend (no
plotly needed) to inline SVG. Every value on the page goes through evaluation.document, which escapes it."""

from __future__ import annotations

import os
import shlex
import warnings
from html import escape
from pathlib import Path

from lamina.evaluation.document import Code, Figure, Paragraph, Section, Strong, Table, section_html
from lamina.evaluation.report import report_page

CHARTS = (("optimisation history", "plot_optimization_history"),
          ("parameter importances", "plot_param_importances"),
          ("parallel coordinates", "plot_parallel_coordinate"))


class OptunaChart:
    """One of optuna.visualization.matplotlib's plots of `study`, as an inline <svg> (a document Figure's chart)."""

    def __init__(self, study, function: str):
        self.study, self.function = study, function

    def svg(self) -> str:
        import matplotlib
        import matplotlib.pyplot as pyplot
        import optuna.visualization.matplotlib as charts

        from lamina.evaluation.plots import SETTINGS, figure_svg

        with warnings.catch_warnings(), matplotlib.rc_context(SETTINGS):
            warnings.simplefilter("ignore")  # the matplotlib backend is marked experimental by Optuna
            axes = getattr(charts, self.function)(self.study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(7.5, 4.2)
            try:
                return figure_svg(figure)
            finally:
                pyplot.close(figure)


def write_study_report(folder: Path, study, settings, summary: dict) -> Path:
    """Writes study.html into the study `folder`, given as the user gave it (relative to where they run lamina), since
    the page tells the commands that reuse the study's files."""
    from lamina.tuning import BEST, BEST_CONFIG, REPORT

    sections = [f"<h1>lamina study: {escape(settings.name)}</h1>",
                section_html(_winner(settings, summary, Path(folder) / BEST_CONFIG, Path(folder) / BEST)),
                section_html(_charts(study)), section_html(_trials(study, settings))]
    path = Path(folder) / REPORT
    path.write_text(report_page(settings.name, sections), encoding="utf-8")
    return path


def _winner(settings, summary: dict, config: Path, best: Path) -> Section:
    validation, test = summary["validation"], summary["test"].get("test") or summary["test"]
    params = ", ".join(f"{name} = {value}" for name, value in summary["params"].items())
    blocks = [
        Paragraph(["Trial ", Strong(summary["best_trial"]), f" of {summary['trials']} has the best validation "
                   f"{validation['metric']} (", "lower" if validation["mode"] == "min" else "higher",
                   " is better): ", Strong(validation["score"]), f", at epoch {validation['epoch']}. Its settings: ",
                   Code(params), "."]),
        Paragraph(["Trials were chosen on the validation split only; no trial's test split was scored. The winner's "
                   "was scored once, after the search: ",
                   *_joined([[f"{name} ", Strong(value)] for name, value in test.items()
                             if isinstance(value, (int, float))]), "."]),
        Paragraph(["Train it again with ", Code(f"lamina train {shlex.quote(_runnable(settings.data))} --config "
                                                f"{shlex.quote(str(config))}"), f"; its run is in {best}."]),
    ]
    return Section("Best trial", blocks)


def _runnable(path: str) -> str:
    """The study's data file (study.json holds it absolute) as a command run where lamina runs now can name it:
    relative when under that folder, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _charts(study) -> Section:
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return Section("Charts", [Paragraph(["The charts need at least two completed trials; this study has ",
                                             len(complete), "."])])
    return Section("Charts", [Figure(OptunaChart(study, function)) for _, function in CHARTS])


def _trials(study, settings) -> Section:
    from optuna.trial import TrialState

    names = list(settings.space)
    rows = []
    for trial in study.trials:
        seconds = trial.duration.total_seconds() if trial.duration else None
        complete = trial.state == TrialState.COMPLETE
        rows.append([trial.number, trial.state.name.lower(), trial.value,
                     *(trial.params.get(name) for name in names),
                     trial.user_attrs.get("epochs") if complete else trial.last_step,
                     trial.user_attrs.get("best_epoch") if complete else None, seconds])
    columns = ["trial", "state", f"validation {settings.metric}", *names, "epochs", "selected epoch", "seconds"]
    note = Paragraph(["A pruned trial stopped when its validation score lagged the median of earlier trials at the "
                      "same epoch (its score is that of its last epoch); a failed one diverged or was interrupted."])
    return Section("Trials", [note, Table(columns, rows)])


def _joined(parts: list[list]) -> list:
    joined = []
    for index, part in enumerate(parts):
        joined += ([", "] if index else []) + part
    return joined
