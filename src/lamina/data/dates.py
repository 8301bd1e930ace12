"""Dates written as text: which text is a date at all, the order of a date's day and month where the text leaves it
open (01/02/2020), and reading a column of them as instants. The data layer's, as series, interactions and the data
checks read dates too; features.datetime turns them into a model's inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from lamina.errors import LaminaError, quoted, row_name

# What text must show to be read as a date: its year, as four digits 0-9 (2024, 20240305) or as the two last parts of
# a day-month-year date (5/3/24, 05-Mar-24). pandas (dateutil) fills in what text leaves out, from the clock or from
# year 1: "now", "12:30" and "Jan 5" would be predicted differently from day to day, and "1,5" or "3 5" read as
# dates of year 1. Other scripts' digits ("٢٠٢٤-٠١-٠٢") are refused: pandas reads some of them, a CSV written
# elsewhere or a database would not, so a model would see one date as two.
DATE_YEAR = re.compile(r"[0-9]{4}|(?<![0-9])[0-9]{1,2}[-/. ][0-9A-Za-z]{1,9}[-/. ][0-9]{2}(?![0-9])")
OTHER_DIGIT = re.compile(r"(?![0-9])\d")
# A date whose day and month are numbers before its year (01/02/2020, 1.2.20, 13-02-2020 14:30): which of the two is
# the day, the text does not say. A year written first (2020-01-02, 20200102) is read year, month, day.
NUMBERS_BEFORE_YEAR = re.compile(r"^\s*([0-9]{1,2})[-/.]([0-9]{1,2})[-/.](?:[0-9]{4}|[0-9]{2})(?![0-9])")


def parse_dates(values: pd.Series, day_first: bool = False) -> pd.Series:
    """Naive UTC instants: values with offsets (a daylight-saving change, "Z") are converted to UTC, so one
    column may mix offsets; text that is no date (written_date refuses it, or pandas cannot read it) becomes
    missing (NaT). A date written with its day and month as numbers before the year (NUMBERS_BEFORE_YEAR) is read
    day first where `day_first` (01/02/2020: 1 February), else month first (2 January), as pandas reads it; either
    way a value only one order reads (13/02/2020) is read that way. `day_first` touches no other value: pandas'
    own dayfirst would read 2020-01-02 as 1 February too."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(None)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    values = values.mask(values.map(lambda v: isinstance(v, str) and not written_date(v)).to_numpy(dtype=bool))
    dates = pd.to_datetime(values, errors="coerce", format="mixed", utc=True).dt.tz_convert(None)
    if day_first:
        numbers_first = values.map(lambda v: isinstance(v, str) and NUMBERS_BEFORE_YEAR.match(v) is not None)
        numbers_first = numbers_first.to_numpy(dtype=bool)
        dates[numbers_first] = pd.to_datetime(values[numbers_first], errors="coerce", format="mixed", utc=True,
                                              dayfirst=True).dt.tz_convert(None)
    return dates


# How a column's dates written as numbers before the year are read: the config's `data.date_order` and what a
# schema records. "mixed": the column was written both ways (some value only each order reads), so each value is
# read in whichever order reads it, month first where both do, as pandas reads dates.
DAY_FIRST, MONTH_FIRST, MIXED = "day_first", "month_first", "mixed"
DATE_ORDER_FIX = "set the order with `data.date_order: day_first` or `month_first` in the config (--date-order)"
ONE_ORDER_FIX = f"Write every date of the column in one order (or year first: 2020-02-01), or {DATE_ORDER_FIX}."


def other_order_refusal(column: str, place: str, value: str, day_first: bool, how: str, fix: str,
                        count: int = 1) -> LaminaError:
    """The one wording of a refused date written day and month before the year (NUMBERS_BEFORE_YEAR) that only the
    other order than the column's reads (13/02/2020 where the column reads month first), wherever dates are read.

    `column`: its name; `place`: where the value sits, as its reader names it (errors.row_name's "row 3 (counting
    the header as row 1)", with " of the test file" where that says which file; a request's "record 0"; a series'
    "line 5 of the series data", or "record 4 of the history" for a JSON one); `day_first`: the order the column is read in; `how`: how that order was decided, a
    clause after "the column's dates are read day first:" (declared, proved by a value, assumed); `fix`: the
    sentence(s) saying what to do, naming `--date-order` / `data.date_order`; `count`: such values in all."""
    read, written = ("day", "month") if day_first else ("month", "day")
    return LaminaError(f"Column {column!r}, {place}: {quoted(value)} can only be read {written} first ({count} such "
                       f"value(s)), yet the column's dates are read {read} first: {how}. {fix}")


def trained_order_fix(day_first: bool) -> str:
    """The fix of other_order_refusal where a model's order reads the column (`day_first`), as trained or training:
    write the dates so, or train with the other order."""
    read, written = ("day", "month") if day_first else ("month", "day")
    example = "13/02/2020 for 13 February" if day_first else "02/13/2020 for 13 February"
    return (f"Write the dates {read} first ({example}) or year first (2020-02-13), or, if the model's training data "
            f"is written {written} first, train it with `--date-order {written}_first` (data.date_order).")


@dataclass(frozen=True)
class DateOrder:
    """How a column's dates written as numbers before the year (NUMBERS_BEFORE_YEAR) are read, and why."""

    day_first: bool
    proven: bool  # a value only this order reads (13/02/2020 day first, 02/13/2020 month first), or declared
    why: str  # a sentence: the value that decides, or that none does
    mixed: bool = False  # the column proves both orders: read value by value (MIXED)
    declared: bool = False  # set by data.date_order (--date-order), not decided from the values (proven too)

    @property
    def setting(self) -> str:
        """DAY_FIRST, MONTH_FIRST or MIXED: what the schema records."""
        return MIXED if self.mixed else DAY_FIRST if self.day_first else MONTH_FIRST


def date_order(values: pd.Series, declared: str = "auto", where: str = "") -> DateOrder | None:
    """The order of `values`' dates written as numbers before the year: day first only where some value's first
    number is over 12 and none's second is (one would prove each order: the column mixes them, read month first
    as pandas does, each value only one order reads read that way); month first otherwise. None where no value is
    written so (no order to choose). The value named is the first in the file (the lowest row label) deciding it,
    its row named as errors.row_name names it.

    `declared` (DAY_FIRST, MONTH_FIRST; "auto" decides from the values): the order the values must follow; raises
    LaminaError naming the column (values.name), `where` (" of the test file"), the first row and the value only
    the other order reads."""
    texts, fields = _numbers_before_year(values)
    if fields.empty:
        return None
    days_first, months_first = fields.index[fields[0] > 12], fields.index[fields[1] > 12]

    def shown(labels) -> str:
        first = min(labels)
        return f"{texts.loc[first]!r} in {row_name(first)}"

    if declared in (DAY_FIRST, MONTH_FIRST):
        order = DateOrder(declared == DAY_FIRST, True, f"the order is set (data.date_order: {declared})", declared=True)
        _refuse_other_order(values.name, values, order, where)
        return order
    if len(days_first) and len(months_first):
        return DateOrder(False, False, f"the column mixes both orders: {shown(days_first)} is day first and "
                                       f"{shown(months_first)} month first; the others are read month first", True)
    if len(days_first):
        return DateOrder(True, True, f"{shown(days_first)} has a first number over 12, so the day comes first")
    if len(months_first):
        return DateOrder(False, True, f"{shown(months_first)} has a second number over 12, so the month comes first")
    return DateOrder(False, False, f"every such date reads either way, as {shown(fields.index)} does: none has a "
                                   "first or second number over 12; month first is assumed, as pandas reads dates")


def file_date_order(values: pd.Series, test: pd.Series | None = None, declared: str = "auto") -> DateOrder | None:
    """date_order of a column over the whole data file, and of its separate test file (`test`, None where none),
    which must agree: an order the data file proves (or `declared`) is one the test file's values must follow
    (LaminaError naming its row and value otherwise); where the data file reads either way, the test file may
    prove it, unless it mixes both orders (LaminaError naming a value of each: the model would refuse one of them only
    after training). A data file mixing both orders stays mixed."""
    order = date_order(values, declared)
    if test is None or (order is not None and order.mixed):
        return order
    if order is not None and order.proven:
        proof = order.why if declared in (DAY_FIRST, MONTH_FIRST) else f"in the data file, {order.why}"
        _refuse_other_order(values.name, test, DateOrder(order.day_first, True, proof), " of the test file")
        return order
    tested = date_order(test, declared, " of the test file")
    if order is not None and tested is not None and tested.mixed:  # one order, and the model refuses the others
        day, month = unreadable_in_order(test, False), unreadable_in_order(test, True)
        raise other_order_refusal(
            values.name, f"{row_name(month.index[0])} of the test file", month.iloc[0], True,
            f"the test file's {day.iloc[0]!r} in {row_name(day.index[0])} can only be read so, and every such date "
            "of the data file reads either way: the test file mixes both orders", ONE_ORDER_FIX, len(month))
    if tested is None or not tested.proven:
        return order or tested
    return DateOrder(tested.day_first, True, f"the test file's {tested.why}", tested.mixed)


def _refuse_other_order(column: str, values: pd.Series, order: DateOrder, where: str) -> None:
    """Raises other_order_refusal (ONE_ORDER_FIX) naming `column`, the first row of `values` (the lowest label)
    + `where` and the value only the other order than `order` reads, `order.why` saying how it was decided."""
    other = unreadable_in_order(values, order.day_first)
    if len(other):
        first = min(other.index)
        raise other_order_refusal(column, f"{row_name(first)}{where}", other.loc[first], order.day_first,
                                  order.why, ONE_ORDER_FIX, len(other))


def unreadable_in_order(values: pd.Series, day_first: bool) -> pd.Series:
    """The values of `values` written as numbers before the year that the order cannot read: a first number over 12
    read month first (13/02/2020), a second over 12 read day first (02/13/2020)."""
    texts, fields = _numbers_before_year(values)
    return texts.loc[fields.index[fields[1 if day_first else 0] > 12]]


def _numbers_before_year(values: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """The text values, and the two numbers before the year (columns 0 and 1, ints) of those written so that may be
    a day and a month in some order: 99/99/2020, 13/13/2020 or 00/05/2020 is no date either way, so proves no order
    (one typo would make a day-first file look mixed); it is refused as no date where it is read."""
    texts = values[values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)]
    if not len(texts):
        return texts, pd.DataFrame({0: [], 1: []}, dtype=int)
    fields = texts.astype(object).str.extract(NUMBERS_BEFORE_YEAR).dropna().astype(int)
    low, high = fields.min(axis=1), fields.max(axis=1)
    return texts, fields[(low >= 1) & (low <= 12) & (high <= 31)]


def written_date(text: str) -> bool:
    """Whether text may be read as a date (DATE_YEAR): its year written out, in the digits 0-9 only."""
    return DATE_YEAR.search(text) is not None and OTHER_DIGIT.search(text) is None
