"""Which kind of media file a path names: a picture, a recording, or neither.

A known suffix decides at once; any other file is opened, header only, by the library that will read it
(Pillow for pictures, soundfile for recordings), so `.jfif`, `.jpe`, `.mp3` or a file without a suffix is
recognised by what it holds rather than dropped as an identifier column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"}
IMAGE, AUDIO = "image", "audio"
SNIFF_VALUES = 200  # values of a column looked at to decide whether it names media files
MEDIA_SHARE = 0.9  # share of those that must be files of the kind


def media_kind(value: str, root: Path | None = None) -> str | None:
    """IMAGE, AUDIO or None for a path, relative to `root` (a table's folder) when given. Without a root only an
    absolute path is opened: a table's relative paths are judged (and kept inside its folder) against the
    table's folder, never against wherever lamina happens to run."""
    suffix = Path(value).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return IMAGE
    if suffix in AUDIO_SUFFIXES:
        return AUDIO
    try:
        path = Path(value) if root is None else root / value
        if not (path.is_absolute() and path.is_file()):
            return None
    except (OSError, ValueError):  # text that is no path: too long, a NUL byte
        return None
    return _kind_by_content(path)


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
