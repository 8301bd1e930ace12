"""Dates and times → their parts: a scaled year and cyclic month, weekday, day and hour."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, StrictBool, StrictStr

from lamina.checked import Record, checked
from lamina.data.dates import (
    DAY_FIRST,
    MONTH_FIRST,
    date_order,
    other_order_refusal,
    parse_dates,
    trained_order_fix,
    unreadable_in_order,
)
from lamina.errors import LaminaError, row_name
from lamina.features.blocks import DENSE
from lamina.features.drift import Bins
from lamina.features.kinds import ColumnSample, EncoderOptions, Kind, refuse_values, register_kind, sniff

DATE_SHARE = 0.95  # share of sampled strings that must look like, and parse as, dates

# pandas.api.types.infer_dtype answers for columns of dates or text only, read without a scan
DATE_INFERRED = frozenset({"string", "empty", "datetime", "datetime64", "date"})
DATE_FIX = ("Give dates as text such as 2024-03-05 or 2024-03-05 14:30 (or as dates), with the year written out and "
            "in the digits 0-9, and leave a cell empty (null) where the date is unknown.")

# Each cyclic part becomes sin and cos so that December sits next to January.
CYCLES = {"month": 12, "weekday": 7, "day": 31, "hour": 24}


class DatetimeEncoder:
    def __init__(self, column: str, date_order: str | None = None, assumed: bool = False):
        """`date_order`: the schema's Column.date_order (DAY_FIRST, MONTH_FIRST or MIXED, decided on the whole
        file); None where the schema has none: the fitted values decide, as models saved before it did. `assumed`:
        no value proved it, nor was it declared (Column.date_order_assumed), as a refusal then says."""
        self.column = column
        self.date_order = date_order
        self.assumed = assumed

    def fit(self, values: pd.Series) -> DatetimeEncoder:
        setting = self.date_order
        if setting is None:
            order = date_order(values)
            setting = order.setting if order is not None else None
        self.day_first_ = setting == DAY_FIRST
        # One order for the column: a value only the other order reads is refused, not read the other way round
        # (a file that mixed both orders is read value by value, as pandas reads it).
        self.strict_ = self.date_order in (DAY_FIRST, MONTH_FIRST)
        self.assumed_ = self.assumed
        dates = self.dates(values)
        years = dates.dt.year.dropna().to_numpy(dtype=float)
        self.year_mean_ = float(years.mean()) if len(years) else 0.0
        self.year_scale_ = float(years.std()) if len(years) > 1 and years.std() > 0 else 1.0
        self.with_hour_ = bool((dates.dt.hour.fillna(0) != 0).any())
        self.flag_missing_ = bool(dates.isna().any())
        present = dates.dropna()
        self.median_ = present.quantile(0.5, interpolation="nearest").strftime(
            "%Y-%m-%d %H:%M" if self.with_hour_ else "%Y-%m-%d") if len(present) else None
        return self

    def _parts(self) -> list[str]:
        return [p for p in CYCLES if p != "hour" or self.with_hour_]

    @property
    def width(self) -> int:
        return 1 + 2 * len(self._parts()) + int(self.flag_missing_)

    def transform(self, values: pd.Series) -> np.ndarray:
        # A DatetimeIndex gives plain float arrays (NaN where missing) without a Series per part.
        dates = pd.DatetimeIndex(self.dates(values))
        missing = np.asarray(dates.isna())
        year = (np.nan_to_num(np.asarray(dates.year, dtype=float), nan=self.year_mean_) - self.year_mean_)
        columns = [year / self.year_scale_]
        fields = {"month": dates.month - 1, "weekday": dates.day_of_week, "day": dates.day - 1, "hour": dates.hour}
        for part in self._parts():
            angle = 2 * np.pi * np.nan_to_num(np.asarray(fields[part], dtype=float)) / CYCLES[part]
            columns += [np.where(missing, 0.0, np.sin(angle)), np.where(missing, 0.0, np.cos(angle))]
        if self.flag_missing_:
            columns.append(missing.astype(float))
        return np.stack(columns, axis=1).astype(np.float32)

    def encode_values(self, values: list) -> np.ndarray:
        """As `transform`, from the values of validated request records (text, None for missing): the server's
        record path (features.records). One object Series, its rows labelled as a request's records (what an error
        names): dates are parsed one by one ("mixed" formats) anyway."""
        return self.transform(pd.Series(values, dtype=object, index=[f"record {i}" for i in range(len(values))]))

    def dates(self, values: pd.Series) -> pd.Series:
        """parse_dates of `values`, missing where a value is: a value of another type (a number, true/false) or
        text that is no date raises LaminaError naming the column, the row and the value, as it would otherwise
        be read as missing (or a number as nanoseconds since 1970)."""
        refuse_values(values, self.column, _date_like, "a date", DATE_FIX, DATE_INFERRED)
        if self.strict_:
            self._refuse_other_order(values)
        dates = parse_dates(values, self.day_first_)
        unread = values[dates.isna().to_numpy()]
        written = unread[unread.map(lambda v: isinstance(v, str) and bool(v.strip())).to_numpy(dtype=bool)]
        if len(written):  # "" and "  " are an empty cell: missing
            raise LaminaError(f"Column {self.column!r}, {row_name(written.index[0])}: {written.iloc[0]!r} is not a "
                              f"date ({len(written)} such value(s)). {DATE_FIX}")
        return dates

    def _refuse_other_order(self, values: pd.Series) -> None:
        """Raises LaminaError (data.dates.other_order_refusal) naming the column, the row and the value where a date
        written day and month before the year can only be read in the other order than the column's (13/02/2020
        where it reads month first), whether the order was assumed, and `--date-order`."""
        other = unreadable_in_order(values, self.day_first_)
        if len(other):
            how = ("an order assumed, as every such date of the data this model learnt from reads either way"
                   if self.assumed_ else "the order this model learnt, proved by its data or declared")
            raise other_order_refusal(self.column, row_name(other.index[0]), other.iloc[0], self.day_first_, how,
                                      trained_order_fix(self.day_first_), len(other))

    def typical(self) -> str | None:
        """The median training date (ISO, which every date order reads), for an example record
        (serving.server.example_record); a model saved before it was kept gives the middle of its mean training
        year. None when training held no date."""
        if self.median_ is not None:
            return self.median_
        if not self.year_mean_:
            return None
        middle = self.year_mean_ + 0.5  # years are whole: their mean alone would fall on 1 January
        start = pd.Timestamp(year=int(middle), month=1, day=1)
        return (start + pd.Timedelta(days=int((middle % 1) * 365))).strftime("%Y-%m-%d")

    def state(self) -> dict:
        return {"year_mean": self.year_mean_, "year_scale": self.year_scale_, "with_hour": self.with_hour_,
                "flag_missing": self.flag_missing_, "day_first": self.day_first_, "strict": self.strict_,
                "assumed": self.assumed_, **({"median": self.median_} if self.median_ is not None else {})}

    def load_state(self, state: dict) -> DatetimeEncoder:
        stored = checked(_DatetimeState, state)
        self.year_mean_, self.year_scale_ = stored.year_mean, stored.year_scale
        self.with_hour_, self.flag_missing_ = stored.with_hour, stored.flag_missing
        self.day_first_, self.strict_, self.assumed_ = stored.day_first, stored.strict, stored.assumed
        self.median_ = stored.median
        return self


class _DatetimeState(Record):
    year_mean: float
    year_scale: float = Field(gt=0)  # years per unit of the scaled year
    with_hour: StrictBool
    flag_missing: StrictBool
    day_first: StrictBool = False  # models saved before it was recorded read every date month first
    strict: StrictBool = False  # refuse a date only the other order reads; models saved before read it anyway
    assumed: StrictBool = False  # the order was assumed (no value proved it, none declared): what a refusal says
    median: StrictStr | None = None  # the median training date, ISO; absent in models saved before it was kept


def _date_like(value) -> bool:
    return isinstance(value, (str, date, np.datetime64))


def days(values: pd.Series, date_order: str | None = None) -> np.ndarray:
    """Days since 1970 (what drift bins count), NaN where missing or not a date; dates written as numbers before the
    year read in the column's `date_order` (Column.date_order: 01/02/2020 is 1 February where DAY_FIRST), as the
    encoder reads them, month first where None (profiles saved before it was recorded)."""
    return ((parse_dates(values, date_order == DAY_FIRST) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy(
        dtype=float, na_value=np.nan)


@register_kind
class DatetimeKind(Kind):
    name = "datetime"
    encoder = DatetimeEncoder
    block = DENSE
    drift = Bins("datetime", days)

    def encoder_for(self, column: str, options: EncoderOptions) -> DatetimeEncoder:
        return DatetimeEncoder(column, options.date_orders.get(column), column in options.assumed_orders)

    @sniff(60)
    def datetime_dtype(self, column: ColumnSample) -> str | None:
        return "" if pd.api.types.is_datetime64_any_dtype(column.series) else None

    @sniff(120)
    def date_strings(self, column: ColumnSample) -> str | None:
        sample = column.string_sample
        if not sample.str.contains(r"\d{1,4}[-/.:]\d{1,2}", regex=True).mean() >= DATE_SHARE:
            return None
        return "" if parse_dates(sample).notna().mean() >= DATE_SHARE else None

    def example(self, rows: int, folder: Path) -> pd.Series:
        return pd.Series(pd.date_range("2024-01-01", periods=rows, freq="37h").strftime("%Y-%m-%d %H:%M"))
