"""Sentence pairs for translation: two text columns of a table, or two plain-text files aligned line by line
(line i of the source file translates to line i of the target file), and the rules for bad pairs.

- Files of different line counts are refused, naming both counts: a pair lost on one side shifts every later pair.
- A pair with an empty (or missing) side is dropped, counted and named by its line: nothing to learn from it.
- Text that is not UTF-8 is refused naming the file, the line and the `iconv` command that converts it.
- Very long pairs (beyond a percentile of subword lengths) are left out of training and said so (long_pairs).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.data.checks import Finding
from lamina.data.schema import PICTURE_KINDS, infer_column
from lamina.errors import LaminaError

MAX_NAMED = 5  # lines a finding or an error names before "..."
LONG_PERCENTILE = 99  # pairs longer (in subword tokens) than this percentile of training pairs are left out
MIN_PAIRS = 10  # fewer cannot fill a training, a validation and a test part
LINE_ENDS = ("\r\n", "\n", "\r")


def read_lines(path, what: str) -> list[str]:
    """The lines of a UTF-8 text file (a final line end does not make an empty last line). LaminaError when the
    file is missing, binary or not UTF-8 (naming the line and the iconv fix)."""
    path = Path(path)
    if not path.is_file():
        raise LaminaError(f"The {what} file {path} does not exist. Check the path and spelling.")
    raw = path.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise LaminaError(f"The {what} file {path} is UTF-16 text. Convert it to UTF-8: "
                          f"iconv -f utf-16 -t utf-8 {path} > {path}.utf8")
    if b"\x00" in raw[:65536]:
        raise LaminaError(f"The {what} file {path} holds binary data (NUL bytes), not lines of text.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        raise LaminaError(f"The {what} file {path}, line {line}: byte 0x{raw[error.start]:02x} is not UTF-8 text. "
                          f"Convert the file to UTF-8, e.g. if it is Latin-1: iconv -f latin1 -t utf-8 {path} > "
                          f"{path}.utf8") from None
    # Only \n, \r\n and \r end a line (as wc, paste and the other file's tools count them): str.splitlines would
    # also split at \u2028, \x0c, \x85... inside a sentence and silently shift every later pair.
    lines = re.split("|".join(map(re.escape, LINE_ENDS)), text)
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_pair_files(source_file, target_file, source: str = "source", target: str = "target") -> pd.DataFrame:
    """A table of two text columns (`source`, `target`) from two files aligned line by line; refused with both
    line counts when they differ. attrs["lines"] says rows are numbered by line (1 = the first)."""
    if source == target:
        raise LaminaError(f"The source and the target are both named {source!r}; give them two names "
                          "(--source and --target).")
    sources = read_lines(source_file, "source")
    targets = read_lines(target_file, "target")
    if len(sources) != len(targets):
        raise LaminaError(f"The source file {source_file} has {len(sources):,} lines and the target file "
                          f"{target_file} has {len(targets):,}: aligned files hold one sentence a line, line i of "
                          "one the translation of line i of the other. Find where a line was lost or split (e.g. "
                          "`paste` the two files and look for the first pair that does not match).")
    if not sources:
        raise LaminaError(f"The source file {source_file} and the target file {target_file} are empty.")
    frame = pd.DataFrame({source: sources, target: targets})
    frame.attrs["where"] = f"the files {source_file} and {target_file}"
    frame.attrs["first_line"] = 1
    return frame


def sentence_pairs(frame: pd.DataFrame, source: str | None, target: str | None, what: str) -> tuple[str, str]:
    """The names of the source and target columns of `frame`: as given, or for a table of exactly two columns
    (and a name left out) the other one. LaminaError naming the columns when they cannot be found."""
    columns = [str(c) for c in frame.columns]
    if source is None or target is None:
        rest = [c for c in columns if c not in (source, target)]
        if len(columns) == 2 and len(rest) == 2 - (source is not None) - (target is not None):
            source, target = (source, rest[0]) if source is not None else (rest[0], target) if target is not None \
                else (rest[0], rest[1])
        else:
            raise LaminaError(f"Name the two text columns of {what} to translate from and to: --source COLUMN "
                              f"--target COLUMN (its columns: {', '.join(columns[:10])}"
                              f"{' ...' if len(columns) > 10 else ''}).")
    for role, name in (("source", source), ("target", target)):
        if name not in columns:
            raise LaminaError(f"The {role} column {name!r} is not in {what}; its columns are "
                              f"{', '.join(columns[:10])}{' ...' if len(columns) > 10 else ''}.")
    if source == target:
        raise LaminaError(f"--source and --target both name the column {source!r}; give two columns.")
    for role, name in (("source", source), ("target", target)):
        kind = infer_column(frame[name]).kind
        if kind in PICTURE_KINDS:  # a folder of pictures or recordings read as a table: file paths, no sentences
            raise LaminaError(f"The {role} column {name!r} of {what} holds {kind} files, not sentences: translation "
                              "reads two columns of text. Pick another --task (classification, anomaly, generate, "
                              "transcribe), or name two text columns with --source and --target.")
    return source, target


def clean_pairs(frame: pd.DataFrame, source: str, target: str, what: str) -> tuple[pd.DataFrame, list[Finding]]:
    """The pairs whose two sides both hold text (as str, surrounding spaces stripped), and a warning naming the
    lines (or rows) dropped for an empty side. LaminaError when fewer than MIN_PAIRS remain."""
    texts = {side: frame[column].map(lambda v: v.strip() if isinstance(v, str) else
                                     "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
             for side, column in (("source", source), ("target", target))}
    empty = (texts["source"] == "") | (texts["target"] == "")
    findings = []
    if empty.any():
        first = frame.attrs.get("first_line", 2)  # a table's first row sits on line 2, below its header
        unit = "line" if "first_line" in frame.attrs else "row"
        lines = [str(i + first) for i in np.flatnonzero(empty.to_numpy())[:MAX_NAMED]]
        sides = [f"{int((texts[side] == '').sum()):,} with an empty {side}" for side in ("source", "target")
                 if (texts[side] == "").any()]
        findings.append(Finding("warning", "empty_pairs",
                                f"{int(empty.sum()):,} pair(s) of {what} have an empty side ({', '.join(sides)}) and "
                                f"were dropped: {unit}{'s' if len(lines) > 1 else ''} {', '.join(lines)}"
                                f"{' ...' if empty.sum() > MAX_NAMED else ''}."))
    kept = pd.DataFrame({source: texts["source"][~empty], target: texts["target"][~empty]}).reset_index(drop=True)
    if len(kept) < MIN_PAIRS:
        raise LaminaError(f"{len(kept)} pair(s) of {what} have text on both sides; at least {MIN_PAIRS} are needed to "
                          "train, validate and test. Add pairs.")
    return kept, findings


def long_pairs(source_lengths: np.ndarray, target_lengths: np.ndarray) -> tuple[np.ndarray, int, int, list[Finding]]:
    """Which training pairs to keep ([pairs] bool), the longest source and target kept (tokens), and a finding
    naming how many pairs beyond the LONG_PERCENTILE-th percentile of either side were left out of training."""
    longest_source = int(np.ceil(np.percentile(source_lengths, LONG_PERCENTILE)))
    longest_target = int(np.ceil(np.percentile(target_lengths, LONG_PERCENTILE)))
    kept = (source_lengths <= longest_source) & (target_lengths <= longest_target)
    findings = []
    if not kept.all():
        findings.append(Finding("info", "long_pairs",
                                f"{int((~kept).sum()):,} training pair(s) longer than the {LONG_PERCENTILE}th "
                                f"percentile ({longest_source} source or {longest_target} target subword tokens) "
                                "were left out of training; longer sentences are cut at that length when "
                                "translated."))
    return kept, longest_source, longest_target, findings
