"""Rolling-origin backtest: forecast from every origin in the test part (each using only the history
before it), score against what happened, and score the seasonal-naive forecast from the same origins.

Metrics are on the data's scale: MAE, RMSE, sMAPE (percent, 0–200) and MASE (MAE over the in-sample MAE
of the seasonal-naive forecast on the training part, per series and target, then averaged: below 1 beats
that naive forecast's typical error). MSE and MAE on the standardised scale are given too, as papers
on ETT and similar benchmarks report them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INTERVAL_LEVEL = 0.8  # share of future values the forecast interval should hold


@dataclass
class SeriesWindows:
    """The backtest of one series: everything on the data's scale, [origins, horizon, targets]."""
    key: str
    origins: np.ndarray  # index of each origin's first forecast step in the series
    truth: np.ndarray
    forecast: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    naive: np.ndarray
    std: np.ndarray  # [targets]: the training part's spread, for the standardised scores
    scale: np.ndarray  # [targets]: in-sample seasonal-naive MAE on the training part, for MASE


@dataclass
class Backtest:
    series: list[SeriesWindows] = field(default_factory=list)

    def scores(self, targets: list[str]) -> dict:
        """Scores pooled over every series and target; with several targets, each target's on its own too
        (pooled MAE and RMSE mix the targets' units; MASE and the standardised scores do not)."""
        pooled = {"model": self._scores("forecast"), "seasonal_naive": self._scores("naive"),
                  "interval_coverage": self._coverage(), "origins": int(sum(len(s.origins) for s in self.series))}
        if len(targets) > 1:
            pooled["per_target"] = {name: {"model": self._scores("forecast", [i]), "seasonal_naive":
                                           self._scores("naive", [i])} for i, name in enumerate(targets)}
        return pooled

    def error_by_step(self, name: str) -> list[float]:
        """MAE per step ahead (1..horizon), over every origin, series and target."""
        errors = np.concatenate([np.abs(getattr(s, name) - s.truth).mean(axis=2) for s in self.series])
        return errors.mean(axis=0).tolist()

    def _scores(self, name: str, targets: list[int] | slice = slice(None)) -> dict[str, float]:
        """The scores of the forecast `name` over every series, on the `targets` (indices) chosen."""
        differences = [(getattr(s, name) - s.truth, s) for s in self.series]  # [origins, horizon, targets] each
        errors = np.concatenate([d[..., targets].ravel() for d, _ in differences])
        truth = np.concatenate([s.truth[..., targets].ravel() for s in self.series])
        predicted = truth + errors
        standardised = np.concatenate([(d / s.std)[..., targets].ravel() for d, s in differences])
        per_target_mae = np.concatenate([(np.abs(d).mean(axis=(0, 1)) / s.scale)[targets] for d, s in differences])
        return {
            "mae": float(np.abs(errors).mean()),
            "rmse": float(np.sqrt((errors ** 2).mean())),
            "mase": float(per_target_mae.mean()),
            "smape": smape(truth, predicted),
            "mse_standardised": float((standardised ** 2).mean()),
            "mae_standardised": float(np.abs(standardised).mean()),
        }

    def _coverage(self) -> float:
        inside = np.concatenate([((s.lower <= s.truth) & (s.truth <= s.upper)).ravel() for s in self.series])
        return float(inside.mean())


def smape(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Symmetric MAPE in percent; a step where both values are zero counts as no error."""
    denominator = np.abs(truth) + np.abs(predicted)
    ratio = np.divide(2 * np.abs(predicted - truth), denominator, out=np.zeros_like(denominator),
                      where=denominator > 0)
    return float(100 * ratio.mean())


def seasonal_naive(values: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Each step repeats the value one season before it, from the last season observed before the origin:
    [origins, horizon, targets] from values [steps, targets]. Origins must be at least `season`."""
    steps = np.arange(horizon)
    return values[origins[:, None] - season + steps[None, :] % season]


def naive_scale(training: np.ndarray, season: int) -> np.ndarray:
    """In-sample MAE of the seasonal-naive forecast on the training part, per target (MASE's denominator).
    Falls back to one-step differences when the part is shorter than two seasons, and to 1 for a flat one."""
    lag = season if len(training) > season else 1
    scale = np.abs(training[lag:] - training[:-lag]).mean(axis=0)
    return np.where(scale > 0, scale, 1.0)


def residual_quantiles(truth: np.ndarray, forecast: np.ndarray, level: float = INTERVAL_LEVEL) -> dict:
    """Per step and target, the half-width of a split-conformal interval: the quantile of absolute validation
    residuals that bounds a `level` share of them (with the finite-sample correction), on the standardised scale.
    Symmetric on purpose: quantiles of signed residuals put the whole interval on one side of the forecast
    when the validation part is one-sided (a rising series under-predicted), which no reader expects."""
    magnitudes = np.sort(np.abs(truth - forecast), axis=0)
    rank = min(len(magnitudes), int(np.ceil((len(magnitudes) + 1) * level)))
    width = magnitudes[rank - 1]
    return {"level": level, "lower": (-width).tolist(), "upper": width.tolist()}
