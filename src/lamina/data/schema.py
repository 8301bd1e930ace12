"""Infer what each column is (number, category, binary, datetime, text, image, audio) and what the task is.

Every choice made here can be overridden: `data.columns: {name: kind}` and `data.task` in the config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from lamina.data.audio import looks_like_audio_paths
from lamina.data.images import looks_like_arrays, looks_like_image_paths
from lamina.errors import LaminaError, did_you_mean

FEATURE_KINDS = ("number", "category", "binary", "datetime", "text", "image", "audio")
# Kinds the networks read as pictures through a CNN: images, and audio as its log-mel spectrogram.
PICTURE_KINDS = ("image", "audio")
MIN_TEXT_WORDS = 4.0  # mean words per value from which a string column reads as free text
ID_UNIQUE_RATIO = 0.95  # a string column this unique (and not text) identifies rows
MIXED_NUMBER_RATIO = 0.9  # a string column this numeric is a number column with typos
MAX_CLASSES_FROM_INTEGERS = 10  # an integer target with at most this many values is classified
SAMPLE_ROWS = 2000  # rows sampled to judge a string column (speed on large tables)


@dataclass
class Column:
    name: str
    kind: str  # one of FEATURE_KINDS, or "ignore" for a dropped column
    role: str = "feature"  # "feature", "target" or "dropped"
    note: str = ""  # why the column was dropped or how it was read


@dataclass
class Schema:
    columns: list[Column]
    target: str
    task: str  # "binary", "multiclass" or "regression"
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[Column]:
        return [c for c in self.columns if c.role == "feature"]

    @property
    def dropped(self) -> list[Column]:
        return [c for c in self.columns if c.role == "dropped"]

    def to_dict(self) -> dict:
        return {"target": self.target, "task": self.task, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_dict(cls, raw: dict) -> Schema:
        return cls(columns=[Column(**c) for c in raw["columns"]], target=raw["target"], task=raw["task"])


def require_target(frame: pd.DataFrame, target: str | None, where: str = "the data") -> None:
    if not target:
        raise LaminaError(
            f"No target column given. Name the column to predict with --target COL "
            f"(columns: {', '.join(list(frame.columns)[:12])})."
        )
    if target not in frame.columns:
        raise LaminaError(
            f"Target column {target!r} is not in {where}.{did_you_mean(target, frame.columns)} "
            f"Columns: {', '.join(list(frame.columns)[:20])}."
        )


def infer_schema(
    frame: pd.DataFrame, target: str, task: str = "auto", overrides: dict[str, str] | None = None
) -> Schema:
    require_target(frame, target)
    overrides = dict(overrides or {})
    for name in overrides:
        if name not in frame.columns:
            raise LaminaError(
                f"The config sets a kind for column {name!r}, which is not in the data."
                f"{did_you_mean(name, frame.columns)}"
            )
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        if name in overrides:
            kind = overrides[name]
            role = "dropped" if kind == "ignore" else "feature"
            columns.append(Column(name, kind, role, "set in the config"))
        else:
            columns.append(infer_column(frame[name]))
    resolved_task = infer_task(frame[target], target, task)
    columns.append(Column(target, "number" if resolved_task == "regression" else "category", "target"))
    return Schema(columns=columns, target=target, task=resolved_task)


def infer_column(series: pd.Series) -> Column:
    name = str(series.name)
    values = series.dropna()
    if len(values) == 0:
        return Column(name, "ignore", "dropped", "every value is missing")
    if looks_like_arrays(values):
        return Column(name, "image", note="image arrays")
    if looks_like_image_paths(values):
        return Column(name, "image", note="image file paths")
    if looks_like_audio_paths(values):
        return Column(name, "audio", note="audio file paths")
    unique = values.nunique()
    if unique == 1:
        return Column(name, "ignore", "dropped", f"constant (every value is {values.iloc[0]!r})")
    if pd.api.types.is_bool_dtype(series):
        return Column(name, "binary")
    if pd.api.types.is_datetime64_any_dtype(series):
        return Column(name, "datetime")
    if pd.api.types.is_numeric_dtype(series):
        if unique == 2:
            return Column(name, "binary")
        if _looks_like_integer_id(name, values, unique):
            return Column(name, "ignore", "dropped", "ID-like (a distinct integer per row)")
        return Column(name, "number")
    return _infer_string_column(name, values.astype(str), unique)


def _looks_like_integer_id(name: str, values: pd.Series, unique: int) -> bool:
    if unique != len(values) or not np.all(np.mod(values.to_numpy(dtype=float), 1) == 0):
        return False
    ordered = np.sort(values.to_numpy(dtype=float))
    consecutive = bool(np.all(np.diff(ordered) == 1))
    lowered = name.lower()
    return consecutive or lowered == "id" or lowered.endswith(("_id", " id", "id_")) or lowered.startswith("id_")


def _infer_string_column(name: str, values: pd.Series, unique: int) -> Column:
    sample = values.sample(min(len(values), SAMPLE_ROWS), random_state=0)
    numeric = pd.to_numeric(sample, errors="coerce")
    parsed = numeric.notna().mean()
    if parsed == 1.0:
        return Column(name, "number", note="numbers stored as text")
    if parsed >= MIXED_NUMBER_RATIO:
        raise LaminaError(mixed_type_message(name, values))
    if unique == 2:
        return Column(name, "binary")
    if _looks_like_dates(sample):
        return Column(name, "datetime")
    words = sample.str.split().str.len().mean()
    if words >= MIN_TEXT_WORDS:
        return Column(name, "text", note=f"free text, {words:.1f} words per value on average")
    if unique / len(values) >= ID_UNIQUE_RATIO and len(values) >= 20:
        return Column(name, "ignore", "dropped", "ID-like (a distinct value per row)")
    return Column(name, "category")


def mixed_type_message(name: str, values: pd.Series) -> str:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values[numeric.isna()]
    first_row = bad.index[0]
    return (
        f"Column {name!r} holds numbers but {len(bad)} value(s) are not numbers, first {bad.iloc[0]!r} "
        f"at row {first_row + 2 if isinstance(first_row, (int, np.integer)) else first_row} "
        "(counting the header as row 1). Fix or blank those values, or declare the column's kind in the "
        f"config (data: columns: {{{name}: category}})."
    )


def _looks_like_dates(sample: pd.Series) -> bool:
    if not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).mean() >= 0.95:
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def infer_task(target: pd.Series, name: str, task: str = "auto") -> str:
    values = target.dropna()
    if len(values) == 0:
        raise LaminaError(f"Target column {name!r} has no values (every row is missing). Fill it in.")
    unique = values.nunique()
    if unique < 2:
        raise LaminaError(
            f"Target column {name!r} has a single value ({values.iloc[0]!r}) in every row, so there is "
            "nothing to learn. Give data with at least two classes or varying values."
        )
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task == "regression":
        if not numeric:
            raise LaminaError(
                f"task is 'regression' but target {name!r} holds non-numbers (e.g. {values.iloc[0]!r}). "
                "Use a classification task or a numeric target."
            )
        return "regression"
    if task in ("binary", "multiclass"):
        if task == "binary" and unique != 2:
            raise LaminaError(f"task is 'binary' but target {name!r} has {unique} classes. Use 'multiclass'.")
        return task
    if unique == 2:
        return "binary"
    if not numeric:
        return "multiclass"
    integers = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    return "multiclass" if integers and unique <= MAX_CLASSES_FROM_INTEGERS else "regression"
