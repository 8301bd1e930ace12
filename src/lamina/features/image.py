"""An image column → a uint8 tensor [rows, channels, side, side], decoded once.

The tensor is the cache: training slices batches from it every epoch and never decodes a file again.
Normalising to floats happens inside the network, on the training device, so the cache stays 4× smaller
than float pixels. A cache larger than a share of the free memory goes to a memory-mapped file.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, StrictInt, model_validator

from lamina.checked import Record, checked
from lamina.data.images import (
    DECODE_THREADS,
    READ_ERRORS,
    REQUEST_PIXELS,
    decode,
    image_from_base64,
    inspect_column,
    looks_like_arrays,
    looks_like_image_paths,
    open_image,
    pixel_limit,
    problem_of,
    size_and_channels,
)
from lamina.data.inline import is_missing
from lamina.data.media import refuse_each, refuse_unreadable
from lamina.errors import LaminaError
from lamina.features.blocks import PICTURE
from lamina.features.kinds import FILE_FIELD, ColumnSample, EncoderOptions, Kind, register_kind, sniff

MAX_AUTO_SIDE = 64  # pixels; larger pictures are shrunk by default, as CNN cost grows with the square
STATISTICS_SAMPLE = 1000  # training images whose pixels set the normalising mean and std
GEOMETRY_SAMPLE = 2000  # images whose headers set the size and channel count
MEMORY_SHARE = 0.25  # a cache above this share of the free memory is memory-mapped to disk


class ImageEncoder:
    def __init__(self, name: str, size: int | str = "auto"):
        self.name = name
        self.requested_size = size  # pixels per side, or "auto"
        self.cache_dir: Path | None = None  # where a memory-mapped cache goes (the run folder when there is one)

    def fit(self, series: pd.Series) -> ImageEncoder:
        values = series.dropna()
        sample = values.sample(min(len(values), GEOMETRY_SAMPLE), random_state=0)
        shapes = [size_and_channels(v) for v in sample]
        self.channels_ = 3 if any(c == 3 for _, c in shapes) else 1
        if self.requested_size == "auto":
            self.size_ = int(min(MAX_AUTO_SIDE, np.median([min(size) for size, _ in shapes])))
        else:
            self.size_ = int(self.requested_size)
        pixels = self.transform(values.iloc[:STATISTICS_SAMPLE]).float() / 255
        self.mean_ = pixels.mean(dim=(0, 2, 3)).tolist()
        self.std_ = pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
        return self

    def transform(self, series: pd.Series) -> torch.Tensor:
        """uint8 [rows, channels, size, size] of arrays, file paths or files' bytes (what a request sends; see
        `_within_request_budget`); a missing value is a mid-grey picture. Raises LaminaError naming the row
        (the record of a request) of a picture that cannot be read or is over `pixel_limit(size)`, every such
        picture at once (media.refuse_unreadable)."""
        shape = (len(series), self.channels_, self.size_, self.size_)
        if looks_like_arrays(series) and _all_fit(series, shape):  # arrays already the right shape: no decoding
            stacked = np.stack(series.tolist())  # [rows, side, side] or [rows, side, side, channels]
            stacked = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
            return torch.from_numpy(np.ascontiguousarray(stacked))
        values = series.tolist()
        self._within_request_budget(values)
        cache, problems = self._allocate(shape), []
        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            for row, image in enumerate(pool.map(self._decode_or_blank, range(len(values)), values)):
                if isinstance(image, tuple):  # (where, why): every unreadable picture is named at the end
                    problems.append(image)
                else:
                    cache[row] = image
        refuse_unreadable(self.name, problems, "picture")
        return torch.from_numpy(cache)

    def _within_request_budget(self, values: list) -> None:
        """Pictures sent inline (bytes) come from one request: their headers together may promise at most
        REQUEST_PIXELS, so a request cannot make the server decode gigabytes in pictures each under the limit."""
        total, problems = 0, []
        for row, value in enumerate(values):
            if isinstance(value, bytes):
                try:
                    with open_image(value, pixel_limit(self.size_)) as image:
                        total += image.size[0] * image.size[1]
                except READ_ERRORS as error:  # every one named, as a folder's are, by its record and field
                    problems.append((self._where(row, value), problem_of(error)))
        refuse_each(problems)
        if total > REQUEST_PIXELS:
            raise LaminaError(f"Field {self.name!r}: the pictures sent hold {total:,} pixels together, over the limit "
                              f"of {REQUEST_PIXELS:,} a request; send fewer pictures at a time, or smaller ones.")

    def _decode_or_blank(self, row: int, value) -> np.ndarray | tuple[str, str]:
        """The picture's pixels, or (where, why) it cannot be read."""
        if is_missing(value):  # a missing image: mid-grey
            return np.full((self.channels_, self.size_, self.size_), 128, np.uint8)
        if not isinstance(value, (str, os.PathLike, bytes, np.ndarray)):  # a PIL image, a list...: said, not a traceback
            raise LaminaError(f"{self._where(row, value)}: a {type(value).__module__}.{type(value).__qualname__}, which "
                              "is no picture lamina reads. Give the picture's file path, the file's bytes, or a "
                              "uint8 array [height, width] or [height, width, channels].")
        try:
            return decode(value, self.size_, self.channels_, pixel_limit(self.size_))
        except READ_ERRORS as error:
            return value if isinstance(value, str) else f"record {row}", problem_of(error)

    def _where(self, row: int, value) -> str:
        """A file is named by its path; a picture sent in a request by its record and field."""
        return f"Column {self.name!r}, {value}" if isinstance(value, str) else f"record {row}, field {self.name!r}"

    def _allocate(self, shape: tuple[int, ...]) -> np.ndarray:
        if int(np.prod(shape)) <= MEMORY_SHARE * _free_memory():
            return np.empty(shape, np.uint8)
        folder = self.cache_dir or Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        handle, path = tempfile.mkstemp(prefix=f"images-{self.name}-", suffix=".u8", dir=folder)
        os.close(handle)
        return np.memmap(path, np.uint8, mode="w+", shape=shape)

    def spec(self) -> dict:
        """What the network needs: everything the encoder learned (its state) is also what the CNN reads."""
        return self.state()

    def state(self) -> dict:
        return {"size": self.size_, "channels": self.channels_, "mean": self.mean_, "std": self.std_}

    def load_state(self, state: dict) -> None:
        stored = checked(PictureState, state)
        self.size_, self.channels_ = stored.size, stored.channels
        self.mean_, self.std_ = stored.mean, stored.std


class PictureState(Record):
    """A picture column's side (pixels), channels, and per-channel mean and spread of pixels scaled to [0, 1]."""
    size: StrictInt = Field(gt=0)
    channels: Literal[1, 3]
    mean: list[float]
    std: list[Annotated[float, Field(gt=0)]]

    @model_validator(mode="after")
    def _one_per_channel(self) -> PictureState:
        if not len(self.mean) == len(self.std) == self.channels:
            raise ValueError(f"mean and std hold one number per channel ({self.channels})")
        return self


def picture_shape_text(state: dict) -> str:
    """How a model reads a picture column, from its state (PictureState): "28 × 28 px, grey" or "... colour"."""
    return f"{state['size']} × {state['size']} px, {'grey' if state['channels'] == 1 else 'colour'}"


def _all_fit(series: pd.Series, shape: tuple[int, ...]) -> bool:
    _, channels, side, _ = shape
    wanted = {(side, side)} if channels == 1 else set()
    wanted.add((side, side, channels))
    return all(isinstance(v, np.ndarray) and v.shape in wanted for v in series)


def _free_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on every system
        return 8 * 2**30


@register_kind
class ImageKind(Kind):
    """Images: file paths in a table, or arrays (from idx, npz or npy files). A request sends the file's bytes
    in base64, never a path. Not profiled for drift: it shows in the predictions."""

    name = "image"
    encoder = ImageEncoder
    block = PICTURE
    request_field = FILE_FIELD
    decode = staticmethod(image_from_base64)
    inspect_files = staticmethod(inspect_column)

    def encoder_for(self, column: str, options: EncoderOptions) -> ImageEncoder:
        return ImageEncoder(column, options.image_size)

    @sniff(10)
    def arrays(self, column: ColumnSample) -> str | None:
        return "image arrays" if looks_like_arrays(column.values) else None

    @sniff(20)
    def image_paths(self, column: ColumnSample) -> str | None:
        return "image file paths" if looks_like_image_paths(column.values) else None

    def example(self, rows: int, folder: Path) -> pd.Series:
        rng = np.random.default_rng(0)
        return pd.Series([rng.integers(0, 256, (12, 12), dtype=np.uint8) for _ in range(rows)])

    def request_example(self, folder: Path) -> str:
        import base64
        import io

        from PIL import Image

        png = io.BytesIO()
        Image.fromarray(self.example(1, folder)[0]).save(png, format="PNG")
        return base64.b64encode(png.getvalue()).decode()
