"""Cross-fitted ensemble members: k-fold bagging inside one TabM-mini ensemble (nets.mlp.TabularMLP with members).

The labelled non-test rows (training and validation together) are dealt into k folds; member m belongs to fold
m mod k and its loss ignores the rows of its fold. Every row then has members that never trained on it, and the
mean of their outputs is the row's out-of-fold (OOF) prediction: early stopping, the best epoch, the temperature
and the decision threshold are judged on the OOF predictions of every row instead of on a validation split of a
few dozen rows, while all rows train (k − 1)/k of the members. The prediction stays the mean of all members.

This is AutoGluon's k-fold bagging (Erickson et al. 2020, "AutoGluon-Tabular: Robust and Accurate AutoML for
Structured Data", section 3.3: k models each fitted without one fold, scored out of fold, averaged to predict),
with the k models as members of one network that share its embeddings and dense blocks.

The rows' folds travel in the batches' inputs under FOLD_KEY (a tensor [rows] of fold indices), which the
networks do not read: `held_in` masks the training loss with it, `OutOfFold` turns the members' outputs into OOF
outputs for validation. A member never reads the targets of its fold's rows; their inputs still reach it through the
batch-norm statistics of the batches they share with its own rows (a batch's mean and variance, no label).
"""

from __future__ import annotations

import torch
from torch import nn

FOLD_KEY = "fold"  # inputs key of each row's fold index [rows] (long); no column block is named so


def assign_folds(targets: torch.Tensor, folds: int, seed: int) -> torch.Tensor:
    """Each row's fold [rows] (long, in 0 … folds − 1), the same for the same seed. Stratified: the rows, in a
    seeded random order, are sorted by target (class index, or value for one number) and dealt round-robin, so every
    fold holds each class in proportion (±1 row), and for a number target a share of every range of its values.
    Targets of several columns [rows, targets] are dealt in the random order alone.

    targets: [rows] or [rows, targets]; folds ≥ 2."""
    if folds < 2:
        raise ValueError(f"Cross-fitting needs at least 2 folds, not {folds}.")
    rows = len(targets)
    order = torch.randperm(rows, generator=torch.Generator().manual_seed(seed))
    if targets.dim() == 1:
        order = order[torch.argsort(targets[order].cpu(), stable=True)]
    fold = torch.empty(rows, dtype=torch.long)
    fold[order] = torch.arange(rows) % folds
    return fold


def member_folds(members: int, folds: int) -> torch.Tensor:
    """The fold each member leaves out [members]: member m leaves out fold m mod folds."""
    return torch.arange(members) % folds


def held_in(row_folds: torch.Tensor, members: int, folds: int) -> torch.Tensor:
    """Which member trains on which row: bool [rows, members], False where the row is in the member's fold."""
    return row_folds.unsqueeze(1) != member_folds(members, folds).to(row_folds.device)


def out_of_fold(outputs: torch.Tensor, row_folds: torch.Tensor, folds: int) -> torch.Tensor:
    """Each row's mean over the members that left its fold out: outputs [rows, members, outputs] → [rows, outputs]
    (for logits, as the ensemble's prediction is a mean of logits). Needs members ≥ folds, so every fold has one."""
    members = outputs.shape[1]
    if members < folds:
        raise ValueError(f"{folds} folds need at least {folds} members (there are {members}): a fold without its "
                         "member would have no out-of-fold prediction.")
    left_out = (~held_in(row_folds, members, folds)).to(outputs.dtype).unsqueeze(2)  # [rows, members, 1]
    return (outputs * left_out).sum(1) / left_out.sum(1)


class OutOfFold(nn.Module):
    """An ensemble seen through its out-of-fold outputs: forward(inputs) = out_of_fold(network.members(inputs),
    inputs[FOLD_KEY], folds), [rows, outputs]; what validation and the calibration read. Not a network to save:
    rows without a fold have no out-of-fold prediction."""

    def __init__(self, network: nn.Module, folds: int):
        super().__init__()
        self.network = network
        self.folds = folds

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return out_of_fold(self.network.members(inputs), inputs[FOLD_KEY], self.folds)


def validation_text(record: dict) -> str | None:
    """The validation score that chose the best epoch, named for what it is, from the training record of model.json
    (`validation`: {"metric", "score", "epoch"}; `cross_fit`; `sizes`): "out-of-fold loss 0.4548 at epoch 6, on
    out-of-fold predictions of the 255 training and validation rows" where members were cross-fitted (the record's
    valid_loss is then no validation split's), else "valid_loss 0.4548 at epoch 6, on the 45 validation rows".
    None where the record has no score (no validation data, or a model saved before scores were recorded)."""
    validation = record.get("validation")
    if not validation:
        return None
    name, rows = validation["metric"], f"the {record.get('sizes', {}).get('valid', '?')} validation rows"
    if record.get("cross_fit"):
        name, rows = "out-of-fold " + name.removeprefix("valid_").replace("_", " "), cross_fit_text(record)
    return f"{name} {validation['score']:.4f} at epoch {validation['epoch']}, on {rows}"


def cross_fit_text(record: dict) -> str:
    """What the rows the best epoch (and a temperature, a threshold) were judged on are, from the training record
    of model.json (`cross_fit`: {"folds", "rows"}), for the report and the CLI summary."""
    if not record.get("cross_fit"):
        return "validation rows"
    return f"out-of-fold predictions of the {record['cross_fit']['rows']} training and validation rows"
