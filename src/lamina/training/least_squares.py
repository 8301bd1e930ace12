"""The linear forecaster fitted in closed form: ridge least squares on the training windows, the penalty picked
on the validation windows. Exact and instant, where gradient descent needs thousands of steps to converge on
this ill-conditioned problem."""

from __future__ import annotations

import torch

RIDGE_STRENGTHS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # L2 penalties tried, as shares of the mean input energy


def fit_least_squares(network: torch.nn.Module, train, valid) -> float:
    """Sets the linear forecaster's map (network.core.map) to the ridge solution whose penalty does best on
    validation; `train` and `valid` are (windows [rows, lookback, channels], labels [rows, horizon, targets]).
    Returns that validation MSE (standardised units)."""
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
