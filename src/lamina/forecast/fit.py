"""forecast(): a table of time series → a ForecastModel scored by a rolling-origin backtest, and the run
folder that records it (forecast.json, model/, history.csv, metrics.json, backtest.csv, report.html).

The split is by time: the last `test_steps` time stamps are the test part, the `valid_steps` before them
pick the epoch, the architecture (with arch "auto") and the interval width; training windows end before
the validation part begins. Every input window only holds steps before its origin.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.data.read import read_table
from lamina.data.series import SeriesLayout, layout_of, regular_series, series_of, time_cuts
from lamina.errors import LaminaError
from lamina.features.series import SeriesScaler, series_key, windows
from lamina.forecast.backtest import Backtest, SeriesWindows, naive_scale, residual_quantiles, seasonal_naive
from lamina.forecast.model import ForecastModel
from lamina.forecast.settings import ForecastSettings
from lamina.forecast.training import train_candidate
from lamina.plain import json_safe

AUTO_CANDIDATES = ("linear", "gru")  # arch "auto" trains both and keeps the better on validation
SETTINGS_FILE = "forecast.json"
MAX_ORIGINS = 20_000  # backtest origins at most; beyond, origins are spaced further apart
PLOTTED_SERIES = 3  # series whose backtest is kept in backtest.csv for the report


def forecast(data, time_column: str, target, horizon: int, *, id: str | None = None, covariates=None,
             out=None, progress: bool = True, **settings) -> ForecastModel:
    """Train a forecaster of `target` (a column or a list of columns) `horizon` steps ahead."""
    settings = ForecastSettings(horizon=horizon, **settings)
    settings.check()
    targets = [target] if isinstance(target, str) else list(target)
    frame = read_table(data, "series data")
    layout = layout_of(frame, time_column, targets, id, covariates, settings.season, "the series data")
    frame, notes = regular_series(frame, layout, "the series data")
    split = _split(frame, layout, settings)
    parts = _series_parts(frame, layout, split)
    scaler = SeriesScaler(layout).fit({p.key: p.values[: p.train_end] for p in parts})
    for part in parts:
        part.scaled = scaler.scale(part.key, part.values)
    lookback = split["lookback"]
    train = _stack(parts, "train", lookback, settings.horizon, len(targets))
    valid = _stack(parts, "valid", lookback, settings.horizon, len(targets))
    candidates = AUTO_CANDIDATES if settings.arch == "auto" else (settings.arch,)
    trained = [train_candidate(name, train, valid, lookback, layout, settings, progress) for name in candidates]
    best = min(trained, key=lambda run: run["valid_mse"])
    interval = residual_quantiles(valid[1].numpy(), _forecast(best["network"], valid[0]))
    architecture = {"arch": best["arch"], "lookback": lookback, "horizon": settings.horizon,
                    "hyperparameters": best["hyperparameters"]}
    model = ForecastModel(layout, scaler, best["network"], architecture, interval)
    backtest = run_backtest(model, parts, split["stride"])
    model.metrics = {**backtest.scores(layout.targets),
                     "error_by_step": {"model": backtest.error_by_step("forecast"),
                                       "seasonal_naive": backtest.error_by_step("naive")}}
    model.training = {
        "split": {key: str(value) if isinstance(value, pd.Timestamp) else value for key, value in split.items()},
        "sizes": {"train_windows": len(train[0]), "valid_windows": len(valid[0]), "series": len(parts),
                  "time_steps": int(frame[layout.time].nunique())},
        "candidates": [{k: v for k, v in run.items() if k not in ("network", "history")} for run in trained],
        "notes": notes,
    }
    if out is not None:
        write_run(Path(out), model, settings, trained, backtest_table(model, backtest, parts))
    return model


@dataclass
class _SeriesPart:
    key: str
    times: pd.Series
    values: np.ndarray  # [steps, channels] on the data's scale
    train_end: int  # steps before the validation cut
    valid_end: int  # steps before the test cut
    scaled: np.ndarray | None = None

    def origins(self, part: str, lookback: int, horizon: int, season: int = 0, stride: int = 1) -> np.ndarray:
        """Origins whose whole horizon lies in `part`, with a full history window (and a season) before them."""
        start, end = {"train": (0, self.train_end), "valid": (self.train_end, self.valid_end),
                      "test": (self.valid_end, len(self.values))}[part]
        first = max(start, lookback, season)
        return np.arange(first, end - horizon + 1, stride)


def _split(frame: pd.DataFrame, layout: SeriesLayout, settings: ForecastSettings) -> dict:
    steps = int(frame[layout.time].nunique())
    share = max(settings.horizon, round(0.15 * steps))
    valid_steps = settings.valid_steps or share
    test_steps = settings.test_steps or share
    for name, value in (("valid", valid_steps), ("test", test_steps)):
        if value < settings.horizon:
            raise LaminaError(f"--{name}-steps {value} is shorter than the horizon ({settings.horizon}): no "
                              f"{name} window would fit. Give at least {settings.horizon}.")
    valid_cut, test_cut = time_cuts(frame[layout.time], valid_steps, test_steps)
    training_steps = steps - valid_steps - test_steps
    lookback = settings.lookback or max(2 * settings.horizon, 3 * layout.season)
    room = training_steps - settings.horizon  # a training window needs the lookback and a horizon after it
    if settings.lookback is None:
        lookback = max(1, min(lookback, room // 2))  # leave at least as many windows as the window is long
    if lookback >= room:
        raise LaminaError(f"The training part has {training_steps} time steps: too few for a {lookback}-step history "
                          f"and a {settings.horizon}-step horizon. Give a shorter --lookback or --horizon, or more data.")
    series = frame[layout.id].nunique() if layout.id else 1
    test_origins = (test_steps - settings.horizon + 1) * series
    return {"valid_from": valid_cut, "test_from": test_cut, "valid_steps": valid_steps, "test_steps": test_steps,
            "lookback": lookback, "stride": max(1, math.ceil(test_origins / MAX_ORIGINS))}


def _series_parts(frame: pd.DataFrame, layout: SeriesLayout, split: dict) -> list[_SeriesPart]:
    parts = []
    for name, rows in series_of(frame, layout):
        times = rows[layout.time].reset_index(drop=True)
        parts.append(_SeriesPart(series_key(name), times, rows[layout.channels].to_numpy(dtype=float),
                                 int((times < split["valid_from"]).sum()), int((times < split["test_from"]).sum())))
    return parts


def _stack(parts: list[_SeriesPart], part: str, lookback: int, horizon: int, targets: int):
    pairs = [windows(p.scaled, p.origins(part, lookback, horizon), lookback, horizon, targets) for p in parts
             if len(p.origins(part, lookback, horizon))]
    if not pairs:
        raise LaminaError(f"No {part} window fits: every series is too short in its {part} part for a {lookback}-step "
                          f"history and a {horizon}-step horizon. Give a shorter --lookback or more data.")
    return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])


def _forecast(network: torch.nn.Module, inputs: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([network(chunk) for chunk in inputs.split(4096)]).numpy()


def run_backtest(model: ForecastModel, parts: list[_SeriesPart], stride: int) -> Backtest:
    """Forecasts from every `stride`-th origin of each series' test part, with the seasonal-naive ones."""
    layout, backtest = model.layout, Backtest()
    targets = len(layout.targets)
    for part in parts:
        origins = part.origins("test", model.lookback, model.horizon, layout.season, stride)
        if not len(origins):
            continue
        inputs, labels = windows(part.scaled, origins, model.lookback, model.horizon, targets)
        point = model.forecast_scaled(inputs)
        history = part.values[: part.train_end]
        truth, point, lower, upper = (model.scaler.unscale_targets(part.key, v, history)
                                      for v in (labels.numpy(), point, *model.bounds_scaled(point)))
        values = part.values[:, :targets]
        backtest.series.append(SeriesWindows(
            part.key, origins, truth, point, lower, upper, seasonal_naive(values, origins, model.horizon, layout.season),
            model.scaler.statistics(part.key, history)[1][:targets], naive_scale(values[: part.train_end], layout.season),
        ))
    if not backtest.series:
        raise LaminaError("No test window fits in any series: give more --test-steps or a shorter --lookback.")
    return backtest


def backtest_table(model: ForecastModel, backtest: Backtest, parts: list[_SeriesPart]) -> pd.DataFrame:
    """Forecasts from origins one horizon apart (so they tile the test part), of the first PLOTTED_SERIES series:
    one row per series, target, origin and step."""
    times = {p.key: p.times for p in parts}
    rows = []
    for windows_of in backtest.series[:PLOTTED_SERIES]:
        keep = np.flatnonzero((windows_of.origins - windows_of.origins[0]) % model.horizon == 0)
        for index, target in enumerate(model.layout.targets):
            for k in keep:
                origin = windows_of.origins[k]
                stamps = times[windows_of.key].iloc[origin: origin + model.horizon].to_numpy()
                rows.append(pd.DataFrame({
                    "series": windows_of.key, "target": target, "origin": stamps[0], "time": stamps,
                    "step": np.arange(1, model.horizon + 1), "actual": windows_of.truth[k, :, index],
                    "forecast": windows_of.forecast[k, :, index], "lower": windows_of.lower[k, :, index],
                    "upper": windows_of.upper[k, :, index], "seasonal_naive": windows_of.naive[k, :, index]}))
    return pd.concat(rows, ignore_index=True)


def write_run(out: Path, model: ForecastModel, settings: ForecastSettings, trained: list[dict],
              backtest: pd.DataFrame) -> None:
    from lamina.forecast.report import write_forecast_report

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model")
    (out / SETTINGS_FILE).write_text(json.dumps(json_safe(asdict(settings)), indent=2), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(json_safe(model.metrics), indent=2), encoding="utf-8")
    history = pd.concat([pd.DataFrame(run["history"]).assign(arch=run["arch"]) for run in trained])
    history.to_csv(out / "history.csv", index=False)
    backtest.to_csv(out / "backtest.csv", index=False)
    write_forecast_report(out)
