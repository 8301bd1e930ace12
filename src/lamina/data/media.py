"""Which kind of media file a path names: a picture, a recording, or neither.

A known suffix decides at once; any other file is opened, header only, by the library that will read it
(Pillow for pictures, soundfile for recordings), so `.jfif`, `.jpe`, `.mp3` or a file without a suffix is
recognised by what it holds rather than dropped as an identifier column.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.errors import LaminaError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"}
IMAGE, AUDIO = "image", "audio"
NAMED_UNREADABLE = 10  # unreadable files an error names before counting the rest
SNIFF_VALUES = 200  # values of a column looked at to decide whether it names media files
MEDIA_SHARE = 0.9  # share of those that must be files of the kind
# What a library's message says for the object it read from: "Error opening <_io.BytesIO object at 0x7f...>"
OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
SPECIAL_FILES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                 (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


class NotARegularFile(ValueError):
    """A path naming a pipe, socket, device or folder: opening one could block forever (a FIFO nobody writes
    to) or read without end (/dev/zero), so it is refused from its metadata, never opened."""


def special_file(path: str | os.PathLike) -> str | None:
    """What `path` (links followed) is when it is no regular file ("a named pipe (FIFO)", "a socket", "a device",
    "a folder"), else None. Reads metadata only; raises FileNotFoundError (an OSError) for a missing path."""
    mode = os.stat(path).st_mode
    return None if stat.S_ISREG(mode) else next((name for test, name in SPECIAL_FILES if test(mode)),
                                                "not a regular file")


def require_regular_file(value) -> None:
    """Raises NotARegularFile when `value` is a path of anything but a regular file; bytes pass."""
    if isinstance(value, (str, os.PathLike)):
        kind = special_file(value)
        if kind:
            raise NotARegularFile(f"{kind}, not a file lamina reads")


def library_message(error: Exception) -> str:
    """A reading library's error as text for a person: libsndfile's own sentence without soundfile's
    "Error opening <object>: " prefix, and any object repr (<_io.BytesIO object at 0x...>) said as "the file"."""
    text = getattr(error, "error_string", None) or str(error)
    return OBJECT_REPR.sub("the file", text).strip() or type(error).__name__


def refuse_unreadable(column: str, problems: list[tuple[str, str]], noun: str, failing: str = "cannot be read") -> None:
    """One LaminaError naming every value of `column` a model needs but cannot read, when there is any: each
    `(where, why)` problem (where: the file's path, or the record of a request), the first NAMED_UNREADABLE of
    them and a count of the rest, and the fix. Collected over a whole input rather than stopping at the first, so
    one run names everything to replace; refused rather than skipped, as a row cannot be predicted without its
    file and must not silently vanish from the predictions. `noun`: "picture", "recording"; `failing`: what is
    wrong with them ("cannot be read", "cannot be used whole")."""
    if not problems:
        return
    raise LaminaError(
        f"Column {column!r}: {len(problems)} {noun}(s) {failing}, so no prediction can be made for them: "
        f"{named_problems(problems)}. Replace each with a readable file or remove it (its row from a table), then "
        "run again."
    )


def refuse_each(problems: list[tuple[str, str]]) -> None:
    """One LaminaError naming each `(where, why)` problem (named_problems), when there is any: a request's values,
    whose `where` (its record and field) says all, with no column, table or row to name as refuse_unreadable does."""
    if problems:
        raise LaminaError(named_problems(problems) + ".")


def named_problems(problems: list[tuple[str, str]]) -> str:
    """'where: why; where: why; and 3 more': the first NAMED_UNREADABLE `(where, why)` problems and a count of
    the rest, as refuse_unreadable names them (and a training finding naming the files it left out)."""
    named = "; ".join(f"{where}: {why.rstrip('.')}" for where, why in problems[:NAMED_UNREADABLE])
    return named + (f"; and {len(problems) - NAMED_UNREADABLE} more" if len(problems) > NAMED_UNREADABLE else "")


def media_kind(value: str, root: Path | None = None) -> str | None:
    """IMAGE, AUDIO or None for a path, relative to `root` (a table's folder) when given. Without a root only an
    absolute path is opened: a table's relative paths are judged (and kept inside its folder) against the
    table's folder, never against wherever lamina happens to run."""
    kind = kind_by_suffix(value)
    if kind:
        return kind
    try:
        path = Path(value) if root is None else root / value
        if not (path.is_absolute() and path.is_file()):
            return None
    except (OSError, ValueError):  # text that is no path: too long, a NUL byte
        return None
    return _kind_by_content(path)


def kind_by_suffix(value: str | os.PathLike) -> str | None:
    """IMAGE or AUDIO when the path's suffix is a picture or recording format lamina reads, else None."""
    suffix = Path(value).suffix.lower()
    return IMAGE if suffix in IMAGE_SUFFIXES else AUDIO if suffix in AUDIO_SUFFIXES else None


def is_media_file(data) -> bool:
    """Whether `data` (a path) names one existing picture or recording file, by its suffix, rather than a table."""
    return isinstance(data, (str, os.PathLike)) and kind_by_suffix(data) is not None and Path(data).is_file()


def _kind_by_content(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return IMAGE
    except Image.DecompressionBombError:  # a picture, too large to read: refused later, and named
        return IMAGE
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        pass
    try:
        import soundfile

        soundfile.info(str(path))
        return AUDIO
    except Exception:  # soundfile's own LibsndfileError, or RuntimeError, for what it cannot read
        return None


def looks_like_media_paths(series: pd.Series, kind: str, root: Path | None = None) -> bool:
    """Whether a column's values are (nearly all) paths of `kind` files."""
    values = series.dropna()
    sample = values.iloc[:SNIFF_VALUES]
    if len(values) == 0 or not all(isinstance(v, str) for v in sample):
        return False
    return bool(np.mean([media_kind(v, root) == kind for v in sample]) >= MEDIA_SHARE)
