"""Split rows into train / valid / test, stratified by class, reproducible from the seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    description: str  # how the split was made, for the report

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def split_rows(
    frame: pd.DataFrame,
    target: str,
    task: str,
    valid_fraction: float,
    test_fraction: float,
    seed: int,
    test: pd.DataFrame | None = None,
) -> Split:
    """With `test` given, `frame` is split into train and valid only; otherwise three ways."""
    if test is not None:
        train, valid = _two_way(frame, target, task, valid_fraction, seed)
        how = f"given test file; training file split {1 - valid_fraction:.0%} train / {valid_fraction:.0%} valid"
        return Split(train, valid, test, f"{how}, seed {seed}")
    rest, test_part = _two_way(frame, target, task, test_fraction, seed)
    train, valid = _two_way(rest, target, task, valid_fraction / (1 - test_fraction), seed + 1)
    train_share = 1 - valid_fraction - test_fraction
    how = f"random {train_share:.0%} / {valid_fraction:.0%} / {test_fraction:.0%} (train / valid / test)"
    stratified = ", stratified by class" if task != "regression" else ""
    return Split(train, valid, test_part, f"{how}{stratified}, seed {seed}")


def _two_way(frame: pd.DataFrame, target: str, task: str, fraction: float, seed: int):
    from sklearn.model_selection import train_test_split

    stratify = frame[target].to_numpy() if task != "regression" else None
    if stratify is not None:
        classes = len(np.unique(stratify))
        held_out = int(np.ceil(fraction * len(frame)))
        if held_out < classes or len(frame) - held_out < classes:
            stratify = None  # too few rows to give every class a place on both sides
    first, second = train_test_split(frame, test_size=fraction, random_state=seed, stratify=stratify)
    return first, second
