"""Image data in: class folders, idx/.npz/.npy arrays, and CSV columns of image paths.

Every source becomes a table with an image column, so the rest of the flow (schema, checks, split,
encoders) treats images like any other column. The column holds absolute file paths, or, for array
files, one uint8 array per row (height × width, or height × width × channels).
"""

from __future__ import annotations

import base64
import gzip
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.errors import LaminaError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
IMAGE_COLUMN, LABEL_COLUMN = "image", "label"
MIN_SIDE = 4  # pixels; a smaller image carries too little to learn from (and breaks pooling)
# Unreadable files are skipped and listed while they are few; beyond this share of the rows the data
# itself is suspect and the run stops.
MAX_BAD_SHARE = 0.05
DECODE_THREADS = 8  # Pillow releases the GIL while decoding, so threads overlap file reads and decoding
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_image_source(path: Path) -> bool:
    """A folder (class subfolders or idx files) or an array file, rather than a table."""
    name = path.name.lower()
    return path.is_dir() or name.endswith((".npz", ".npy")) or ("idx" in name and name.endswith((".gz", ".idx")))


def read_images(path: Path, what: str) -> pd.DataFrame:
    if path.is_dir():
        idx_files = sorted(p for p in path.iterdir() if "-images-idx" in p.name)
        if idx_files:
            return _read_idx_pair(_training_idx(idx_files, path))
        return read_class_folders(path, what)
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

def read_class_folders(folder: Path, what: str) -> pd.DataFrame:
    """One row per image (or audio) file: its absolute path and its class (the subfolder's name). The
    column is `audio` when most files are recordings, else `image`."""
    from lamina.data.audio import AUDIO_COLUMN, AUDIO_SUFFIXES

    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise LaminaError(
            f"The {what} folder {folder} has no class subfolders. Put each class's images in a subfolder "
            "named after the class (photos/cat/1.png, photos/dog/2.png), or give a table file."
        )
    rows = []
    for class_folder in classes:
        files = sorted(p for p in class_folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise LaminaError(
                f"Class folder {class_folder} is empty. Add its images or remove the folder."
            )
        rows += [(str(p.resolve()), class_folder.name) for p in files]
    recordings = np.mean([Path(path).suffix.lower() in AUDIO_SUFFIXES for path, _ in rows])
    return pd.DataFrame(rows, columns=[AUDIO_COLUMN if recordings > 0.5 else IMAGE_COLUMN, LABEL_COLUMN])


def resolve_image_paths(frame: pd.DataFrame, folder: Path, source: Path) -> pd.DataFrame:
    """Turns relative image and audio paths in a table's columns into absolute ones, relative to the table's
    folder. A path that leaves that folder is refused: a table must not make lamina read files elsewhere."""
    from lamina.data.audio import looks_like_audio_paths

    root = folder.resolve()
    for name in frame.columns:
        if not (looks_like_image_paths(frame[name]) or looks_like_audio_paths(frame[name])):
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


def looks_like_image_paths(series: pd.Series) -> bool:
    values = series.dropna()
    if len(values) == 0 or not all(isinstance(v, str) for v in values.iloc[:200]):
        return False
    sample = values.iloc[:200]
    return bool(np.mean([Path(v).suffix.lower() in IMAGE_SUFFIXES for v in sample]) >= 0.9)


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
        raise LaminaError(f"{path} could not be read ({error}). Is the download complete?") from None
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
        raise LaminaError(f"{path} is not a readable .npz file: {error}") from None
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
        raise LaminaError(f"{path} is not a readable .npy array (object arrays are refused): {error}") from None


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


def size_and_channels(value, decode_all: bool = False) -> tuple[tuple[int, int], int]:
    """((width, height), 1 or 3 channels) of an array or an image file; the file's header is enough unless
    `decode_all` asks for a full decode (which is how a truncated file is found)."""
    if isinstance(value, np.ndarray):
        return (value.shape[1], value.shape[0]), 1 if value.ndim == 2 or value.shape[2] == 1 else 3
    from PIL import Image

    with Image.open(value) as image:
        if decode_all:
            image.load()
        return image.size, 1 if _is_grey(image) else 3


def _is_grey(image) -> bool:
    if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
        return True
    if image.mode == "P":  # GIFs and some PNGs: grey when every palette entry has r = g = b
        palette = np.array(image.getpalette() or [0, 0, 0]).reshape(-1, 3)
        return bool((palette == palette[:, :1]).all())
    return False


def inspect_image(value) -> ImageInfo:
    """Decodes one image fully (a truncated file fails only there) and says what it is."""
    from PIL import UnidentifiedImageError

    try:
        return _judged(ImageInfo(*size_and_channels(value, decode_all=True)))
    except FileNotFoundError:
        return ImageInfo(None, 0, "file not found")
    except UnidentifiedImageError:
        return ImageInfo(None, 0, "not an image Pillow can read")
    except (OSError, ValueError, SyntaxError) as error:
        return ImageInfo(None, 0, f"corrupt or truncated ({error})")


def _judged(info: ImageInfo) -> ImageInfo:
    if min(info.size) < MIN_SIDE:
        info.problem = f"{info.size[0]}×{info.size[1]} pixels, smaller than {MIN_SIDE}×{MIN_SIDE}"
    return info


def inspect_column(series: pd.Series) -> list[ImageInfo]:
    if looks_like_arrays(series):  # already in memory: nothing to overlap
        return [inspect_image(value) for value in series]
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        return list(pool.map(inspect_image, series.tolist()))


def drop_unreadable(frame: pd.DataFrame, column: str, kind: str = "image") -> tuple[pd.DataFrame, list[str], list[str]]:
    """(The rows whose file (an image, an audio clip: whatever the kind reads) can be used; a line per
    skipped file; notes on files kept despite a flaw). Stops when too many are bad."""
    from lamina.features.kinds import kind_named  # here, not on top: the image kind imports this module

    infos = kind_named(kind).inspect_files(frame[column])
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


def array_from_base64(text: str, where: str) -> np.ndarray:
    """An image sent inline (base64 of a PNG, JPEG, ... file) → its pixels. Servers take images this way and
    never as paths, so a request cannot make lamina read a file."""
    import binascii
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as image:
            image.load()
            if image.mode in ("P", "PA", "LA"):
                image = image.convert("RGBA")
            array = np.asarray(image)
    except (binascii.Error, ValueError):
        raise LaminaError(f"{where}: not base64 text. Send the image file's bytes base64-encoded.") from None
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise LaminaError(f"{where}: the base64 bytes are not an image Pillow can read (PNG, JPEG, ...).") from None
    return _judged_array(array, where)


def _judged_array(array: np.ndarray, where: str) -> np.ndarray:
    problem = _judged(ImageInfo(*size_and_channels(array))).problem
    if problem:
        raise LaminaError(f"{where}: {problem}.")
    return array


def decode(value, size: int, channels: int) -> np.ndarray:
    """One image → uint8 [channels, size, size]: colour mode made consistent (alpha composited on white),
    the shorter side resized to `size`, then the centre cropped square."""
    from PIL import Image

    if isinstance(value, np.ndarray):
        array = value[:, :, 0] if value.ndim == 3 and value.shape[2] == 1 else value
        image = Image.fromarray(array)
    else:
        image = Image.open(value)
    with image:
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
    if image.mode in ("I", "I;16", "F"):  # 16-bit and float greys: scale into 0–255
        values = np.asarray(image, dtype=np.float32)
        high = values.max() if values.max() > 0 else 1.0
        image = Image.fromarray(np.round(values / high * 255).astype(np.uint8))
    return image.convert("L" if channels == 1 else "RGB")
