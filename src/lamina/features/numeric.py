"""Numbers → a normal score per value, robust to outliers, with a missing-value flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, StrictBool, model_validator
from scipy.special import ndtri

from lamina.checked import Record, checked
from lamina.data.read import leading_zero_codes
from lamina.errors import LaminaError, column_kind_fix, quoted, row_name
from lamina.features.blocks import DENSE
from lamina.features.drift import Bins
from lamina.features.kinds import NUMBER_FIELD, ColumnSample, Kind, refuse_values, register_kind, sniff

MIXED_NUMBER_RATIO = 0.9  # a string column this numeric is a number column with typos
QUANTILES = 256  # knots of the piecewise-linear map from value to rank; more fit the shape finer
RANK_EDGE = 1e-3  # ranks are kept inside [edge, 1 - edge] so scores stay within about ±3.1
PIECES = 16  # piecewise-linear rank encoding: one input per equal-rank piece (Gorishniy et al., 2022)
PIECE_STARTS = np.arange(PIECES)[None, :]  # where each piece starts, in PIECES × rank
IQR_PER_SD = 1.349  # interquartile ranges per standard deviation of a normal distribution


class NumberEncoder:
    """Maps each value to its training rank, given to the network two ways: the normal quantile of
    the rank, and a piecewise-linear encoding of it (piece t is 0 below the piece, 1 above it and
    linear inside), which lets an MLP bend its response to a number without learning the bends.

    Ranks ignore how far an outlier lies, so one huge value cannot squash the rest into a sliver,
    and every column reaches the network on the same scale. Ties (a column that is mostly 0) take the
    middle rank of their run, so they stay one value.
    """

    # Where a value's floats hold its normal score and its rank pieces (FeaturePipeline.number_layout).
    score_at, pieces_at = 0, range(1, 1 + PIECES)

    def __init__(self, column: str):
        self.column = column

    def fit(self, values: pd.Series) -> NumberEncoder:
        numbers = to_numbers(values, self.column)
        present = numbers[~np.isnan(numbers)]
        self.knots_, self.ranks_ = rank_map(np.quantile(present, np.linspace(0, 1, QUANTILES)))
        self.fill_ = float(np.median(present))
        self.flag_missing_ = bool(np.isnan(numbers).any())
        return self

    @property
    def width(self) -> int:
        return 1 + PIECES + int(self.flag_missing_)

    def transform(self, values: pd.Series) -> np.ndarray:
        return self.encode_numbers(to_numbers(values, self.column))

    def encode_values(self, values: list, pieces: bool = True) -> np.ndarray:
        """As `transform`, from the values of validated request records (floats, None for missing): the server's
        record path (features.records), without a Series per value. `pieces` False leaves the rank pieces 0, for
        a network that does not read them (PLR embeds the normal score instead): a served row skips their
        arithmetic."""
        return self.encode_numbers(np.array(values, dtype=float), pieces)  # None becomes NaN

    def encode_numbers(self, numbers: np.ndarray, pieces: bool = True) -> np.ndarray:
        """Floats [rows] (NaN or ±inf for missing) → float32 [rows, width]; `pieces` as in `encode_values`."""
        missing = ~np.isfinite(numbers)
        filled = np.where(missing, self.fill_, numbers)
        if len(self.knots_) == 1:
            rank = np.full_like(filled, 0.5)
        else:
            rank = np.interp(filled, self.knots_, self.ranks_)
        # Written into one float32 array, few numpy calls: a served row pays each call's overhead, not its work.
        encoded = (np.empty if pieces else np.zeros)((len(numbers), self.width), dtype=np.float32)
        encoded[:, 0] = ndtri(np.minimum(np.maximum(rank, RANK_EDGE), 1 - RANK_EDGE))
        if pieces:
            encoded[:, 1:1 + PIECES] = np.minimum(np.maximum(rank[:, None] * PIECES - PIECE_STARTS, 0.0), 1.0)
        if self.flag_missing_:
            encoded[:, -1] = missing
        return encoded

    def beyond_range(self, values: pd.Series) -> np.ndarray:
        """How far each value [rows] lies outside the training values' range, in robust standard deviations of
        them (interquartile range / 1.349; the range's width, else 1, for a column of one value): 0 inside it and
        for a missing value. What ranks cannot say (every value past the largest reads as the largest): an anomaly
        detector adds it to the column's error, so 10⁶ in a column of about 100 is flagged, where 150 is not."""
        numbers = to_numbers(values, self.column)
        low, high = self.knots_[0], self.knots_[-1]
        quartiles = np.interp([0.25, 0.75], self.ranks_, self.knots_) if len(self.knots_) > 1 else np.zeros(2)
        spread = (quartiles[1] - quartiles[0]) / IQR_PER_SD or (high - low) or 1.0
        return np.nan_to_num(np.maximum(np.maximum(numbers - high, low - numbers), 0.0) / spread)

    def typical(self) -> float:
        """The training median (to 4 decimals), for an example record (serving.server.example_record)."""
        return round(float(self.fill_), 4)

    def state(self) -> dict:
        return {"knots": self.knots_.tolist(), "ranks": self.ranks_.tolist(), "fill": self.fill_,
                "flag_missing": self.flag_missing_}

    def load_state(self, state: dict) -> NumberEncoder:
        stored = checked(_NumberState, state)
        self.knots_, self.ranks_ = np.asarray(stored.knots, dtype=float), np.asarray(stored.ranks, dtype=float)
        self.fill_, self.flag_missing_ = stored.fill, stored.flag_missing
        return self


def rank_map(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(knots, ranks) from the QUANTILES quantile levels at 0, 1/(QUANTILES-1), ..., 1: the distinct levels, each
    at the mean rank of the quantiles it repeats (federated fitting gives its merged levels to the same rule)."""
    knots, inverse = np.unique(levels, return_inverse=True)
    return knots, np.bincount(inverse, weights=np.linspace(0, 1, len(levels))) / np.bincount(inverse)


class _NumberState(Record):
    """The rank map `fit` learns: rising knots (distinct training values) and their ranks in [0, 1]."""
    knots: list[float] = Field(min_length=1)
    ranks: list[float]
    fill: float
    flag_missing: StrictBool

    @model_validator(mode="after")
    def _a_rising_map(self) -> _NumberState:
        if len(self.ranks) != len(self.knots):
            raise ValueError(f"{len(self.ranks)} ranks for {len(self.knots)} knots")
        if (np.diff(self.knots) <= 0).any() or (np.diff(self.ranks) < 0).any():
            raise ValueError("knots must rise, and ranks must not fall")
        if not all(0 <= r <= 1 for r in self.ranks) or not np.isfinite(self.knots + [self.fill]).all():
            raise ValueError("ranks lie in [0, 1] and knots and fill are finite numbers")
        return self


def to_numbers(values: pd.Series, column: str) -> np.ndarray:
    """Floats with NaN for missing and for infinite values (the checks report those; a regression target with
    one is refused there); a value that is not a number (true/false included, as the server refuses it) is an
    error naming its row."""
    fix = f"Give numbers (1 and 0 for true and false), or declare the column's kind: {column_kind_fix(column, 'binary')}."
    refuse_values(values, column, _not_a_truth_value, "a number", fix, NUMERIC_INFERRED)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        coerced = pd.to_numeric(values, errors="coerce")
        if (coerced.isna() & values.notna()).any():
            raise LaminaError(mixed_type_message(column, values.dropna()))
        numbers = coerced.to_numpy(dtype=float, na_value=np.nan)
    return finite_or_nan(numbers)


# pandas.api.types.infer_dtype answers for columns holding no true/false value, read without a scan
NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "string", "empty"})


def _not_a_truth_value(value) -> bool:
    return not isinstance(value, (bool, np.bool_))


def finite_or_nan(numbers: np.ndarray) -> np.ndarray:
    """Infinite values as missing (NaN)."""
    return np.where(np.isinf(numbers), np.nan, numbers)


def mixed_type_message(name: str, values: pd.Series) -> str:
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values[numeric.isna()]
    first_row = bad.index[0]
    return (
        f"Column {name!r} holds numbers but {len(bad)} value(s) are not numbers, first {quoted(bad.iloc[0])} "
        f"at {row_name(first_row)}. Fix or blank those values, or declare the column's kind: "
        f"{column_kind_fix(name, 'category')}."
    )


def numbers_or_missing(values: pd.Series) -> np.ndarray:
    """Floats, NaN for missing values and for anything that is not a finite number (what drift bins count)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isinf(numbers), np.nan, numbers)


@register_kind
class NumberKind(Kind):
    name = "number"
    encoder = NumberEncoder
    block = DENSE
    request_field = NUMBER_FIELD
    read_as_text = False
    drift = Bins("number", numbers_or_missing, exact=True)

    @sniff(90)
    def numeric_dtype(self, column: ColumnSample) -> str | None:
        return "" if pd.api.types.is_numeric_dtype(column.series) else None

    @sniff(100)
    def numeric_strings(self, column: ColumnSample) -> str | None:
        if leading_zero_codes(column.strings):  # 001, 002, 010: codes, not quantities
            return None
        parsed = pd.to_numeric(column.string_sample, errors="coerce").notna().mean()
        if parsed == 1.0:
            return "numbers stored as text"
        if parsed >= MIXED_NUMBER_RATIO:
            raise LaminaError(mixed_type_message(column.name, column.strings))
        return None

    def example(self, rows: int, folder: Path) -> pd.Series:
        return pd.Series(np.random.default_rng(0).lognormal(size=rows))
