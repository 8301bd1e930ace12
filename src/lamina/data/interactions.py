"""Who-interacted-with-what tables: the columns (user, item, optional rating and time), their cleaning and the
per-user split that recommenders are judged by.

Ids are text: a user written 42 in one file and "42" in another (or 42.0 after pandas met a missing value) is
one user. Duplicate (user, item) pairs keep their latest row (by time, else by position). The split is per
user, never of plain rows: with a time column each user's last interactions are held out (validation before
test), otherwise a seeded random share of each user's interactions; users with fewer than MIN_SPLIT_INTERACTIONS
stay whole in training.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lamina.data.checks import Finding, date_order_finding
from lamina.data.dates import DateOrder, date_order, parse_dates
from lamina.errors import LaminaError, quoted

MIN_SPLIT_INTERACTIONS = 3  # a user needs one for training, one for validation and one for test
MAX_NAMED = 5  # ids a finding names before "..."
# Largest rating magnitude learnt from: a squared error of two such ratings still fits float32 (about 9.2e18).
MAX_RATING = math.sqrt(float(np.finfo(np.float32).max)) / 2
ROLE_FLAGS = {"user": "--user", "item": "--item", "rating": "--rating", "time": "--time"}
NAME_HINTS = {  # column-name patterns each role is inferred from (whole words or name parts, case-insensitive)
    "user": r"user|customer|client|visitor|member|account",
    "item": r"item|movie|film|product|track|song|book|artist|article|video|sku",
    "rating": r"rating|stars|score|rank",
    "time": r"timestamp|time|date|when",
}


@dataclass
class InteractionLayout:
    user: str
    item: str
    rating: str | None = None  # None: implicit feedback (every row is a positive)
    time: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> InteractionLayout:
        layout = cls(**raw)
        if not all(isinstance(v, str) for v in (layout.user, layout.item)) or not all(
                v is None or isinstance(v, str) for v in (layout.rating, layout.time)):
            raise ValueError("the layout's user, item, rating and time must be column names")
        return layout


def layout_of(frame: pd.DataFrame, user: str | None, item: str | None, rating: str | None, time: str | None,
              implicit: bool, source: str = "the interactions") -> InteractionLayout:
    """The columns of each role: those given, else the one column whose name suggests it (an ambiguous or
    missing user or item column is an error naming the flag that settles it). `implicit` drops the rating."""
    if all(_reads_as_number(name) for name in frame.columns):
        raise LaminaError(f"The column names of {source} ({', '.join(map(str, frame.columns[:5]))}) are all numbers: "
                          "it seems to have no header row, so its first interaction was read as the names. Add a "
                          "header row naming the columns (e.g. userId,movieId,rating,timestamp).")
    if rating is not None and rating.lower() == "none" and rating not in frame.columns:
        rating, implicit = None, True  # --rating none: implicit feedback, as the flag's help says
    given = {"user": user, "item": item, "rating": rating, "time": time}
    named = [role for role, name in given.items() if name is not None]
    for first, role in ((a, b) for i, a in enumerate(named) for b in named[i + 1:]):
        if given[first] == given[role]:
            raise LaminaError(f"{ROLE_FLAGS[first]} and {ROLE_FLAGS[role]} both name the column {given[role]!r}; "
                              "each role needs a column of its own. Name another column for one of them.")
    for role, name in given.items():
        if name is not None and name not in frame.columns:
            raise LaminaError(f"--{role} {name!r} is not a column of {source}; its columns are "
                              f"{', '.join(map(str, frame.columns))}.")
    taken = {name for name in given.values() if name is not None}
    found = dict(given)
    for role in ("user", "item", "rating", "time"):
        if found[role] is not None or (role == "rating" and implicit):
            continue
        matches = [c for c in frame.columns if c not in taken and re.search(NAME_HINTS[role], str(c), re.I)]
        if len(matches) == 1:
            found[role] = matches[0]
            taken.add(matches[0])
        elif role in ("user", "item"):
            why = f"several columns could be it ({', '.join(map(repr, matches))})" if matches else "no column name says so"
            claimed = [(other, name) for other, name in given.items()
                       if name is not None and re.search(NAME_HINTS[role], str(name), re.I)]
            if not matches and claimed:  # e.g. --rating movieId took the one column named like item ids
                why = (f"{ROLE_FLAGS[claimed[0][0]]} names {claimed[0][1]!r}, the column named like {role} ids, and "
                       "a column serves one role")
            raise LaminaError(f"Which column of {source} holds the {role} ids? {why[0].upper()}{why[1:]}; name it with "
                              f"--{role} COLUMN.")
    if implicit:
        found["rating"] = None
    return InteractionLayout(**found)


def _reads_as_number(name) -> bool:
    try:
        float(str(name))
    except ValueError:
        return False
    return True


def id_text(values: pd.Series) -> pd.Series:
    """Ids as text, the same whether they were read as numbers or strings: 42, 42.0 and " 42" are "42"."""
    if pd.api.types.is_integer_dtype(values):
        return values.astype(str)
    return values.map(_one_text).astype(str)


def _one_text(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def one_id(value, what: str = "id") -> str:
    """One id from a request or a command line, as `id_text` writes it; LaminaError (naming `what` and the
    value) for anything but non-blank text or a number (None, NaN, True, a list...)."""
    if not _is_id(value):
        raise LaminaError(f"{value!r} is not a {what}: ids are text or numbers.")
    return _one_text(value)


def file_ids(values: pd.Series, column: str, source: str) -> pd.Series:
    """A column of ids read from a table (`source`, e.g. "the prediction data") as text; a blank or
    non-id value is a LaminaError naming its line (header on line 1) and the column."""
    blank = values.map(lambda v: v is None or (isinstance(v, str) and not v.strip())) | values.isna()
    if blank.any():
        raise LaminaError(f"Line {int(np.flatnonzero(blank.to_numpy())[0]) + 2} of {source}: no {column}. Give every "
                          f"row a {column}, or drop the row.")
    odd = ~values.map(_is_id)
    if odd.any():
        line = int(np.flatnonzero(odd.to_numpy())[0])
        raise LaminaError(f"Line {line + 2} of {source}: {quoted(values.iloc[line])} is not a {column}: ids are "
                          "text or numbers.")
    return id_text(values)


def _is_id(value) -> bool:
    """Non-blank text or a finite number, not a bool: what an id may be."""
    if isinstance(value, str):
        return bool(value.strip())
    return (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def clean_interactions(frame: pd.DataFrame, layout: InteractionLayout, source: str = "the interactions",
                       declared: str | DateOrder = "auto") -> tuple[pd.DataFrame, list[Finding]]:
    """The rows as (user, item[, rating][, time]) with text ids, sorted by user and time, without duplicate
    pairs; and the findings (duplicates dropped, rows without an id, users and items with one interaction).
    A rating column that is not numeric, or a time column that is not times, is an error naming the column.
    `declared`: the order times written 01/02/2020 read in: data.date_order (data.dates.date_order; "auto" decides
    from these times), or a DateOrder settled on the data and test files together (data.dates.file_date_order)."""
    columns = [c for c in (layout.user, layout.item, layout.rating, layout.time) if c is not None]
    data = frame[columns].copy()
    findings: list[Finding] = []
    missing = data[layout.user].isna() | data[layout.item].isna()
    if layout.rating:
        ratings = pd.to_numeric(data[layout.rating], errors="coerce")
        bad = ratings.isna() & data[layout.rating].notna()
        if bad.any():
            rows = ", ".join(str(r + 2) for r in np.flatnonzero(bad.to_numpy())[:MAX_NAMED])  # +2: header, 1-based
            raise LaminaError(f"The rating column {layout.rating!r} of {source} holds values that are not numbers "
                              f"(e.g. {data[layout.rating][bad].iloc[0]!r} on line {rows}). Fix those rows, name "
                              "another column with --rating, or train on implicit feedback with --implicit.")
        beyond = ~ratings.abs().le(MAX_RATING) & ratings.notna()  # inf, and values too large to learn from
        if beyond.any():
            first = int(np.flatnonzero(beyond.to_numpy())[0])
            raise LaminaError(f"The rating column {layout.rating!r} of {source} holds {quoted(data[layout.rating].iloc[first])} "
                              f"on line {first + 2}: ratings must be finite numbers of at most {MAX_RATING:.2g} in "
                              "size. Fix those rows or rescale the ratings.")
        data[layout.rating] = ratings
        missing |= ratings.isna()
    if layout.time:
        # 01/02/2020 read in one order for the whole column, not value by value
        order = declared if isinstance(declared, DateOrder) else date_order(data[layout.time], declared)
        findings += [date_order_finding(order, layout.time)] if order else []
        data[layout.time] = _times(data[layout.time], layout.time, source, order is not None and order.day_first)
        missing |= data[layout.time].isna()
    if missing.any():
        findings.append(Finding("warning", "interactions_incomplete",
                                f"{int(missing.sum())} row(s) lack a user, an item"
                                f"{', a rating' if layout.rating else ''}{' or a time' if layout.time else ''} "
                                "and were left out.", layout.user))
        data = data[~missing]
    data[layout.user], data[layout.item] = id_text(data[layout.user]), id_text(data[layout.item])
    data["_position"] = np.arange(len(data))
    order = [layout.user, *([layout.time] if layout.time else []), "_position"]
    data = data.sort_values(order, kind="stable")
    duplicated = data.duplicated([layout.user, layout.item], keep="last")
    if duplicated.any():
        latest = "the latest by time" if layout.time else "the last row"
        findings.append(Finding("warning", "duplicate_interactions",
                                f"{int(duplicated.sum())} duplicate (user, item) pair(s); kept {latest} of each.",
                                layout.item))
        data = data[~duplicated]
    if data.empty:
        raise LaminaError(f"{source} has no complete interaction (user, item"
                          f"{', rating' if layout.rating else ''}) to learn from.")
    findings += _single_interactions(data, layout)
    return data.drop(columns="_position").reset_index(drop=True), findings


def _times(values: pd.Series, column: str, source: str, day_first: bool) -> pd.Series:
    """A time column as numbers to order by: numbers as they are (e.g. unix seconds), else parsed dates (those
    written 01/02/2020 read day first where `day_first`). A value that is neither, or numbers beside dates, is an
    error quoting the value and its line (header on line 1)."""
    as_numbers = pd.to_numeric(values, errors="coerce")
    present = values.notna().to_numpy()
    number = as_numbers.notna().to_numpy()
    if number[present].all():
        return as_numbers.astype(float)
    texts = ~number & present
    written = values[texts].astype(str)
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    parsed[texts] = parse_dates(written, day_first)
    bad = texts & parsed.isna().to_numpy()
    if bad.any():
        line = int(np.flatnonzero(bad)[0])
        raise LaminaError(f"The time column {column!r} of {source} holds {quoted(values.iloc[line])} on line {line + 2}, "
                          "neither a number nor a date. Fix it or drop --time.")
    if number.any():
        at, date = int(np.flatnonzero(number)[0]), int(np.flatnonzero(texts)[0])
        raise LaminaError(f"The time column {column!r} of {source} mixes numbers ({quoted(values.iloc[at])} on line "
                          f"{at + 2}) and dates ({quoted(values.iloc[date])} on line {date + 2}), which cannot be ordered "
                          "together. Write every time one way.")
    return (parsed - pd.Timestamp(0)).dt.total_seconds()


def _single_interactions(data: pd.DataFrame, layout: InteractionLayout) -> list[Finding]:
    findings = []
    for role, column in (("user", layout.user), ("item", layout.item)):
        counts = data[column].value_counts()
        once = counts.index[counts == 1]
        if len(once):
            named = ", ".join(map(str, once[:MAX_NAMED])) + (" ..." if len(once) > MAX_NAMED else "")
            findings.append(Finding("info", f"single_interaction_{role}s",
                                    f"{len(once)} {role}(s) have a single interaction ({named}); they are kept for "
                                    f"training, but the model knows little about them.", column))
    return findings


def split_interactions(data: pd.DataFrame, layout: InteractionLayout, valid_share: float, test_share: float,
                       leave_one_out: bool, seed: int) -> np.ndarray:
    """The part of each row: 0 training, 1 validation, 2 test. Per user: with `leave_one_out` one interaction
    each to test and validation, else `test_share` and `valid_share` of them (at least one each); the latest
    ones when the layout has a time (the rows are sorted by user and time), else a seeded random choice.
    `test_share` 0 holds out no test part (the test interactions come from a file of their own). Users with
    too few interactions for each part (MIN_SPLIT_INTERACTIONS with a test part) stay in training."""
    users = data[layout.user].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[starts, len(users)])
    position = np.arange(len(users)) - np.repeat(starts, counts)  # index of the row within its user
    if layout.time is None:  # a random order within each user instead of time
        rng = np.random.default_rng(seed)
        shuffled = np.argsort(rng.random(len(users)) + np.repeat(np.arange(len(counts)), counts))
        position = np.empty_like(position)
        position[shuffled] = np.arange(len(users)) - np.repeat(starts, counts)
    from_end = np.repeat(counts, counts) - position  # 1 for each user's last interaction
    testing = test_share > 0
    if leave_one_out:
        tests, valids = np.full_like(counts, int(testing)), np.ones_like(counts)
    else:
        tests = np.maximum(1, np.round(counts * test_share)).astype(int) * testing
        valids = np.maximum(1, np.round(counts * valid_share)).astype(int)
    held = counts >= MIN_SPLIT_INTERACTIONS - (not testing)
    tests, valids = np.where(held, np.minimum(tests, counts - 2), 0), np.where(held, valids, 0)
    valids = np.minimum(valids, counts - tests - 1)
    test_from_end, valid_from_end = np.repeat(tests, counts), np.repeat(tests + valids, counts)
    return np.where(from_end <= test_from_end, 2, np.where(from_end <= valid_from_end, 1, 0))
