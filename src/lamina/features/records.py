"""The record path: request records (dicts of JSON values, already validated) → the network's input tensors,
with the fitted encoders and no DataFrame. A served row of a table costs microseconds of encoding here against
about a millisecond through pandas (features.pipeline), most of one-row latency.

A model takes this path when every input column's encoder has `encode_values(values: list) -> array` (numbers,
categories, yes/no and dates do) and its block merges parts (`merged`: the dense and embedding blocks), and no
column's kind decodes its request value first (images and audio, sent as base64). Any other model keeps the
DataFrame path. Each encoder's `encode_values` runs the same arithmetic as its `transform`, so both paths give
the same tensors, bit for bit (tests/test_fast_path.py compares the predictions).
"""

from __future__ import annotations

import torch

from lamina.features.blocks import BLOCKS
from lamina.features.kinds import kind_named
from lamina.features.pipeline import FeaturePipeline


class RecordInputs:
    """The input tensors of a list of records, as FeaturePipeline.transform gives them for the same rows."""

    def __init__(self, parts: list):
        self.parts = parts  # (block, [(column, encoder)...]) in the order the network reads its inputs

    @classmethod
    def of(cls, pipeline: FeaturePipeline) -> RecordInputs | None:
        """The record path for a fitted pipeline, or None where some column needs the DataFrame path."""
        kinds = {c.name: kind_named(c.kind) for c in pipeline.schema.features}
        if any(kind.decode is not None or not hasattr(kind.block, "merged")
               or not hasattr(pipeline.encoders[name], "encode_values") for name, kind in kinds.items()):
            return None
        # Every merging block, even one reading no column: transform gives its empty tensor too.
        return cls([(block, [(name, pipeline.encoders[name]) for name, kind in kinds.items() if kind.block is block])
                    for block in BLOCKS if hasattr(block, "merged")])

    def __call__(self, records: list[dict]) -> dict[str, torch.Tensor]:
        """`records`: one dict per row, every input column a key (None: missing)."""
        inputs = {}
        for block, columns in self.parts:
            inputs.update(block.merged([encoder.encode_values([r[name] for r in records]) for name, encoder in columns],
                                       len(records)))
        return inputs

