"""Read a table (CSV, TSV, Parquet, JSON Lines, Excel; gzip, bzip2, xz or zip compressed), an image folder or
an image array file into a DataFrame, or say clearly why not."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import re
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd

from lamina.data.images import is_image_source, read_images, resolve_image_paths
from lamina.errors import LaminaError

# Besides pandas' defaults ('', 'NA', 'null', ...), '?' marks a missing value in many public tables.
MISSING_MARKERS = ["?"]
TEXT_SUFFIXES = {".csv", ".tsv", ".tab", ".txt"}
TAB_SUFFIXES = {".tsv", ".tab"}  # tab-separated by name; other text tables have their separator sniffed
SEPARATORS = ",;\t|"  # the separators a sniffed table may use (comma first: it wins a tie)
SNIFF_CHARACTERS = 65_536  # the start of a file the separator is sniffed from
PARQUET_SUFFIXES = {".parquet", ".pq"}
JSON_LINES_SUFFIXES = {".jsonl", ".ndjson", ".json"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}  # read by openpyxl (the `excel` extra)
COMPRESSED = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress, ".zip": None}
SUPPORTED = sorted([*TEXT_SUFFIXES, *PARQUET_SUFFIXES, *JSON_LINES_SUFFIXES, *EXCEL_SUFFIXES])
ZERO_PADDED = r"[+-]?0\d+"  # a whole number written with a leading zero: 001, 010


def read_table(source, what: str = "data") -> pd.DataFrame:
    """A DataFrame from a path or a DataFrame; `what` names the role in error messages. A DataFrame's rows are
    numbered 0..n-1 here, whatever its index, so every message counts rows by position as it does in a file."""
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True)  # a copy: the caller's frame is never changed
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


def leading_zero_codes(strings: pd.Series) -> bool:
    """Whether text values include whole numbers written with a leading zero (001, 010): codes such as
    identifiers or postcodes, whose zeros a number would lose."""
    return bool(strings.astype(str).str.strip().str.fullmatch(ZERO_PADDED).any())


def _read_path(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise LaminaError(f"The {what} file {path} does not exist. Check the path and spelling.")
    if is_image_source(path):
        return read_images(path, what)
    if path.stat().st_size == 0:
        raise LaminaError(f"The {what} file {path} is empty (0 bytes). Give a table with a header and rows.")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return resolve_image_paths(_read_excel(path), path.parent, path)
    if suffix == ".xls":
        raise LaminaError(f"{path} is an old-style Excel workbook (.xls). Save it as .xlsx or CSV and give that file.")
    raw = path.read_bytes()
    if suffix in COMPRESSED:
        raw, suffix = _decompressed(path, raw)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, raw)
    text = _decode_utf8(path, raw)
    if suffix in JSON_LINES_SUFFIXES:
        return resolve_image_paths(_read_json_lines(path, text), path.parent, path)
    if suffix in TEXT_SUFFIXES or suffix == "":
        return resolve_image_paths(_read_delimited(path, text, suffix), path.parent, path)
    raise LaminaError(f"{path}: unknown table format {suffix!r}. Supported: {', '.join(SUPPORTED)}, each also "
                      f"compressed ({', '.join(COMPRESSED)}).")


def _decompressed(path: Path, raw: bytes) -> tuple[bytes, str]:
    """The bytes inside a compressed file and the suffix of the table they hold (t.csv.gz → .csv)."""
    inner = Path(path.stem)
    try:
        if path.suffix.lower() != ".zip":
            return COMPRESSED[path.suffix.lower()](raw), inner.suffix.lower()
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/") and not m.startswith("__MACOSX/")]
            if len(members) != 1:
                raise LaminaError(f"{path} holds {len(members)} files; a zipped table holds exactly one. "
                                  "Unzip it and give the table file.")
            return archive.read(members[0]), Path(members[0]).suffix.lower()
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as error:
        raise LaminaError(f"{path} could not be decompressed: {error}. Check the file is complete.") from None


def _decode_utf8(path: Path, raw: bytes) -> str:
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


def _read_delimited(path: Path, text: str, suffix: str) -> pd.DataFrame:
    separator = "\t" if suffix in TAB_SUFFIXES else _sniffed_separator(text)
    header = next(csv.reader([text.split("\n", 1)[0]], delimiter=separator), [])
    _reject_duplicate_names([h.strip() for h in header], str(path))
    quoting, records = _quoting_and_records(path, text, separator)
    options = {"sep": separator, "skipinitialspace": True, "na_values": MISSING_MARKERS, "quoting": quoting}
    try:
        frame = pd.read_csv(io.StringIO(text), low_memory=False, **options)
    except pd.errors.EmptyDataError:
        raise LaminaError(f"{path} has no header and no rows. Give a table with a header row.") from None
    except pd.errors.ParserError as error:
        raise LaminaError(
            f"{path} could not be parsed as a table: {error}. Check that every row has as many "
            "fields as the header and that quotes are closed."
        ) from None
    if len(frame) != records - 1:  # never lose or merge a row without saying so
        raise LaminaError(f"{path} has {records - 1} data lines but {len(frame)} rows were read from it. Check "
                          "its quotes and line ends, or save it again from a spreadsheet.")
    return _with_codes_as_text(frame, text, options)


def _sniffed_separator(text: str) -> str:
    """The separator of a text table (comma, semicolon, tab or bar), judged by csv.Sniffer from its first
    lines; a comma when it cannot tell (a table of one column)."""
    sample = text[:SNIFF_CHARACTERS]
    sample = sample[: sample.rfind("\n") + 1] or sample  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:
        return ","


def _quoting_and_records(path: Path, text: str, separator: str) -> tuple[int, int]:
    """How pandas must treat quotes, and the number of records (header included) a strict reading finds.

    A quote that opens a field and is not closed at a field's end would make the parser read the lines after
    it as one value (their rows and labels lost). A tab-separated file has no quoting (IANA's TSV), so there
    quotes are read as characters; in another file it is an error naming the line where the field opened."""
    records, start = 0, 1
    reader = csv.reader(io.StringIO(text), delimiter=separator, skipinitialspace=True, strict=True)
    try:
        for row in reader:
            records += _holds_fields(row)
            start = reader.line_num + 1
    except csv.Error as error:
        if separator == "\t":
            plain = csv.reader(io.StringIO(text), delimiter=separator, quoting=csv.QUOTE_NONE)
            return csv.QUOTE_NONE, sum(map(_holds_fields, plain))
        raise LaminaError(
            f"{path}, line {start}: a quoted field opened on this line is not closed where a field ends ({error}, "
            f"line {reader.line_num}); reading on would merge the lines between into one value. Close the quote, "
            'double a quote inside a quoted field (""), or remove the stray quote.'
        ) from None
    return csv.QUOTE_MINIMAL, records


def _holds_fields(row: list[str]) -> bool:
    """Whether a line read by csv is a row to pandas (it skips blank lines, not lines of empty fields)."""
    return len(row) > 1 or bool(row and row[0].strip())


def _with_codes_as_text(frame: pd.DataFrame, text: str, options: dict) -> pd.DataFrame:
    """Columns read as numbers that are written with leading zeros (001, 002, 010) read again as text: codes."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    field_start = r' *"?[+-]?0\d'  # the start of a field written with a leading zero (a quote or spaces before)
    # Each pattern starts with a literal (the separator, or a line end: the header is line 1), which re scans for fast.
    if not numeric or not any(re.search(re.escape(lead) + field_start, text) for lead in (options["sep"], "\n")):
        return frame  # no field starts with a leading zero: nothing to read again
    as_text = pd.read_csv(io.StringIO(text), usecols=numeric, dtype=str, **options)
    for column in numeric:
        if leading_zero_codes(as_text[column].dropna()):
            frame[column] = as_text[column].str.strip()
    return frame


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of a workbook, its first row the header."""
    try:
        import openpyxl  # noqa: F401  (pandas' engine for .xlsx; an extra, as most tables come as text)
    except ImportError:
        raise LaminaError(f"{path} is an Excel workbook; reading it needs openpyxl: pip install 'lamina[excel]' "
                          "(or save the sheet as CSV).") from None
    try:
        # Cells as openpyxl reads them (object), then typed: a text cell "001" stays text, as the sheet shows it.
        frame = pd.read_excel(path, sheet_name=0, engine="openpyxl", na_values=MISSING_MARKERS, dtype=object)
    except Exception as error:  # openpyxl raises several types for a broken workbook
        raise LaminaError(f"{path} is not a readable Excel workbook: {error}") from None
    return frame.infer_objects()


def _read_json_lines(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_json(io.StringIO(text), lines=True)
    except ValueError as error:
        raise LaminaError(
            f"{path} is not valid JSON Lines (one JSON object per line): {error}."
        ) from None


def _read_parquet(path: Path, raw: bytes) -> pd.DataFrame:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pq.read_table(pa.BufferReader(raw))
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
