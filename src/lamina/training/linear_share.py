"""A linear model's share of a small table's prediction: the network's outputs blended with those of a ridge
regression (regression) or an L2 logistic regression (classification) on the number, date and category columns, the
share chosen on out-of-fold predictions.

This is stacked generalisation (Wolpert 1992, "Stacked Generalization") with a convex combination of two models
(Breiman 1996, "Stacked Regressions": non-negative weights judged on cross-validated predictions), as AutoGluon's
weighted ensemble picks its weights on out-of-fold predictions (Caruana et al. 2004, "Ensemble Selection from
Libraries of Models"). On a nearly linear table of a few hundred rows (scikit-learn's diabetes) a ridge regression
beats a network that must learn its linear part through dropout; elsewhere the network wins; the out-of-fold loss of
every row says by how much, for each share tried.

The linear model reads the network's encoded vector (nets.mlp.TableInputs.encode) through a fixed projection. A
numeric column gives its value, not its normal score: from the rank pieces the feature pipeline gives the network
(features.numeric.NumberEncoder), as a linear map: the value at rank q is the encoder's quantile function, piecewise
linear between the ranks 0, 1/PIECES, … 1 (exact at those ranks), so value = v(0) + Σ_t piece_t · (v((t + 1)/PIECES)
− v(t/PIECES)). On diabetes a ridge regression on the normal scores and rank pieces scored R² 0.402 against 0.419 on
the values (BENCHMARKS.md). The other dense floats (missing flags, dates) are read as they are, and a category
column through the network's embedding of it: any values of a category of n levels embedded in n − 1 or more
dimensions (a yes/no column in 2), a learnt projection of them in fewer. Text is left to the network. Inputs are
standardised before fitting, as scikit-learn's baselines are (the scaling is folded into the weights), so the
fitted model is one frozen linear layer on the encoded vector (nets.mlp.TabularMLP.install_linear_model): served,
explained and exported with the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field, StrictStr, model_validator

from lamina.checked import Record
from lamina.features.numeric import PIECES, NumberEncoder

SHARES = np.linspace(0.0, 1.0, 21).round(2)  # the linear model's shares tried, steps of 0.05 (0: the network alone)
EVEN_SHARE = 0.5  # the share kept unless another is clearly better out of fold (choose_share)
RIDGE_ALPHAS = np.logspace(-3, 3, 13)  # L2 penalties RidgeCV picks from by leave-one-out error (standardised inputs)
LOGISTIC_C = 1.0  # inverse L2 penalty of the logistic regression, scikit-learn's default (standardised inputs)
PIECE_RANKS = np.linspace(0.0, 1.0, PIECES + 1)  # the ranks where the pieces' map to values is exact


@dataclass
class LinearModel:
    """A fitted linear model of value_projection's inputs: outputs = inputs @ weight + bias; weight [inputs,
    outputs], bias [outputs] (logits, or standardised targets); `name` says which model, for the report."""
    weight: np.ndarray
    bias: np.ndarray
    name: str


def value_projection(layout: list[tuple[int, object]], numbers: int, categories: int, width: int) -> np.ndarray:
    """[width, inputs]: the linear model's inputs from the encoded vector of `width` floats, which begins with the
    `numbers` numeric floats in place (plain numbers) and the `categories` floats of the category embeddings.
    `layout`: (start, encoder) of each dense column in the numeric block (features.pipeline.FeaturePipeline.
    dense_encoders). A NumberEncoder's floats give one input, its value up to a constant and a scale (module
    docstring), (value − v(0)) / (v(1) − v(0)): in [0, 1] for the training values, so a column of values near 1e300
    or 1e-300 neither overflows nor vanishes when standardised (the fitted model is the same: standardising undoes
    any scale). Every other numeric float and every category embedding float is one input as it is."""
    columns, read = [], set()
    for start, encoder in layout:
        if not isinstance(encoder, NumberEncoder):
            continue
        values = np.interp(PIECE_RANKS, encoder.ranks_, encoder.knots_)
        values = values / np.abs(values).max() if values.any() else values  # in [-1, 1]: differences stay finite
        spread = values[-1] - values[0]
        column = np.zeros(width)
        if spread > 0:  # one training value: no slope
            column[[start + at for at in encoder.pieces_at]] = np.diff(values) / spread
        columns.append(column)
        read.update(start + at for at in (encoder.score_at, *encoder.pieces_at))
    identity = np.eye(width)
    columns += [identity[position] for position in range(numbers + categories) if position not in read]
    return np.stack(columns, axis=1) if columns else np.zeros((width, 0))


def fit_linear(inputs: np.ndarray, targets: np.ndarray, outputs: int, classification: bool) -> LinearModel | None:
    """The linear model of `inputs` [rows, inputs] (value_projection's) for `targets` [rows] (class indices, or
    standardised values), in the outputs of the network ([rows, outputs]: logits for each class, or one value).
    None where a class has no row here (its logit could not be fitted). scikit-learn's RidgeCV and
    LogisticRegression on standardised inputs."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(inputs)
    scaled = scaler.transform(inputs)
    if classification:
        if len(np.unique(targets)) < outputs:
            return None
        model = LogisticRegression(C=LOGISTIC_C, max_iter=5000).fit(scaled, targets)
        weight, bias = model.coef_.T, model.intercept_
        if outputs == 2:  # scikit-learn's one logit of the second class; softmax([0, z]) gives the same probability
            weight, bias = np.hstack([np.zeros_like(weight), weight]), np.array([0.0, bias[0]])
        name = f"logistic regression (L2, C = {LOGISTIC_C:g})"
    else:
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(scaled, targets)
        weight, bias = model.coef_.reshape(-1, 1), np.atleast_1d(model.intercept_)
        name = f"ridge regression (alpha {model.alpha_:g}, by leave-one-out)"
    weight = weight / scaler.scale_[:, None]  # standardising folded into the weights
    return LinearModel(weight, bias - scaler.mean_ @ weight, name)


def out_of_fold_linear(inputs: np.ndarray, targets: np.ndarray, folds: np.ndarray, outputs: int,
                       classification: bool) -> np.ndarray | None:
    """Each row's output [rows, outputs] from the linear model fitted without its fold (`folds` [rows], the rows'
    folds of training.crossfit); None where some fold's model cannot be fitted (fit_linear)."""
    predicted = np.zeros((len(targets), outputs))
    for fold in np.unique(folds):
        held_out = folds == fold
        model = fit_linear(inputs[~held_out], targets[~held_out], outputs, classification)
        if model is None:
            return None
        predicted[held_out] = inputs[held_out] @ model.weight + model.bias
    return predicted


def choose_share(network: torch.Tensor, linear: torch.Tensor, truth: torch.Tensor, row_losses) -> tuple[float, dict]:
    """(the share, its out-of-fold losses) for the blend (1 − share) · network + share · linear of network and
    linear outputs [rows, outputs] of the same rows, out of fold; `row_losses(outputs, truth)` gives each row's loss
    [rows]. The share is EVEN_SHARE unless the share with the lowest mean loss beats it by more than one standard
    error of their rows' paired loss differences (ties go to the smaller share). The losses: the network alone's,
    the linear model alone's, the chosen blend's, the even blend's, the lowest and its share, and that standard error.

    Why even unless clearly otherwise: weights fitted to combine forecasts tend to do worse out of sample than equal
    weights (the "forecast combination puzzle", Stock and Watson 2004; Smith and Wallis 2009), and here the network's
    out-of-fold loss is optimistic besides (its best epoch was picked on the same predictions, and its members share
    the dense blocks). On scikit-learn's diabetes the share with the lowest out-of-fold error scored test R² 0.417
    (seeds 0-4) and 0.484 (seeds 5-19), an even blend 0.419 and 0.487 (BENCHMARKS.md)."""
    each = [row_losses((1 - share) * network + share * linear, truth).double() for share in SHARES]
    means = [float(losses.mean()) for losses in each]
    lowest, even = int(np.argmin(means)), int(np.flatnonzero(SHARES == EVEN_SHARE)[0])
    gain = each[even] - each[lowest]  # [rows]: how much the lowest share beats the even blend on each row
    standard_error = float(gain.std() / np.sqrt(len(gain)))
    chosen = lowest if float(gain.mean()) > standard_error else even
    return float(SHARES[chosen]), {"network": means[0], "linear": means[-1], "blend": means[chosen],
                                   "even": means[even], "lowest_share": float(SHARES[lowest]),
                                   "lowest": means[lowest], "standard_error": standard_error}


def blend_losses(network: torch.Tensor, linear: torch.Tensor, truth: torch.Tensor, row_losses, share: float) -> dict:
    """The out-of-fold losses of a share given: the network alone's, the linear model alone's and the blend's (as
    choose_share's)."""
    return {name: float(row_losses((1 - weight) * network + weight * linear, truth).double().mean())
            for name, weight in (("network", 0.0), ("linear", 1.0), ("blend", share))}


class LinearShareRecord(Record):
    """model.json's training.linear_share, as tasks.table.TableTask.blend_linear_model writes it: the share and the
    linear model, the loss and the out-of-fold losses it was judged on (with cross-fitted members), or a note saying
    why no linear model was blended in."""

    share: float = Field(ge=0, le=1)
    model: StrictStr | None = None
    loss: StrictStr | None = None
    out_of_fold_loss: dict[str, float] | None = None
    note: StrictStr | None = None

    @model_validator(mode="after")
    def _said(self) -> LinearShareRecord:
        if self.note is None and self.model is None:
            raise ValueError("names neither its linear model nor why there is none (note)")
        losses = self.out_of_fold_loss
        if losses is None:
            return self
        needed = {"network", "linear", "blend"} | ({"lowest", "lowest_share", "standard_error"} if "even" in losses
                                                   else set())
        if self.loss is None or not needed <= set(losses) or not np.isfinite(list(losses.values())).all():
            raise ValueError(f"out_of_fold_loss needs finite {', '.join(sorted(needed))} and the loss they measure")
        return self


def linear_share_text(record: dict) -> str:
    """What the training record's `linear_share` (tasks.table.TableTask.blend_linear_model) says, in a sentence or
    two, for the report and the CLI summary."""
    if "note" in record:
        return f"No linear model was blended in: {record['note']}."
    share, model, losses = record["share"], record["model"], record.get("out_of_fold_loss")
    if losses is None:
        text = f"A {model} takes the share {share:g} given in the settings of every output (not judged out of fold)."
    else:
        judged = (f"its {record['loss']} out of fold: network alone {losses['network']:.4f}, linear model alone "
                  f"{losses['linear']:.4f}")
        if "even" not in losses:  # a share given: its blend's loss
            text = (f"A {model} takes the share {share:g} given in the settings of every output ({judged}, this blend "
                    f"{losses['blend']:.4f}).")
        else:
            how = (f"an even blend unless another share of 0, {SHARES[1]:g} … 1 beats it by more than a standard "
                   f"error; {judged}, even blend {losses['even']:.4f}, lowest {losses['lowest']:.4f} at share "
                   f"{losses['lowest_share']:g} (standard error of its gain {losses['standard_error']:.4f})")
            if not share:
                return f"A {model} was weighed and takes no share ({how})."
            text = f"A {model} takes a share {share:g} of every output ({how})."
    text += f" Outputs = (1 − {share:g}) × network + {share:g} × linear model."
    if share == 1:
        text += " The network takes no part: the model predicts as the linear model alone."
    return text
