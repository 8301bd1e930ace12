"""Column kinds, a registry by name. A kind declares everything the flow needs about one sort of column:

- how it is sniffed: `@sniff(order)` methods; the schema runs every registered kind's steps (and its own
  rules for dropped columns) lowest order first, and the first step that claims a column decides;
- its encoder (values → arrays, fitted on the training split only) and the network input block that reads
  them (features.blocks: dense, embedding, tokens, picture);
- its request field in the server (a pydantic type; null is a missing value) and how a request value is
  decoded into what the encoder reads;
- its drift summary (features.drift: how the training profile bins it), and for kinds read from files,
  how each file is checked before training.

A new kind is one file: subclass Kind beside its encoder, decorate it with @register_kind, and name the
module in BUILT_IN (a plug-in or a test may import its own instead). tests/test_features.py sniffs, encodes
and serves an example of every registered kind, so a kind is tested the moment it is registered.

The built-in sniff steps, in order (a new kind takes a number between the two it must run between):
    0 dropped: every value missing           80 dropped: a distinct integer per row
   10 image: arrays                          90 number: numeric dtype
   20 image: file paths                     100 number: strings that all read as numbers (no 001 codes)
   30 audio: file paths                     110 binary: two distinct strings
   40 dropped: a single value, no blanks    120 datetime: strings that read as dates
   45 binary: one value beside blanks       130 text: four or more words, or distinct phrases
   50 binary: bool dtype                    140 dropped: a distinct string per row
   60 datetime: datetime dtype              150 category: whatever no earlier step claimed
   70 binary: numbers with two values       125 molecule: SMILES strings RDKit reads (between 120 and 130)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar, NamedTuple

import pandas as pd
from pydantic import BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

from lamina.data.inline import is_missing
from lamina.errors import LaminaError, did_you_mean, row_name
from lamina.features.blocks import DENSE, PICTURE, ColumnBlock, DenseBlock, EmbeddingBlock
from lamina.features.drift import Bins, Counts

BUILT_IN = ("lamina.features.numeric", "lamina.features.category", "lamina.features.datetime",
            "lamina.features.text", "lamina.features.image", "lamina.features.audio",
            "lamina.features.molecule")
SAMPLE_ROWS = 2000  # rows sampled to judge a string column (speed on large tables)
MAX_TEXT = 100_000  # longest string accepted in one request field (characters)
MAX_FILE_TEXT = 1_000_000  # longest base64 file accepted in one request field; the server's body limit binds first


def _number(value):
    """A request's number. A JSON true/false is not one: pydantic's lax float would read it as 1.0 or 0.0. Text is
    read by pandas.to_numeric, as a table's column of text is (features.numeric.to_numbers), not by pydantic's float,
    which reads "1_000" and "nan" too: a value `lamina predict` refuses is refused here."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "a number column takes a number (or text that reads as one), not "
                                  "true/false; send 1 or 0 if that is what is meant")
    if isinstance(value, str):
        try:
            number = float(pd.to_numeric(value))
        except (ValueError, TypeError):
            number = math.nan
        if math.isnan(number):
            raise PydanticCustomError("float_parsing", "Input should be a valid number, unable to parse string as a "
                                      "number: {text} is not a number as a table's column reads one (digits 0-9, a "
                                      "point and an exponent: 1000, 1.5e3); send a JSON number, or null where unknown",
                                      {"text": repr(value)})
        return number
    return value


def _scalar(value):
    """A category is one JSON scalar; an array or object is refused in one sentence (not one per scalar type)."""
    if isinstance(value, (list, dict)):
        raise PydanticCustomError("category_type", "a category column takes text, a number or true/false, not "
                                  "{sent}", {"sent": "an array" if isinstance(value, list) else "an object"})
    return value


# Request field types (one per value; None is a missing value).
NUMBER_FIELD = Annotated[float, BeforeValidator(_number)] | None  # numbers, or text that reads as one
VALUE_FIELD = Annotated[str | int | float | bool, BeforeValidator(_scalar)] | None  # categories: spelt as in training
TEXT_FIELD = Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None
FILE_FIELD = Annotated[str, StringConstraints(max_length=MAX_FILE_TEXT)] | None  # base64 of a file, never a path


class ColumnSample:
    """A column as sniff steps see it. Facts several steps share are computed once, and only when a step
    asks: a column of arrays, claimed early, never has its distinct values counted."""

    def __init__(self, series: pd.Series):
        self.series = series

    @property
    def name(self) -> str:
        return str(self.series.name)

    @cached_property
    def values(self) -> pd.Series:
        """The non-missing values."""
        return self.series.dropna()

    @cached_property
    def unique(self) -> int:
        return self.values.nunique()

    @cached_property
    def strings(self) -> pd.Series:
        """The non-missing values as text."""
        return self.values.astype(str)

    @cached_property
    def string_sample(self) -> pd.Series:
        """Up to SAMPLE_ROWS of `strings`, the same ones on every run."""
        return self.strings.sample(min(len(self.strings), SAMPLE_ROWS), random_state=0)


class Sniff(NamedTuple):
    order: float
    kind: str  # the kind a claimed column gets ("ignore" for the schema's rules that drop a column)
    test: Callable[[ColumnSample], str | None]  # the column's note ("" for none) when it claims it, else None


def sniff(order: float):
    """Marks a Kind method `(self, column: ColumnSample) -> str | None` as a sniff step run at `order`."""
    def mark(method):
        method.sniff_order = order
        return method

    return mark


@dataclass(frozen=True)
class EncoderOptions:
    """Run settings some encoders take."""

    image_size: int | str = "auto"  # pixels per side pictures are resized to
    pretrained_text: Path | None = None  # the Hugging Face model folder whose tokenizer text columns use
    # {datetime column: its Column.date_order}: the order its dates were written in the whole file (data.schema)
    date_orders: dict[str, str] = field(default_factory=dict)
    assumed_orders: frozenset[str] = frozenset()  # the datetime columns whose Column.date_order was assumed


class Kind:
    """A column kind. Subclasses set the class attributes, declare `@sniff` steps and an `example`.
    Instances hold no state: the registry keeps one of each."""

    name: ClassVar[str]  # what the schema and model.json call it
    encoder: ClassVar[type]  # built by `encoder_for`; fit(values) / transform(values) / state() / load_state()
    block: ClassVar[DenseBlock | EmbeddingBlock | ColumnBlock]  # the network input block that reads it
    request_field: ClassVar[Any] = TEXT_FIELD  # the pydantic type of one value in a server request
    # Whether a table file given to a trained model (predict, evaluate, explain, monitor) gives this kind's columns
    # the text of each cell (Schema.text_columns): the file's own guess of its types would read the code 2020 or
    # 1.50 as a number (1.5) where a server request sends the text. Only a kind that reads numbers takes numbers.
    read_as_text: ClassVar[bool] = True
    # request value, where (for errors) → what the encoder reads; None: the value as sent
    decode: ClassVar[Callable[[Any, str], Any] | None] = None
    drift: ClassVar[Bins | Counts | None] = None  # how the profile bins it; None: not profiled
    # (values, the run's image size) → one info per value whose `problem` says why its file cannot be used;
    # None: not read from files
    inspect_files: ClassVar[Callable[[pd.Series, int | str], list] | None] = None

    def encoder_for(self, column: str, options: EncoderOptions):
        return self.encoder(column)

    def sniffs(self) -> list[Sniff]:
        """The steps this class itself declares: a subclass reuses a kind's encoder and fields, not its claim
        on columns (binary is encoded like a category, yet does not claim what category claims)."""
        return [Sniff(f.sniff_order, self.name, f.__get__(self)) for f in vars(type(self)).values()
                if hasattr(f, "sniff_order")]

    def example(self, rows: int, folder: Path) -> pd.Series:
        """`rows` values that sniff as this kind (writing any files they name under `folder`)."""
        raise NotImplementedError

    def request_example(self, folder: Path) -> Any:
        """One value as a client sends it to the server."""
        return self.example(1, folder).tolist()[0]


KINDS: dict[str, Kind] = {}


def register_kind(cls: type[Kind]) -> type[Kind]:
    """Class decorator: the kind answers to its `name`."""
    if cls.name in KINDS and type(KINDS[cls.name]) is not cls:
        raise LaminaError(f"Two column kinds are named {cls.name!r}: {type(KINDS[cls.name]).__name__} and {cls.__name__}.")
    KINDS[cls.name] = cls()
    return cls


def registered_kinds() -> dict[str, Kind]:
    _import_built_in()
    return KINDS


@cache
def _import_built_in() -> None:
    """Imports the built-in kinds' modules, each registering its kinds, once: a lookup is made per column and
    block of every encoded frame (a sixth of a one-row `model.predict` went to importlib)."""
    for module in BUILT_IN:
        importlib.import_module(module)


def kind_named(name: str) -> Kind:
    kinds = registered_kinds()
    if name not in kinds:
        raise LaminaError(f"Unknown column kind {name!r}.{did_you_mean(name, kinds)} "
                          f"Registered: {', '.join(sorted(kinds))}.")
    return kinds[name]


def sniff_steps() -> list[Sniff]:
    """Every registered kind's sniff steps, in the order they run."""
    return sorted((step for kind in registered_kinds().values() for step in kind.sniffs()), key=lambda s: s.order)


class KindsReading:
    """The names of the registered kinds that one block reads, looked up at each use, so a kind registered
    later counts: `column.kind in PICTURE_KINDS`."""

    def __init__(self, block):
        self.block = block

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, kind in registered_kinds().items() if kind.block is self.block])

    def __contains__(self, name: object) -> bool:
        kinds = registered_kinds()
        return name in kinds and kinds[name].block is self.block

    def __repr__(self) -> str:
        return repr(tuple(self))


PICTURE_KINDS = KindsReading(PICTURE)  # read as pictures by a CNN: images, and audio as its spectrogram
DENSE_KINDS = KindsReading(DENSE)  # floats concatenated into the dense block


def refuse_values(values: pd.Series, column: str, accepts: Callable[[Any], bool], expected: str, fix: str,
                  clean: frozenset[str]) -> None:
    """Raises LaminaError naming the column, the row (errors.row_name) and the first present value that `accepts`
    refuses, what the column takes (`expected`) and `fix`. Values whose pandas.api.types.infer_dtype is in `clean`
    are all accepted unread (a column of strings or of numbers costs one C pass): a value of the wrong type would
    otherwise be turned into another (True into 1.0, 5 into an empty text) or fail in a library as a TypeError."""
    if pd.api.types.infer_dtype(values, skipna=True) in clean:
        return
    for label, value in values.items():
        if not is_missing(value) and not accepts(value):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise LaminaError(f"Column {column!r}, {row_name(label)}: {shown} ({type(value).__name__}) is not "
                              f"{expected}. {fix}")
