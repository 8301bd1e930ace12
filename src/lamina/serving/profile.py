"""The training split's profile (per-column distributions and the prediction distribution), and the
binned summaries of later data that drift is measured against it with.

A profile is plain JSON stored in model.json. Each column has bins; a summary of new rows is the
count of rows per bin, so a server can keep summaries instead of raw payloads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lamina.data.schema import PICTURE_KINDS
from lamina.features.category import category_key
from lamina.features.datetime import parse_dates

NUMBER_BINS = 10  # quantile bins of a numeric column (deciles of the training split)
TOP_CATEGORIES = 20  # most frequent categories profiled one by one; the rest share "other"
OTHER, MISSING = "__other__", "__missing__"
TEXT_LENGTH_EDGES = [0, 5, 10, 20, 50, 100, 200, 500]  # words; text drift is judged on length alone


def build_profile(frame: pd.DataFrame, kinds: dict[str, str], predictions: pd.Series, task: str) -> dict:
    """Image columns are left out: their drift shows in the prediction distribution, which is profiled."""
    columns = {name: _column_profile(frame[name], kind) for name, kind in kinds.items() if kind not in PICTURE_KINDS}
    prediction_kind = "number" if task == "regression" else "category"
    columns_prediction = _column_profile(predictions.reset_index(drop=True), prediction_kind)
    profile = {"rows": len(frame), "columns": columns, "prediction": columns_prediction}
    for entry in [*columns.values(), columns_prediction]:
        entry["expected"] = _fractions(summarize_column(entry, entry.pop("_values")))
    return profile


def _column_profile(values: pd.Series, kind: str) -> dict:
    if kind in ("number", "datetime"):
        numbers = _as_numbers(kind, values)
        present = numbers[~np.isnan(numbers)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMBER_BINS + 1))[1:-1]) if len(present) else []
        return {"kind": kind, "edges": [float(e) for e in edges], "_values": values}
    if kind == "text":
        return {"kind": "text", "edges": TEXT_LENGTH_EDGES[1:], "_values": values}
    counts = values.dropna().map(category_key).value_counts()
    return {"kind": "category", "categories": list(counts.index[:TOP_CATEGORIES]), "_values": values}


def bin_labels(entry: dict) -> list[str]:
    if entry["kind"] == "category":
        return [*entry["categories"], OTHER, MISSING]
    edges = entry["edges"]
    lower = ["-inf", *[f"{e:.4g}" for e in edges]]
    upper = [*[f"{e:.4g}" for e in edges], "inf"]
    return [f"[{a}, {b})" for a, b in zip(lower, upper, strict=True)] + [MISSING]


def summarize_column(entry: dict, values: pd.Series) -> list[int]:
    """Rows per bin (the last bin counts missing values)."""
    values = values.reset_index(drop=True)
    missing = values.isna().to_numpy()
    if entry["kind"] == "category":
        position = {c: i for i, c in enumerate(entry["categories"])}
        other = len(entry["categories"])
        index = np.array([position.get(category_key(v), other) for v in values], dtype=int)
        index[missing] = other + 1
        return np.bincount(index, minlength=other + 2).tolist()
    numbers = _as_numbers(entry["kind"], values)
    missing = np.isnan(numbers)
    index = np.searchsorted(np.asarray(entry["edges"], dtype=float), np.nan_to_num(numbers), side="right")
    index[missing] = len(entry["edges"]) + 1
    return np.bincount(index, minlength=len(entry["edges"]) + 2).tolist()


def _as_numbers(kind: str, values: pd.Series) -> np.ndarray:
    """What a non-category column is binned on: its value, its date in days, or its length in words."""
    if kind == "text":
        return values.map(lambda v: len(v.split()) if isinstance(v, str) else np.nan).to_numpy(float)
    if kind == "datetime":
        dates = parse_dates(values)
        days = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        return days.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def summarize(profile: dict, frame: pd.DataFrame, predictions: pd.Series) -> dict:
    """Bin counts of new rows for every profiled column and for the predictions."""
    summary = {name: summarize_column(entry, frame[name]) for name, entry in profile["columns"].items()
               if name in frame.columns}
    summary["__prediction__"] = summarize_column(profile["prediction"], predictions)
    return summary


def _fractions(counts: list[int]) -> list[float]:
    total = max(sum(counts), 1)
    return [c / total for c in counts]
