"""Image data in: class folders, idx/.npz/.npy arrays, and CSV columns of image paths.

Every source becomes a table with an image column, so the rest of the flow (schema, checks, split,
encoders) treats images like any other column. The column holds absolute file paths, or, for array
files, one uint8 array per row (height × width, or height × width × channels), or, for a server request,
the bytes of each file sent.
"""

from __future__ import annotations

import gzip
import io
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.data.inline import bytes_from_base64, is_missing
from lamina.data.media import (
    AUDIO,
    IMAGE,
    NotARegularFile,
    library_message,
    looks_like_media_paths,
    media_kind,
    require_regular_file,
    special_file,
)
from lamina.errors import LaminaError

IMAGE_COLUMN, LABEL_COLUMN = "image", "label"
TEST_DATA = "test data"  # what read_table names a test set (--test): one file is refused as a test set, not as training
# attrs key of a table read from a picture or recording source (a folder, one file, an array file): the column
# holding the pictures or recordings, which a model trained on a table under another column name reads under its
# own (Model.read); its `label` column is the class folders' (or array's), never one a user named
MEDIA_COLUMN_ATTR = "media_column"
MIN_SIDE = 4  # pixels; a smaller image carries too little to learn from (and breaks pooling)
# Unreadable files are skipped and listed while they are few; beyond this share of the rows the data
# itself is suspect and the run stops.
MAX_BAD_SHARE = 0.05
DECODE_THREADS = 8  # Pillow releases the GIL while decoding, so threads overlap file reads and decoding
SNIFF_FILES = 200  # files of a folder whose kind (picture or recording) names its column
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# Decompression bombs: 23 KB of PNG can promise 12000×12000 pixels (0.85 GB decoded). A picture's header is
# read first and one above the limit is refused before a pixel is decoded. The limit grows with the side the
# model reads (a picture PIXEL_LIMIT_SCALE times wider than that holds nothing more it can use), never falls
# below a 24-megapixel camera photo, and never rises above Pillow's own bomb warning (0.36 GB as RGBA).
MIN_PIXEL_LIMIT = 24_000_000  # pixels (6000×4000); every automatic side (at most 64) gets exactly this
PIXEL_LIMIT_SCALE = 64  # linear factor between the model's side and the widest picture it takes
MAX_PIXEL_LIMIT = 89_478_485  # pixels: Pillow's Image.MAX_IMAGE_PIXELS default
REQUEST_PIXELS = 100_000_000  # pixels that the pictures sent in one request may hold together (0.3 GB as RGB)
# Files operating systems and notebooks leave in folders: never pictures, never classes. Names starting with
# "." (.DS_Store, ._photo.jpg from macOS, .ipynb_checkpoints/) are hidden files and folders, ignored too.
CLUTTER = {"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "$recycle.bin", "system volume information"}
NAMED_IGNORED = 5  # ignored files a note names before "..."
NAMED_SHARED = 5  # files under two classes an error names before "..."


def pixel_limit(side: int | str) -> int:
    """The most pixels (width × height) a picture may have for a model that reads side × side pictures
    ("auto": the run picks a side of at most 64, whose limit is MIN_PIXEL_LIMIT)."""
    if side == "auto":
        return MIN_PIXEL_LIMIT
    return int(min(MAX_PIXEL_LIMIT, max(MIN_PIXEL_LIMIT, (PIXEL_LIMIT_SCALE * int(side)) ** 2)))


def is_image_source(path: Path) -> bool:
    """A folder (class subfolders or idx files) or an array file, rather than a table."""
    from lamina.data.formats import SUPPORTED

    name = path.name.lower()
    if Path(name.removesuffix(".gz")).suffix in SUPPORTED:
        return False  # a compressed table (my_idx.csv.gz), whatever its name holds
    return path.is_dir() or name.endswith((".npz", ".npy")) or ("idx" in name and name.endswith((".gz", ".idx")))


def read_images(path: Path, what: str, unlabelled: bool = False) -> pd.DataFrame:
    """`unlabelled`: a folder of pictures without class subfolders is read too (to predict), without labels."""
    if path.is_dir():
        idx_files = sorted(p for p in path.iterdir() if "-images-idx" in p.name)
        if idx_files:
            return _read_idx_pair(_training_idx(idx_files, path))
        return read_class_folders(path, what, unlabelled)
    name = path.name.lower()
    if name.endswith(".npz"):
        return _read_npz(path)
    if name.endswith(".npy"):
        return _table_of(_load_npy(path), None, path)
    return _read_idx_pair(path)


def test_images_beside(path: Path) -> Path | None:
    """The test half of a folder of idx files (Fashion-MNIST's t10k-*), so `lamina train folder/` has
    an official test split without a --test flag."""
    if not path.is_dir():
        return None
    tests = sorted(p for p in path.iterdir() if "-images-idx" in p.name and p.name.startswith(("t10k", "test")))
    return tests[0] if tests else None


def _training_idx(files: list[Path], folder: Path) -> Path:
    training = [p for p in files if not p.name.startswith(("t10k", "test"))]
    if not training:
        raise LaminaError(f"{folder} holds only test idx files ({files[0].name}); add the training ones.")
    return training[0]


# ---- class folders ------------------------------------------------------------------------------

def read_class_folders(folder: Path, what: str, unlabelled: bool = False) -> pd.DataFrame:
    """One row per image (or audio) file: its absolute path and its class (the subfolder's name). The
    column is `audio` when most files are recordings, else `image`. Operating-system clutter is left out and
    listed in the frame's attrs["ignored"], pipes, sockets and devices (never opened: a FIFO blocks whoever
    opens it) in attrs["not_files"]; a link to anything outside `folder` is refused, named, and so is one file
    reached under two classes (a link to another class's folder would label all its files twice).
    `unlabelled`: files lying in `folder` itself are read too, without a class (a folder to predict)."""
    root, ignored, not_files = folder.resolve(), [], []
    entries = _entries(folder, folder, root, ignored, not_files)
    classes = [p for p in entries if p.is_dir()]
    rows = [(p, None) for p in entries if not p.is_dir()] if unlabelled else []
    if unlabelled and not entries:
        raise LaminaError(f"The {what} folder {folder} holds no files. Put the images or recordings in it (or in a "
                          "subfolder per class), or give a table file.")
    if not classes and not rows:
        raise LaminaError(
            f"The {what} folder {folder} has no class subfolders. Put each class's images in a subfolder "
            "named after the class (photos/cat/1.png, photos/dog/2.png), or give a table file."
        )
    for class_folder in classes:
        files = _files_under(class_folder, folder, root, ignored, not_files)
        if not files:
            raise LaminaError(
                f"Class folder {class_folder} is empty. Add its images or remove the folder."
            )
        rows += [(p, class_folder.name) for p in files]
    _refuse_files_under_two_classes(rows, folder)
    frame = _table_of_files(rows, labelled=bool(classes))
    frame.attrs["ignored"], frame.attrs["not_files"] = ignored, not_files
    return frame


def read_media_file(path: Path, what: str, unlabelled: bool = False) -> pd.DataFrame:
    """One picture or recording file (media.is_media_file) as a table of one row, in the column a folder of such
    files without class subfolders gives (`image` or `audio`): data to predict from (`unlabelled`). Training
    from one file is refused: a model learns from many, each under its class, and a test set (`what` TEST_DATA)
    scores it on many."""
    if not unlabelled:
        noun, suffix = ("recording", "wav") if media_kind(str(path)) == AUDIO else ("picture", "png")
        needs = ("a test set needs many rows too, each with its label, to score a model on. Give --test a folder "
                 f"of {noun}s with a subfolder per class (test/cat/1.{suffix}, test/dog/2.{suffix}), or a CSV of "
                 "their paths and labels (or transcripts)" if what == TEST_DATA else
                 "a model learns from many, each with its label. Give a folder with a subfolder per class "
                 f"(photos/cat/1.{suffix}, photos/dog/2.{suffix}), or a table of file paths and labels (or "
                 "transcripts)")
        raise LaminaError(f"The {what} file {path} is one {noun}: {needs}. One file is data to predict from: "
                          "lamina predict RUN FILE.")
    return _table_of_files([(path, None)], labelled=False)


def refuse_target_without_labels(frame: pd.DataFrame, target: str | None) -> None:
    """Raises LaminaError when `target`, a column the user named, cannot come from `frame` because it was read from
    files without labels: a folder without class subfolders, or an array file without a label array (a table of
    MEDIA_COLUMN_ATTR without `label`). Such data is read for a task that learns without labels (--task anomaly),
    which would otherwise drop the named target and train as if none were given."""
    if not target or not frame.attrs.get(MEDIA_COLUMN_ATTR) or LABEL_COLUMN in frame.columns:
        return
    raise LaminaError(
        f"The target {target!r} (--target, or data.target in the config): the data is files without labels (a "
        f"folder without class subfolders, or an array file without a label array), so it has no column {target!r} "
        f"to learn from; its one column is {frame.attrs[MEDIA_COLUMN_ATTR]!r}. Leave --target out to learn from the "
        "files without labels, or put them in a subfolder per class (photos/normal/1.png, photos/anomaly/2.png): "
        f"the subfolders' names are then the {LABEL_COLUMN!r} column."
    )


def _table_of_files(rows: list[tuple[Path, str | None]], labelled: bool) -> pd.DataFrame:
    """A row per file: its absolute path, in the column `audio` when most files are recordings, else `image`
    (MEDIA_COLUMN_ATTR in attrs names it), and with `labelled`, its class in `label`."""
    from lamina.data.audio import AUDIO_COLUMN

    paths = [str(p.resolve()) for p, _ in rows]
    sample = paths[:: max(1, len(paths) // SNIFF_FILES)]
    recordings = np.mean([media_kind(path) == AUDIO for path in sample])
    column = AUDIO_COLUMN if recordings > 0.5 else IMAGE_COLUMN
    frame = pd.DataFrame({column: paths})
    if labelled:
        frame[LABEL_COLUMN] = [label for _, label in rows]
    frame.attrs[MEDIA_COLUMN_ATTR] = column
    return frame


def _entries(folder: Path, top: Path, root: Path, ignored: list[str], not_files: list[str]) -> list[Path]:
    """The entries of `folder` that may hold data, sorted; clutter goes to `ignored`, pipes, sockets and devices
    to `not_files` (both named from `top`)."""
    kept = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name.lower() in CLUTTER:
            ignored.append(entry.relative_to(top).as_posix() + ("/" if entry.is_dir() else ""))
            continue
        if entry.is_symlink():  # the folder's own entries stay inside it; only a link can lead out (to /etc)
            _refuse_links_out(entry, top, root)
        kind = _special_kind(entry)
        if kind:
            not_files.append(f"{entry.relative_to(top).as_posix()} ({kind})")
            continue
        kept.append(entry)
    return kept


def _special_kind(entry: Path) -> str | None:
    """special_file's word for an entry that is neither a file nor a folder; None for a broken link, which the
    file check names as missing."""
    try:
        kind = special_file(entry)
    except OSError:
        return None
    return None if kind == "a folder" else kind


def _refuse_files_under_two_classes(rows: list[tuple[Path, str | None]], top: Path) -> None:
    """One file (by its resolved path) reached under two classes, through a link, cannot carry both labels:
    refused, naming the file under each class, rather than learnt twice with one label wrong."""
    classes_of: dict[Path, dict[str, Path]] = {}
    for path, label in rows:
        if label is not None:
            classes_of.setdefault(path.resolve(), {}).setdefault(label, path)
    shared = [named for named in classes_of.values() if len(named) > 1]
    if not shared:
        return
    lines = [" and ".join(f"{path.relative_to(top).as_posix()} (class {label!r})" for label, path in named.items())
             for named in shared[:NAMED_SHARED]]
    more = f"; and {len(shared) - NAMED_SHARED} more" if len(shared) > NAMED_SHARED else ""
    raise LaminaError(
        f"{len(shared)} file(s) in {top} lie under two classes at once (through a link), so one of each one's "
        f"labels is wrong: {'; '.join(lines)}{more}. Remove the link from the class the file does not belong to."
    )


def _refuse_links_out(link: Path, top: Path, root: Path) -> None:
    try:
        target = link.resolve()
    except RuntimeError:  # Python's word for a link that loops on itself
        raise LaminaError(f"{link} is a link that leads back to itself. Remove it.") from None
    if not target.is_relative_to(root):
        raise LaminaError(
            f"{link} is a link to {target}, outside the folder {top}: lamina reads only what lies inside the "
            "folder it is given. Copy the file into the folder, or remove the link."
        )


def _files_under(folder: Path, top: Path, root: Path, ignored: list[str], not_files: list[str]) -> list[Path]:
    """Every file below `folder`, subfolders and links inside `root` included, each folder read once."""
    files, seen, pending = [], set(), [folder]
    while pending:
        current = pending.pop()
        if current.resolve() in seen:  # a link back to a folder already read
            continue
        seen.add(current.resolve())
        for entry in _entries(current, top, root, ignored, not_files):
            (pending if entry.is_dir() else files).append(entry)
    return sorted(files)


def ignored_files_note(frame: pd.DataFrame) -> str | None:
    """A sentence naming the clutter read_class_folders left out and one naming the pipes, sockets and devices
    it never opened, or None when it left nothing out."""
    ignored, not_files = frame.attrs.get("ignored") or [], frame.attrs.get("not_files") or []
    sentences = []
    if ignored:
        sentences.append(f"Ignored {len(ignored)} operating-system file(s) and hidden folder(s) in the folder "
                         f"({_named(ignored)}): they hold no pictures or recordings.")
    if not_files:
        sentences.append(f"Skipped {len(not_files)} entry(ies) that are no regular file ({_named(not_files)}): "
                         "a pipe, socket or device is never opened, as reading one can block forever.")
    return " ".join(sentences) or None


def _named(names: list[str]) -> str:
    return ", ".join(names[:NAMED_IGNORED]) + (", ..." if len(names) > NAMED_IGNORED else "")


def resolve_image_paths(frame: pd.DataFrame, folder: Path, source: Path) -> pd.DataFrame:
    """Turns relative image and audio paths in a table's columns into absolute ones, relative to the table's
    folder. A path that leaves that folder is refused: a table must not make lamina read files elsewhere."""
    from lamina.data.audio import looks_like_audio_paths

    root = folder.resolve()
    for name in frame.columns:
        if not (looks_like_image_paths(frame[name], root) or looks_like_audio_paths(frame[name], root)):
            continue
        resolved = []
        for row, value in frame[name].items():
            if not isinstance(value, str):
                resolved.append(value)
                continue
            target = (root / value).resolve()
            if not target.is_relative_to(root):
                raise LaminaError(
                    f"{source}, row {_row_number(row)}, column {name!r}: path {value!r} points outside the "
                    f"table's folder. Move the image next to the table (or below it) and give a relative path."
                )
            resolved.append(str(target))
        frame[name] = resolved
    return frame


def looks_like_image_paths(series: pd.Series, root: Path | None = None) -> bool:
    """Paths of pictures, by suffix or by content (relative to `root` when given)."""
    return looks_like_media_paths(series, IMAGE, root)


def looks_like_arrays(series: pd.Series) -> bool:
    values = series.dropna()
    return len(values) > 0 and isinstance(values.iloc[0], np.ndarray)


def _row_number(row) -> int | str:
    return row + 2 if isinstance(row, (int, np.integer)) else row  # +1 for the header, +1 for counting from 1


# ---- arrays -------------------------------------------------------------------------------------

def _read_idx_pair(images_path: Path) -> pd.DataFrame:
    images = read_idx(images_path)
    labels_path = images_path.with_name(images_path.name.replace("-images-idx3", "-labels-idx1"))
    labels = read_idx(labels_path) if labels_path != images_path and labels_path.exists() else None
    return _table_of(images, labels, images_path)


def read_idx(path: Path) -> np.ndarray:
    """The IDX format of MNIST-style datasets: magic (0, 0, type, dimensions), sizes, then the values."""
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as error:
        raise LaminaError(f"{path} could not be read ({library_message(error)}). Is the download complete?") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise LaminaError(f"{path} is not an IDX file (its first bytes are not an IDX header).")
    dimensions = raw[3]
    sizes = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dimensions)]
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = 4 + 4 * dimensions + int(np.prod(sizes)) * dtype.itemsize
    if len(raw) != expected:
        raise LaminaError(f"{path} holds {len(raw)} bytes but its header promises {expected}; the file is truncated.")
    return np.frombuffer(raw, dtype, offset=4 + 4 * dimensions).reshape(sizes)


def _read_npz(path: Path) -> pd.DataFrame:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise LaminaError(f"{path} is not a readable .npz file: {library_message(error)}") from None
    names = set(archive.files)
    images_key = next((k for k in ("x", "X", "images", "x_train", "data") if k in names), None)
    if images_key is None:
        raise LaminaError(f"{path} has no image array; name it 'x' or 'images' (it holds {sorted(names)}).")
    labels_key = next((k for k in ("y", "labels", "y_train", "target") if k in names), None)
    return _table_of(archive[images_key], archive[labels_key] if labels_key else None, path)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise LaminaError(f"{path} is not a readable .npy array (object arrays are refused): "
                          f"{library_message(error)}") from None


def _table_of(images: np.ndarray, labels: np.ndarray | None, path: Path) -> pd.DataFrame:
    if images.ndim == 4 and images.shape[1] in (1, 3, 4) and images.shape[3] not in (1, 3, 4):
        images = images.transpose(0, 2, 3, 1)  # channels-first arrays → height × width × channels
    if images.ndim not in (3, 4):
        raise LaminaError(
            f"{path} holds an array of shape {images.shape}; images need (count, height, width) or "
            "(count, height, width, channels)."
        )
    images = _as_uint8(images, path)
    frame = pd.DataFrame({IMAGE_COLUMN: list(images)})
    frame.attrs[MEDIA_COLUMN_ATTR] = IMAGE_COLUMN
    if labels is not None:
        if len(labels) != len(images):
            raise LaminaError(f"{path}: {len(images)} images but {len(labels)} labels; they must pair up.")
        frame[LABEL_COLUMN] = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    return frame


def _as_uint8(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.number):
        raise LaminaError(f"{path} holds {images.dtype} values; images must be numbers.")
    if np.issubdtype(images.dtype, np.floating):
        images = np.where(np.isnan(images), 0, images)  # a missing pixel (NaN: no data) is black
    low, high = float(images.min()), float(images.max())
    if low >= 0 and high <= 1:  # floats in [0, 1], the other common convention
        return np.round(images * 255).astype(np.uint8)
    if low >= 0 and high <= 255:
        return np.round(images).astype(np.uint8)
    raise LaminaError(f"{path} holds values from {low} to {high}; give pixels in 0–255 or 0–1.")


# ---- decoding -----------------------------------------------------------------------------------

@dataclass
class ImageInfo:
    size: tuple[int, int] | None  # (width, height); None when the file is unreadable
    channels: int  # 1 (grey) or 3 (colour, alpha composited)
    problem: str = ""


class TooLarge(ValueError):
    """A picture whose header promises more pixels than the limit: refused before decoding."""


def open_image(value, limit: int = MAX_PIXEL_LIMIT):
    """A Pillow image of a file path or a file's bytes, its header read and no pixel decoded yet.
    Raises TooLarge above `limit` pixels, NotARegularFile for a pipe, socket or device (never opened), and
    Pillow's errors (OSError, ValueError...) for a bad file."""
    from PIL import Image

    require_regular_file(value)
    try:
        image = Image.open(io.BytesIO(value) if isinstance(value, bytes) else value)
    except Image.DecompressionBombError as error:  # beyond twice Pillow's own limit, it refuses to open
        count = re.search(r"\((\d+) pixels\)", str(error))  # "Image size (400000000 pixels) exceeds limit..."
        size = f"{int(count.group(1)):,} pixels" if count else "more pixels than Pillow opens"
        raise TooLarge(f"{size}, over the limit of {limit:,} pixels") from None
    width, height = image.size
    if width * height > limit:
        image.close()
        raise TooLarge(f"{width}×{height} pixels ({width * height:,}), over the limit of {limit:,} pixels")
    return image


def problem_of(error: Exception) -> str:
    """Why a picture cannot be used, from the error reading it raised."""
    from PIL import UnidentifiedImageError

    if isinstance(error, FileNotFoundError):
        return "file not found"
    if isinstance(error, UnidentifiedImageError):
        return "not an image Pillow can read"
    if isinstance(error, TooLarge):
        return f"{error} (a decompression bomb, or a picture to shrink first)"
    if isinstance(error, NotARegularFile):
        return str(error)
    return f"corrupt or truncated ({library_message(error)})"


# What Pillow raises for a bad file (TooLarge and NotARegularFile are ValueErrors)
READ_ERRORS = (OSError, ValueError, SyntaxError)


def size_and_channels(value) -> tuple[tuple[int, int], int]:
    """((width, height), 1 or 3 channels) of an array, or of an image file from its header."""
    if isinstance(value, np.ndarray):
        return (value.shape[1], value.shape[0]), 1 if value.ndim == 2 or value.shape[2] == 1 else 3
    with open_image(value) as image:
        return image.size, 1 if _is_grey(image) else 3


def _is_grey(image) -> bool:
    if image.mode in ("1", "L", "LA", "F") or image.mode.startswith("I"):
        return True
    if image.mode == "P":  # GIFs and some PNGs: grey when every palette entry has r = g = b
        palette = np.array(image.getpalette() or [0, 0, 0]).reshape(-1, 3)
        return bool((palette == palette[:, :1]).all())
    return False


def inspect_image(value, limit: int = MIN_PIXEL_LIMIT) -> ImageInfo:
    """Decodes one image fully (a truncated file fails only there) and says what it is; one above `limit`
    pixels is judged from its header alone."""
    if isinstance(value, np.ndarray):
        return _judged(ImageInfo(*size_and_channels(value)))
    try:
        with open_image(value, limit) as image:
            image.load()
            return _judged(ImageInfo(image.size, 1 if _is_grey(image) else 3))
    except READ_ERRORS as error:
        return ImageInfo(None, 0, problem_of(error))


def _judged(info: ImageInfo) -> ImageInfo:
    if min(info.size) < MIN_SIDE:
        info.problem = f"{info.size[0]}×{info.size[1]} pixels, smaller than {MIN_SIDE}×{MIN_SIDE}"
    return info


def inspect_column(series: pd.Series, image_size: int | str = "auto") -> list[ImageInfo]:
    """One ImageInfo per value, under the pixel limit of a model reading `image_size` pictures."""
    limit = pixel_limit(image_size)
    if looks_like_arrays(series):  # already in memory: nothing to overlap
        return [inspect_image(value) for value in series]
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        return list(pool.map(lambda value: inspect_image(value, limit), series.tolist()))


def drop_unreadable(frame: pd.DataFrame, column: str, kind: str = "image",
                    image_size: int | str = "auto") -> tuple[pd.DataFrame, list[str], list[str]]:
    """(The rows whose file (an image, an audio clip: whatever the kind reads) can be used; a line per
    skipped file; notes on files kept despite a flaw). Stops when too many are bad. `image_size`: the side
    the run's pictures are resized to, which sets the pixel limit (pixel_limit) the server uses too."""
    from lamina.features.kinds import kind_named  # here, not on top: the image kind imports this module

    infos = kind_named(kind).inspect_files(frame[column], image_size)
    bad = [(row, value, info.problem) for (row, value), info in zip(frame[column].items(), infos, strict=True) if info.problem]
    lines = [f"{_describe(row, value)}: {problem}" for row, value, problem in bad]
    if len(bad) > MAX_BAD_SHARE * len(frame):
        shown = "\n  - ".join(lines[:10])
        raise LaminaError(
            f"{len(bad)} of {len(frame)} {kind} files in column {column!r} cannot be used "
            f"(more than {MAX_BAD_SHARE:.0%}), first ones:\n  - {shown}\nFix or remove these files."
        )
    keep = np.array([not info.problem for info in infos], dtype=bool)
    clipped = [_describe(row, value) for (row, value), info in zip(frame[column].items(), infos, strict=True)
               if getattr(info, "clipped", False)]
    notes = [f"{len(clipped)} recording(s) are clipped (over 1% of samples at full scale; first: {clipped[0]}); "
             "they are kept, but a louder-than-recordable sound is distorted"] if clipped else []
    return frame[keep], lines, notes


def _describe(row, value) -> str:
    return str(value) if isinstance(value, str) else f"row {row}"


def image_from_base64(text: str | None, where: str) -> bytes | None:
    """An image sent inline (base64 of a PNG, JPEG, ... file; see data.inline) → the file's bytes, which the
    encoder decodes exactly as it decodes a file on disk, so a request and `lamina predict` see the same
    pixels. Servers take images this way and never as paths, so a request cannot make lamina read a file.
    The header is checked here (a picture, at least MIN_SIDE pixels a side); the pixel limit, which depends
    on the model, is checked by its encoder before any decoding. A missing value (None, NaN) stays None.
    Raises LaminaError naming `where`."""
    if is_missing(text):
        return None
    data = bytes_from_base64(text, where, "image")
    try:
        with open_image(data, sys.maxsize) as image:
            problem = _judged(ImageInfo(image.size, 0)).problem
    except TooLarge:  # one Pillow will not even open: the encoder refuses it, naming the model's limit
        problem = ""
    except READ_ERRORS as error:
        problem = problem_of(error)
    if problem:
        raise LaminaError(f"{where}: {problem}.")
    return data


def decode(value, size: int, channels: int, limit: int = MAX_PIXEL_LIMIT) -> np.ndarray:
    """One image (a uint8 array, a file path or a file's bytes) → uint8 [channels, size, size]: turned upright
    by its EXIF Orientation (phones store photos rotated and say so there), colour mode made consistent
    (alpha composited on white), the shorter side resized to `size`, then the centre cropped square.
    Raises TooLarge for a file over `limit` pixels, Pillow's errors for a bad one."""
    from PIL import Image, ImageOps

    if isinstance(value, np.ndarray):
        array = value[:, :, 0] if value.ndim == 3 and value.shape[2] == 1 else value
        image = Image.fromarray(array)
    else:
        image = open_image(value, limit)
    with image:
        ImageOps.exif_transpose(image, in_place=True)
        image = _with_channels(image, channels)
        width, height = image.size
        if (width, height) != (size, size):
            scale = size / min(width, height)
            image = image.resize((max(size, round(width * scale)), max(size, round(height * scale))),
                                 Image.Resampling.BILINEAR)
            left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
            image = image.crop((left, top, left + size, top + size))
        array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _with_channels(image, channels: int):
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode == "F" or image.mode.startswith("I"):  # 16- and 32-bit and float greys: scale into 0–255
        values = np.asarray(image, dtype=np.float32)
        values = np.where(np.isfinite(values), values, 0.0)  # NaN (no data) and infinite pixels are black
        high = values.max() if values.max() > 0 else 1.0
        image = Image.fromarray(np.round(np.clip(values / high, 0.0, 1.0) * 255).astype(np.uint8))
    if image.mode == "LAB":  # Pillow converts CIE Lab to RGB only through colour profiles
        from PIL import ImageCms

        lab_to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                              "LAB", "RGB")
        image = ImageCms.applyTransform(image, lab_to_srgb)
    return image.convert("L" if channels == 1 else "RGB")
