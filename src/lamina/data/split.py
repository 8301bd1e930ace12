"""Split rows into train / valid / test, stratified by class, reproducible from the seed. Every class with the
rows the checks ask for (checks.MIN_ROWS_PER_CLASS, 3) has at least one row in each split: stratified rounding
alone can leave a rare class out of a small split (3 rows as 3/0/0), and the test metrics would then ignore it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    description: str  # how the split was made, for the report

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


VALID_SHARE = 0.15  # of the rows, held out for early stopping and calibration when data.valid_fraction is auto
# Validation rows at most under auto: a model is scored on every one of them after every epoch (an image twice, with
# its mirror view), and 5,000 rows judge an accuracy to about ±0.7 points (95%). AutoGluon's default holdout
# shrinks with the data the same way, to a stable 2,500 rows from 25,000 (autogluon.core.utils.default_holdout_frac).
MAX_VALID_ROWS = 5_000


def valid_fraction_of(valid_fraction: float | str, rows: int) -> float:
    """The share of `rows` to validate on: `valid_fraction` as given, or under "auto" VALID_SHARE, lowered so that
    no more than MAX_VALID_ROWS rows are held out."""
    if valid_fraction != "auto":
        return valid_fraction
    return min(VALID_SHARE, MAX_VALID_ROWS / max(rows, 1))


def split_rows(
    frame: pd.DataFrame,
    target: str,
    task: str,
    valid_fraction: float | str,
    test_fraction: float,
    seed: int,
    test: pd.DataFrame | None = None,
    by: str | None = None,
) -> Split:
    """With `test` given, `frame` is split into train and valid only; otherwise three ways. `by`: a molecule
    column whose scaffolds are kept whole in one part (data.scaffold), instead of a random split.
    `valid_fraction`: a share of the rows, or "auto" (valid_fraction_of)."""
    given, valid_fraction = valid_fraction, valid_fraction_of(valid_fraction, len(frame))
    capped = f" (validation at most {MAX_VALID_ROWS:,} rows)" if given == "auto" and valid_fraction < VALID_SHARE else ""
    _require_every_part(len(frame), valid_fraction, None if test is not None else test_fraction)
    if by is not None:
        return _by_scaffold(frame, by, valid_fraction, test_fraction, test)
    if test is not None:
        train, valid = _two_way(frame, target, task, valid_fraction, seed, keep=(1, 1))
        how = f"given test file; training file split {1 - valid_fraction:.0%} train / {valid_fraction:.0%} valid"
        return Split(train, valid, test, f"{how}{capped}, seed {seed}")
    rest, test_part = _two_way(frame, target, task, test_fraction, seed, keep=(2, 1))  # rest: train and valid
    train, valid = _two_way(rest, target, task, valid_fraction / (1 - test_fraction), seed + 1, keep=(1, 1))
    train_share = 1 - valid_fraction - test_fraction
    how = f"random {train_share:.0%} / {valid_fraction:.0%} / {test_fraction:.0%} (train / valid / test)"
    stratified = ", stratified by class" if task != "regression" else ""
    return Split(train, valid, test_part, f"{how}{capped}{stratified}, seed {seed}")


def _require_every_part(rows: int, valid_fraction: float, test_fraction: float | None) -> None:
    """A LaminaError when `rows` split by these fractions (as train_test_split rounds: held-out parts up) leave a
    part empty; `test_fraction` None: a test file is given, so two parts."""
    from lamina.errors import LaminaError

    test = 0 if test_fraction is None else int(np.ceil(test_fraction * rows))
    rest = rows - test
    valid = int(np.ceil(valid_fraction / (1 - (test_fraction or 0)) * rest)) if rest > 0 else 0
    parts = {"training": rest - valid, "validation": valid, **({"test": test} if test_fraction is not None else {})}
    empty = [name for name, count in parts.items() if count < 1]
    if empty:
        shares = f"--valid-fraction {valid_fraction:g}" + ("" if test_fraction is None else
                                                           f" and --test-fraction {test_fraction:g}")
        raise LaminaError(f"{rows} row(s) split by {shares} leave no {' or '.join(empty)} rows. Give more rows, or "
                          "lower the fractions" + ("" if test_fraction is None else " (or give a --test file)") + ".")


def _two_way(frame: pd.DataFrame, target: str, task: str, fraction: float, seed: int, keep: tuple[int, int]):
    """(first, second) with `fraction` of the rows in second; for classes, each class with at least
    keep[0] + keep[1] rows has keep[0] of them in first and keep[1] in second."""
    from sklearn.model_selection import train_test_split

    stratify = frame[target].to_numpy() if task != "regression" else None
    if stratify is not None:
        classes = len(np.unique(stratify))
        held_out = int(np.ceil(fraction * len(frame)))
        if held_out < classes or len(frame) - held_out < classes:
            stratify = None  # too few rows to give every class a place on both sides
    first, second = train_test_split(frame, test_size=fraction, random_state=seed, stratify=stratify)
    if task == "regression":
        return first, second
    first, second = _top_up(first, second, target, least=keep[1], spare=keep[0])
    second, first = _top_up(second, first, target, least=keep[0], spare=keep[1])
    return first, second


def _top_up(source: pd.DataFrame, short: pd.DataFrame, target: str, least: int, spare: int):
    """Rows moved from `source` (the last drawn of their class: the split shuffled them) so every class has
    `least` rows in `short`, where `source` can give them and keep `spare` of its own."""
    have = short[target].value_counts()
    labels = source[target].to_numpy()
    moved: list[int] = []
    for label, count in source[target].value_counts().items():
        missing = least - int(have.get(label, 0))
        if missing > 0 and count - missing >= spare:
            moved.extend(np.flatnonzero(labels == label)[-missing:])
    if not moved:
        return source, short
    kept = np.setdiff1d(np.arange(len(source)), moved)
    return source.iloc[kept], pd.concat([short, source.iloc[sorted(moved)]])


def _by_scaffold(frame: pd.DataFrame, column: str, valid_fraction: float, test_fraction: float,
                 test: pd.DataFrame | None) -> Split:
    if test is not None:
        train, valid = _scaffolds_in_every_part(frame, column, (1 - valid_fraction,), ("training", "validation"))
        return Split(train, valid, test, f"given test file; training file split by scaffold of {column!r}, "
                                         f"{1 - valid_fraction:.0%} train / {valid_fraction:.0%} valid")
    train_share = 1 - valid_fraction - test_fraction
    train, valid, test_part = _scaffolds_in_every_part(frame, column, (train_share, valid_fraction),
                                                       ("training", "validation", "test"))
    return Split(train, valid, test_part, f"scaffold (Bemis-Murcko scaffolds of {column!r} kept whole, largest "
                                          f"first) {train_share:.0%} / {valid_fraction:.0%} / {test_fraction:.0%} "
                                          "(train / valid / test)")


def _scaffolds_in_every_part(frame: pd.DataFrame, column: str, fractions: tuple[float, ...],
                             names: tuple[str, ...]) -> list[pd.DataFrame]:
    """data.scaffold's parts; a LaminaError where a part is empty (a few scaffolds, one of them most of the rows:
    it cannot be cut), before anything trains."""
    from lamina.data.scaffold import scaffold, scaffold_parts
    from lamina.errors import LaminaError

    parts = scaffold_parts(frame, column, fractions)
    empty = [name for name, part in zip(names, parts, strict=True) if len(part) == 0]
    if empty:
        count = frame[column].map(scaffold).nunique()
        raise LaminaError(f"Split by scaffold of {column!r}, the {len(frame)} rows ({count} distinct scaffold(s), "
                          f"each kept whole) leave no {' or '.join(empty)} rows. Use --split random, or give "
                          "molecules of more scaffolds.")
    return parts
