"""The one exception type for a user's mistake: the CLI prints its message and exits 2."""

from __future__ import annotations

import difflib
import numbers
import re

import numpy as np


class LaminaError(Exception):
    """Bad input or a bad setting. The message names the file, row or column and the fix."""


def closest(name: str, choices, n: int = 3) -> list[str]:
    """The choices that look most like `name` (for 'did you mean' hints)."""
    choices = [str(c) for c in choices]
    found = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    lowered = [c for c in choices if c.lower() == name.lower() and c not in found]
    return lowered + found


def did_you_mean(name: str, choices) -> str:
    near = closest(name, choices)
    return f" Did you mean {', '.join(repr(c) for c in near)}?" if near else ""


def quoted(value) -> str:
    """A value as a message quotes it, repr-style: a numpy scalar (a pandas cell, an index label) as the Python
    value it holds, 1 and 'a', not np.int64(1) and np.str_('a')."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def headless_hint(columns) -> str:
    """Where a third or more of the column names read as values (a number, a date, a phrase of four words or more:
    6 of the 15 of UCI Adult's raw file, which begins "39, State-gov, 77516"), a sentence saying the file's first
    line reads as a data row, so it may have no header; else ""."""
    names = [str(c).strip() for c in columns]
    values = sum(_reads_as_value(name) for name in names)
    if not names or values * 3 < len(names):
        return ""
    return (" Its first line reads as a row of data, not column names: the file may have no header row. Add a "
            "first line naming the columns.")


def _reads_as_value(name: str) -> bool:
    if len(name.split()) >= 4 or re.fullmatch(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*", name):
        return True
    try:
        float(name)
    except ValueError:
        return False
    return True


def capitalised(text: str) -> str:
    """`text` begun with a capital letter: a message that opens with a name such as "the test data file t.csv"."""
    return text[:1].upper() + text[1:]


def row_name(label) -> str:
    """A row of data as messages name it: a DataFrame's integer index label i as the file's row i + 2 (the header
    is row 1), any other label as it is (a request's rows are labelled 'record 0', 'record 1'...)."""
    if isinstance(label, numbers.Integral):  # Python's and numpy's integers
        return f"row {int(label) + 2} (counting the header as row 1)"
    return str(label)


def column_kind_fix(name, kind: str) -> str:
    """How a message tells the user to set a column's kind (or `ignore` to leave it out): the flag, then the
    config file's spelling of the same, e.g. "--column zip=category (config data: columns: {zip: category})"."""
    return f"--column {name}={kind} (config data: columns: {{{name}: {kind}}})"
