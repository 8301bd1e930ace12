"""Read a table (CSV, TSV, Parquet, JSON Lines, Excel; gzip, bzip2, xz or zip compressed), an image folder, an
image array file or one picture or recording file (to predict from) into a DataFrame, or say clearly why not."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Collection
from os import PathLike
from pathlib import Path

import pandas as pd
from pandas._libs.parsers import STR_NA_VALUES

from lamina.data.formats import (
    COMPRESSED,
    EXCEL_SUFFIXES,
    FORMATS,
    JSON_LINES_SUFFIXES,
    PARQUET_SUFFIXES,
    SUPPORTED,
    TAB_SUFFIXES,
    TEXT_SUFFIXES,
)
from lamina.data.images import is_image_source, read_images, read_media_file, resolve_image_paths
from lamina.data.media import is_media_file
from lamina.errors import LaminaError, capitalised, headless_hint
from lamina.features.spelling import DECIMAL_COMMA

# Besides pandas' defaults ('', 'NA', 'null', ...), '?' marks a missing value in many public tables.
MISSING_MARKERS = ["?"]
# Every text a table's cell reads as missing, after surrounding spaces ('NA', 'null', 'nan', '?'...): pandas' default
# na_values with ours. A DataFrame's cells and a request's values spelt so are missing too (missing_if_spelt_so),
# so a prediction from a frame or the server equals `lamina predict`'s on a CSV holding the same text.
MISSING_SPELLINGS = frozenset(STR_NA_VALUES) | frozenset(MISSING_MARKERS)
SEPARATORS = ",;\t|"  # the separators a sniffed table may use (comma first: it wins a tie)
SNIFF_CHARACTERS = 65_536  # the start of a file the separator is sniffed from
OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}  # the COMPRESSED suffixes but .zip, an archive
# The most bytes a compressed table may expand to: 1 GiB. Tables compress 3-20 times, so a 50-300 MB compressed
# table fits, and reading 1 GiB of text already needs several GiB as a DataFrame; a decompression bomb (1000
# times and more: 3 MB of gzip holds 3 GB of zeros) stops here having used at most this much memory. A larger
# table can be given uncompressed (that is read as it is).
MAX_DECOMPRESSED_BYTES = 2**30
DECOMPRESS_CHUNK_BYTES = 2**20  # decompressed 1 MiB at a time, so the cap is checked before memory grows past it
ZERO_PADDED = r"[+-]?0\d+"  # a whole number written with a leading zero: 001, 010
LINE_END = re.compile(r"\r\n|\r|\n")  # the line ends pandas and csv (reading with newline="") both accept


def missing_if_spelt_so(value):
    """None for text spelt as a table's missing cell (MISSING_SPELLINGS after surrounding spaces, which no
    category or yes/no value keeps either: " ?" from a file written "41, ?", "? " from one written "?, 41"), else the
    value as given: the reading of a request's value."""
    return None if isinstance(value, str) and value.strip(" ") in MISSING_SPELLINGS else value


def read_table(source, what: str = "data", text_columns: Collection[str] = (), unlabelled: bool = False) -> pd.DataFrame:
    """A DataFrame from a path or a DataFrame; `what` names the role in error messages. A DataFrame's rows are
    numbered 0..n-1 here, whatever its index, so every message counts rows by position as it does in a file.
    `text_columns`: columns a delimited text file (CSV, TSV...) gives as the text of each cell (a missing cell
    missing), where its type would otherwise be guessed from this file's values alone: the columns a model reads
    as text (Schema.text_columns), so a category code 1.50 in a file of one row stays "1.50", not 1.5. Other
    formats keep the types they store; a name the file lacks is ignored. `unlabelled`: a folder of pictures or
    recordings without class subfolders, or one such file, is read too, without labels (data to predict from, as
    a model reads it); without it one such file is refused, naming what to give instead.
    Text cells spelt as missing (MISSING_SPELLINGS, after surrounding spaces) are missing values, in a DataFrame
    as in a file: pandas' read_csv keeps UCI Adult's "?" as text in a DataFrame a user read, and "? " (a space
    before the next comma) in any file, and a model would otherwise read it as an unknown category where the same
    cell spelt "?" is missing. Its column names are text without leading spaces, as a CSV header's are (pandas keeps " workclass"
    from a file written "age, workclass")."""
    if isinstance(source, pd.DataFrame):
        frame = _missing_spellings_as_missing(source.reset_index(drop=True))  # a copy: the caller's is never changed
        # names as text before the duplicate check: 5 and "5" are one column name in a file
        frame.columns = [str(c).lstrip(" ") for c in frame.columns]
        where = source_name(source, what)
        _reject_duplicate_names(list(frame.columns), where)
    elif isinstance(source, (str, PathLike)):
        frame = _missing_spellings_as_missing(_read_path(Path(source), what, frozenset(text_columns), unlabelled))
        where = source_name(source, what)
    else:  # e.g. a record as the server takes it: a dict of column → value, or a list of them
        raise LaminaError(
            f"The {what} is a {type(source).__name__}: give a path (a table file, a folder of pictures or recordings, "
            "one such file) or a pandas DataFrame. Records as a server takes them become one: "
            "pd.DataFrame([{...}, ...])."
        )
    if len(frame.columns) == 0:
        raise LaminaError(f"{capitalised(where)} has no columns. Give a table with a header row and data rows.")
    if _lines_of_prose(source, frame):
        raise LaminaError(
            f"{capitalised(where)} holds lines of text, not a table: its first line "
            f"({', '.join(map(str, frame.columns))[:60]!r}) reads as a sentence, where a table's first line names its "
            "columns. Give a table: a header row naming "
            "the columns, separated by commas or tabs, then a row per example (a .csv or .tsv file). A translation "
            "model reads a .txt of one sentence a line (lamina predict RUN sentences.txt)."
        )
    if len(frame) == 0:
        raise LaminaError(
            f"{capitalised(where)} has a header ({', '.join(map(str, frame.columns[:5]))}) but no data "
            "rows. Add rows below the header."
        )
    frame.columns = [str(c) for c in frame.columns]
    return frame


def source_name(source, what: str) -> str:
    """How messages name a table read as `what` ("test data"...) from `source`: "the test data file t.csv" (or
    folder) for a path, "the test data (a DataFrame)" for anything else."""
    if isinstance(source, (str, PathLike)):
        return f"the {what} {'folder' if Path(source).is_dir() else 'file'} {source}"
    return f"the {what} (a DataFrame)"


def _missing_spellings_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (changed in place and returned) with each text cell whose text, after surrounding spaces, is a missing
    spelling ("?", "NA", "null"...: MISSING_SPELLINGS) made a missing value; numbers and other cells are kept."""
    for position in range(frame.shape[1]):  # by position: duplicate names are refused after, naming them
        values = frame.iloc[:, position]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)
                or isinstance(values.dtype, pd.CategoricalDtype)):
            continue
        try:
            spelt = values.str.strip(" ").isin(MISSING_SPELLINGS).to_numpy(dtype=bool, na_value=False)
        except (AttributeError, TypeError):  # no text (lists, objects; bytes, as pd.read_sas gives): none spelt missing
            continue
        if spelt.any():
            frame.isetitem(position, values.mask(spelt))
    return frame


def _lines_of_prose(source, frame: pd.DataFrame) -> bool:
    """Whether a .txt file read as a table is lines of text: its first line, the header, reads as a sentence
    rather than column names (words with spaces between, as one column or split at commas, ending with . ! or ?)."""
    if isinstance(source, pd.DataFrame) or Path(source).suffix.lower() != ".txt":
        return False
    names = [str(c).strip() for c in frame.columns]
    worded = all(" " in name for name in names)
    return worded and (len(names) == 1 or names[-1].endswith((".", "!", "?")))


def leading_zero_codes(strings: pd.Series) -> bool:
    """Whether text values include whole numbers written with a leading zero (001, 010): codes such as
    identifiers or postcodes, whose zeros a number would lose."""
    return bool(strings.astype(str).str.strip().str.fullmatch(ZERO_PADDED).any())


def _read_path(path: Path, what: str, text_columns: frozenset[str], unlabelled: bool) -> pd.DataFrame:
    if not path.exists():
        looked = "" if path.is_absolute() else f" (looked for {path.resolve()})"
        raise LaminaError(f"The {what} {path} does not exist{looked}: no file or folder has that name. Give a table "
                          f"file ({' '.join(SUPPORTED)}) or a folder of pictures or recordings (a subfolder per class). "
                          "Check the path and spelling.")
    if is_media_file(path):  # one picture or recording: a table of one row to predict from
        return read_media_file(path, what, unlabelled)
    if is_image_source(path):
        return read_images(path, what, unlabelled)
    if path.stat().st_size == 0:
        raise LaminaError(f"The {what} file {path} is empty (0 bytes). Give a table with a header and rows.")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return resolve_image_paths(_read_excel(path), path.parent, path)
    if suffix == ".xls":
        raise LaminaError(f"{path} is an old-style Excel workbook (.xls). Save it as .xlsx or CSV and give that file.")
    raw, suffix = _decompressed(path) if suffix in COMPRESSED else (path.read_bytes(), suffix)
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path, raw)
    text = _decode_utf8(path, raw)
    if suffix in JSON_LINES_SUFFIXES:
        return resolve_image_paths(_read_json_lines(path, text), path.parent, path)
    if suffix in TEXT_SUFFIXES or suffix == "":
        return resolve_image_paths(_read_delimited(path, text, suffix, text_columns), path.parent, path)
    raise LaminaError(f"{path}: unknown table format {suffix!r}. Supported: {FORMATS}.")


def _decompressed(path: Path) -> tuple[bytearray, str]:
    """The bytes inside a compressed file, at most MAX_DECOMPRESSED_BYTES, and the suffix of the table they hold
    (t.csv.gz → .csv)."""
    try:
        if path.suffix.lower() != ".zip":
            with OPENERS[path.suffix.lower()](path, "rb") as stream:
                return _capped(path, stream), Path(path.stem).suffix.lower()
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/") and not m.startswith("__MACOSX/")]
            if len(members) != 1:
                raise LaminaError(f"{path} holds {len(members)} files; a zipped table holds exactly one. "
                                  "Unzip it and give the table file.")
            with archive.open(members[0]) as stream:
                return _capped(path, stream), Path(members[0]).suffix.lower()
    # zipfile raises NotImplementedError for a compression method it lacks, RuntimeError for an encrypted member.
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError) as error:
        raise LaminaError(f"{path} could not be decompressed: {error}. Check the file is complete, or "
                          "decompress it yourself and give the table file.") from None


def _capped(path: Path, stream) -> bytearray:
    """All of a decompressing stream, read a chunk at a time; a LaminaError once it passes the cap."""
    data = bytearray()
    while chunk := stream.read(DECOMPRESS_CHUNK_BYTES):
        data += chunk
        if len(data) > MAX_DECOMPRESSED_BYTES:
            raise LaminaError(
                f"{path} expands to more than {MAX_DECOMPRESSED_BYTES / 2**20:,.0f} MiB when decompressed, the "
                "limit for a compressed table (it guards against decompression bombs). If the table really is "
                "this large, decompress it yourself and give the uncompressed file."
            )
    return data


def _decode_utf8(path: Path, raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # the byte-order mark of UTF-16 (Excel's "Unicode Text")
        raise LaminaError(f"{path} is UTF-16 text. Re-save it as UTF-8 (for example: iconv -f utf-16 -t utf-8 "
                          "in.txt > out.csv).")
    if b"\x00" in raw[:65536]:
        raise LaminaError(
            f"{path} holds binary data (NUL bytes), not a text table. "
            "Give a CSV, TSV or JSON Lines file, or a Parquet file with a .parquet suffix."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = len(LINE_END.findall(raw[: error.start].decode("latin-1"))) + 1
        raise LaminaError(
            f"{path}, line {line}: byte 0x{raw[error.start]:02x} is not UTF-8 text. "
            "Re-save the file as UTF-8 (for example: iconv -f latin1 -t utf-8 in.csv > out.csv)."
        ) from None


def _read_delimited(path: Path, text: str, suffix: str, text_columns: frozenset[str]) -> pd.DataFrame:
    separator = "\t" if suffix in TAB_SUFFIXES else _sniffed_separator(text)
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text)))  # a long text field is no error (csv's own limit is 128 KiB)
    try:
        header = next(_csv_rows(text, delimiter=separator), [])
        _reject_duplicate_names([h.strip() for h in header], str(path))
        quoting, records = _quoting_and_records(path, text, separator)
    finally:
        csv.field_size_limit(limit)
    options = {"sep": separator, "skipinitialspace": True, "na_values": MISSING_MARKERS, "quoting": quoting}
    try:
        frame = pd.read_csv(io.StringIO(text), low_memory=False, dtype=dict.fromkeys(text_columns, str), **options)
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
    return _with_decimal_commas(_with_codes_as_text(frame, text, options), separator, text_columns)


def _csv_rows(text: str, **options):
    r"""csv's reader over text, with the line ends pandas reads (\n, \r\n and an old Mac's \r; newline="" is how
    the csv module asks to be given them) and a line end inside a quoted field kept as it is."""
    return csv.reader(io.StringIO(text, newline=""), **options)


def _sniffed_separator(text: str) -> str:
    """The separator of a text table (comma, semicolon, tab or bar), judged by csv.Sniffer from its first
    lines; a comma when it cannot tell (a table of one column)."""
    sample = LINE_END.sub("\n", text[:SNIFF_CHARACTERS])  # the Sniffer splits lines at \n only
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
    reader = _csv_rows(text, delimiter=separator, skipinitialspace=True, strict=True)
    lines = LINE_END.split(text)
    try:
        for row in reader:
            records += _holds_fields(row, lines[reader.line_num - 1])
            start = reader.line_num + 1
    except csv.Error as error:
        if separator == "\t":
            plain = _csv_rows(text, delimiter=separator, quoting=csv.QUOTE_NONE)
            return csv.QUOTE_NONE, sum(map(_holds_fields, plain))
        raise LaminaError(
            f"{path}, line {start}: a quoted field opened on this line is not closed where a field ends ({error}, "
            f"line {reader.line_num}); reading on would merge the lines between into one value. Close the quote, "
            'double a quote inside a quoted field (""), or remove the stray quote.'
        ) from None
    return csv.QUOTE_MINIMAL, records


def _holds_fields(row: list[str], line: str = "") -> bool:
    """Whether a line read by csv is a row to pandas: it skips blank lines and lines of spaces, not lines of empty
    fields, nor a one-column file's quoted empty field (`""`, as pandas' to_csv writes a missing text value), which
    `line`, the record's last physical line, shows where csv's `row` cannot (both are [''])."""
    return len(row) > 1 or bool(row and (row[0].strip() or '"' in line))


def _with_codes_as_text(frame: pd.DataFrame, text: str, options: dict) -> pd.DataFrame:
    """Columns read as numbers that are written with leading zeros (001, 002, 010) read again as text: codes."""
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    field_start = r' *"?[+-]?0\d'  # the start of a field written with a leading zero (a quote or spaces before)
    # Each pattern starts with a literal (the separator, or a line end: the header is line 1), which re scans for fast.
    leads = (options["sep"], "\n", "\r")
    if not numeric or not any(re.search(re.escape(lead) + field_start, text) for lead in leads):
        return frame  # no field starts with a leading zero: nothing to read again
    as_text = pd.read_csv(io.StringIO(text), usecols=numeric, dtype=str, **options)
    for column in numeric:
        if leading_zero_codes(as_text[column].dropna()):
            frame[column] = as_text[column].str.strip()
    return frame


def _with_decimal_commas(frame: pd.DataFrame, separator: str, text_columns: frozenset[str]) -> pd.DataFrame:
    """In a table not separated by commas, text columns (but `text_columns`) whose every value is a number written
    with a decimal comma (-1,21: the usual export of a spreadsheet set to a European language) read as numbers.
    Any other value in a column (a word, 1.234,5, 1,2,3) keeps the whole column as it was read."""
    if separator == ",":
        return frame
    for column in [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c]) and c not in text_columns]:
        values = frame[column].dropna().str.strip()
        numbers = values.str.contains(",", regex=False).any() and values.str.fullmatch(DECIMAL_COMMA).all()
        if numbers and not leading_zero_codes(values):  # 001 beside 1,5: codes, kept as written
            frame[column] = pd.to_numeric(frame[column].str.strip().str.replace(",", ".", regex=False))
    return frame


def _read_excel(path: Path) -> pd.DataFrame:
    """The first sheet of a workbook that holds a table (a header row and data rows below it), its first row
    the header; a warning names that sheet when sheets before it hold none (a "Notes" or cover sheet)."""
    try:
        import openpyxl  # noqa: F401  (pandas' engine for .xlsx; an extra, as most tables come as text)
    except ImportError:
        raise LaminaError(f"{path} is an Excel workbook; reading it needs openpyxl: pip install 'lamina[excel]' "
                          "(or save the sheet as CSV).") from None
    try:
        with pd.ExcelFile(path, engine="openpyxl") as workbook:
            names = workbook.sheet_names
            # Cells as openpyxl reads them (object), then typed: a text cell "001" stays text, as the sheet shows it.
            sheets = ((name, pd.read_excel(workbook, sheet_name=name, na_values=MISSING_MARKERS, dtype=object))
                      for name in names)
            found = next(((name, frame) for name, frame in sheets if len(frame.columns) and len(frame)), None)
    except Exception as error:  # openpyxl raises several types for a broken workbook
        raise LaminaError(f"{path} is not a readable Excel workbook: {error}") from None
    if found is None:
        raise LaminaError(f"{path} holds no table: none of its sheets ({', '.join(map(repr, names))}) has a header "
                          "row with data rows below it. Put the table on a sheet, its header in the first row.")
    name, frame = found
    if name != names[0]:
        skipped = names[: names.index(name)]
        warnings.warn(f"{path}: read the sheet {name!r}, the first that holds a table (not "
                      f"{', '.join(map(repr, skipped))}).", stacklevel=1)
    return frame.infer_objects()


def _read_json_lines(path: Path, text: str) -> pd.DataFrame:
    """JSON Lines: one object a line, its keys the columns, its values numbers, text, true/false or null."""
    records = []
    example = 'e.g. {"x": 1.5, "colour": "red", "y": 0}'
    for number, line in enumerate(LINE_END.split(text), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_unique_keys)
        except (ValueError, RecursionError) as error:  # JSONDecodeError, a too-long integer, too deep a nesting
            raise LaminaError(f"{path}, line {number} is not valid JSON ({error}). JSON Lines hold one JSON "
                              f"object per line, {example}.") from None
        except KeyError as error:
            raise LaminaError(f"{path}, line {number} gives the key {error.args[0]!r} twice. Keep one: each key "
                              "is a column.") from None
        if not isinstance(record, dict):
            raise LaminaError(
                f"{path}, line {number} holds a JSON {_json_kind(record)} ({_shortened(line)}), not an object. "
                f"JSON Lines hold one object per line, its keys the column names, {example}. (A file holding "
                "one JSON array of objects converts with: jq -c '.[]' in.json > out.jsonl)"
            )
        for key, value in record.items():
            if isinstance(value, (dict, list)):
                raise LaminaError(
                    f"{path}, line {number}, column {key!r}: a nested {_json_kind(value)} "
                    f"({_shortened(json.dumps(value))}) where a column takes one value (a number, text, true/false "
                    "or null). Give each inner value a column of its own (pandas.json_normalize or jq flatten "
                    "it) or write it as text."
                )
        records.append(record)
    return pd.DataFrame.from_records(records)


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """json's object hook that refuses a key given twice (json.loads would keep the last value, losing one)."""
    repeated = [key for key, count in Counter(key for key, _ in pairs).items() if count > 1]
    if repeated:
        raise KeyError(repeated[0])
    return dict(pairs)


def _json_kind(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "true/false", int: "number", float: "number"}.get(
        type(value), "null")


def _shortened(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


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
            f"{where.replace('the ', 'The ', 1) if where.startswith('the ') else where} has duplicate column names: "
            f"{', '.join(map(repr, repeated))}. "
            f"Rename them so every column has its own name.{headless_hint(names)}"
        )
