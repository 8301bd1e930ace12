"""The forecasting task's sections of report.html: backtest metrics beside the seasonal-naive forecast,
forecast against actual with its interval, error by step ahead, learning curves, candidates and the split."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from lamina.evaluation.document import number
from lamina.evaluation.plots import Chart

PLOTTED_TILES = 8  # consecutive forecasts (one horizon each) drawn per series and target
PLOTTED_PAIRS = 6  # (series, target) charts at most
METRICS = [("mae", "mean absolute error"), ("rmse", "root mean squared error"),
           ("mase", "MAE / in-sample seasonal-naive MAE (below 1 beats its typical error)"),
           ("smape", "symmetric mean absolute percentage error, %"),
           ("mse_standardised", "MSE on the training part's standardised scale (as ETT papers report)"),
           ("mae_standardised", "MAE on that scale")]


def forecast_sections(run, document: dict) -> list[str]:
    """The forecast's own sections of report.html: backtest metrics beside seasonal naive, forecast against
    actual with the interval band, error by step ahead, validation curves and the architectures tried."""
    from lamina.run import HELD_OUT, HISTORY

    state, metrics, training = document["task"]["state"], document["metrics"], document["training"]
    layout = state["layout"]
    backtest = run.read_table(HELD_OUT, dtype={"series": str}).fillna({"series": ""})  # "": one series
    return [
        _summary(document),
        "<h2>Backtest metrics</h2>",
        f"<p>Rolling-origin backtest over the last {training['split']['test_steps']} time steps: "
        f"{metrics['origins']} forecasts, each from the history before its origin only, beside the "
        f"seasonal-naive forecast (each step repeats the value one season, {layout['season']} steps, before).</p>",
        _metrics_table(metrics),
        _per_target_table(metrics.get("per_target")),
        "<h2>Forecast against actual</h2><div class='charts'>",
        *_forecast_charts(backtest, state["interval"]["level"], layout["step"]),
        _error_by_step(metrics["error_by_step"]),
        _learning_curves(run.read_table(HISTORY)),
        "</div>",
        "<h2>Architectures tried</h2>",
        _candidates_table(training["candidates"], document["architecture"]["arch"]),
        "<h2>Series and split</h2>",
        _split_table(layout, training),
    ]


def _summary(model: dict) -> str:
    metrics, architecture = model["metrics"], model["architecture"]
    lookback = model["task"]["state"]["lookback"]
    ours, naive = metrics["model"]["mase"], metrics["seasonal_naive"]["mase"]
    verdict = "beats" if _better(ours, naive) else "does not beat"
    return (f"<p class='summary'>The <code>{escape(architecture['arch'])}</code> forecaster reads "
            f"{lookback} steps and {verdict} the seasonal-naive forecast: MASE <b>{number(ours)}</b> "
            f"against {number(naive)}. Its {number(model['task']['state']['interval']['level'], 0, percent=True)} "
            f"interval held {number(metrics['interval_coverage'], 1, percent=True)} of the actual test values.</p>")


def _metrics_table(metrics: dict) -> str:
    rows = []
    for name, meaning in METRICS:
        cells = _model_and_naive(metrics["model"][name], metrics["seasonal_naive"][name])
        rows.append(f"<tr><td>{name}</td>{cells}<td>{escape(meaning)}</td></tr>")
    return ("<table><tr><th>metric</th><th>model</th><th>seasonal naive</th><th>meaning (lower is better)</th></tr>"
            + "".join(rows) + "</table>")


def _per_target_table(per_target: dict | None) -> str:
    """With several targets, each one's errors in its own unit, beside seasonal naive's."""
    if not per_target:
        return ""
    names = ("mae", "rmse", "mase", "smape")
    header = "".join(f"<th>{n} model</th><th>{n} naive</th>" for n in names)
    rows = "".join(
        f"<tr><td>{escape(target)}</td>" + "".join(_model_and_naive(s["model"][n], s["seasonal_naive"][n])
                                                   for n in names) + "</tr>"
        for target, s in per_target.items())
    return f"<h3>Per target</h3><table><tr><th>target</th>{header}</tr>{rows}</table>"


def _model_and_naive(ours: float, naive: float) -> str:
    """Two table cells, the model's score marked when it is below (better than) seasonal naive's."""
    return f"<td class='{'better' if _better(ours, naive) else ''}'>{number(ours)}</td><td>{number(naive)}</td>"


def _better(ours, naive) -> bool:
    """Whether the model's error is below seasonal naive's; not when either could not be computed (None)."""
    return ours is not None and naive is not None and ours < naive


def _forecast_charts(backtest: pd.DataFrame, level: float, step: str) -> list[str]:
    charts = []
    for (series, target), rows in list(backtest.groupby(["series", "target"], sort=False))[:PLOTTED_PAIRS]:
        origins = rows["origin"].drop_duplicates().iloc[:PLOTTED_TILES]
        rows = rows[rows["origin"].isin(origins)]
        x = np.arange(len(rows))
        name = f"{target}, series {series}" if series else target
        chart = Chart(f"{name}: test forecasts", f"steps ({step}) from {rows['time'].iloc[0]}", target)
        chart.band(f"{number(level, 0, percent=True)} interval", x, rows["lower"], rows["upper"])
        chart.add("actual", x, rows["actual"])
        chart.add("forecast", x, rows["forecast"])
        chart.add("seasonal naive", x, rows["seasonal_naive"], style="dashed")
        charts.append(chart.svg())
    return charts


def _error_by_step(errors: dict) -> str:
    steps = np.arange(1, len(errors["model"]) + 1)
    chart = Chart("Error by step ahead", "steps ahead", "MAE", integer_x=True)
    chart.add("model", steps, errors["model"]).add("seasonal naive", steps, errors["seasonal_naive"], style="dashed")
    return chart.svg()


def _learning_curves(history: pd.DataFrame) -> str:
    chart = Chart("Validation loss (standardised MSE)", "epoch", "loss", integer_x=True)
    for arch, rows in history.groupby("arch", sort=False):
        chart.add(arch, rows["epoch"], rows["valid_loss"])
    return chart.svg()


def _candidates_table(candidates: list[dict], chosen: str) -> str:
    rows = "".join(
        f"<tr><td>{escape(c['arch'])}{' (kept)' if c['arch'] == chosen else ''}</td><td>{number(c['valid_mse'])}</td>"
        f"<td>{c['epochs_run']} (best {c['best_epoch']})</td><td>{c['seconds']:.1f}</td></tr>" for c in candidates)
    return ("<table><tr><th>architecture</th><th>validation MSE (standardised)</th><th>epochs</th><th>seconds</th>"
            "</tr>" + rows + "</table>")


def _split_table(layout: dict, training: dict) -> str:
    split, sizes = training["split"], training["sizes"]
    facts = [("time column", layout["time"]), ("targets", ", ".join(layout["targets"])),
             ("covariates", ", ".join(layout["covariates"]) or "none"), ("series id", layout["id"] or "one series"),
             ("time step", layout["step"]), ("season", f"{layout['season']} steps"),
             ("series", sizes["series"]), ("time steps", sizes["time_steps"]),
             ("validation from", split["valid_from"]), ("test from", split["test_from"]),
             ("training windows", sizes["train_windows"]), ("validation windows", sizes["valid_windows"])]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    return f"<table>{rows}</table>"  # the repairs are findings: the data-quality section lists them
