"""Categories (and yes/no columns) → vocabulary indices for a learned embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import StrictStr

from lamina.checked import Record, checked
from lamina.errors import LaminaError, quoted, row_name
from lamina.features.blocks import EMBEDDING
from lamina.features.drift import Counts
from lamina.features.kinds import VALUE_FIELD, ColumnSample, Kind, refuse_values, register_kind, sniff
from lamina.features.spelling import (
    TRUTH_SPELLINGS,
    KnownTwoValues,
    KnownValues,
    category_key,
    number_key,
    truth_of,
)

MISSING_INDEX = 0
UNKNOWN_INDEX = 1  # values unseen in training, or too rare to learn, share this bucket
MIN_COUNT = 2  # a value seen fewer times in training goes to the unknown bucket
MAX_VOCABULARY = 10_000  # most frequent values kept; the rest share the unknown bucket


class CategoryEncoder:
    width = 1
    known = KnownValues  # which learnt value a key names (the vocabulary's keys → their positions)
    min_count = MIN_COUNT  # training rows a value needs to be learnt

    def __init__(self, column: str):
        self.column = column

    def fit(self, values: pd.Series) -> CategoryEncoder:
        self.refuse_non_scalars(values)
        keys = values.dropna().map(category_key)
        counts = keys[keys != ""].value_counts()  # "" and "  ": a CSV's empty cell, read as missing
        return self.load_state(self.state_from_counts(counts))

    def state_from_counts(self, counts: pd.Series) -> dict:
        """The fitted state from each value's training count (category_key spellings → rows): `fit`'s, and federated
        fitting's from the clients' summed counts (state_of with this encoder's min_count)."""
        return state_of(counts, self.min_count)

    @property
    def cardinality(self) -> int:
        return len(self.vocabulary_) + 2

    def transform(self, values: pd.Series) -> np.ndarray:
        self.refuse_non_scalars(values)
        # Look each distinct value up once, not each row: tables repeat their categories.
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        lookup = np.array([self.index_of(category_key(v)) for v in distinct] + [MISSING_INDEX], dtype=np.int64)
        return lookup[codes]  # code -1 (missing) picks the last entry

    def encode_values(self, values: list) -> np.ndarray:
        """As `transform`, from the values of validated request records (JSON scalars, None for missing): the
        server's record path (features.records)."""
        return np.array([MISSING_INDEX if v is None else self.index_of(category_key(v)) for v in values], dtype=np.int64)

    def refuse_non_scalars(self, values: pd.Series) -> None:
        """A list, dict or array in a cell is no category (it would fail in pandas as "unhashable")."""
        refuse_values(values, self.column, _scalar, "a category value (text, a number or true/false)",
                      "Give one value a cell.", SCALAR_INFERRED)

    def index_of(self, key: str) -> int:
        """A value's index: its own, else that of the known value spelling the same number, else unknown."""
        if key == "":  # "" and "  " (category_key strips): missing, as a CSV's empty cell is read
            return MISSING_INDEX
        position = self._known.position(key)
        return UNKNOWN_INDEX if position is None else position + 2

    def typical(self) -> str | None:
        """The most common training value, for an example record (serving.server.example_record); a model saved
        before it was kept gives its first value in sorted order. None for an empty vocabulary."""
        return self.most_common_ or (self.vocabulary_[0] if self.vocabulary_ else None)

    def state(self) -> dict:
        return {"vocabulary": self.vocabulary_,
                **({"most_common": self.most_common_} if self.most_common_ is not None else {})}

    def load_state(self, state: dict) -> CategoryEncoder:
        stored = checked(_CategoryState, state)
        self.vocabulary_, self.most_common_ = stored.vocabulary, stored.most_common
        self._known = self.known(self.vocabulary_)
        return self


class BinaryEncoder(CategoryEncoder):
    """A two-valued column, encoded as a category. One whose learnt values spell true and false (truth_of: 1/0,
    yes/no... or booleans) reads every spelling of a truth (TRUTH_SPELLINGS, however cased; JSON's true and false)
    as the value learnt for it. Where the learnt values are words or booleans (yes/no, true/false, y/n, t/f), any
    other value is refused with a LaminaError naming the column and the row: a category would read "banana" as an
    unknown value and predict as if nothing were known. Where they are two numbers (0 and 1, or a standardised
    0.0507 and -0.0446), a number reads as the learnt one it is nearer to by less than half their gap
    (spelling.KnownTwoValues: 0.05068, rounded by a client, is 0.0506801187398187), and any other value (the
    midpoint, a 2 where 0 and 1 were learnt: a pixel's or a count's, a word) is an unknown value, as a category
    reads it: such a column is often a number that happened to take two values in training."""

    known = KnownTwoValues
    # Both values are learnt however rarely one occurs: left to the unknown bucket, a rare value (a pixel inked in
    # 1 training row of 1,221) would make every unknown value (a word, a 2) read as it, and it as unknown.
    min_count = 1

    def load_state(self, state: dict) -> BinaryEncoder:
        super().load_state(state)
        truths = [truth_of(key) for key in self.vocabulary_]
        # {truth: its index}, or None where the values are no truths (two words, two numbers but 0 and 1)
        self._truth_index = ({truth: i + 2 for i, truth in enumerate(truths)}
                             if None not in truths and len(set(truths)) == len(truths) else None)
        self._strict = not all(number_key(key) is not None for key in self.vocabulary_)
        return self

    def transform(self, values: pd.Series) -> np.ndarray:
        if self._truth_index is None:
            return super().transform(values)
        self.refuse_non_scalars(values)
        codes, distinct = pd.factorize(values, use_na_sentinel=True)
        lookup = [self._index_of_truth(value, values.index[np.argmax(codes == i)]) for i, value in enumerate(distinct)]
        return np.array([*lookup, MISSING_INDEX], dtype=np.int64)[codes]  # code -1 (missing) picks the last entry

    def encode_values(self, values: list) -> np.ndarray:
        if self._truth_index is None:
            return super().encode_values(values)
        return np.array([MISSING_INDEX if v is None else self._index_of_truth(v, f"record {row}")
                         for row, v in enumerate(values)], dtype=np.int64)

    def _index_of_truth(self, value, row) -> int:
        if category_key(value) == "":  # a CSV's empty cell: missing
            return MISSING_INDEX
        truth = truth_of(value)
        if truth is None and not self._strict:
            return self.index_of(category_key(value))  # 0.9999999 is the learnt 1; 2 is unknown
        if truth is None:
            spellings = list(TRUTH_SPELLINGS)
            pairs = ", ".join(f"{yes}/{no}" for yes, no in zip(spellings[::2], spellings[1::2], strict=True))
            raise LaminaError(f"Column {self.column!r}, {row_name(row)}: {quoted(value)} is not a yes/no value; the column "
                              f"takes {pairs} (however cased). Send one of those, or leave it empty (null) where it "
                              "is unknown.")
        return self._truth_index.get(truth, UNKNOWN_INDEX)  # a column of one value or blank never learnt the other


# pandas.api.types.infer_dtype answers for columns of scalars only, read without a scan
SCALAR_INFERRED = frozenset({"string", "integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty",
                             "categorical", "datetime", "datetime64", "date"})


def _scalar(value) -> bool:
    return not isinstance(value, (list, tuple, dict, set, np.ndarray))


def vocabulary_of(counts: pd.Series, min_count: int = MIN_COUNT) -> list[str]:
    """The vocabulary from each value's count (category_key spellings → rows): the MAX_VOCABULARY most frequent
    values seen `min_count` times or more, sorted (federated fitting gives its summed counts to the same rule)."""
    counts = counts.sort_values(ascending=False, kind="stable")
    kept = counts[counts >= min_count].index[:MAX_VOCABULARY]
    if len(kept) == 0:  # a tiny table: keep every value rather than learn nothing
        kept = counts.index[:MAX_VOCABULARY]
    return sorted(kept)


def state_of(counts: pd.Series, min_count: int = MIN_COUNT) -> dict:
    """A fitted encoder's state from each value's count (category_key spellings → rows): its vocabulary
    (vocabulary_of) and its most common value (the first in sorted order among equals, so that summed federated
    counts pick what the pooled rows would)."""
    vocabulary = vocabulary_of(counts, min_count)
    if not vocabulary:
        return {"vocabulary": vocabulary}
    kept = counts[counts.index.isin(vocabulary)]
    return {"vocabulary": vocabulary, "most_common": min(kept.index[kept == kept.max()])}


class _CategoryState(Record):
    vocabulary: list[StrictStr]  # category_key spellings, in index order
    most_common: StrictStr | None = None  # absent in models saved before it was kept


@register_kind
class CategoryKind(Kind):
    name = "category"
    encoder = CategoryEncoder
    block = EMBEDDING
    request_field = VALUE_FIELD
    drift = Counts("category", category_key)

    @sniff(150)
    def anything_else(self, column: ColumnSample) -> str | None:
        return ""  # whatever no earlier step claimed: repeated strings, not numbers, dates, text or IDs

    def example(self, rows: int, folder: Path) -> pd.Series:
        return pd.Series(np.resize(["red", "green", "blue"], rows))


@register_kind
class BinaryKind(CategoryKind):
    """Two values: encoded, served and profiled like a category; the schema names it so people see it."""

    name = "binary"
    encoder = BinaryEncoder
    # binned as a category, a number finding the learnt one as the encoder does; its own name, so monitoring
    # shows "binary"
    drift = Counts("binary", category_key, KnownTwoValues)

    @sniff(45)
    def one_value_or_blank(self, column: ColumnSample) -> str | None:
        # "Y" or empty: the encoder's missing index is the second value.
        return "one value or blank: whether it is filled in is read" if column.unique == 1 else None

    @sniff(50)
    def bool_dtype(self, column: ColumnSample) -> str | None:
        return "" if pd.api.types.is_bool_dtype(column.series) else None

    @sniff(70)
    def two_numbers(self, column: ColumnSample) -> str | None:
        return "" if pd.api.types.is_numeric_dtype(column.series) and column.unique == 2 else None

    @sniff(110)
    def two_strings(self, column: ColumnSample) -> str | None:
        return "" if column.unique == 2 else None

    def example(self, rows: int, folder: Path) -> pd.Series:
        return pd.Series(np.resize(["yes", "no"], rows))
