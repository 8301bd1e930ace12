"""All of a table's column encoders together: a DataFrame → the network's input tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.data.schema import PICTURE_KINDS, Schema
from lamina.errors import LaminaError
from lamina.features.audio import AudioEncoder
from lamina.features.category import CategoryEncoder
from lamina.features.datetime import DatetimeEncoder
from lamina.features.image import ImageEncoder
from lamina.features.numeric import NumberEncoder
from lamina.features.text import TextEncoder

ENCODERS = {
    "number": NumberEncoder,
    "category": CategoryEncoder,
    "binary": CategoryEncoder,
    "datetime": DatetimeEncoder,
    "text": TextEncoder,
    "image": ImageEncoder,
    "audio": AudioEncoder,
}
DENSE_KINDS = ("number", "datetime")  # encoders whose floats are concatenated into one block


class FeaturePipeline:
    """Fitted on the training split only; `transform` gives a dict of tensors:
    `numbers` float32 [rows, width], `categories` int64 [rows, columns], `text:<column>` int64 [rows, length],
    `image:<column>` uint8 [rows, channels, height, width] (audio columns too: their spectrograms).
    """

    def __init__(self, schema: Schema, image_size: int | str = "auto", pretrained_text: Path | None = None):
        """`pretrained_text`: the Hugging Face model folder whose tokenizer text columns must use."""
        self.schema = schema
        self.encoders = {c.name: self._encoder_for(c, image_size, pretrained_text) for c in schema.features}

    @staticmethod
    def _encoder_for(column, image_size, pretrained_text):
        if column.kind == "image":
            return ImageEncoder(column.name, image_size)
        if column.kind == "text":
            return TextEncoder(column.name, pretrained_text)
        return ENCODERS[column.kind](column.name)

    def fit(self, frame: pd.DataFrame) -> FeaturePipeline:
        for name, encoder in self.encoders.items():
            encoder.fit(frame[name])
        return self

    def _of(self, kinds: tuple[str, ...]) -> dict:
        return {name: e for name, e in self.encoders.items() if e.kind in kinds}

    def encoded_order(self) -> list[str]:
        """Columns in the order their parts reach the network: dense block, categories, texts, images."""
        return [*self._of(DENSE_KINDS), *self._of(("category",)), *self._of(("text",)), *self._of(PICTURE_KINDS)]

    def spec(self) -> dict:
        """What the network needs to know about its inputs."""
        return {
            "numbers": sum(e.width for e in self._of(DENSE_KINDS).values()),
            "categories": [e.cardinality for e in self._of(("category",)).values()],
            "texts": {name: e.spec() for name, e in self._of(("text",)).items()},
            "images": {name: e.spec() for name, e in self._of(PICTURE_KINDS).items()},
        }

    def set_cache_dir(self, folder) -> None:
        """Where image caches too large for memory are memory-mapped (the run folder's cache/)."""
        for encoder in self._of(("image",)).values():
            encoder.cache_dir = folder

    def transform(self, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        self.require_columns(frame)
        rows = len(frame)
        dense = [e.transform(frame[n]) for n, e in self._of(DENSE_KINDS).items()]
        categories = [e.transform(frame[n]) for n, e in self._of(("category",)).items()]
        inputs = {
            "numbers": torch.from_numpy(np.concatenate(dense, axis=1) if dense else np.zeros((rows, 0), np.float32)),
            "categories": torch.from_numpy(
                np.stack(categories, axis=1) if categories else np.zeros((rows, 0), np.int64)
            ),
        }
        for name, encoder in self._of(("text",)).items():
            inputs[f"text:{name}"] = torch.from_numpy(encoder.transform(frame[name]))
        for name, encoder in self._of(PICTURE_KINDS).items():
            inputs[f"image:{name}"] = encoder.transform(frame[name])
        return inputs

    def require_columns(self, frame: pd.DataFrame) -> None:
        absent = [name for name in self.encoders if name not in frame.columns]
        if absent:
            raise LaminaError(
                f"The data lacks column(s) the model was trained on: {', '.join(map(repr, absent))}. "
                "Add them (values may be empty, which the model treats as missing)."
            )

    def state(self) -> dict:
        return {name: encoder.state() for name, encoder in self.encoders.items()}

    @classmethod
    def from_state(cls, schema: Schema, state: dict) -> FeaturePipeline:
        pipeline = cls(schema)
        for name, encoder in pipeline.encoders.items():
            encoder.load_state(state[name])
        return pipeline
