"""Calibrated class probabilities: temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks") and the expected calibration error (ECE) that measures it.

Temperature scaling divides a classifier's logits by one scalar T > 0 before the softmax, T fitted on the
validation rows by minimising their negative log-likelihood (NLL) plus a Gaussian prior on log T (a MAP estimate,
LOG_T_PRIOR). T > 1 softens an over-confident model, T < 1 sharpens an under-confident one; the most probable class
never changes, so accuracy does not either.

ECE (Naeini et al. 2015) is computed by torchmetrics with equal-width bins of confidence: for two classes the
second class's probability against how often the row is of that class, for more classes the top probability
against how often the top class is right; the mean over bins of |confidence − frequency|, weighted by rows.
"""

from __future__ import annotations

import numpy as np
import torch

ECE_BINS = 10  # equal-width bins of confidence over [0, 1], shared with the report's calibration chart
# Weight, in nats, of (log T)² beside the validation rows' summed NLL: a normal prior on log T with σ = 1/√8 ≈ 0.35.
# 3 small tables × 3 seeds (test log loss, none / this / weight 1): breast cancer 0.103 / 0.096 / 0.096, wine 0.039 /
# 0.039 / 0.040, digits 0.066 / 0.066 / 0.067; without it T fell to 0.007 on one all-right validation set.
LOG_T_PRIOR = 4.0
LOG_T_BOUND = 5.0  # |log T| is kept within this (T in about [0.007, 148]): beyond it the fit ran away
TINY = 1e-45  # the smallest float32 probability, under which a logarithm would be -inf


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T > 0 minimising the summed NLL of softmax(logits / T) on these rows plus LOG_T_PRIOR · (log T)²
    (LBFGS on log T, so T stays positive): the maximum a posteriori T under a normal prior on log T centred on 1.

    With thousands of rows the prior is negligible and this is Guo et al.'s fit. On a few dozen it holds T near 1
    unless the rows clearly say otherwise: alone, a small validation set the network gets all right pulls T towards 0
    (breast cancer, 69 rows: T 0.007 and a test log loss of 6.7), and Platt's smoothed targets, used before, pushed
    T to 2–3 on every small table (wine, digits: test log loss 0.039 → 0.165, 0.066 → 0.131; BENCHMARKS.md).

    logits: [rows, classes] raw network outputs; labels: [rows] class indices. Returns 1.0 for no rows."""
    if len(labels) == 0:
        return 1.0
    logits, labels = logits.detach().double().cpu(), labels.detach().long().cpu()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels, reduction="sum") \
            + LOG_T_PRIOR * log_t.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    value = float(log_t.detach().clamp(-LOG_T_BOUND, LOG_T_BOUND))
    return float(np.exp(value)) if np.isfinite(value) else 1.0


def scaled_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T) over the last axis; T = 1 gives exactly torch.softmax(logits)."""
    return torch.softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)


def uncalibrated(proba: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities before temperature scaling, from the scaled ones [rows, classes]: softmax(T · log p),
    since log p = z / T − c per row and a softmax ignores a row's constant."""
    if temperature == 1.0:
        return np.asarray(proba)
    scaled = temperature * np.log(np.clip(np.asarray(proba, dtype=np.float64), TINY, 1.0))
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def expected_calibration_error(labels: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of probabilities `proba` [rows, classes] against class indices `labels` [rows], in [0, 1] (lower is
    better), by torchmetrics' binary or multiclass `calibration_error` with `bins` equal-width bins (L1 norm).
    NaN for no rows."""
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    if len(labels) == 0:
        return float("nan")
    proba = torch.as_tensor(np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0))
    target = torch.tensor(np.asarray(labels), dtype=torch.long)
    if proba.shape[1] == 2:
        return float(binary_calibration_error(proba[:, 1].contiguous(), target, n_bins=bins))
    return float(multiclass_calibration_error(proba, target, num_classes=proba.shape[1], n_bins=bins))


def calibration_metrics(labels: np.ndarray, proba: np.ndarray, temperature: float) -> dict[str, float]:
    """`ece` of the (temperature-scaled) `proba`, and `ece_uncalibrated` and `log_loss_uncalibrated` of the same
    rows before scaling (the scaled ones' log loss is classification_metrics' `log_loss`)."""
    from lamina.evaluation.metrics import log_loss

    before = uncalibrated(proba, temperature)
    return {"ece": expected_calibration_error(labels, proba),
            "ece_uncalibrated": expected_calibration_error(labels, before),
            "log_loss_uncalibrated": log_loss(labels, before) if len(labels) else float("nan")}


# A rise of the test log loss under T worth a warning: at least this many nats and this share of it. On 30 test rows
# T = 1.01 moved it 0.0228 → 0.0232 and a warning then called T misjudged: noise, not a finding.
NOTABLE_LOG_LOSS, NOTABLE_SHARE = 0.001, 0.02


def temperature_shown(temperature: float) -> str:
    """T to three significant digits, or as many (up to six) as it takes not to read as 1 when it is not 1: a T of
    1.0026 shown as "1" beside probabilities it moved reads as no calibration."""
    for digits in range(3, 7):
        shown = f"{temperature:.{digits}g}"
        if temperature == 1.0 or float(shown) != 1.0:
            return shown
    return shown


def temperature_text(temperature: float, record: dict | None = None, test: dict | None = None) -> str:
    """One line for the CLI summary, the report and the card: what T is, on which rows and how many it was fitted
    (from `record`, model.json's training record: the validation rows, or cross-fitted members' out-of-fold
    predictions), and what it did, on the test rows when `test` (the test metrics) is given: log loss (a proper
    score) and ECE before and after, and a warning where both rose (the log loss by a notable amount:
    NOTABLE_LOG_LOSS, NOTABLE_SHARE)."""
    from lamina.training.crossfit import cross_fit_text

    if temperature == 1.0:
        return "Probabilities: the network's softmax as is (temperature T = 1, no calibration)."
    record = record or {}
    valid = (record.get("sizes") or {}).get("valid")
    checked_on = cross_fit_text(record) if record.get("cross_fit") or valid is None else f"{valid} validation rows"
    effect = "softens over-confident" if temperature > 1 else "sharpens under-confident"
    text = (f"Probabilities calibrated by temperature scaling (Guo et al. 2017): logits divided by T = "
            f"{temperature_shown(temperature)}, fitted on the {checked_on} by minimising their log loss; T {effect} "
            "probabilities and never changes the most probable class.")
    keys = ("log_loss_uncalibrated", "log_loss", "ece_uncalibrated", "ece")
    if not test or not all(isinstance(test.get(key), (int, float)) and np.isfinite(test[key]) for key in keys):
        return text  # runs scored before log_loss_uncalibrated was recorded (or a NaN stored as null)
    text += (f" On the test rows it moved the log loss from {test['log_loss_uncalibrated']:.4f} to "
             f"{test['log_loss']:.4f} and the ECE from {test['ece_uncalibrated']:.4f} to {test['ece']:.4f}")
    rise = test["log_loss"] - test["log_loss_uncalibrated"]
    if rise > max(NOTABLE_LOG_LOSS, NOTABLE_SHARE * test["log_loss_uncalibrated"]) and \
            test["ece"] > test["ece_uncalibrated"]:
        if record.get("cross_fit"):  # out-of-fold predictions (training.crossfit) of every row already
            return text + (": both are worse here: the rows T was fitted on (every training row, out of fold) "
                           "misjudged how confident the network should be on the test rows.")
        return text + (": both are worse here, so T was fitted on too few (or unrepresentative) validation rows "
                       "to judge the network's confidence by; more validation rows (--valid-fraction) fit it better.")
    return text + "."
