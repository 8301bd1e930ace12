"""Time series tables: the columns that make a series, its regular time grid, its season and its split by time.

A forecasting table has a time column, one or more target columns, optionally an id column telling several
series apart and covariate columns observed alongside the targets. `regular_series` returns it sorted, on a
regular grid (missing steps added), with gaps in the values filled by interpolation, each repair counted in
a note so nothing changes silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lamina.data.dates import (
    DATE_ORDER_FIX,
    DAY_FIRST,
    MONTH_FIRST,
    DateOrder,
    date_order,
    other_order_refusal,
    parse_dates,
    trained_order_fix,
    unreadable_in_order,
)
from lamina.errors import LaminaError, did_you_mean, quoted

# Steps per season by the grid's unit: a day of hours, a week of days, a year of weeks, months or quarters.
SEASONS = {"h": 24, "D": 7, "B": 5, "W": 52, "M": 12, "Q": 4, "Y": 1, "min": 60, "s": 60}
SUB_DAILY_CYCLE = {"h": "1D", "min": "1D", "s": "1min"}  # the cycle of multi-unit steps such as "15min"
MAX_NAMED = 5  # time stamps a repair note names before "..."
MAX_MAGNITUDE = 1e150  # beyond this a value's square overflows float64, and no scale or error can be computed
MAX_FILLED_SHARE, MAX_FILLED_STEPS = 1.0, 100  # made-up steps allowed: as many as the real ones, plus this many
# A grid step's unit in words (pandas offset rule codes without their anchor): error messages say "one step every
# month, on the first day", not "every MS".
STEP_WORDS = {"h": "hour", "min": "minute", "s": "second", "D": "day", "B": "business day", "W": "week",
              "MS": "month, on the first day", "ME": "month, on the last day", "QS": "quarter, on the first day",
              "QE": "quarter, on the last day", "YS": "year, on the first day", "YE": "year, on the last day"}
WEEKDAYS = {day[:3].upper(): day for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                              "Sunday")}  # a weekly alias' anchor: "W-SUN" ends on Sunday
OUTPUT_COLUMNS = ("step",)  # columns a forecast adds beside the id, time and each target's _lower and _upper


@dataclass
class SeriesLayout:
    time: str
    targets: list[str]
    covariates: list[str]
    id: str | None
    step: str  # the grid's spacing as a pandas offset alias, e.g. "h", "D", "MS"
    season: int  # steps per season, for the seasonal-naive forecast and MASE
    # time stamps written day and month before the year (01/02/2020) read day first, or month first (time_order,
    # decided on the training data, or data.date_order); a stamp only the other order reads is refused. None where
    # neither was decided (no training stamp written so, nothing declared) and in layouts saved before it was
    # recorded: a history's stamps are read in the order they prove (_parse_times), as pandas read those layouts
    day_first: bool | None = None

    @property
    def channels(self) -> list[str]:
        """What the network reads at each step: the targets first, then the covariates."""
        return self.targets + self.covariates

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> SeriesLayout:
        return cls(**raw)


def layout_of(frame: pd.DataFrame, time: str, targets: list[str], id: str | None = None,
              covariates: list[str] | None = None, season: int | None = None, source: str = "data",
              day_first: bool | None = None) -> SeriesLayout:
    """Checks the named columns and works out the grid step and the season. Without `covariates`, every
    other numeric column is one (observed in the history only; its future is not needed). `day_first`: how
    stamps written day and month before the year read (time_order)."""
    for name in [time, *targets, *([id] if id else []), *(covariates or [])]:
        if name not in frame.columns:
            raise LaminaError(f"{source} has no column {name!r}.{did_you_mean(name, frame.columns)} "
                              f"Columns: {', '.join(map(str, frame.columns))}.")
    if covariates is None:
        used = {time, id, *targets}
        covariates = [c for c in frame.columns if c not in used and pd.api.types.is_numeric_dtype(frame[c])]
    outputs = {*OUTPUT_COLUMNS, *(f"{t}{end}" for t in targets for end in ("_lower", "_upper"))}
    clashes = [name for name in [time, *targets, *([id] if id else [])] if name in outputs]
    if clashes:
        raise LaminaError(f"Column {clashes[0]!r} would clash with a column the forecast writes ({', '.join(sorted(outputs))}). "
                          "Rename it in the data.")
    for name in targets + covariates:
        _require_numbers(frame, name, source)
    times = _parse_times(frame, time, source, day_first)
    step = _grid_step(times, frame[id] if id else None, source)
    return SeriesLayout(time, list(targets), list(covariates), id, step, season or season_of(step), day_first)


def time_order(frame: pd.DataFrame, time: str, id: str | None = None, declared: str = "auto") -> DateOrder | None:
    """The order of the time stamps written day and month before the year (data.dates.date_order, or `declared`);
    where no stamp proves it and exactly one of the two readings puts every series on a regular grid (no step
    made up, none off it), that reading, as only it makes a series of the stamps: 01/01/2010, 01/02/2010... read
    month first are twelve days then eleven months' gap. None where no stamp is written so."""
    if time not in frame.columns:  # layout_of names it
        return None
    order = date_order(frame[time], declared)
    if order is None or order.proven or order.mixed:
        return order
    ids = frame[id] if id and id in frame.columns else None
    steps = {day_first: _regular_step(frame, time, ids, day_first) for day_first in (False, True)}
    regular = [day_first for day_first, step in steps.items() if step is not None]
    if len(regular) != 1:
        return order
    first = "day" if regular[0] else "month"
    return DateOrder(regular[0], True, f"only that reading gives a regular series (one step every "
                                       f"{step_words(steps[regular[0]])}), so the {first} comes first")


def _regular_step(frame: pd.DataFrame, time: str, ids: pd.Series | None, day_first: bool) -> str | None:
    """The grid step of the stamps read in this order where every series' distinct stamps fill it exactly (no step
    made up, none off it); None where they do not, or cannot be read so."""
    try:
        times = _parse_times(frame, time, "data", day_first)
        step = _grid_step(times, ids, "data")
    except LaminaError:  # unreadable in this order, or fewer than 3 stamps: no grid to judge by
        return None
    for _, stamps in times.groupby(ids.to_numpy() if ids is not None else np.zeros(len(times))):
        stamps = pd.DatetimeIndex(np.sort(stamps.unique()))
        if not pd.date_range(stamps[0], stamps[-1], freq=step).equals(stamps):
            return None
    return step


def order_hint(order: DateOrder | None, time: str) -> str:
    """A sentence for an error about a series' time grid where the stamps' order may be the wrong one: assumed
    (every stamp reads either way) or declared (data.date_order): the order read, how it was decided, and how to
    set the other; "" where a stamp proved it, or none is written so."""
    if order is None or order.mixed or (order.proven and not order.declared):
        return ""
    read = "day first (01/02/2020 is 1 February)" if order.day_first else "month first (01/02/2020 is 2 January)"
    if order.declared:
        other = MONTH_FIRST if order.day_first else DAY_FIRST
        return (f" The dates of {time!r} were read {read}, as declared (data.date_order: {order.setting}, "
                f"--date-order); if they are written the other way round, the other order may be meant: "
                f"`--date-order {other}` (data.date_order: {other}).")
    return (f" The dates of {time!r} were read {read}, as every one reads either way; if they are written the "
            f"other way round, {DATE_ORDER_FIX}.")


def step_words(step: str) -> str:
    """A pandas offset alias in words: "D" → "day", "15min" → "15 minutes", "MS" → "month, on the first day",
    "W-SUN" → "week, ending on Sunday"; an alias without words is given as pandas writes it."""
    offset = pd.tseries.frequencies.to_offset(step)
    unit, _, anchor = offset.rule_code.partition("-")
    if unit not in STEP_WORDS:
        return offset.freqstr
    words = STEP_WORDS[unit]
    if unit == "W" and anchor in WEEKDAYS:
        words += f", ending on {WEEKDAYS[anchor]}"
    if offset.n == 1:
        return words
    unit_words, comma, rest = words.partition(",")
    return f"{offset.n} {unit_words}s{comma}{rest}"


def season_of(step: str) -> int:
    offset = pd.tseries.frequencies.to_offset(step)
    unit = offset.rule_code.split("-")[0]  # "W-SUN" → "W", "QS-OCT" → "QS"
    if unit not in SEASONS:
        unit = unit.rstrip("SE")  # month, quarter and year starts or ends: "MS", "ME" → "M"
    per_season = SEASONS.get(unit, 1)
    if unit in SUB_DAILY_CYCLE and offset.n > 1:  # e.g. 15-minute steps: a day of them (96)
        return max(1, int(pd.Timedelta(SUB_DAILY_CYCLE[unit]) // pd.Timedelta(offset)))
    if unit in ("W", "M", "Q") and offset.n > 1 and per_season % offset.n == 0:  # a year of 2-week steps: 26
        return per_season // offset.n
    return per_season


def regular_series(frame: pd.DataFrame, layout: SeriesLayout, source: str = "data") -> tuple[pd.DataFrame, list[str]]:
    """The table sorted by (id, time), one row per grid step, values interpolated over gaps; and notes
    saying what was repaired. Duplicate time stamps within a series are an error naming the rows."""
    needed = [layout.time, *layout.channels, *([layout.id] if layout.id else [])]
    absent = [name for name in needed if name not in frame.columns]
    if absent:
        raise LaminaError(f"{source} lacks the column(s) {', '.join(map(repr, absent))} the series are read from "
                          f"(needed: {', '.join(map(repr, needed))}).")
    for name in layout.channels:
        _require_numbers(frame, name, source)
    frame = frame.copy()
    frame[layout.time] = _parse_times(frame, layout.time, source, layout.day_first)
    keys = [layout.id, layout.time] if layout.id else [layout.time]
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        positions = np.flatnonzero(duplicated.to_numpy())[:3]
        places = (", ".join(_place(frame.index, p) for p in positions) if _labelled(frame.index)
                  else f"lines {[int(p) + 2 for p in positions]}, counting the header as line 1")
        raise LaminaError(f"{source} has {int(duplicated.sum())} rows sharing a time stamp"
                          f"{' within one ' + repr(layout.id) + ' series' if layout.id else ''} ({places}). "
                          "Aggregate them first, or name the column that tells the series apart with --id.")
    pieces, notes = [], []
    for name, part in (frame.groupby(layout.id, sort=True) if layout.id else [(None, frame)]):
        part = part.sort_values(layout.time).set_index(layout.time)
        where = f" in series {name!r}" if layout.id else ""
        _require_fillable(part.index, layout.step, f"{source}{where}")
        grid = pd.date_range(part.index[0], part.index[-1], freq=layout.step)
        off_grid = part.index.difference(grid)
        if len(off_grid):
            raise LaminaError(f"{source}{where} has time stamps off its grid of one step every "
                              f"{step_words(layout.step)} from {part.index[0]}: {off_grid[0]} first ({len(off_grid)} in "
                              "all). Give one row per step (aggregate finer rows first), on the same grid as the "
                              "model's data.")
        added = grid.difference(part.index)
        present = part.index
        part = part.reindex(grid)
        if len(added):
            shown = ", ".join(str(stamp) for stamp in added[:MAX_NAMED]) + (", ..." if len(added) > MAX_NAMED else "")
            notes.append(f"{len(added)} missing time step(s){where} were added and their values interpolated "
                         f"({shown})")
        for column in layout.channels:
            gaps = int(part.loc[present, column].isna().sum())  # empty cells of rows the data has; added rows said above
            missing = int(part[column].isna().sum())
            if missing and missing < len(part):
                part[column] = part[column].interpolate(limit_direction="both")
                if gaps:
                    notes.append(f"{gaps} missing value(s) of {column!r}{where} were interpolated")
            elif missing:
                raise LaminaError(f"{column!r}{where} has no values at all in {source}; drop that series or column.")
        if layout.id:
            part[layout.id] = name
        pieces.append(part.rename_axis(layout.time).reset_index())
    return pd.concat(pieces, ignore_index=True), [n + "." for n in notes]


def _require_fillable(stamps: pd.DatetimeIndex, step: str, where: str) -> None:
    """Refuses a series whose gaps would need more made-up steps than it has real ones (a stray stamp decades
    away), before any grid is built: its cost, not only its meaning, would be out of proportion."""
    offset = pd.tseries.frequencies.to_offset(step)
    try:
        steps = (stamps[-1] - stamps[0]) // pd.Timedelta(offset) + 1  # fixed steps: hours, days...
    except ValueError:  # calendar steps (months, weeks): at most a few thousand a century, cheap to count
        steps = len(pd.date_range(stamps[0], stamps[-1], freq=offset))
    if steps > MAX_FILLED_SHARE * len(stamps) + MAX_FILLED_STEPS:
        gaps = stamps[1:] - stamps[:-1]
        widest = int(np.argmax(gaps))
        raise LaminaError(f"{where} would need {steps - len(stamps):,} missing steps made up between {len(stamps):,} "
                          f"real ones; the widest gap runs from {stamps[widest]} to {stamps[widest + 1]}. Fix that "
                          "time stamp, or give the series without the stray rows.")


def series_of(frame: pd.DataFrame, layout: SeriesLayout) -> list[tuple[object, pd.DataFrame]]:
    """(id, rows) per series of a regular table; one series with id None when there is no id column."""
    if layout.id is None:
        return [(None, frame)]
    return [(name, part.reset_index(drop=True)) for name, part in frame.groupby(layout.id, sort=True)]


def time_cuts(times: pd.Series, valid_steps: int, test_steps: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first time stamp of the validation part and of the test part: the last `test_steps` distinct
    time stamps are the test part, the `valid_steps` before them validation, everything earlier training."""
    distinct = np.sort(times.unique())
    if valid_steps + test_steps >= len(distinct):
        raise LaminaError(f"The series has {len(distinct)} time steps, too few for {valid_steps} validation and "
                          f"{test_steps} test steps with training data left before them. Give fewer steps or "
                          "more history.")
    return pd.Timestamp(distinct[-test_steps - valid_steps]), pd.Timestamp(distinct[-test_steps])


def _require_numbers(frame: pd.DataFrame, name: str, source: str) -> None:
    """Numbers or empty cells; infinite values and numbers beyond MAX_MAGNITUDE are refused with their line."""
    values = pd.to_numeric(frame[name], errors="coerce")
    bad = (values.isna() & frame[name].notna()) | (values.abs() > MAX_MAGNITUDE)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        # the value as Python writes it (1e+300, not np.float64(1e+300))
        raise LaminaError(f"Column {name!r} of {source} must hold finite numbers to forecast or read it, but "
                          f"{_place(frame.index, row)} holds {frame[name].iloc[row:row + 1].tolist()[0]!r}. Fix that value or leave it "
                          "empty (gaps are interpolated).")


def _parse_times(frame: pd.DataFrame, time: str, source: str, day_first: bool | None = None) -> pd.Series:
    """Time stamps as naive UTC instants: stamps with offsets (a daylight-saving change, "Z") are converted to
    UTC, so a series mixing offsets keeps its order; a column of whole years (2019, 2020...) reads as years.
    `day_first`: stamps written day and month before the year (01/02/2020) are read day first (True) or month
    first (False), a stamp only the other order reads refused; None: in the order these stamps prove
    (data.dates.date_order: day first where one only reads so, month first otherwise), each in the order that reads
    it where they mix both, as pandas read a column in its first such stamp's order before the order was saved.
    Other stamps (2020-01-13) read as written whatever the order (data.dates.parse_dates): pandas' own dayfirst
    would refuse 2020-01-13 and read 2016-02-01 as 2 January, and pandas reads a column in the order its first
    stamp suggests, so 01/01/2020 ... 13/01/2020 once stopped at 13/01/2020."""
    values = frame[time]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float)
        if not np.all((numbers % 1 == 0) & (numbers >= 1000) & (numbers <= 9999)):
            raise LaminaError(f"Column {time!r} of {source} holds numbers, not dates. Whole years (2019) are read as "
                              "years; write other times as dates like 2024-01-31 or 2024-01-31 13:00 (epoch seconds: "
                              "convert them first, e.g. pandas.to_datetime(column, unit='s')).")
        return pd.to_datetime(values.astype(int).astype(str), format="%Y")
    # pandas takes the order from the first stamp: 13/02/2020 first would read a later 05/02/2020 as 5 February
    if day_first is None:
        order = date_order(values)
        other, day_first = [], order is not None and order.day_first
    else:
        other = unreadable_in_order(values.reset_index(drop=True), day_first)
    if len(other):
        raise other_order_refusal(time, f"{_place(frame.index, other.index[0])} of {source}", other.iloc[0], day_first,
                                  "the order of the series' training data (proved by a date, declared, or assumed)",
                                  trained_order_fix(day_first), len(other))
    text = values.astype(str)
    parsed = parse_dates(values, day_first)
    # pandas also reads words such as "now" and "today" as times: a stamp must hold a digit.
    bad = parsed.isna() | ~text.str.contains(r"\d", regex=True)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise LaminaError(f"Column {time!r} of {source} must hold dates or times, but {_place(frame.index, row)} "
                          f"holds {quoted(values.iloc[row])}. Write it like 2024-01-31 or 2024-01-31 13:00.")
    return parsed


def _labelled(index: pd.Index) -> bool:
    """Whether rows carry their own names (a request's "record 0"...) rather than their place in a file."""
    return len(index) > 0 and isinstance(index[0], str)


def _place(index: pd.Index, position: int) -> str:
    """The row at `position` as its reader names it: its label where rows carry one (a request's "record 0",
    0-based as the server counts records), else its line in the file (the header is line 1)."""
    return str(index[position]) if _labelled(index) else f"line {position + 2}"


def _grid_step(times: pd.Series, ids: pd.Series | None, source: str) -> str:
    """The most common spacing between consecutive time stamps of a series, as an offset alias."""
    first = times if ids is None else times[ids == ids.iloc[0]]
    ordered = pd.DatetimeIndex(np.sort(first.unique()))
    if len(ordered) < 3:
        raise LaminaError(f"{source} holds fewer than 3 time steps in a series; a forecast needs a history.")
    inferred = _inferred_step(ordered[: min(len(ordered), 500)])
    if inferred:
        return inferred
    gap = pd.Series(ordered[1:] - ordered[:-1]).mode().iloc[0]
    days = gap.days
    if 28 <= days <= 31:
        return "MS" if all(t.day == 1 for t in ordered[:12]) else "ME"
    # Whole days and weeks as such: a gap-filled daily series read as "24h" got the season of an hourly one (1).
    if gap % pd.Timedelta(days=1) == pd.Timedelta(0):
        if days % 7 == 0:
            return f"{days // 7 if days > 7 else ''}W-{ordered[0].day_name()[:3].upper()}"
        return f"{days if days > 1 else ''}D"
    return pd.tseries.frequencies.to_offset(gap).freqstr


def _inferred_step(index: pd.DatetimeIndex) -> str | None:
    """pandas' inferred frequency as an alias string (pandas 3 announces offsets in its place)."""
    future = "future.infer_freq_returns_offset"
    try:
        pd.get_option(future)
    except KeyError:  # an older pandas: strings, no warning
        return pd.infer_freq(index)
    with pd.option_context(future, True):
        inferred = pd.infer_freq(index)
    return None if inferred is None else inferred.freqstr
