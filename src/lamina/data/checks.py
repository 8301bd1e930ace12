"""Data-quality findings ("garbage in, garbage out"): errors stop training, warnings go in the report."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from lamina.data.dates import DATE_ORDER_FIX, DateOrder
from lamina.data.images import looks_like_arrays
from lamina.data.schema import PICTURE_KINDS, Schema, require_target
from lamina.errors import LaminaError, column_kind_fix, quoted

MIN_ROWS = 10  # fewer rows cannot fill a train, a validation and a test split
MIN_ROWS_PER_CLASS = 3  # a class needs a row in each of the three splits (data.split gives it one each)
FEW_ROWS_PER_CLASS = 20  # below this a class's metrics are mostly noise
IMBALANCE_RATIO = 0.1  # smallest class / largest class below this is flagged
HEAVY_MISSING = 0.5  # share of missing values from which a column is flagged
LEAK_SCORE = 0.99  # a single column this predictive of the target probably leaks it
LEAK_BINS = 20  # numeric columns are cut into this many quantile bins to score them alone
LEAK_MIN_ROWS_PER_GROUP = 20
MAX_NAMED_CLASSES = 5  # classes a finding names before "..."
MAX_NAMED_ROWS = 5  # rows a finding names  # fewer rows per value make any column look predictive


@dataclass
class Finding:
    level: str  # "error", "warning" or "info"
    code: str
    message: str
    column: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def require_enough_rows(frame: pd.DataFrame, target: str) -> None:
    """Checked before anything else: with a handful of rows every other finding is noise."""
    require_target(frame, target)
    labelled = int(frame[target].notna().sum())
    if labelled == 0:
        raise LaminaError(f"Target column {target!r} has no values (every row is missing). Fill it in.")
    if labelled < MIN_ROWS:
        raise LaminaError(
            f"Only {labelled} row(s) have a value in target {target!r}; at least {MIN_ROWS} are needed to "
            "train, validate and test. Add more rows."
        )


def has_errors(findings: list[Finding]) -> bool:
    return any(f.level == "error" for f in findings)


# Largest size of a regression target value: the squared errors its metrics (RMSE, R²) sum stay finite in float64
# (about 1e308) for up to 1e8 rows.
MAX_TARGET = 1e150
# Smallest size the largest regression target value may have: squared errors of smaller values underflow to 0 in
# float64, and every model, the baseline too, would read RMSE 0 and R² 1.
MIN_TARGET = 1e-150
TARGET_SIZE_FIX = ("Predict the logarithm of the values (np.log10, for positive ones) or the values scaled by a power "
                   "of ten, and transform the predictions back.")


def target_size_problem(column: str, size: float) -> str | None:
    """Why a regression target whose largest value has this size (absolute value) cannot be learnt and scored
    in float64, with the fix; None when it can."""
    if size > MAX_TARGET:
        return (f"Target {column!r} holds values up to {size:.3g} in size, past the {MAX_TARGET:.0e} a regression "
                f"target may reach: its squared errors would overflow. {TARGET_SIZE_FIX}")
    if 0 < size < MIN_TARGET:
        return (f"Target {column!r} holds values of at most {size:.3g} in size, below the {MIN_TARGET:.0e} a regression "
                f"target must reach: its squared errors would be 0 for any model. {TARGET_SIZE_FIX}")
    return None


def standardisation(numbers: np.ndarray) -> tuple[float, float]:
    """(mean, scale) of finite numbers (float64) whose size target_size_problem accepts: what a regression target is
    standardised by for training (features.target), computed on the values divided by the largest, as squares of
    values past 1e154 overflow float64."""
    unit = float(np.abs(numbers).max()) if len(numbers) else 0.0
    unit = unit or 1.0
    return (float((numbers / unit).mean() * unit) if len(numbers) else 0.0), float((numbers / unit).std() * unit) or 1.0


# A regression target value this many interquartile ranges from the median is an extreme outlier. Tukey's "far out"
# fence is 3; 1000 leaves heavy tails (incomes, prices) alone and catches typos and sentinels (1e30 or 999999 among
# values of 1 to 10).
OUTLIER_IQRS = 1000
# Finest step, in interquartile ranges, the standardised float32 target must keep between the other values: coarser,
# they cannot be told apart in training, nor their truth in the test metrics.
SCALED_STEP = 1e-3


def _outlier_findings(frame: pd.DataFrame, schema: Schema) -> list[Finding]:
    """Extreme outliers of a regression target (OUTLIER_IQRS): a warning naming the rows, as they dominate RMSE
    and R² wherever they fall; an error where the other values, standardised with them into float32, would lose
    the precision training and scoring need (SCALED_STEP), as no metric would then mean anything."""
    values = pd.to_numeric(frame[schema.target], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values)
    q1, median, q3 = np.percentile(values[finite], [25, 50, 75]) if finite.sum() >= 4 else (0.0, 0.0, 0.0)
    spread = q3 - q1
    far = finite & (np.abs(values - median) > OUTLIER_IQRS * spread) if spread > 0 else np.zeros(len(values), bool)
    if not far.any():
        return []
    named = zip(frame.index[far][:MAX_NAMED_ROWS], values[far][:MAX_NAMED_ROWS], strict=True)
    shown = ", ".join(f"{_row_label(index)} ({value:.3g})" for index, value in named)
    where = (f"{int(far.sum())} value(s) of target {schema.target!r} lie over {OUTLIER_IQRS} interquartile ranges "
             f"(IQR {spread:.3g}) from its median ({median:.3g}): row(s) {shown}")
    fix = ("Check those rows: fix typos and placeholder values (999999, 1e30), drop the rows, or predict the "
           "logarithm of the values.")
    mean, scale = standardisation(values[finite])
    others = values[finite & ~far]
    scaled = ((others - mean) / scale).astype(np.float32).astype(float) * scale + mean  # features.target's round trip
    lost = float(np.abs(scaled - others).max())
    if lost > SCALED_STEP * spread:
        return [Finding("error", "target_outlier", f"{where}. Scaled together with them for training, the other "
                        f"values lose up to {lost:.3g} (float32 steps): they could not be told apart, and no metric "
                        f"would mean anything. {fix}", schema.target)]
    return [Finding("warning", "target_outlier", f"{where}. RMSE and R² are dominated by them wherever they fall, and "
                    f"training pulls towards them. {fix}", schema.target)]


def missing_target(frame: pd.DataFrame, column: str, called: str = "target") -> list[Finding]:
    """A warning counting the rows without a value in the `column` a task learns from (`called` as the task names
    it: target, label) and naming the first: the task leaves them out."""
    values = frame[column]
    missing = int(values.isna().sum())
    if not missing:
        return []
    return [Finding("warning", "target_missing", f"{missing} row(s) have no value in {called} {column!r}; they are "
                    f"left out (first at row {_row_label(values[values.isna()].index[0])}).", column)]


def run_checks(frame: pd.DataFrame, schema: Schema) -> list[Finding]:
    findings = missing_target(frame, schema.target)
    findings.extend(_infinite_findings(frame, schema))
    if schema.task == "regression" and not has_errors(findings):  # a target too large in size is refused already
        findings.extend(_outlier_findings(frame, schema))
    usable = frame[frame[schema.target].notna()]
    if schema.task != "regression":
        findings.extend(_class_findings(usable[schema.target]))
    findings.extend(_duplicate_findings(_hashable(usable, schema)))
    for column in schema.dropped:
        findings.append(Finding("info", "column_dropped", f"Column {column.name!r} is not used: {column.note}.",
                                column.name))
    some = []  # (column, missing rows) of the columns missing less than HEAVY_MISSING
    for column in schema.features:
        missing = int(frame[column.name].isna().sum())
        share = missing / max(len(frame), 1)
        # A column of one value or blank (binary) reads its blanks as the second value, not as missing.
        if not missing or (column.kind == "binary" and frame[column.name].nunique() == 1):
            continue
        if share >= HEAVY_MISSING:
            findings.append(Finding(
                "warning", "heavy_missing",
                f"Column {column.name!r} is {share:.0%} missing; the model sees a missing-value flag for it.",
                column.name,
            ))
        else:
            some.append((column.name, missing))
    if some:  # said once for all: on a large table most columns miss a few cells
        listed = ", ".join(f"{name!r} {count} ({count / len(frame):.1%})" for name, count in
                           sorted(some, key=lambda item: -item[1]))
        findings.append(Finding("info", "missing_values", f"Missing values (empty cells, or spelt NA, ?, null...): "
                                f"{listed} rows; the model sees a missing-value flag for each of these columns."))
    findings.extend(_leak_findings(usable, schema))
    findings.extend(_empty_text_findings(frame, schema))
    return findings


def _infinite_findings(frame: pd.DataFrame, schema: Schema) -> list[Finding]:
    """Infinite values: in a number feature they are read as missing (a warning); in the target (of any task:
    classes may be spelled as numbers) nothing can be learnt from them (an error naming the rows); nor from a
    regression target whose size float64 squares cannot hold (target_size_problem)."""
    findings = []
    if schema.task == "regression":
        sizes = np.abs(pd.to_numeric(frame[schema.target], errors="coerce").to_numpy(dtype=float, na_value=np.nan))
        finite = sizes[np.isfinite(sizes)]
        problem = target_size_problem(schema.target, float(finite.max()) if len(finite) else 0.0)
        if problem:
            huge = np.isfinite(sizes) & (sizes > MAX_TARGET)
            rows = ", ".join(_row_label(index) for index in frame.index[huge][:MAX_NAMED_ROWS])
            findings.append(Finding("error", "target_size", problem + (f" Rows: {rows}." if rows else ""),
                                    schema.target))
    numeric = [c.name for c in schema.features if c.kind == "number"]
    # A target of classes spelled as numbers can hold an infinity too: no split or class can be made of it.
    for column in [*numeric, schema.target]:
        values = pd.to_numeric(frame[column], errors="coerce")
        infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
        if not infinite.any():
            continue
        rows = ", ".join(_row_label(index) for index in frame.index[infinite][:MAX_NAMED_ROWS])
        where = f"{int(infinite.sum())} infinite value(s) in {column!r} (row(s) {rows})"
        if column == schema.target:
            findings.append(Finding("error", "target_infinite", f"{where}: a target must be a finite number. Fix "
                                                                "or drop those rows.", column))
        else:
            findings.append(Finding("warning", "infinite_values", f"{where}; they are read as missing values.",
                                    column))
    return findings


def _empty_text_findings(frame: pd.DataFrame, schema: Schema) -> list[Finding]:
    findings = []
    for column in (c.name for c in schema.features if c.kind == "text"):
        values = frame[column]
        empty = values.notna() & values.astype(str).str.strip().eq("")
        if empty.any():
            findings.append(Finding(
                "warning", "text_empty",
                f"{int(empty.sum())} value(s) of text column {column!r} are empty or only whitespace (first at row "
                f"{_row_label(empty.idxmax())}); the model reads them as no text, like missing values.",
                column,
            ))
    return findings


def date_order_findings(orders: dict[str, DateOrder]) -> list[Finding]:
    """date_order_finding of each date column's order (data.schema.record_date_orders: decided on the whole file,
    the order its encoder reads in)."""
    return [date_order_finding(order, column) for column, order in orders.items()]


def date_order_finding(order: DateOrder, column: str) -> Finding:
    """Which order the dates of `column` written with their day and month as numbers before the year (01/02/2020)
    are read in, and why (data.dates.date_order): information where a value proves the order (or it is set), a
    warning where every value reads either way (the order is then assumed) or the column mixes both."""
    if order.mixed:
        read = "each in the order it reads in (month first where both do)"
    else:
        read = "day first (01/02/2020 is 1 February)" if order.day_first else "month first (01/02/2020 is 2 January)"
    fix = "" if order.proven else f" If that is not how they are written, {DATE_ORDER_FIX}, or write them year first."
    return Finding("info" if order.proven else "warning", "date_order",
                   f"Column {column!r} reads its dates {read}: {order.why}.{fix}", column)


def _row_label(index) -> str:
    """Rows as a person counts them in the file: the header is row 1."""
    return str(index + 2) if isinstance(index, (int, np.integer)) else str(index)


def _class_findings(target: pd.Series) -> list[Finding]:
    """One finding per kind of problem, whatever the number of classes it touches (the first few named)."""
    counts = target.value_counts()
    name, findings = str(target.name), []
    tiny, small = counts[counts < MIN_ROWS_PER_CLASS], counts[(counts >= MIN_ROWS_PER_CLASS) & (counts < FEW_ROWS_PER_CLASS)]
    if len(tiny):
        quantity = pd.api.types.is_numeric_dtype(target) and len(tiny) > len(counts) / 2
        fix = (" Most values occur once or twice: the target looks like a quantity, not classes. Use --task "
               "regression (or leave --task out)." if quantity else " Add rows or merge those classes into others.")
        findings.append(Finding(
            "error", "class_too_small",
            f"{_classes_below(tiny, MIN_ROWS_PER_CLASS)}; each class needs at least {MIN_ROWS_PER_CLASS} (one each "
            f"for training, validation and test).{fix}", name))
    if len(small):
        findings.append(Finding("warning", "class_small",
                                f"{_classes_below(small, FEW_ROWS_PER_CLASS)}; their metrics will be noisy.", name))
    if len(counts) >= 2 and counts.min() / counts.max() < IMBALANCE_RATIO:
        findings.append(Finding(
            "warning", "class_imbalance",
            f"Classes are imbalanced: {quoted(counts.index[-1])} has {counts.min()} rows against "
            f"{counts.max()} for {quoted(counts.index[0])}. Read balanced accuracy and macro F1, not accuracy alone.",
            name,
        ))
    return findings


def _classes_below(counts: pd.Series, limit: int) -> str:
    """"Class 'a' has only 1 row(s), fewer than 3" or "12 classes have fewer than 3 rows ('a': 1, 'b': 2, ...)"."""
    if len(counts) == 1:
        return f"Class {quoted(counts.index[0])} has only {counts.iloc[0]} row(s), fewer than {limit}"
    shown = ", ".join(f"{quoted(label)}: {count}" for label, count in counts.head(MAX_NAMED_CLASSES).items())
    return f"{len(counts)} classes have fewer than {limit} rows ({shown}{', ...' if len(counts) > MAX_NAMED_CLASSES else ''})"


def _hashable(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Image arrays replaced by a digest of their bytes, so identical pictures count as duplicates."""
    arrays = [c.name for c in schema.features if c.kind == "image" and looks_like_arrays(frame[c.name])]
    if not arrays:
        return frame
    return frame.assign(**{
        name: [hashlib.blake2b(v.tobytes(), digest_size=16).digest() if v is not None else None for v in frame[name]]
        for name in arrays
    })


def _duplicate_findings(frame: pd.DataFrame) -> list[Finding]:
    duplicated = frame.duplicated()
    count = int(duplicated.sum())
    if not count:
        return []
    return [Finding(
        "warning", "duplicate_rows",
        f"{count} row(s) repeat an earlier row exactly (first at row {_row_label(duplicated.idxmax())}); "
        "copies that land in both training and test data inflate the test metrics.",
    )]


def _leak_findings(frame: pd.DataFrame, schema: Schema) -> list[Finding]:
    target = frame[schema.target]
    if schema.task == "regression":  # infinite targets are refused elsewhere; here they would only make NaN
        target = target.replace([np.inf, -np.inf], np.nan)
    findings = []
    for column in schema.features:
        if column.kind in ("text", *PICTURE_KINDS):
            continue
        if column.kind == "number" and schema.task == "regression":
            # A number that moves in lockstep with the target, in any monotone way.
            score = abs(pd.to_numeric(frame[column.name], errors="coerce").corr(target, method="spearman"))
        else:
            groups = _groups_of(frame[column.name], column.kind)
            if groups.nunique(dropna=False) > len(frame) / LEAK_MIN_ROWS_PER_GROUP:
                continue
            score = _single_column_score(groups, target, schema.task)
        if score >= LEAK_SCORE:
            findings.append(Finding(
                "warning", "target_leak",
                f"Column {column.name!r} alone predicts the target almost perfectly (score {score:.3f}). "
                "If it is recorded after the outcome or derived from it, drop it: "
                f"{column_kind_fix(column.name, 'ignore')}.",
                column.name,
            ))
    return findings


def _groups_of(values: pd.Series, kind: str) -> pd.Series:
    if kind == "number":
        numeric = pd.to_numeric(values, errors="coerce").replace([np.inf, -np.inf], np.nan)
        return pd.qcut(numeric, LEAK_BINS, duplicates="drop").astype(str)
    return values.astype(str)


def _single_column_score(groups: pd.Series, target: pd.Series, task: str) -> float:
    """Accuracy of predicting each group's majority class (classification) or R² of group means."""
    if task == "regression":
        values = target.astype(float)
        explained = values.groupby(groups.to_numpy()).transform("mean")
        total = float(((values - values.mean()) ** 2).sum())
        return 1.0 - float(((values - explained) ** 2).sum()) / total if total > 0 else 0.0
    majority_alone = target.value_counts(normalize=True).iloc[0]
    if majority_alone >= LEAK_SCORE:
        return 0.0
    table = pd.crosstab(groups.to_numpy(), target.to_numpy())
    return float(table.max(axis=1).sum() / table.to_numpy().sum())
