"""All of a table's column encoders together: a DataFrame → the network's input tensors.

Each column's kind (features.kinds) builds its encoder and names the input block that reads it; the
blocks (features.blocks) turn the encoded columns into tensors, in the order the network reads them.
"""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

import pandas as pd
import torch

from lamina.checked import Fault, under
from lamina.data.schema import Schema
from lamina.errors import LaminaError
from lamina.features.blocks import BLOCKS, DENSE

# DENSE_KINDS: the registry's answer, named here too for the callers that import it from the pipeline.
from lamina.features.kinds import DENSE_KINDS as DENSE_KINDS
from lamina.features.kinds import EncoderOptions, kind_named
from lamina.features.numeric import NumberEncoder


class FeaturePipeline:
    """Fitted on the training split only; `transform` gives a dict of tensors:
    `numbers` float32 [rows, width], `categories` int64 [rows, columns], `text:<column>` int64 [rows, length],
    `image:<column>` uint8 [rows, channels, height, width] (audio columns too: their spectrograms).
    """

    def __init__(self, schema: Schema, image_size: int | str = "auto", pretrained_text: Path | None = None):
        """`pretrained_text`: the Hugging Face model folder whose tokenizer text columns must use."""
        self.schema = schema
        options = EncoderOptions(image_size, pretrained_text,
                                 {c.name: c.date_order for c in schema.features if c.date_order is not None},
                                 frozenset(c.name for c in schema.features if c.date_order_assumed))
        self.encoders = {c.name: kind_named(c.kind).encoder_for(c.name, options) for c in schema.features}

    def fit(self, frame: pd.DataFrame) -> FeaturePipeline:
        for name, encoder in self.encoders.items():
            encoder.fit(frame[name])
        return self

    def _read_by(self, block) -> dict:
        """The encoders of the columns `block` reads, in the schema's order."""
        return {c.name: self.encoders[c.name] for c in self.schema.features if kind_named(c.kind).block is block}

    def encoded_order(self) -> list[str]:
        """Columns in the order their parts reach the network: dense block, categories, texts, pictures."""
        return [name for block in BLOCKS for name in self._read_by(block)]

    def dense_widths(self) -> list[int]:
        """Floats each dense-block column adds to `numbers`, in order (how explanations split it per column)."""
        return [encoder.width for encoder in self._read_by(DENSE).values()]

    def dense_encoders(self) -> list[tuple[int, object]]:
        """(start, encoder) of each dense-block column: where its floats start in `numbers`, in order."""
        encoders = self._read_by(DENSE).values()
        return [*zip(accumulate(self.dense_widths(), initial=0), encoders, strict=False)]

    def number_layout(self) -> dict[str, list[int]]:
        """Positions in `numbers` of the numeric columns' normal scores ("scores", one per column) and of their
        piecewise-linear rank pieces ("pieces"), from features.numeric.NumberEncoder's layout: PLR embeddings
        read the scores (nets.mlp.TableInputs). Dates and other dense columns have neither."""
        numeric = [(start, e) for start, e in self.dense_encoders() if isinstance(e, NumberEncoder)]
        return {"scores": [start + e.score_at for start, e in numeric],
                "pieces": [start + at for start, e in numeric for at in e.pieces_at]}

    def spec(self) -> dict:
        """What the network needs to know about its inputs."""
        return {block.spec_key: block.spec(self._read_by(block)) for block in BLOCKS}

    def set_cache_dir(self, folder) -> None:
        """Where caches too large for memory are memory-mapped (the run folder's cache/)."""
        for encoder in self.encoders.values():
            if hasattr(encoder, "cache_dir"):  # the encoders that can memory-map their output (images)
                encoder.cache_dir = folder

    def transform(self, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        self.require_columns(frame)
        inputs = {}
        for block in BLOCKS:
            inputs.update(block.tensors(self._read_by(block), frame))
        return inputs

    def require_columns(self, frame: pd.DataFrame) -> None:
        """Raises LaminaError naming the model's columns `frame` lacks, and the fix: for files read as a table of one
        column (a folder or one picture or recording: data.images.MEDIA_COLUMN_ATTR), a table of every column."""
        from lamina.data.images import MEDIA_COLUMN_ATTR

        absent = [name for name in self.encoders if name not in frame.columns]
        if absent and frame.attrs.get(MEDIA_COLUMN_ATTR):
            column = frame.attrs[MEDIA_COLUMN_ATTR]
            raise LaminaError(
                f"The data is {column} files, read as one column {column!r}, and this model reads the column(s) "
                f"{', '.join(map(repr, self.encoders))}: {', '.join(map(repr, absent))} missing. Give files of the "
                "kind the model reads, or a table (CSV) of its columns, with each file's path in its column."
            )
        if absent:
            raise LaminaError(
                f"The data lacks column(s) the model was trained on: {', '.join(map(repr, absent))}. "
                "Add them (values may be empty, which the model treats as missing)."
            )

    def state(self) -> dict:
        return {name: encoder.state() for name, encoder in self.encoders.items()}

    @classmethod
    def from_state(cls, schema: Schema, state: dict) -> FeaturePipeline:
        """Raises Fault naming the stored column (twice in the schema) or encoder state that is wrong."""
        names = [c.name for c in schema.columns]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise Fault("schema.columns", f"names the column {twice[0]!r} more than once")
        pipeline = cls(schema)
        for name, encoder in pipeline.encoders.items():
            with under(f"features.{name}"):
                encoder.load_state(state[name])
        return pipeline
