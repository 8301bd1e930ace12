"""Series values → network inputs: per-series standardisation and (history window, horizon) pairs.

Each series and channel is standardised with the mean and standard deviation of its training part, so
one network serves series of any level and the loss weighs them alike. A window is `lookback` steps of
every channel (targets, then covariates); its label is the next `horizon` steps of the targets.
"""

from __future__ import annotations

import numpy as np
import torch

from lamina.data.series import SeriesLayout

FLAT = 1e-8  # a standard deviation below this marks a constant channel, scaled by 1 instead


class SeriesScaler:
    def __init__(self, layout: SeriesLayout):
        self.layout = layout

    def fit(self, training_parts: dict[str, np.ndarray]) -> SeriesScaler:
        """`training_parts`: per series key, the [steps, channels] values before the validation cut."""
        self.mean_ = {key: values.mean(axis=0).tolist() for key, values in training_parts.items()}
        self.std_ = {key: _spread(values).tolist() for key, values in training_parts.items()}
        return self

    def statistics(self, key: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The training statistics of series `key`; a series unseen in training is scaled by the history
        it comes with."""
        if key in self.mean_:
            return np.asarray(self.mean_[key]), np.asarray(self.std_[key])
        return values.mean(axis=0), _spread(values)

    def scale(self, key: str, values: np.ndarray) -> np.ndarray:
        mean, std = self.statistics(key, values)
        return ((values - mean) / std).astype(np.float32)

    def unscale_targets(self, key: str, values: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Standardised target values (any leading shape, targets last) back on the data's scale."""
        mean, std = self.statistics(key, history)
        targets = len(self.layout.targets)
        return values * std[:targets] + mean[:targets]

    def state(self) -> dict:
        return {"mean": self.mean_, "std": self.std_}

    @classmethod
    def from_state(cls, layout: SeriesLayout, state: dict) -> SeriesScaler:
        scaler = cls(layout)
        scaler.mean_, scaler.std_ = state["mean"], state["std"]
        return scaler


def series_key(name) -> str:
    """JSON object keys are strings: a series id of any type, or "" for a table holding one series."""
    return "" if name is None else str(name)


def windows(scaled: np.ndarray, origins: np.ndarray, lookback: int, horizon: int, targets: int,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs [origins, lookback, channels] (the steps before each origin) and labels [origins, horizon,
    targets] (the steps from each origin on). An origin is the index of the first step to forecast."""
    values = torch.from_numpy(scaled)
    spans = values.unfold(0, lookback + horizon, 1).permute(0, 2, 1)  # [starts, lookback + horizon, channels]
    chosen = spans[torch.as_tensor(origins - lookback)]
    return chosen[:, :lookback].contiguous(), chosen[:, lookback:, :targets].contiguous()


def history_windows(scaled: np.ndarray, origins: np.ndarray, lookback: int) -> torch.Tensor:
    """Inputs only, for origins whose future may lie beyond the data (the next forecast)."""
    values = torch.from_numpy(scaled)
    return torch.stack([values[o - lookback:o] for o in origins])


def _spread(values: np.ndarray) -> np.ndarray:
    std = values.std(axis=0)
    return np.where(std < FLAT, 1.0, std)
