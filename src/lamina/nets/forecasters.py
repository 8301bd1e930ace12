"""Forecasting networks (registered in nets.build under the "series" family): a history window [rows, lookback, channels] → the next
`horizon` steps of the targets [rows, horizon, targets], all on the standardised scale.

Every forecaster sees the window relative to its last step and predicts the change from the last
observed target value (as NLinear does): a series that drifts to levels unseen in training still
starts its forecast where it stands, and a network with zero weights is the last-value forecast.
"""

from __future__ import annotations

import torch
from torch import nn


class RelativeToLastStep(nn.Module):
    """Wraps a core network that maps the shifted window to per-step changes of the targets."""

    def __init__(self, core: nn.Module, horizon: int, targets: int):
        super().__init__()
        self.core = core
        self.horizon = horizon
        self.targets = targets

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        last = window[:, -1:, :]
        change = self.core(window - last).view(len(window), self.horizon, self.targets)
        return change + last[:, :, : self.targets]


class WindowLinear(nn.Module):
    """One linear map from the flattened window to the horizon; starts at zero (the last-value forecast)."""

    def __init__(self, lookback: int, channels: int, outputs: int):
        super().__init__()
        self.map = nn.Linear(lookback * channels, outputs)
        nn.init.zeros_(self.map.weight)
        nn.init.zeros_(self.map.bias)

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.map(window.flatten(1))


class WindowMLP(nn.Module):
    def __init__(self, lookback: int, channels: int, outputs: int, width: int, depth: int, dropout: float):
        super().__init__()
        layers, size = [], lookback * channels
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.GELU(), nn.Dropout(dropout)]
            size = width
        self.layers = nn.Sequential(*layers, nn.Linear(size, outputs))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return self.layers(window.flatten(1))


class RecurrentEncoder(nn.Module):
    """A GRU or LSTM reads the window step by step; its last state is mapped to the whole horizon at once
    (no step-by-step decoding, so errors do not compound over the horizon)."""

    def __init__(self, cell: str, channels: int, outputs: int, width: int, depth: int, dropout: float):
        super().__init__()
        recurrent = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.recurrent = recurrent(channels, width, depth, batch_first=True, dropout=dropout if depth > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, outputs))

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        states, _ = self.recurrent(window)
        return self.head(states[:, -1])
