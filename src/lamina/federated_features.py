"""A federated table task's schema, encoders and target, fitted from what each client shares: summaries of its
training rows, never the rows.

What a client shares (`client_schema`, `client_statistics`, all JSON):
- its column kinds as lamina sniffs them on its own rows (names and kinds, no values), whether its target
  reads as classes or a quantity, and its count of training rows;
- each number column: its count of present and of missing values, and the QUANTILES quantiles of its present
  values (256 numbers: the levels np.quantile gives, the same that pooled fitting computes over all rows);
- each category or binary column: how often each value occurs (spelt as category_key spells it);
- the target: how often each class occurs (classification), or the count, sum and sum of squares (regression).

What the server fits from them, beside fitting on the pooled rows:
- schema: the clients' kinds where they agree; a column binary on one client and category on another is a
  category; one that a client drops (e.g. a single value there) keeps the kind the other clients give it;
  kinds that disagree otherwise stop with the column named;
- categories and classes: the same vocabulary as pooled fitting (counts add up exactly);
- regression target: the same mean and standard deviation (up to float rounding);
- numbers: knots from the mixture of the clients' quantile functions (each linear between its quantiles), so a
  value's rank differs from pooled fitting's by at most 1/(QUANTILES - 1), and not at all with one client; the
  missing-value fill is the mixture's median, not the pooled median (within the same rank distance).
Only number, category and binary columns are fitted this way (text, dates, images and audio are refused).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lamina.data.schema import Column, Schema, infer_schema
from lamina.errors import LaminaError
from lamina.features.numeric import QUANTILES, rank_map, to_numbers
from lamina.features.pipeline import FeaturePipeline
from lamina.features.spelling import category_key
from lamina.features.target import TargetEncoder
from lamina.plain import json_safe

FEDERATED_KINDS = ("number", "category", "binary")
WIDER = {frozenset(("binary", "category")): "category"}  # kinds that merge: a binary column is a small category


def client_schema(frame: pd.DataFrame, target: str, problem: str, overrides: dict[str, str]) -> dict:
    """One client's {column: kind} ("ignore" for a column it drops) from its own rows."""
    schema = infer_schema(frame, target, problem, overrides)
    return {c.name: c.kind for c in schema.columns if c.role != "target"}


def merged_schema(kinds: list[dict], target: str, problem: str) -> Schema:
    """The schema every client trains with, from each client's {column: kind}; raises LaminaError naming a
    column whose kinds cannot be merged, or one of a kind federated fitting does not support."""
    columns = []
    for name in kinds[0]:
        seen = {k[name] for k in kinds if k.get(name, "ignore") != "ignore"}
        if not seen:
            columns.append(Column(name, "ignore", "dropped", "dropped on every client"))
            continue
        kind = seen.pop() if len(seen) == 1 else WIDER.get(frozenset(seen))
        if kind is None:
            raise LaminaError(f"Column {name!r} reads as {' on some clients, '.join(sorted(seen))} on others. "
                              f"Declare its kind: --column {name}=KIND (one of {', '.join(FEDERATED_KINDS)}), or "
                              f"--column {name}=ignore.")
        if kind not in FEDERATED_KINDS:
            raise LaminaError(f"Column {name!r} is {kind}: federated training fits {', '.join(FEDERATED_KINDS)} "
                              f"columns from client statistics. Leave it out (--column {name}=ignore) or declare "
                              "another kind.")
        columns.append(Column(name, kind))
    columns.append(Column(target, "category" if problem != "regression" else "number", "target"))
    return Schema(columns, target, problem)


def client_statistics(frame: pd.DataFrame, schema: Schema) -> dict:
    """What one client shares about its training rows `frame` (see the module's docstring)."""
    columns = {}
    for column in schema.features:
        values = frame[column.name]
        if column.kind == "number":
            numbers = to_numbers(values, column.name)
            present = numbers[~np.isnan(numbers)]
            levels = np.quantile(present, np.linspace(0, 1, QUANTILES)).tolist() if len(present) else []
            columns[column.name] = {"present": len(present), "missing": int(np.isnan(numbers).sum()),
                                    "levels": levels}
        else:
            columns[column.name] = {"counts": _counts(values)}
    target = frame[schema.target].dropna()
    if schema.task == "regression":
        numbers = to_numbers(target, schema.target)
        summary = {"count": len(numbers), "sum": float(numbers.sum()), "squares": float((numbers ** 2).sum())}
    else:
        summary = {"counts": _counts(target), "spellings": {category_key(v): json_safe(v) for v in target.unique()}}
    return {"rows": len(frame), "columns": columns, "target": summary}


def _counts(values: pd.Series) -> dict[str, int]:
    keys = values.dropna().map(category_key)
    return {str(k): int(n) for k, n in keys[keys != ""].value_counts().items()}


def fitted_from_statistics(schema: Schema, statistics: list[dict]) -> tuple[FeaturePipeline, TargetEncoder, dict]:
    """(feature pipeline, target encoder, baseline) fitted from the clients' statistics, as a TableTask's
    fit would from the pooled training rows."""
    pipeline = FeaturePipeline(schema)
    kinds = {c.name: c.kind for c in schema.features}
    for name, encoder in pipeline.encoders.items():
        parts = [s["columns"][name] for s in statistics]
        if kinds[name] == "number":
            encoder.load_state(_number_state(name, parts))
        else:
            counts = pd.Series(_summed([p["counts"] for p in parts]), dtype="int64")
            encoder.load_state(encoder.state_from_counts(counts))
    target = TargetEncoder(schema.task, schema.target)
    targets = [s["target"] for s in statistics]
    if schema.task == "regression":
        count = sum(t["count"] for t in targets)
        mean = sum(t["sum"] for t in targets) / count
        variance = max(sum(t["squares"] for t in targets) / count - mean ** 2, 0.0)
        target = TargetEncoder.from_state({"task": schema.task, "column": schema.target, "mean": mean,
                                           "scale": float(np.sqrt(variance)) or 1.0})
        return pipeline, target, {"mean": mean}
    counts = _summed([t["counts"] for t in targets])
    spellings = {key: spelling for t in targets for key, spelling in t["spellings"].items()}
    keys = sorted(counts)
    target = TargetEncoder.from_state({"task": schema.task, "column": schema.target,
                                       "classes": [spellings[k] for k in keys]})
    total = sum(counts.values())
    return pipeline, target, {"prior": [counts[k] / total for k in keys]}


def _summed(counts: list[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in counts:
        for key, count in part.items():
            total[key] = total.get(key, 0) + count
    return total


def _number_state(name: str, parts: list[dict]) -> dict:
    """A NumberEncoder's state from the clients' quantiles: knots at the quantiles of their mixture."""
    parts = [p for p in parts if p["present"]]
    if not parts:
        raise LaminaError(f"Column {name!r} has no value on any client. Leave it out: --column {name}=ignore.")
    weights = np.array([p["present"] for p in parts], dtype=float)
    mixture = _Mixture([np.asarray(p["levels"]) for p in parts], weights / weights.sum())
    knots, ranks = rank_map(mixture.quantiles(np.linspace(0, 1, QUANTILES)))
    return {"knots": knots.tolist(), "ranks": ranks.tolist(), "fill": float(mixture.quantiles(np.array([0.5]))[0]),
            "flag_missing": any(p["missing"] for p in parts)}


class _Mixture:
    """The distribution mixing clients' distributions, each known by its quantiles at 0, 1/(n-1), ..., 1: its
    distribution function rises linearly between distinct quantiles and jumps at a repeated one."""

    def __init__(self, levels: list[np.ndarray], weights: np.ndarray):
        self.grid = np.unique(np.concatenate(levels))
        self.below = np.zeros(len(self.grid))  # the mixture's distribution function just below each grid value
        self.at = np.zeros(len(self.grid))  # ... and at it
        for client_levels, weight in zip(levels, weights, strict=True):
            below, at = _client_cdf(client_levels, self.grid)
            self.below += weight * below
            self.at += weight * at

    def quantiles(self, probabilities: np.ndarray) -> np.ndarray:
        """The smallest value whose distribution function reaches each probability."""
        values = []
        for p in probabilities:
            m = min(int(np.searchsorted(self.at, p - 1e-12)), len(self.grid) - 1)  # first grid value reaching p
            if m == 0 or self.below[m] <= p:  # reached at the value itself (a jump, or exactly)
                values.append(self.grid[m])
            else:  # reached on the line rising from the previous grid value
                start, end = self.at[m - 1], self.below[m]
                values.append(self.grid[m - 1] + (p - start) / (end - start) * (self.grid[m] - self.grid[m - 1]))
        return np.array(values)


def _client_cdf(levels: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One client's distribution function just below and at each grid value, from its quantiles `levels`."""
    probabilities = np.linspace(0, 1, len(levels))
    distinct, first = np.unique(levels, return_index=True)
    last = np.searchsorted(levels, distinct, side="right") - 1
    low, high = probabilities[first], probabilities[last]  # the jump at each distinct level: low → high
    # Between distinct levels the function rises linearly from `high` of one to `low` of the next.
    position = np.searchsorted(distinct, grid)  # index of the first distinct level ≥ each grid value
    exact = (position < len(distinct)) & (distinct[np.minimum(position, len(distinct) - 1)] == grid)
    line = np.interp(grid, np.repeat(distinct, 2), np.ravel(np.column_stack([low, high])))
    below = np.where(exact, low[np.minimum(position, len(distinct) - 1)], line)
    at = np.where(exact, high[np.minimum(position, len(distinct) - 1)], line)
    below, at = np.where(grid < distinct[0], 0.0, below), np.where(grid < distinct[0], 0.0, at)
    return np.where(grid > distinct[-1], 1.0, below), np.where(grid > distinct[-1], 1.0, at)
