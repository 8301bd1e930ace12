"""ForecastModel: the trained forecasting artifact — series layout, scaler, network, intervals, metrics —
and `predict`, which returns the next `horizon` steps after the last row of each series.

On disk it is a model folder like any other (model.json with "kind": "forecast", weights.safetensors).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

import lamina
from lamina.data.read import read_table
from lamina.data.series import SeriesLayout, regular_series, series_of
from lamina.errors import LaminaError
from lamina.features.series import SeriesScaler, history_windows, series_key
from lamina.model import FORMAT_VERSION, WEIGHTS_FILE, read_model_document, write_model
from lamina.nets.forecasters import build_forecaster
from lamina.training.trainer import infer, resolve_device

FORECAST_KIND = "forecast"
INFERENCE_BATCH = 4096  # windows per forward pass


class ForecastModel:
    task = FORECAST_KIND

    def __init__(self, layout: SeriesLayout, scaler: SeriesScaler, network: torch.nn.Module, architecture: dict,
                 interval: dict, metrics: dict | None = None, training: dict | None = None):
        self.layout = layout
        self.scaler = scaler
        self.network = network
        self.architecture = architecture  # {"arch", "lookback", "horizon", "hyperparameters"}
        self.interval = interval  # {"level", "lower", "upper"}: offsets [horizon][targets] from the forecast, standardised
        self.metrics = metrics or {}
        self.training = training or {}
        self.directory: Path | None = None

    @property
    def lookback(self) -> int:
        return self.architecture["lookback"]

    @property
    def horizon(self) -> int:
        return self.architecture["horizon"]

    @property
    def run_folder(self) -> Path | None:
        if self.directory is None:
            return None
        return self.directory.parent if self.directory.name == "model" else self.directory

    def forecast_scaled(self, windows: torch.Tensor) -> np.ndarray:
        """Standardised forecasts [windows, horizon, targets] for history windows [windows, lookback, channels]."""
        device = resolve_device("auto")
        self.network.to(device)
        return infer(self.network, windows.split(INFERENCE_BATCH), device).numpy()

    def bounds_scaled(self, forecasts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The interval around standardised forecasts: the conformal offsets from validation residuals added."""
        return forecasts + np.asarray(self.interval["lower"]), forecasts + np.asarray(self.interval["upper"])

    def predict(self, data) -> pd.DataFrame:
        """The next `horizon` steps after the last row of each series in `data` (which must hold at least
        `lookback` steps of every target and covariate): one row per series and step, with the forecast and
        its interval per target."""
        layout = self.layout
        frame, _ = regular_series(read_table(data, "history to forecast from"), layout, "the history")
        results = []
        for name, part in series_of(frame, layout):
            values = part[layout.channels].to_numpy(dtype=float)
            if len(values) < self.lookback:
                where = f"Series {name!r}" if layout.id else "The history"
                raise LaminaError(f"{where} has {len(values)} time steps; this model reads the last {self.lookback}. "
                                  "Give a longer history.")
            key = series_key(name)
            scaled = self.scaler.scale(key, values)
            point = self.forecast_scaled(history_windows(scaled, np.array([len(scaled)]), self.lookback))
            point, lower, upper = (self.scaler.unscale_targets(key, v[0], values)
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

    # ---- files ----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "lamina_version": lamina.__version__,
            "kind": FORECAST_KIND,
            "task": FORECAST_KIND,
            "layout": self.layout.to_dict(),
            "scaler": self.scaler.state(),
            "architecture": self.architecture,
            "interval": self.interval,
            "metrics": self.metrics,
            "training": self.training,
        }

    def save(self, directory) -> Path:
        self.directory = write_model(directory, self.network.state_dict(), self.to_json())
        return self.directory

    @classmethod
    def load(cls, directory) -> ForecastModel:
        return cls.from_document(*read_model_document(directory))

    @classmethod
    def from_document(cls, directory: Path, raw: dict) -> ForecastModel:
        from safetensors.torch import load_file

        layout = SeriesLayout.from_dict(raw["layout"])
        architecture = raw["architecture"]
        network = build_forecaster(architecture["arch"], architecture["lookback"], len(layout.channels),
                                   architecture["horizon"], len(layout.targets), **architecture["hyperparameters"])
        network.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        network.eval()
        model = cls(layout, SeriesScaler.from_state(layout, raw["scaler"]), network, architecture, raw["interval"],
                    raw.get("metrics", {}), raw.get("training", {}))
        model.directory = directory
        return model

    def __repr__(self) -> str:
        return (f"ForecastModel(targets={self.layout.targets}, horizon={self.horizon}, lookback={self.lookback}, "
                f"arch={self.architecture['arch']!r})")
