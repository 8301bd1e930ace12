"""Infer what each column is (a registered kind: number, category, binary, datetime, text, image, audio...)
and what the task is. The kinds' own sniff steps (features.kinds) decide a column's kind; this module adds
the rules that drop a column (empty, constant, an ID) and runs them all in order.

Every choice made here can be overridden: `data.columns: {name: kind}` and `data.task` in the config.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from lamina.checked import Fault
from lamina.data.dates import DAY_FIRST, MIXED, MONTH_FIRST, DateOrder, file_date_order
from lamina.errors import LaminaError, column_kind_fix, did_you_mean, headless_hint, quoted

# PICTURE_KINDS: the registry's answer, named here too for the callers that import it from the schema.
from lamina.features.kinds import PICTURE_KINDS as PICTURE_KINDS
from lamina.features.kinds import ColumnSample, Sniff, kind_named, sniff_steps

ID_LIKE = "ID-like"  # how the note of a column dropped as an identifier begins (Schema.identifiers)
WHOLE_NUMBER = r"[+-]?\d+"  # a whole number written in digits (no exponent, no point)
ID_UNIQUE_RATIO = 0.95  # a string column this unique (and not text) identifies rows
MAX_CLASSES_FROM_INTEGERS = 10  # an integer target with at most this many values is classified


@dataclass
class Column:
    name: str
    kind: str  # a registered kind's name (features.kinds), or "ignore" for a dropped column
    role: str = "feature"  # "feature", "target" or "dropped"
    note: str = ""  # why the column was dropped or how it was read
    # datetime columns whose dates are written day and month before the year: data.dates.DAY_FIRST, MONTH_FIRST or
    # MIXED, decided on the whole file (record_date_orders); None in schemas saved before it was recorded
    date_order: str | None = None
    # no value of the files proved date_order, nor was it declared: month first assumed (what the model's refusals say)
    date_order_assumed: bool = False


@dataclass
class Schema:
    columns: list[Column]
    target: str
    task: str  # "binary", "multiclass" or "regression"
    notes: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[Column]:
        return [c for c in self.columns if c.role == "feature"]

    @property
    def dropped(self) -> list[Column]:
        return [c for c in self.columns if c.role == "dropped"]

    @property
    def identifiers(self) -> list[Column]:
        """The columns dropped as ID-like: keys to the rows, not features."""
        return [c for c in self.dropped if c.note.startswith(ID_LIKE)]

    def row_keys(self, rows: pd.DataFrame) -> list[str]:
        """The columns of `rows` that tell which row a prediction is for, in this order: each ID-like column
        (`identifiers`, what the server echoes with each answer) and each picture column given as file paths (an
        image folder's `image`), where `rows` holds them."""
        files = [c for c in self.features if c.kind in PICTURE_KINDS and c.name in rows.columns
                 and rows[c.name].dropna().map(type).eq(str).all()]  # not pictures given as bytes or arrays
        return [c.name for c in [*self.identifiers, *files] if c.name in rows.columns]

    @property
    def text_columns(self) -> list[str]:
        """The columns a table file is read with as text (data.read.read_table's `text_columns`): each feature
        whose kind reads text (Kind.read_as_text: every kind but number) and each ID-like column (echoed as
        written: 007 stays 007)."""
        readers = [c.name for c in self.features if kind_named(c.kind).read_as_text]
        return readers + [c.name for c in self.identifiers]

    def to_dict(self) -> dict:
        unset = {"date_order": None, "date_order_assumed": False}  # left out as schemas saved before them had none
        columns = [{k: v for k, v in asdict(c).items() if k not in unset or v != unset[k]} for c in self.columns]
        return {"target": self.target, "task": self.task, "columns": columns}

    @classmethod
    def from_dict(cls, raw: dict) -> Schema:
        """The schema `to_dict` saved. Raises checked.Fault naming the key where a column's date order is none
        the model reads its dates in (model.json damaged), as it would otherwise read them month first, silently."""
        columns = [Column(**c) for c in raw["columns"]]
        for index, column in enumerate(columns):
            if column.date_order not in (None, DAY_FIRST, MONTH_FIRST, MIXED):
                raise Fault(f"schema.columns.{index}.date_order", f"null, {DAY_FIRST!r}, {MONTH_FIRST!r} or "
                                                                  f"{MIXED!r} belongs there (it is {column.date_order!r})")
            if not isinstance(column.date_order_assumed, bool):
                raise Fault(f"schema.columns.{index}.date_order_assumed",
                            f"true or false belongs there (it is {column.date_order_assumed!r})")
        return cls(columns=columns, target=raw["target"], task=raw["task"])


def require_target(frame: pd.DataFrame, target: str | None, where: str = "the data") -> None:
    if not target:
        raise LaminaError(
            f"No target column given. Name the column to predict with --target COL "
            f"(columns: {', '.join(list(frame.columns)[:12])})."
        )
    if target not in frame.columns:
        raise LaminaError(
            f"Target column {target!r} is not in {where}.{did_you_mean(target, frame.columns)} "
            f"Columns: {', '.join(list(frame.columns)[:20])}.{headless_hint(frame.columns)}"
        )



def refuse_declared_targets(targets: list[str], overrides: dict[str, str]) -> None:
    """A LaminaError where a target is also given a kind (--column NAME=KIND, the config's data.columns), which
    declares an input: the task reads its targets as its classes or its numbers, and the kind would be ignored."""
    for name in targets:
        if name in overrides:
            raise LaminaError(f"Column {name!r} is both a target and declared as an input (--column "
                              f"{name}={overrides[name]}); drop one of the two. A target is read as its task reads "
                              "it: to predict numbers give --task regression, classes --task classification.")


def infer_schema(
    frame: pd.DataFrame, target: str, task: str = "auto", overrides: dict[str, str] | None = None
) -> Schema:
    require_target(frame, target)
    overrides = dict(overrides or {})
    refuse_declared_targets([target], overrides)
    for name in overrides:
        if name not in frame.columns:
            raise LaminaError(
                f"The config sets a kind for column {name!r}, which is not in the data."
                f"{did_you_mean(name, frame.columns)}"
            )
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        if name in overrides:
            kind = overrides[name]
            if kind != "ignore":
                kind_named(kind)  # an unknown kind stops here, naming the registered ones
            role = "dropped" if kind == "ignore" else "feature"
            columns.append(Column(name, kind, role, "set in the config"))
        else:
            columns.append(infer_column(frame[name]))
    resolved_task = infer_task(frame[target], target, task)
    columns.append(Column(target, "number" if resolved_task == "regression" else "category", "target"))
    return Schema(columns=columns, target=target, task=resolved_task)


def record_date_orders(schema: Schema, frame: pd.DataFrame, test: pd.DataFrame | None = None,
                       declared: str = "auto") -> dict[str, DateOrder]:
    """Records on each datetime feature column the order of its dates written day and month before the year
    (data.dates.file_date_order: the whole data file and its separate `test` file, or the `declared` order), the
    order the model then reads every date in, at training and at prediction; returns each such column's DateOrder.
    Raises LaminaError where a value contradicts the declared order, or the test file the data file's."""
    orders = {}
    for column in schema.features:
        if column.kind != "datetime":
            continue
        tested = test[column.name] if test is not None and column.name in test.columns else None
        order = file_date_order(frame[column.name], tested, declared)
        if order is not None:
            column.date_order, orders[column.name] = order.setting, order
            column.date_order_assumed = not (order.proven or order.mixed)
        elif declared != "auto":  # no such date to train on: new ones still read as declared
            column.date_order = declared
    return orders


def infer_column(series: pd.Series) -> Column:
    """The first sniff step (of the registered kinds, and the rules below that drop a column) to claim it."""
    column = ColumnSample(series)
    for step in sorted([*DROP_RULES, *sniff_steps()], key=lambda s: s.order):
        note = step.test(column)
        if note is not None:
            return Column(column.name, step.kind, "dropped" if step.kind == "ignore" else "feature", note)
    raise LaminaError(f"No column kind claims column {column.name!r}; declare its kind: "
                      f"{column_kind_fix(column.name, 'category')}.")


def _every_value_missing(column: ColumnSample) -> str | None:
    return "every value is missing" if len(column.values) == 0 else None


def _constant(column: ColumnSample) -> str | None:
    # One value beside blanks is no constant: whether a row is filled in is information (binary claims it).
    full = len(column.values) == len(column.series)
    return f"constant (every value is {quoted(column.values.iloc[0])})" if column.unique == 1 and full else None


def _integer_id(column: ColumnSample) -> str | None:
    numbers = _whole_numbers(column) if column.unique == len(column.values) else None
    if numbers is None:
        return None
    consecutive = bool(np.all(np.diff(np.sort(numbers)) == 1))
    lowered = column.name.lower()
    # A key's usual names: customer_id, id_3, PolicyNumber, invoice_no (a measurement distinct on every row is rarely
    # a whole number named so).
    named = lowered == "id" or lowered.endswith(("_id", " id", "id_", "number", "_no", " no")) \
        or lowered.startswith("id_")
    return f"{ID_LIKE} (a distinct integer per row)" if consecutive or named else None


def _whole_numbers(column: ColumnSample) -> np.ndarray | None:
    """The column's values where each is a whole number, judged as written: a numeric column's values, or text that
    reads as numbers (an ID column read as text, data.read: 156E16 as written), text of digits alone as Python's exact
    integers (an array of objects: a 25-digit account number is past what int64 holds, and as floats ...345 and
    ...346 are one number); None where a value is no whole number (or infinite: no identifier)."""
    if pd.api.types.is_numeric_dtype(column.series):
        numbers = column.values.to_numpy(dtype=float)
    elif pd.api.types.is_object_dtype(column.series) or pd.api.types.is_string_dtype(column.series):
        if pd.to_numeric(column.string_sample, errors="coerce").isna().any():  # a word: no need to read every value
            return None
        written = column.strings.str.strip()
        if written.str.fullmatch(WHOLE_NUMBER).all():
            return np.array([int(text) for text in written], dtype=object)
        numbers = pd.to_numeric(written, errors="coerce").to_numpy(dtype=float)
    else:
        return None
    whole = np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0)
    return numbers if whole else None


def written_keys(frame: pd.DataFrame, declared: Collection[str] = ()) -> list[str]:
    """The columns of `frame` read as floats that the ID rule drops, but those `declared` (given a kind, or targets):
    a float's text is not what the file holds (a part number 156E16 is written back 1.56e+18), so these are read
    again as text (api.training_table) and a held-out row's key (Schema.row_keys) joins back to the file."""
    return [name for name in frame.columns if name not in declared and pd.api.types.is_float_dtype(frame[name])
            and _distinct_whole_numbers(frame[name]) and infer_column(frame[name]).note.startswith(ID_LIKE)]


def _distinct_whole_numbers(values: pd.Series) -> bool:
    """Whether a float column's values are distinct whole numbers, which the ID rule (_integer_id) asks of a
    numeric column first: checked in one pass, so a table of measurements is not sniffed column by column twice
    (once here, once by the schema) on every read (0.58 s for 60,000 rows of 100 float columns)."""
    present = values.dropna()
    return bool(np.all(np.mod(present.to_numpy(), 1) == 0)) and present.is_unique  # the cheaper test first


def _string_id(column: ColumnSample) -> str | None:
    unique_share = column.unique / len(column.values)
    return f"{ID_LIKE} (a distinct value per row)" if unique_share >= ID_UNIQUE_RATIO and len(column.values) >= 20 else None


# Columns dropped rather than read; their orders place them among the kinds' steps (see features.kinds).
DROP_RULES = [Sniff(0, "ignore", _every_value_missing), Sniff(40, "ignore", _constant),
              Sniff(80, "ignore", _integer_id), Sniff(140, "ignore", _string_id)]


def infer_task(target: pd.Series, name: str, task: str = "auto") -> str:
    values = target.dropna()
    if len(values) == 0:
        raise LaminaError(f"Target column {name!r} has no values (every row is missing). Fill it in.")
    unique = values.nunique()
    if unique < 2:
        blank = len(target) - len(values)
        only = quoted(values.iloc[0])
        if blank:  # "Y" or empty: the blanks are unlabelled rows, left out, not the other class
            raise LaminaError(
                f"Target column {name!r} has one value ({only}) in {len(values)} rows and is blank in "
                f"{blank}; blank targets are unlabelled rows (left out of training), not a class, so there is "
                "nothing to learn. If a blank means no, fill the blanks with the other class (e.g. N)."
            )
        raise LaminaError(
            f"Target column {name!r} has a single value ({only}) in every row, so there is "
            "nothing to learn. Give data with at least two classes or varying values."
        )
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task == "regression":
        if not numeric:
            raise LaminaError(
                f"task is 'regression' but target {name!r} holds non-numbers (e.g. {quoted(values.iloc[0])}). "
                "Use a classification task or a numeric target."
            )
        return "regression"
    if task in ("binary", "multiclass"):
        if task == "binary" and unique != 2:
            raise LaminaError(f"task is 'binary' but target {name!r} has {unique} classes. Use 'multiclass'.")
        return task
    if unique == 2:
        return "binary"
    if not numeric:
        return "multiclass"
    numbers = values.to_numpy(dtype=float)  # an infinite value makes a quantity, which the checks then refuse
    integers = bool(np.all(np.isfinite(numbers)) and np.all(np.mod(numbers, 1) == 0))
    return "multiclass" if integers and unique <= MAX_CLASSES_FROM_INTEGERS else "regression"
