"""How a category value is spelt: one key per value, and which known value a new value's key names."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

import numpy as np


def category_key(value) -> str:
    """One spelling per value, so 1, 1.0 and '1' from different files are the same category."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


# A whole number however spelt (8, 008, +8, 8.0): its sign and digits without leading zeros. Read as text, not
# with int(), which refuses numbers past 4300 digits.
INTEGER = re.compile(r"(?:\+|(-))?0*([0-9]+)(?:\.0*)?")


def number_key(key: str) -> str | None:
    """The whole number a category key spells ("008" → "8", "-0" → "0"), or None if it spells none."""
    match = INTEGER.fullmatch(key)
    if match is None:
        return None
    sign, digits = match.groups()
    return f"-{digits}" if sign and digits != "0" else digits


# A number in decimal digits, as str() writes a float and a CSV or JSON spells one: 0.0507, -4.46e-02, .5, 7.
DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def decimal_of(key: str) -> float | None:
    """The finite number a key spells in decimal digits, or None ("nan", "inf", "1_000", words; 1e999, which
    overflows). Not float(), which reads all of those."""
    if DECIMAL.fullmatch(key) is None:
        return None
    number = float(key)
    return number if math.isfinite(number) else None


def exact_number(key: str) -> Decimal | None:
    """The number a key spells in decimal digits, exactly: 8, 008, +8 and 8.0 are one number, and 1.5, 1.50 and
    15e-1 another (as Decimals, equal and hashed alike; no float rounding, so two 20-digit codes stay two). None for
    any other text ("nan", "1_000", words) and for an exponent past Decimal's range (1e999999999999999999)."""
    if not DECIMAL.fullmatch(key):
        return None
    try:
        return Decimal(key)
    except InvalidOperation:
        return None


# A number written with a decimal comma, as spreadsheets in much of Europe export it (-1,21 or 3 or 2,5E-03): a
# table whose separator is not a comma reads a column of them as numbers (data.read). ASCII digits only: pandas
# reads no other (١,٥ stays text).
DECIMAL_COMMA = r"[+-]?([0-9]+(,[0-9]+)?|,[0-9]+)([eE][+-]?[0-9]+)?"
# A comma followed by exactly three digits may as well separate thousands (1,500 is 1500 in English): such a
# value is not read as a decimal comma outside a table's reader, where the whole column decides.
THOUSANDS = re.compile(r"[+-]?[0-9]{1,3},[0-9]{3}([eE][+-]?[0-9]+)?")


def decimal_point(key: str) -> str:
    """A number written with a decimal comma (DECIMAL_COMMA, holding one comma: "1,5", "-0,0507") written with a
    point ("1.5"), as the table reader reads such a column; any other key as it is, and so is one that may be
    thousands ("1,500": THOUSANDS)."""
    if "," not in key or not re.fullmatch(DECIMAL_COMMA, key) or THOUSANDS.fullmatch(key):
        return key
    return key.replace(",", ".")


def number_aliases(vocabulary: list[str]) -> dict[Decimal, str]:
    """Number → the one known value spelling it, for a value spelt otherwise: a code kept as text in training
    ("008", "1.50") arrives as the number 8 or 1.5 from a frame read without dtypes, or from JSON; a number
    training read (1.5, its category "1.5") arrives as the text "1.50" from a file read as text. A number two
    known values spell ("08" and "008") has no alias: which one is meant is unknowable."""
    spellings: dict[Decimal, list[str]] = {}
    for value in vocabulary:
        number = exact_number(value)
        if number is not None:
            spellings.setdefault(number, []).append(value)
    return {number: values[0] for number, values in spellings.items() if len(values) == 1}


TRUTHS = ("true", "false")  # spellings of a truth value, compared lower-cased

# The usual spellings of a yes/no answer (lower-cased), each the truth it spells.
TRUTH_SPELLINGS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "y": True,
                   "n": False, "t": True, "f": False}


def truth_of(value) -> bool | None:
    """The truth a value spells (a boolean, the number 1 or 0, or TRUTH_SPELLINGS in any case), else None."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return TRUTH_SPELLINGS.get(category_key(value).lower())


class KnownValues:
    """Positions of known keys (a vocabulary, a profile's categories); a key not among them names the known
    value spelling the same number (number_aliases), when exactly one does."""

    def __init__(self, keys: list[str]):
        self._position = {key: i for i, key in enumerate(keys)}
        self._aliases = number_aliases(keys)
        # A truth value however cased: a yes/no column read as booleans keeps "True"/"False", while a request or
        # a table read as text spells "true" or "FALSE" (and the other way round).
        self._truths = {key.lower(): key for key in keys if key.lower() in TRUTHS}

    def position(self, key: str) -> int | None:
        """The position of the known value `key` names, or None."""
        if key in self._position:
            return self._position[key]
        if key.lower() in self._truths:
            return self._position[self._truths[key.lower()]]
        # A file read as text keeps a decimal comma that training's reader read as a number: "1,5" names 1.5.
        alias = self._aliases.get(exact_number(decimal_point(key)))
        return None if alias is None else self._position[alias]


class KnownTwoValues(KnownValues):
    """The keys of a two-valued (binary) column. Where both spell numbers (a standardised 0.0507 / -0.0446, or -1
    and 1), a number that is neither reads as the one it is nearer to by less than half the gap between them: the
    side of their midpoint. A client's rounded 0.05068 is the learnt 0.0506801187398187, not an unknown value.
    The midpoint itself, and a number farther out than half the gap (a 2 where 0 and 1 were learnt: a count's
    or a pixel's, not a yes/no), name no known value, as an unseen category does not."""

    def __init__(self, keys: list[str]):
        super().__init__(keys)
        numbers = [decimal_of(key) for key in keys]
        # [(number, its key)] lowest first, or None where the keys are not two distinct numbers
        self._numbers = (sorted(zip(numbers, keys, strict=True))
                         if len(keys) == 2 and None not in numbers and numbers[0] != numbers[1] else None)

    def position(self, key: str) -> int | None:
        known = super().position(key)
        number = decimal_of(decimal_point(key))
        if known is not None or self._numbers is None or number is None:
            return known
        (low, _), (high, _) = self._numbers
        return next((self._position[spelt] for value, spelt in self._numbers
                     if abs(number - value) < (high - low) / 2), None)
