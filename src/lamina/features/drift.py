"""Drift summaries: how a column kind is binned for monitoring, and how new rows' bin counts are tested.

A kind declares one summary (features.kinds): ordered bins over a number per value (`Bins`), or counts
of its most frequent values (`Counts`). Both are compared as two samples (training rows against new rows),
never as new rows against training shares taken as exact: a bin rare in training would otherwise turn
one or two new rows into a vanishing p-value. The training profile stores each column's bins as plain JSON
(serving.profile); later rows are kept as counts per bin, so a server stores counts, never payloads.
Kinds without a summary (images, audio) are left out: their drift shows in the predictions, which are profiled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lamina.features.spelling import KnownValues

NUMBER_BINS = 10  # quantile bins of a numeric column (deciles of the training split)
TOP_CATEGORIES = 20  # most frequent categories profiled one by one; the rest share "other"
OTHER, MISSING = "__other__", "__missing__"
MIN_EXPECTED = 5  # fewest rows a cell of the chi-squared table is expected to hold (Cochran's rule); rarer bins are pooled
ID_SHARE = 0.9  # a column whose training values are this share distinct is an ID: its categories are not compared


@dataclass(frozen=True)
class Bins:
    """Ordered bins over one number per value (the value itself, a date's day, a text's word count),
    compared with the Kolmogorov–Smirnov test."""

    name: str  # the kind this summarises; profile entries record it so a saved profile finds its summary
    # values → floats, NaN where missing; keyword arguments: the entry's `reading` (how the column's values are read,
    # a date column's {"date_order": ...}), so later rows are read as the training rows were
    numbers: Callable[..., np.ndarray]
    edges: tuple[float, ...] | None = None  # fixed inner edges; None: the training split's deciles
    exact: bool = False  # given two files, test their raw numbers (exact KS) rather than their bins

    def profile(self, values: pd.Series, reading: dict | None = None) -> dict:
        """The entry: `kind`, `edges`, and `reading` where given (keyword arguments of `numbers` that say how the
        column's values are read: a date column's {"date_order": "day_first"}), kept so counts read alike."""
        kept = {"reading": dict(reading)} if reading else {}
        if self.edges is not None:
            return {"kind": self.name, "edges": list(self.edges), **kept}
        numbers = self._read(kept, values)
        present = numbers[~np.isnan(numbers)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMBER_BINS + 1))[1:-1]) if len(present) else []
        return {"kind": self.name, "edges": [float(e) for e in edges], **kept}

    def counts(self, entry: dict, values: pd.Series) -> list[int]:
        """Rows per bin, the values read as the entry's `reading` says; the last bin counts missing values."""
        numbers = self._read(entry, values.reset_index(drop=True))
        missing = np.isnan(numbers)
        index = np.searchsorted(np.asarray(entry["edges"], dtype=float), np.nan_to_num(numbers), side="right")
        index[missing] = len(entry["edges"]) + 1
        return np.bincount(index, minlength=len(entry["edges"]) + 2).tolist()

    def _read(self, entry: dict, values: pd.Series) -> np.ndarray:
        return self.numbers(values, **entry.get("reading", {}))

    def labels(self, entry: dict) -> list[str]:
        edges = [f"{e:.4g}" for e in entry["edges"]]
        return [f"[{a}, {b})" for a, b in zip(["-inf", *edges], [*edges, "inf"], strict=True)] + [MISSING]

    def unjudged(self, entry: dict) -> str | None:
        """Why a column with this entry is not compared (None: it is)."""
        return None

    def compare(self, entry: dict, observed: np.ndarray, expected: np.ndarray, reference_rows: int,
                raw: tuple[pd.Series, pd.Series] | None) -> tuple[str, float, float]:
        """(test name, statistic, p-value) of the observed counts against the training rows' shares (`entry`: the
        profile entry, whose `reading` raw values are read with)."""
        from scipy import stats

        if raw is not None and self.exact:
            reference, current = (numbers[~np.isnan(numbers)] for numbers in (self._read(entry, v) for v in raw))
            statistic, p_value = stats.ks_2samp(reference, current)
            return "KS", float(statistic), float(p_value)
        rows = observed.sum()
        statistic = float(np.max(np.abs(np.cumsum(observed / rows) - np.cumsum(expected))))
        effective = rows * reference_rows / (rows + reference_rows)  # the two-sample KS's sample size
        return "KS (binned)", statistic, float(stats.kstwo.sf(statistic, max(1, round(effective))))


@dataclass(frozen=True)
class Counts:
    """One bin per frequent training value, then "other" and "missing", compared with the chi-squared test."""

    name: str  # as in Bins
    key: Callable[[object], str]  # one spelling per value, so 1, 1.0 and "1" share a bin
    known: Callable[[list[str]], KnownValues] = KnownValues  # the profiled keys → which one a new key names

    def profile(self, values: pd.Series) -> dict:
        keys = values.dropna().map(self.key)
        counts = keys[keys != ""].value_counts()
        return {"kind": self.name, "categories": list(counts.index[:TOP_CATEGORIES]),
                "distinct": len(counts) / max(counts.sum(), 1)}

    def counts(self, entry: dict, values: pd.Series) -> list[int]:
        """Rows per category (a number finds the zero-padded code spelling it, and a two-number column's number
        the nearer learnt one: `known`, as the encoder does), then "other", then missing (null, "" and blank
        text: an empty CSV cell)."""
        values = values.reset_index(drop=True)
        known, other = self.known(entry["categories"]), len(entry["categories"])
        keys = values.map(self.key)
        index = np.array([other if (at := known.position(k)) is None else at for k in keys], dtype=int)
        index[values.isna().to_numpy() | (keys == "").to_numpy()] = other + 1
        return np.bincount(index, minlength=other + 2).tolist()

    def labels(self, entry: dict) -> list[str]:
        return [*entry["categories"], OTHER, MISSING]

    def unjudged(self, entry: dict) -> str | None:
        share = entry.get("distinct", 0.0)  # profiles written before it was recorded are judged
        if share >= ID_SHARE:
            return f"an ID ({share:.0%} of training values distinct), no categories to compare"
        return None

    def compare(self, entry: dict, observed: np.ndarray, expected: np.ndarray, reference_rows: int,
                raw: tuple[pd.Series, pd.Series] | None) -> tuple[str, float, float]:
        """Pearson's chi-squared test of homogeneity on the 2 × bins table of training and new counts
        (scipy.stats.chi2_contingency), bins expected to hold fewer than MIN_EXPECTED rows pooled first."""
        from scipy import stats

        table = pooled(np.stack([expected * reference_rows, observed]))
        if table.shape[1] < 2:  # every row in one bin, or too few rows to fill two: nothing to compare
            return "chi-squared", 0.0, 1.0
        result = stats.chi2_contingency(table)
        return "chi-squared", float(result.statistic), float(result.pvalue)


def pooled(table: np.ndarray) -> np.ndarray:
    """A 2 × bins table of counts with the bins whose expected count (row total × bin total / all) falls below
    MIN_EXPECTED in either row merged into one, itself merged into the smallest other bin while still below;
    bins empty in both rows dropped."""
    table = table[:, table.sum(axis=0) > 0]
    rows = table.sum(axis=1)
    if rows.min() <= 0:
        return table[:, :0]
    enough = table.sum(axis=0) * rows.min() / rows.sum() >= MIN_EXPECTED
    rare = table[:, ~enough].sum(axis=1, keepdims=True)
    kept = table[:, enough]
    if not rare.any():
        return kept
    if rare.sum() * rows.min() / rows.sum() >= MIN_EXPECTED or kept.shape[1] == 0:
        return np.hstack([kept, rare])
    smallest = np.argmin(kept.sum(axis=0))
    kept[:, smallest] += rare[:, 0]
    return kept
