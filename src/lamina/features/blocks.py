"""The network's input blocks: the groups a table's encoded columns reach the network in.

Every column kind names the block that reads it (features.kinds). A block says under which key(s) of the
inputs dict its columns' tensors arrive and what the network is told about them (its part of the spec):

- dense: one float32 [rows, width] tensor, `numbers`, of every column's floats side by side (an MLP's input);
- embedding: one int64 [rows, columns] tensor, `categories`, a vocabulary index per column (one embedding each);
- tokens: one int64 [rows, length] tensor per column, `text:<column>`, token ids for a sequence model;
- picture: one uint8 [rows, channels, height, width] tensor per column, `image:<column>`, read by a CNN;
- molecule: two tensors per column (features.molecule), `molecule:<column>` its atoms and bonds (int16
  [rows, slots, width]) for a graph network and `fingerprint:<column>` its Morgan bits (uint8 [rows, bits]).

The key names and the spec are stored in model.json (the architecture's inputs), so they never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class DenseBlock:
    spec_key: str  # the block's entry in the pipeline's spec and its key in the inputs dict

    def spec(self, encoders: dict) -> int:
        return sum(e.width for e in encoders.values())

    def tensors(self, encoders: dict, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        return self.merged([e.transform(frame[name]) for name, e in encoders.items()], len(frame))

    def merged(self, parts: list[np.ndarray], rows: int) -> dict[str, torch.Tensor]:
        """The columns' encoded parts (float32 [rows, width] each) side by side; also the record path's
        (features.records)."""
        merged = np.concatenate(parts, axis=1) if parts else np.zeros((rows, 0), np.float32)
        return {self.spec_key: torch.from_numpy(merged)}


@dataclass(frozen=True)
class EmbeddingBlock:
    spec_key: str

    def spec(self, encoders: dict) -> list[int]:
        return [e.cardinality for e in encoders.values()]

    def tensors(self, encoders: dict, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        return self.merged([e.transform(frame[name]) for name, e in encoders.items()], len(frame))

    def merged(self, parts: list[np.ndarray], rows: int) -> dict[str, torch.Tensor]:
        """The columns' indices (int64 [rows] each) as one [rows, columns] tensor; also the record path's."""
        stacked = np.stack(parts, axis=1) if parts else np.zeros((rows, 0), np.int64)
        return {self.spec_key: torch.from_numpy(stacked)}


@dataclass(frozen=True)
class ColumnBlock:
    """A block with one tensor per column, each read by its own backbone (a sequence model, a CNN)."""

    spec_key: str
    prefix: str  # inputs key of a column: "<prefix>:<column>"

    def spec(self, encoders: dict) -> dict[str, dict]:
        return {name: e.spec() for name, e in encoders.items()}

    def tensors(self, encoders: dict, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        # as_tensor shares the encoder's memory, whether it gives an array (tokens) or a tensor (pictures).
        return {f"{self.prefix}:{name}": torch.as_tensor(e.transform(frame[name])) for name, e in encoders.items()}


@dataclass(frozen=True)
class PartsBlock:
    """A block whose encoders give several named tensors per column ({part: tensor}), keyed `<part>:<column>`."""

    spec_key: str

    def spec(self, encoders: dict) -> dict[str, dict]:
        return {name: e.spec() for name, e in encoders.items()}

    def tensors(self, encoders: dict, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
        return {f"{part}:{name}": tensor for name, e in encoders.items()
                for part, tensor in e.transform(frame[name]).items()}


DENSE = DenseBlock("numbers")
EMBEDDING = EmbeddingBlock("categories")
TOKENS = ColumnBlock("texts", "text")
PICTURE = ColumnBlock("images", "image")
MOLECULE = PartsBlock("molecules")
BLOCKS = (DENSE, EMBEDDING, TOKENS, PICTURE, MOLECULE)  # the order the network reads its inputs (and explanations split them)
