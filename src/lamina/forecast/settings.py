"""The settings of a forecasting run (`lamina forecast` flags, saved as the run's forecast.json)."""

from __future__ import annotations

from dataclasses import dataclass

from lamina.errors import LaminaError
from lamina.nets.forecasters import FORECASTERS, build_forecaster


@dataclass
class ForecastSettings:
    horizon: int  # steps to forecast
    lookback: int | None = None  # steps of history each forecast reads; None: max(2 × horizon, 3 seasons)
    season: int | None = None  # steps per season; None: from the time step (24 for hours, 12 for months...)
    arch: str = "auto"  # linear, mlp, gru, lstm, or auto (linear and gru, the better on validation)
    valid_steps: int | None = None  # time steps for validation; None: 15% of them, at least one horizon
    test_steps: int | None = None  # time steps for the backtest; None: 15% of them, at least one horizon
    width: int = 64  # mlp/gru/lstm hidden units per layer
    depth: int = 1  # mlp hidden layers, or stacked recurrent layers
    dropout: float = 0.1  # probability of zeroing a unit in training
    epochs: int | None = None  # most epochs; None: about STEPS_PER_RUN optimiser steps, 10 to 300 epochs
    batch_size: int | None = None  # windows per step; None: a twentieth of the training windows, 16 to 64
    lr: float = 3e-3  # peak AdamW learning rate
    patience: int = 10  # epochs without validation improvement before stopping
    seed: int = 0

    def check(self) -> None:
        if self.horizon < 1:
            raise LaminaError(f"--horizon must be at least 1 step, not {self.horizon}.")
        if self.arch != "auto" and self.arch not in FORECASTERS:
            build_forecaster(self.arch, 1, 1, 1, 1)  # raises the error naming the registered ones
        for name in ("lookback", "season", "valid_steps", "test_steps", "epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LaminaError(f"--{name.replace('_', '-')} must be at least 1, not {value}.")
