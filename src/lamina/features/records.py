"""The record path: request records (dicts of JSON values, already validated) → the network's input tensors,
with the fitted encoders and no DataFrame. A served row of a table costs tens of microseconds of encoding here
against about a millisecond through pandas (features.pipeline).

A model takes this path when every input column's encoder has `encode_values(values: list) -> array` (numbers,
categories, yes/no and dates do) and its block merges parts (`merged`: the dense and embedding blocks), and no
column's kind decodes its request value first (images and audio, sent as base64). Any other model keeps the
DataFrame path. Each encoder's `encode_values` runs the same arithmetic as its `transform`, so both paths give
the same tensors, bit for bit, but for floats the network does not read (tests/test_fast_path.py compares the
tensors and the predictions).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from itertools import accumulate

import numpy as np
import torch

from lamina.features.blocks import BLOCKS, DENSE
from lamina.features.kinds import kind_named
from lamina.features.numeric import NumberEncoder
from lamina.features.pipeline import FeaturePipeline


class RecordInputs:
    """The input tensors of a list of records, as FeaturePipeline.transform gives them for the same rows (the
    floats the network does not read, left 0, aside)."""

    def __init__(self, parts: list):
        # (block, [(column, encode: values → array)...]) in the order the network reads its inputs
        self.parts = parts

    @classmethod
    def of(cls, pipeline: FeaturePipeline, unread: Collection[int] = ()) -> RecordInputs | None:
        """The record path for a fitted pipeline, or None where some column needs the DataFrame path. `unread`:
        positions in `numbers` the network does not read (a PLR network's rank pieces: its architecture's
        `plr_unread`); a number column whose rank pieces all lie there is encoded without them."""
        kinds = {c.name: kind_named(c.kind) for c in pipeline.schema.features}
        if any(kind.decode is not None or not hasattr(kind.block, "merged")
               or not hasattr(pipeline.encoders[name], "encode_values") for name, kind in kinds.items()):
            return None
        dense = [name for name, kind in kinds.items() if kind.block is DENSE]
        # Where each column's floats start in `numbers` (the running sum has one more entry: the whole width).
        starts = dict(zip(dense, accumulate((pipeline.encoders[name].width for name in dense), initial=0), strict=False))
        unread = set(unread)

        def encode_of(name: str) -> Callable[[list], np.ndarray]:
            encoder = pipeline.encoders[name]
            if isinstance(encoder, NumberEncoder) and {starts[name] + at for at in encoder.pieces_at} <= unread:
                return partial(encoder.encode_values, pieces=False)
            return encoder.encode_values

        # Every merging block, even one reading no column: transform gives its empty tensor too.
        return cls([(block, [(name, encode_of(name)) for name, kind in kinds.items() if kind.block is block])
                    for block in BLOCKS if hasattr(block, "merged")])

    def __call__(self, records: list[dict]) -> dict[str, torch.Tensor]:
        """`records`: one dict per row, every input column a key (None: missing)."""
        inputs = {}
        for block, columns in self.parts:
            inputs.update(block.merged([encode([r[name] for r in records]) for name, encode in columns], len(records)))
        return inputs
