"""The training split's profile (per-column distributions and the prediction distribution), and the
binned summaries of later data that drift is measured against it with.

A profile is plain JSON stored in model.json. Each column has bins, chosen by its kind's drift summary
(features.drift); a summary of new rows is the count of rows per bin, so a server can keep summaries
instead of raw payloads. Each entry names the summary that made it ("kind"), so a saved profile is
binned the same way when it is read again.
"""

from __future__ import annotations

import pandas as pd

from lamina.features.kinds import kind_named


def build_profile(frame: pd.DataFrame, kinds: dict[str, str], predictions: pd.Series, task: str,
                  date_orders: dict[str, str | None] | None = None) -> dict:
    """Kinds without a drift summary (images, audio) are left out: their drift shows in the prediction
    distribution, which is profiled. `date_orders`: a date column's saved order (Column.date_order), kept in its
    entry's `reading` so its bins, and later rows' counts, read 01/02/2020 as the model does."""
    summaries = {name: kind_named(kind).drift for name, kind in kinds.items()}
    readings = {name: {"date_order": order} for name, order in (date_orders or {}).items() if order is not None}
    columns = {name: _entry(summary, frame[name], readings.get(name)) for name, summary in summaries.items()
               if summary is not None}
    prediction = kind_named("number" if task == "regression" else "category").drift
    return {"rows": len(frame), "columns": columns, "prediction": _entry(prediction, predictions.reset_index(drop=True))}


def date_orders_of(schema) -> dict[str, str | None]:
    """The saved order of each of a schema's feature columns (Column.date_order), build_profile's `date_orders`."""
    return {column.name: column.date_order for column in schema.features}


def _entry(summary, values: pd.Series, reading: dict | None = None) -> dict:
    entry = summary.profile(values, reading) if reading else summary.profile(values)
    counts = summary.counts(entry, values)
    total = max(sum(counts), 1)
    return {**entry, "expected": [c / total for c in counts]}


def summary_of(entry: dict):
    """The drift summary (features.drift) that made a profile entry."""
    return kind_named(entry["kind"]).drift


def bin_labels(entry: dict) -> list[str]:
    return summary_of(entry).labels(entry)


def summarize_column(entry: dict, values: pd.Series) -> list[int]:
    """Rows per bin (the last bin counts missing values)."""
    return summary_of(entry).counts(entry, values)


def summarize(profile: dict, frame: pd.DataFrame, predictions: pd.Series) -> dict:
    """Bin counts of new rows: {"columns": {column: counts}, "prediction": counts}. The predictions sit
    apart from the columns, so a column of any name (even one called "prediction") keeps its own counts."""
    columns = {name: summarize_column(entry, frame[name]) for name, entry in profile["columns"].items()
               if name in frame.columns}
    return {"columns": columns, "prediction": summarize_column(profile["prediction"], predictions)}
