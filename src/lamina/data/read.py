"""Read a table (CSV, TSV, Parquet, JSON Lines), an image folder or an image array file into a DataFrame,
or say clearly why not."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pandas as pd

from lamina.data.images import is_image_source, read_images, resolve_image_paths
from lamina.errors import LaminaError

# Besides pandas' defaults ('', 'NA', 'null', ...), '?' marks a missing value in many public tables.
MISSING_MARKERS = ["?"]
TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}
SUPPORTED = sorted([*TEXT_SUFFIXES, *PARQUET_SUFFIXES, *JSON_LINES_SUFFIXES])


def read_table(source, what: str = "data") -> pd.DataFrame:
    """A DataFrame from a path or a DataFrame; `what` names the role in error messages."""
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        where = f"the {what} (a DataFrame)"
        _reject_duplicate_names(list(frame.columns), where)
    else:
        frame = _read_path(Path(source), what)
        where = f"the {what} {'folder' if Path(source).is_dir() else 'file'} {source}"
    if len(frame.columns) == 0:
        raise LaminaError(f"{where[0].upper()}{where[1:]} has no columns. Give a table with a header row and data rows.")
    if len(frame) == 0:
        raise LaminaError(
            f"{where[0].upper()}{where[1:]} has a header ({', '.join(map(str, frame.columns[:5]))}) but no data "
            "rows. Add rows below the header."
        )
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _read_path(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise LaminaError(f"The {what} file {path} does not exist. Check the path and spelling.")
    if is_image_source(path):
        return read_images(path, what)
    if path.stat().st_size == 0:
        raise LaminaError(f"The {what} file {path} is empty (0 bytes). Give a table with a header and rows.")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    text = _decode_utf8(path)
    if suffix in JSON_LINES_SUFFIXES:
        return resolve_image_paths(_read_json_lines(path, text), path.parent, path)
    if suffix in TEXT_SUFFIXES or suffix == "":
        return resolve_image_paths(_read_delimited(path, text, TEXT_SUFFIXES.get(suffix)), path.parent, path)
    raise LaminaError(f"{path}: unknown table format {suffix!r}. Supported: {', '.join(SUPPORTED)}.")


def _decode_utf8(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise LaminaError(
            f"{path} holds binary data (NUL bytes), not a text table. "
            "Give a CSV, TSV or JSON Lines file, or a Parquet file with a .parquet suffix."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise LaminaError(
            f"{path}, line {line}: byte 0x{raw[error.start]:02x} is not UTF-8 text. "
            "Re-save the file as UTF-8 (for example: iconv -f latin1 -t utf-8 in.csv > out.csv)."
        ) from None


def _read_delimited(path: Path, text: str, separator: str | None) -> pd.DataFrame:
    first_line = text.split("\n", 1)[0]
    if separator is None:
        try:
            separator = csv.Sniffer().sniff(first_line, delimiters=",\t;|").delimiter
        except csv.Error:
            separator = ","
    header = next(csv.reader([first_line], delimiter=separator), [])
    _reject_duplicate_names([h.strip() for h in header], str(path))
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=separator,
            skipinitialspace=True,
            na_values=MISSING_MARKERS,
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise LaminaError(f"{path} has no header and no rows. Give a table with a header row.") from None
    except pd.errors.ParserError as error:
        raise LaminaError(
            f"{path} could not be parsed as a table: {error}. Check that every row has as many "
            "fields as the header and that quotes are closed."
        ) from None


def _read_json_lines(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_json(io.StringIO(text), lines=True)
    except ValueError as error:
        raise LaminaError(
            f"{path} is not valid JSON Lines (one JSON object per line): {error}."
        ) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for a broken file
        raise LaminaError(f"{path} is not a readable Parquet file: {error}") from None
    _reject_duplicate_names(table.column_names, str(path))
    return resolve_image_paths(table.to_pandas(), path.parent, path)


def _reject_duplicate_names(names: list[str], where: str) -> None:
    repeated = [name for name, count in Counter(names).items() if count > 1]
    if repeated:
        raise LaminaError(
            f"{where} has duplicate column names: {', '.join(map(repr, repeated))}. "
            "Rename them so every column has its own name."
        )
