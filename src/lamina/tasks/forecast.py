"""Forecasting: a table of time series → the next `horizon` steps of one or more target columns, with an
interval, scored by a rolling-origin backtest beside the seasonal-naive forecast.

The split is by time: the last `test_steps` time stamps are the test part, the `valid_steps` before them pick
the epoch, the architecture (arch "auto" trains linear and gru) and the interval width; training windows end
before the validation part. Every input window only holds steps before its origin. The interval is
split-conformal (validation residuals per step ahead). Metrics: evaluation.backtest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lamina.data.checks import Finding, date_order_finding
from lamina.data.dates import DAY_FIRST
from lamina.data.series import (
    SeriesLayout,
    layout_of,
    order_hint,
    regular_series,
    series_of,
    time_cuts,
    time_order,
)
from lamina.errors import LaminaError
from lamina.evaluation.backtest import (
    Backtest,
    SeriesWindows,
    naive_scale,
    residual_quantiles,
    seasonal_naive,
)
from lamina.features.series import SeriesScaler, history_windows, series_key, windows
from lamina.nets.build import build_network, names
from lamina.tasks.base import Prepared, Task, register_task
from lamina.tasks.table import number
from lamina.training.trainer import infer, resolve_device

AUTO_CANDIDATES = ("linear", "gru")  # arch "auto" trains both and keeps the better on validation
DEFAULTS = {"width": 64, "depth": 1, "dropout": 0.1}  # mlp/gru/lstm units per layer, layers, dropout probability
LEARNING_RATE = 3e-3  # AdamW peak for the forecasting networks
STEPS_PER_RUN = 3000  # optimiser steps a training run aims at; epochs follow from the number of windows
HOLD_OUT_SHARE = 0.15  # share of the time steps for validation, and for the test part (each at least a horizon)
MAX_ORIGINS = 20_000  # backtest origins at most; beyond, origins are spaced further apart
PLOTTED_SERIES = 3  # series whose backtest is kept in the held-out table for the report
INFERENCE_BATCH = 4096  # windows per forward pass
MAX_HISTORY = 20_000  # rows of history one request may send to POST /forecast
MAX_STEPS = 1_000_000  # the largest lookback, horizon or season a model file may declare
MIN_TRAINING_STEPS = 2  # time steps a series needs before the validation cut (a mean and a spread)


@dataclass
class SeriesPart:
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


@dataclass
class ForecastPrepared(Prepared):
    split: dict | None = None
    parts: list | None = None
    train: tuple | None = None  # (windows [rows, lookback, channels], labels [rows, horizon, targets]), standardised
    valid: tuple | None = None
    time_steps: int = 0


@register_task
class ForecastTask(Task):
    name = "forecast"
    settings = ("time", "horizon", "id", "covariates", "season", "valid_steps", "test_steps", "lookback", "date_order")
    reads = "series"
    route = "forecast"

    @classmethod
    def claims(cls, config, frame: pd.DataFrame) -> bool:
        return config.data.horizon is not None

    @property
    def lookback(self) -> int:
        return self.lookback_

    @property
    def horizon(self) -> int:
        return self.horizon_

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> ForecastPrepared:
        data = config.data
        if data.horizon is None or not data.time or not data.target:
            raise LaminaError("Forecasting needs the time column, the target(s) and the horizon: "
                              "give --task forecast --time COL --target COL --horizon STEPS.")
        if test_frame is not None:
            raise LaminaError("Forecasting splits the series by time (the last --test-steps are the test part); "
                              "drop --test and give the whole history as DATA.")
        arch = config.model.arch
        if arch != "auto" and arch not in names(self.reads):
            build_network(arch, {}, 1, reads=self.reads)  # raises the error naming the registered ones
        targets = [name.strip() for name in data.target.split(",") if name.strip()]
        if not targets:
            raise LaminaError(f"--target {data.target!r} names no column; give the column(s) to forecast, "
                              "comma-separated.")
        # read from the stamps as written (or as declared); checks the time column is there first
        order = time_order(frame, data.time, data.id, data.date_order)
        # a declared order is saved and followed even where no training stamp is written day and month first
        day_first = order.day_first if order is not None else (
            None if data.date_order == "auto" else data.date_order == DAY_FIRST)
        layout = layout_of(frame, data.time, targets, data.id, data.covariates, data.season, "the series data",
                           day_first)
        try:
            frame, notes = regular_series(frame, layout, "the series data")
        except LaminaError as error:  # irregular read in an assumed or declared order: say which, and the other
            raise LaminaError(f"{error}{order_hint(order, data.time)}") from None
        findings = [Finding("warning", "series_repaired", note) for note in notes]
        findings += [date_order_finding(order, data.time)] if order else []
        split = self._split(frame, layout, data, config.model.lookback)
        parts = _series_parts(frame, layout, split)
        for part in parts:  # its scale comes from its own training part: a series needs one
            if part.train_end < MIN_TRAINING_STEPS:
                raise LaminaError(f"Series {part.key!r} has {part.train_end} time step(s) before the validation part "
                                  f"begins ({split['valid_from']}); each series needs at least {MIN_TRAINING_STEPS} "
                                  "there to be scaled and learnt from. Drop it, or give its earlier history.")
        self.layout_, self.lookback_, self.horizon_ = layout, split["lookback"], data.horizon
        self.scaler_ = SeriesScaler(layout).fit({p.key: p.values[: p.train_end] for p in parts})
        for part in parts:
            part.scaled = self.scaler_.scale(part.key, part.values)
        return ForecastPrepared(findings, split, parts, self._stack(parts, "train"), self._stack(parts, "valid"),
                                int(frame[layout.time].nunique()))

    def _split(self, frame: pd.DataFrame, layout: SeriesLayout, data, lookback: int | None) -> dict:
        steps = int(frame[layout.time].nunique())
        share = max(data.horizon, round(HOLD_OUT_SHARE * steps))
        valid_steps, test_steps = data.valid_steps or share, data.test_steps or share
        for name, value in (("valid", valid_steps), ("test", test_steps)):
            if value < data.horizon:
                raise LaminaError(f"--{name}-steps {value} is shorter than the horizon ({data.horizon}): no "
                                  f"{name} window would fit. Give at least {data.horizon}.")
        valid_cut, test_cut = time_cuts(frame[layout.time], valid_steps, test_steps)
        training_steps = steps - valid_steps - test_steps
        room = training_steps - data.horizon  # a training window needs the lookback and a horizon after it
        if lookback is None:  # leave at least as many windows as the window is long
            lookback = max(1, min(max(2 * data.horizon, 3 * layout.season), room // 2))
        if lookback >= room:
            raise LaminaError(f"The training part has {training_steps} time steps: too few for a {lookback}-step "
                              f"history and a {data.horizon}-step horizon. Give a shorter --lookback or --horizon, "
                              "or more data.")
        series = frame[layout.id].nunique() if layout.id else 1
        test_origins = (test_steps - data.horizon + 1) * series
        return {"valid_from": valid_cut, "test_from": test_cut, "valid_steps": valid_steps, "test_steps": test_steps,
                "lookback": lookback, "stride": max(1, math.ceil(test_origins / MAX_ORIGINS))}

    def _stack(self, parts: list[SeriesPart], part: str):
        targets = len(self.layout_.targets)
        pairs = [windows(p.scaled, p.origins(part, self.lookback, self.horizon), self.lookback, self.horizon, targets)
                 for p in parts if len(p.origins(part, self.lookback, self.horizon))]
        if not pairs:
            raise LaminaError(f"No {part} window fits: every series is too short in its {part} part for a "
                              f"{self.lookback}-step history and a {self.horizon}-step horizon. Give a shorter "
                              "--lookback or more data.")
        return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])

    def fit(self, config, prepared: ForecastPrepared, session):
        arch = config.model.arch  # checked in prepare
        candidates = AUTO_CANDIDATES if arch == "auto" else (arch,)
        trained = [self._train_candidate(name, config, prepared, session) for name in candidates]
        best = min(trained, key=lambda run: run["valid_mse"])
        valid_inputs, valid_labels = prepared.valid
        self.interval_ = residual_quantiles(valid_labels.numpy(), self.forecast_scaled(best["network"], valid_inputs))
        split = prepared.split
        training = {
            "seed": config.seed,
            "split": {key: _stamp(value) if isinstance(value, pd.Timestamp) else value for key, value in split.items()},
            "sizes": {"train_windows": len(prepared.train[0]), "valid_windows": len(valid_inputs),
                      "series": len(prepared.parts), "time_steps": prepared.time_steps},
            "candidates": [{k: v for k, v in run.items() if k != "network"} for run in trained],
        }
        return best["network"], best["architecture"], training

    def _train_candidate(self, arch: str, config, prepared: ForecastPrepared, session) -> dict:
        from lamina.training.batches import TensorBatches
        from lamina.training.least_squares import fit_least_squares

        hyperparameters = {} if arch == "linear" else {
            key: default if getattr(config.model, key) == "auto" else getattr(config.model, key)
            for key, default in DEFAULTS.items()}
        spec = {"lookback": self.lookback, "channels": len(self.layout_.channels), "horizon": self.horizon}
        architecture = {"arch": arch, "hyperparameters": hyperparameters, "inputs": spec,
                        "outputs": len(self.layout_.targets)}
        torch.manual_seed(config.seed)
        network = self.build_network(architecture)
        if arch == "linear":
            valid_mse = fit_least_squares(network, prepared.train, prepared.valid)
            session.record_history([{"arch": arch, "epoch": 1, "valid_loss": valid_mse}])
            epochs_run, best_epoch, seconds = 1, 1, 0.0
        else:
            train = config.train
            # Small series give few windows: smaller batches keep the number of optimiser steps per epoch up.
            batch_size = (min(64, max(16, len(prepared.train[0]) // 20)) if train.batch_size == "auto"
                          else train.batch_size)
            batches = TensorBatches(*prepared.train, batch_size, shuffle=True, seed=config.seed)
            epochs = (min(300, max(10, math.ceil(STEPS_PER_RUN / len(batches)))) if train.epochs == "auto"
                      else train.epochs)
            trainer = session.trainer(network, self, epochs=epochs,
                                      lr=LEARNING_RATE if train.lr == "auto" else train.lr, name=arch,
                                      label=arch, history_key={"arch": arch}, warmup_epochs=min(1.0, epochs / 10))
            history = trainer.fit(batches, TensorBatches(*prepared.valid, INFERENCE_BATCH), resume=session.resume)
            valid_mse, epochs_run, best_epoch = float(trainer.best_score_), len(history), trainer.best_epoch_
            seconds = round(trainer.elapsed_, 2)
        network.eval()
        return {"arch": arch, "hyperparameters": hyperparameters, "architecture": architecture, "network": network,
                "valid_mse": valid_mse, "epochs_run": epochs_run, "best_epoch": best_epoch, "seconds": seconds}

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """outputs and targets: [windows, horizon, targets], standardised."""
        return torch.nn.functional.mse_loss(outputs.float(), targets)

    def build_network(self, architecture: dict) -> torch.nn.Module:
        spec = architecture["inputs"]
        expected = (self.lookback_, len(self.layout_.channels), self.horizon_, len(self.layout_.targets))
        if (spec["lookback"], spec["channels"], spec["horizon"], architecture["outputs"]) != expected:
            raise ValueError("the architecture's inputs and outputs differ from the task's lookback, channels, "
                             "horizon and targets")
        return build_network(architecture["arch"], spec, architecture["outputs"], reads=self.reads,
                             **architecture["hyperparameters"])

    def score(self, model, prepared: ForecastPrepared) -> pd.DataFrame:
        backtest = self._backtest(model.network, prepared.parts, prepared.split["stride"])
        model.metrics = {**backtest.scores(self.layout_.targets),
                         "error_by_step": {"model": backtest.error_by_step("forecast"),
                                           "seasonal_naive": backtest.error_by_step("naive")}}
        return self._backtest_table(backtest, prepared.parts)

    def _backtest(self, network, parts: list[SeriesPart], stride: int) -> Backtest:
        """Forecasts from every `stride`-th origin of each series' test part, with the seasonal-naive ones."""
        layout, backtest, targets = self.layout_, Backtest(), len(self.layout_.targets)
        for part in parts:
            origins = part.origins("test", self.lookback, self.horizon, layout.season, stride)
            if not len(origins):
                continue
            inputs, _ = windows(part.scaled, origins, self.lookback, self.horizon, targets)
            point = self.forecast_scaled(network, inputs)
            history = part.values[: part.train_end]
            point, lower, upper = (self.scaler_.unscale_targets(part.key, v, history)
                                   for v in (point, *self.bounds_scaled(point)))
            # The truth as read (float64), not its scaled float32 label unscaled: 128.45 stays 128.45, not
            # 128.45000017822412, in the metrics and in test_predictions.csv.
            truth = part.values[origins[:, None] + np.arange(self.horizon), :targets]  # [origins, horizon, targets]
            values = part.values[:, :targets]
            backtest.series.append(SeriesWindows(
                part.key, origins, truth, point, lower, upper,
                seasonal_naive(values, origins, self.horizon, layout.season),
                self.scaler_.statistics(part.key, history)[1][:targets],
                naive_scale(values[: part.train_end], layout.season)))
        if not backtest.series:
            raise LaminaError("No test window fits in any series: give more --test-steps or a shorter --lookback.")
        return backtest

    def _backtest_table(self, backtest: Backtest, parts: list[SeriesPart]) -> pd.DataFrame:
        """Forecasts from origins one horizon apart (so they tile the test part), of the first PLOTTED_SERIES
        series: one row per series, target, origin and step."""
        times = {p.key: p.times for p in parts}
        rows = []
        for windows_of in backtest.series[:PLOTTED_SERIES]:
            keep = np.flatnonzero((windows_of.origins - windows_of.origins[0]) % self.horizon == 0)
            for index, target in enumerate(self.layout_.targets):
                for k in keep:
                    origin = windows_of.origins[k]
                    stamps = times[windows_of.key].iloc[origin: origin + self.horizon].to_numpy()
                    rows.append(pd.DataFrame({
                        "series": windows_of.key, "target": target, "origin": stamps[0], "time": stamps,
                        "step": np.arange(1, self.horizon + 1), "actual": windows_of.truth[k, :, index],
                        "forecast": windows_of.forecast[k, :, index], "lower": windows_of.lower[k, :, index],
                        "upper": windows_of.upper[k, :, index], "seasonal_naive": windows_of.naive[k, :, index]}))
        return pd.concat(rows, ignore_index=True)

    # ---- use ---------------------------------------------------------------------------------------------

    def forecast_scaled(self, network, inputs: torch.Tensor) -> np.ndarray:
        """Standardised forecasts [windows, horizon, targets] for history windows [windows, lookback, channels]."""
        device = resolve_device("auto")
        network.to(device)
        return infer(network, inputs.split(INFERENCE_BATCH), device).numpy()

    def bounds_scaled(self, forecasts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The interval around standardised forecasts: the conformal offsets from validation residuals added."""
        return forecasts + np.asarray(self.interval_["lower"]), forecasts + np.asarray(self.interval_["upper"])

    def predict(self, model, frame: pd.DataFrame) -> pd.DataFrame:
        """The next `horizon` steps after the last row of each series in `frame` (which must hold at least
        `lookback` steps of every target and covariate): one row per series and step, with the forecast and
        its interval (`<target>_lower`, `<target>_upper`) per target."""
        layout = self.layout_
        frame, _ = regular_series(frame, layout, "the history")
        results = []
        for name, part in series_of(frame, layout):
            values = part[layout.channels].to_numpy(dtype=float)
            if len(values) < self.lookback:
                where = f"Series {name!r}" if layout.id else "The history"
                raise LaminaError(f"{where} has {len(values)} time steps; this model reads the last {self.lookback}. "
                                  "Give a longer history.")
            key = series_key(name)
            scaled = self.scaler_.scale(key, values)
            point = self.forecast_scaled(model.network, history_windows(scaled, np.array([len(scaled)]), self.lookback))
            point, lower, upper = (self.scaler_.unscale_targets(key, v[0], values)
                                   for v in (point, *self.bounds_scaled(point)))
            times = pd.date_range(part[layout.time].iloc[-1], periods=self.horizon + 1, freq=layout.step)[1:]
            result = pd.DataFrame({layout.time: times, "step": np.arange(1, self.horizon + 1)})
            if layout.id:
                result.insert(0, layout.id, name)
            for index, target in enumerate(layout.targets):
                result[target] = point[:, index]
                result[f"{target}_lower"] = lower[:, index]
                result[f"{target}_upper"] = upper[:, index]
            results.append(result)
        return pd.concat(results, ignore_index=True)

    def summary(self, model) -> str:
        metrics = model.metrics
        forecasts = "forecast" if metrics["origins"] == 1 else "forecasts"
        lines = [f"\nbacktest: {metrics['origins']} {forecasts} of {self.horizon} steps "
                 f"({model.architecture['arch']}, reading {self.lookback} steps)      model   seasonal naive"]
        for name in ("mae", "rmse", "mase", "smape"):
            lines.append(f"  {name:<52} {number(metrics['model'][name]):>10} {number(metrics['seasonal_naive'][name]):>10}")
        coverage = metrics["interval_coverage"]  # None when model.json was written from a NaN
        lines.append(f"  {self.interval_['level']:.0%} interval coverage "
                     f"{'n/a' if coverage is None else f'{coverage:.1%}'}")
        for target, scores in metrics.get("per_target", {}).items():
            lines.append(f"  {target}: MASE {number(scores['model']['mase'])} "
                         f"(seasonal naive {number(scores['seasonal_naive']['mase'])})")
        lines.append(self._series_line())
        return "\n".join(lines)

    def _series_line(self) -> str:
        layout = self.layout_
        series = f"series told apart by {layout.id!r}" if layout.id else "one series"
        return (f"series: time column {layout.time!r}, step {layout.step} (a pandas frequency), season "
                f"{layout.season} steps; targets {', '.join(layout.targets)}; covariates "
                f"{', '.join(layout.covariates) or 'none'}; {series}")

    def data_lines(self, prepared: ForecastPrepared) -> list[str]:
        split = prepared.split
        training = prepared.time_steps - split["valid_steps"] - split["test_steps"]
        series = len(prepared.parts)
        return [self._series_line(),
                f"split by time: {prepared.time_steps} time steps ({series} series), the first {training} train, "
                f"{split['valid_steps']} from {_stamp(split['valid_from'])} validate, {split['test_steps']} from "
                f"{_stamp(split['test_from'])} test; each forecast reads {self.lookback} steps to predict "
                f"{self.horizon}"]

    # ---- files -------------------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"layout": self.layout_.to_dict(), "scaler": self.scaler_.state(), "interval": self.interval_,
                "lookback": self.lookback_, "horizon": self.horizon_}

    @classmethod
    def from_state(cls, state: dict) -> ForecastTask:
        """Checks every value prediction will use, so a damaged model.json fails on loading, not mid-forecast."""
        task = cls(cls.name)
        task.layout_ = SeriesLayout.from_dict(state["layout"])
        layout, channels = task.layout_, len(task.layout_.channels)
        names = [layout.time, *layout.channels, *([layout.id] if layout.id is not None else [])]
        if not layout.targets or not all(isinstance(name, str) for name in names):
            raise ValueError("the layout's time, targets, covariates and id must be column names")
        if not (layout.day_first is None or isinstance(layout.day_first, bool)):
            raise ValueError("the layout's day_first must be true, false or null")
        pd.tseries.frequencies.to_offset(layout.step)  # raises on a step pandas does not know
        task.lookback_, task.horizon_ = (_whole(state[key], key, MAX_STEPS) for key in ("lookback", "horizon"))
        _whole(layout.season, "season", MAX_STEPS)
        task.scaler_ = SeriesScaler.from_state(layout, state["scaler"])
        for statistic in (task.scaler_.mean_, task.scaler_.std_):
            if any(np.asarray(values, dtype=float).shape != (channels,) for values in statistic.values()):
                raise ValueError(f"the scaler must hold {channels} numbers per series")
        task.interval_ = state["interval"]
        for side in ("lower", "upper"):
            if np.asarray(task.interval_[side], dtype=float).shape != (task.horizon_, len(layout.targets)):
                raise ValueError(f"the interval's {side} bounds must be [horizon][targets] numbers")
        float(task.interval_["level"])
        return task

    @classmethod
    def title(cls, document: dict) -> str:
        state = document["task"]["state"]
        return f"forecasting {', '.join(state['layout']['targets'])} {state['horizon']} steps ahead"

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.tasks.forecast_report import forecast_sections

        return forecast_sections(run, document)

    # ---- serving -----------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """{"history": [{time, targets..., covariates..., id}, ...]}: the recent history of each series. A value
        spelt as a missing cell ("?", "NA", null) is a gap, filled as `lamina predict` fills one in a file."""
        from typing import Annotated

        from pydantic import BeforeValidator, ConfigDict, Field, create_model

        from lamina.data.read import missing_if_spelt_so
        from lamina.features.kinds import NUMBER_FIELD

        layout = self.layout_
        # /predict's number field: text that reads as a number is one, true/false and other text are refused
        value = Annotated[NUMBER_FIELD, BeforeValidator(missing_if_spelt_so)]
        fields = {f"field_{i}": (value, Field(..., alias=column)) for i, column in enumerate(layout.channels)}
        fields["time_field"] = (str, Field(..., alias=layout.time, max_length=64))
        if layout.id:
            fields["id_field"] = (str | int, Field(..., alias=layout.id))
        config = ConfigDict(extra="forbid", allow_inf_nan=False)
        row = create_model(f"{name}HistoryRow", __config__=config, **fields)
        return create_model(f"{name}History", __config__=ConfigDict(extra="forbid"),
                            history=(list[row], Field(..., min_length=1, max_length=MAX_HISTORY)))

    def request_example(self, model) -> dict:
        """`lookback` steps of the first series at its training mean, ending where the test part began."""
        layout = self.layout_
        key = next(iter(self.scaler_.mean_))
        end = pd.Timestamp(model.training.get("split", {}).get("test_from", "2024-01-01"))
        times = pd.date_range(end=end, periods=self.lookback, freq=layout.step)
        row = dict(zip(layout.channels, (round(float(v), 4) for v in self.scaler_.mean_[key]), strict=True))
        if layout.id:
            row[layout.id] = key
        return {"history": [{layout.time: _stamp(time), **row} for time in times]}

    def respond(self, model, body) -> dict:
        from lamina.plain import json_safe

        # rows named as the server names a request's records (0-based), so an error says "record 3", not a line
        frame = pd.DataFrame([row.model_dump(by_alias=True) for row in body.history],
                             index=[f"record {i}" for i in range(len(body.history))])
        forecast = self.predict(model, frame)
        forecast[self.layout_.time] = forecast[self.layout_.time].astype(str)
        return {"forecast": json_safe(forecast.to_dict(orient="records"))}


def _stamp(time: pd.Timestamp) -> str:
    """A time stamp as a reader writes it: the date alone at midnight."""
    return str(time.date()) if time == time.normalize() else str(time)


def _whole(value, name: str, most: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise ValueError(f"{name} must be a whole number from 1 to {most}, not {value!r}")
    return value


def _series_parts(frame: pd.DataFrame, layout: SeriesLayout, split: dict) -> list[SeriesPart]:
    parts = []
    for name, rows in series_of(frame, layout):
        times = rows[layout.time].reset_index(drop=True)
        parts.append(SeriesPart(series_key(name), times, rows[layout.channels].to_numpy(dtype=float),
                                int((times < split["valid_from"]).sum()), int((times < split["test_from"]).sum())))
    return parts
