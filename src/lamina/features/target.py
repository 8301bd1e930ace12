"""The target column ↔ what the network learns: class indices, or a standardised number."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, StrictStr

from lamina.checked import Fault, Record, checked, under
from lamina.data.checks import standardisation, target_size_problem
from lamina.errors import LaminaError, did_you_mean, quoted, row_name
from lamina.features.category import category_key
from lamina.features.numeric import to_numbers
from lamina.plain import json_safe


def canonical_labels(values: pd.Series) -> pd.Series:
    """Target values as a person means them, the one rule checks, split and encoder all see: surrounding spaces
    are no part of a label ("yes " is "yes"), a blank label is a missing one, and a column that mixes numbers
    with text (0 and "0", as a DataFrame can) holds text, each value spelt as category_key spells it. A column
    of numbers alone, or of booleans, is returned as it is."""
    present = values.dropna()
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) or len(present) == 0:
        return values
    texts = present.map(category_key)  # strips text; 1.0 → "1"
    if present.map(lambda v: isinstance(v, str)).all() and texts.equals(present) and (texts != "").all():
        return values  # already canonical: no copy
    labels = values.astype(object).copy()
    labels[values.notna().to_numpy()] = texts.where(texts != "", None).to_numpy()
    return labels


UNSEEN_NAMED = 5  # classes a test file's target holds that training never saw, named before "and N more"


class TargetEncoder:
    def __init__(self, task: str, column: str):
        self.task = task
        self.column = column

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    def fit(self, values: pd.Series) -> TargetEncoder:
        values = values.dropna()
        if self.is_classification:
            # Keep each class's original spelling for predictions; sort for a stable order.
            spellings: dict[str, object] = {}
            for value in values:
                spellings.setdefault(category_key(value), value)
            self.classes_ = [json_safe(spellings[k]) for k in sorted(spellings)]
            self._index = {category_key(c): i for i, c in enumerate(self.classes_)}
        else:
            numbers = to_numbers(values, self.column)
            numbers = numbers[~np.isnan(numbers)]
            size = float(np.abs(numbers).max()) if len(numbers) else 0.0
            problem = target_size_problem(self.column, size)
            if problem:
                raise LaminaError(problem)
            self.mean_, self.scale_ = standardisation(numbers)
        return self

    @property
    def outputs(self) -> int:
        return len(self.classes_) if self.is_classification else 1

    def encode(self, values: pd.Series) -> np.ndarray:
        if self.is_classification:
            keys = values.map(category_key)
            unknown = keys[~keys.isin(self._index.keys())]
            if len(unknown):
                known = ", ".join(map(str, self.classes_))
                # Each class it never saw, at its first row, with the known class it resembles: one typo a run
                # to find otherwise.
                firsts = unknown[~unknown.duplicated()]
                named = "; ".join(f"{row_name(row)}: class {quoted(value)}{did_you_mean(value, self._index)}"
                                  for row, value in firsts.iloc[:UNSEEN_NAMED].items())
                more = f"; and {len(firsts) - UNSEEN_NAMED} more" if len(firsts) > UNSEEN_NAMED else ""
                rows = f"{len(unknown)} rows hold" if len(unknown) > 1 else "1 row holds"
                raise LaminaError(
                    f"Target {self.column!r}: {rows} classes the model never saw in training (known: {known}). "
                    f"{named}{more}. Evaluate on rows of known classes, spelt as in training.")
            return keys.map(self._index).to_numpy(dtype=np.int64)
        numbers = to_numbers(values, self.column)
        standardised = (numbers - self.mean_) / self.scale_
        # Training values always fit float32 (they set the scale); a value scored later may lie past its range.
        beyond = np.abs(standardised) > np.finfo(np.float32).max
        if beyond.any():
            raise LaminaError(f"Target {self.column!r}, {row_name(values.index[beyond][0])}: {numbers[beyond][0]:.3g} "
                              f"lies {abs(standardised[beyond][0]):.3g} training spreads ({self.scale_:.3g}) from the "
                              "training mean, past what the model's float32 scale holds: it cannot be scored. Check "
                              "the value (a typo, a placeholder such as 1e300?), or drop the row.")
        return standardised.astype(np.float32)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs (class probabilities, or standardised values) → predictions."""
        if self.is_classification:
            return np.asarray(self.classes_, dtype=object)[outputs.argmax(axis=1)]
        return outputs.reshape(-1).astype(np.float64) * self.scale_ + self.mean_  # float32 ends near 3.4e38

    def state(self) -> dict:
        if self.is_classification:
            return {"task": self.task, "column": self.column, "classes": self.classes_}
        return {"task": self.task, "column": self.column, "mean": self.mean_, "scale": self.scale_}

    @classmethod
    def from_state(cls, state: dict) -> TargetEncoder:
        """Raises Fault naming the key of `state` (model.json's task.state.target) that is missing or wrong."""
        with under("target"):
            stored = checked(_TargetState, state)
            encoder = cls(stored.task, stored.column)
            if encoder.is_classification:
                encoder.classes_ = checked(_ClassesState, state).classes
                encoder._index = {category_key(c): i for i, c in enumerate(encoder.classes_)}
                if len(encoder._index) < len(encoder.classes_):
                    raise Fault("classes", f"two classes share a spelling (they are {encoder.classes_!r})")
            else:
                number = checked(_NumberTargetState, state)
                encoder.mean_, encoder.scale_ = number.mean, number.scale
        return encoder


class _TargetState(Record):
    task: Literal["binary", "multiclass", "regression"]
    column: StrictStr


class _ClassesState(Record):
    classes: list[StrictStr | int | float | bool] = Field(min_length=2)  # each class's original spelling


class _NumberTargetState(Record):
    mean: float
    scale: float = Field(gt=0)  # target units per standardised unit


class TargetSet:
    """Several target columns ↔ what a network with one head per target learns. The network's outputs are the
    targets' outputs side by side (`slices` gives each target's columns: its classes, or one standardised
    number); the encoded targets are [rows, 2, targets]: [:, 0] each target's encoded value (class index or
    standardised number; 0 where the label is missing, a placeholder no loss reads) and [:, 1] whether the
    label is present (1.0) or missing (0.0)."""

    def __init__(self, encoders: list[TargetEncoder]):
        self.encoders = encoders

    @property
    def column(self) -> list[str]:
        """The target columns: frame[target_set.column] is the DataFrame `encode` reads."""
        return [encoder.column for encoder in self.encoders]

    @property
    def outputs(self) -> int:
        return sum(encoder.outputs for encoder in self.encoders)

    @property
    def slices(self) -> list[slice]:
        ends = np.cumsum([encoder.outputs for encoder in self.encoders]).tolist()
        return [slice(end - encoder.outputs, end) for end, encoder in zip(ends, self.encoders, strict=True)]

    @property
    def is_classification(self) -> bool:
        return all(encoder.is_classification for encoder in self.encoders)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """[rows, 2, targets] float32: values and presence flags (see the class)."""
        encoded = np.zeros((len(frame), 2, len(self.encoders)), dtype=np.float32)
        for i, encoder in enumerate(self.encoders):
            present = frame[encoder.column].notna().to_numpy()
            encoded[present, 0, i] = encoder.encode(frame[encoder.column][present])
            encoded[:, 1, i] = present
        return encoded
