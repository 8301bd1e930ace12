"""Training one forecasting architecture on the windows of the training part, validated on those of the
validation part: the linear map by least squares (exact and instant, where gradient descent needs thousands
of steps to converge on its ill-conditioned problem), every network by the shared Trainer."""

from __future__ import annotations

import math
import time

import torch

from lamina.data.series import SeriesLayout
from lamina.forecast.settings import ForecastSettings
from lamina.nets.forecasters import build_forecaster
from lamina.training.batches import TensorBatches
from lamina.training.trainer import Trainer

STEPS_PER_RUN = 3000  # optimiser steps a training run aims at; epochs follow from the number of windows
RIDGE_STRENGTHS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # L2 penalties tried, as shares of the mean input energy


def train_candidate(arch: str, train, valid, lookback: int, layout: SeriesLayout, settings: ForecastSettings,
                    progress: bool) -> dict:
    """{"arch", "hyperparameters", "network", "history", "valid_mse", "epochs_run", "best_epoch", "seconds"}"""
    hyperparameters = {} if arch == "linear" else {"width": settings.width, "depth": settings.depth,
                                                   "dropout": settings.dropout}
    torch.manual_seed(settings.seed)
    network = build_forecaster(arch, lookback, len(layout.channels), settings.horizon, len(layout.targets),
                               **hyperparameters)
    started = time.perf_counter()
    if arch == "linear":
        valid_mse = fit_least_squares(network, train, valid)
        history, best_epoch = [{"epoch": 1, "train_loss": None, "valid_loss": valid_mse}], 1
    else:
        history, valid_mse, best_epoch = _fit_by_gradient(network, train, valid, settings, progress)
    network.eval()
    return {"arch": arch, "hyperparameters": hyperparameters, "network": network, "history": history,
            "valid_mse": valid_mse, "epochs_run": len(history), "best_epoch": best_epoch,
            "seconds": time.perf_counter() - started}


def fit_least_squares(network: torch.nn.Module, train, valid) -> float:
    """Sets the linear forecaster's map to the ridge solution whose penalty does best on validation;
    returns that validation MSE."""
    def design(inputs, labels):
        last = inputs[:, -1:, :]
        change = labels - last[:, :, : labels.shape[2]]
        return (inputs - last).flatten(1).double(), change.flatten(1).double()

    x, y = design(*train)
    x_mean, y_mean = x.mean(dim=0), y.mean(dim=0)
    x, y = x - x_mean, y - y_mean
    gram, moment = x.T @ x, x.T @ y
    energy = gram.diagonal().mean().clamp_min(1e-12)
    valid_x, valid_y = design(*valid)
    best = None
    for strength in RIDGE_STRENGTHS:
        weight = torch.linalg.solve(gram + strength * energy * torch.eye(len(gram), dtype=gram.dtype), moment)
        bias = y_mean - x_mean @ weight
        mse = float(((valid_x @ weight + bias - valid_y) ** 2).mean())
        if best is None or mse < best[0]:
            best = (mse, weight, bias)
    mse, weight, bias = best
    with torch.no_grad():
        network.core.map.weight.copy_(weight.T.float())
        network.core.map.bias.copy_(bias.float())
    return mse


def _fit_by_gradient(network, train, valid, settings: ForecastSettings, progress: bool):
    # Small series give few windows: smaller batches keep the number of optimiser steps per epoch up.
    batch_size = settings.batch_size or min(64, max(16, len(train[0]) // 20))
    batches = TensorBatches(train[0], train[1], batch_size, shuffle=True, seed=settings.seed)
    epochs = settings.epochs or min(300, max(10, math.ceil(STEPS_PER_RUN / len(batches))))
    trainer = Trainer(network, torch.nn.functional.mse_loss, epochs=epochs, lr=settings.lr, weight_decay=1e-4,
                      warmup_epochs=min(1.0, epochs / 10), clip_norm=1.0, patience=settings.patience,
                      seed=settings.seed, progress=progress)
    history = trainer.fit(batches, TensorBatches(valid[0], valid[1], 4096))
    return history, float(trainer.best_score_), trainer.best_epoch_
