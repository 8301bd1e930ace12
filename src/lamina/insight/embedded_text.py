"""A text network seen from one text column's token embeddings: token ids are discrete, so per-token
explanations and attacks on text move the embedding vectors instead, with the rest of the network (other
columns' features, the head) held as it is."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lamina.nets.mlp import column_of, module_key
from lamina.nets.sequence import trimmed


@dataclass
class EmbeddedText:
    column: str
    network: nn.Module  # a ColumnNetwork reading text
    backbone: nn.Module  # the column's text backbone: embed(ids), read(embedded, mask)
    mask: torch.Tensor  # rows × tokens, True at real tokens
    ids: torch.Tensor  # rows × tokens, cut to the longest row
    embedded: torch.Tensor  # rows × tokens × embedding width
    fixed: tuple[torch.Tensor, ...]  # the other parts' features, in the network's order, the text's left out
    position: int  # where the text's features go among the parts

    def forward(self, embedded: torch.Tensor, mask: torch.Tensor, *fixed: torch.Tensor) -> torch.Tensor:
        """The network's outputs from this column's embeddings; `mask` and `fixed` as in the fields (passed
        in, not read from self, so integrated gradients can cut all three into the same batches)."""
        features = self.backbone.read(embedded, mask)
        parts = [*fixed[:self.position], features, *fixed[self.position:]]
        return self.network.head(torch.cat(parts, dim=1).float())

    def outputs(self, embedded: torch.Tensor) -> torch.Tensor:
        """The network's outputs for every row with this column's embeddings replaced by `embedded`."""
        return self.forward(embedded, self.mask, *self.fixed)


def embedded_text(network: nn.Module, inputs: dict, column: str) -> EmbeddedText:
    """`network` (in eval mode) on the encoded `inputs`, opened up at `column`'s token embeddings."""
    backbone = network.backbones[module_key(column)]
    ids, mask = trimmed(inputs[f"text:{column}"], backbone.pad)
    with torch.no_grad():
        parts = [network.table.encode(inputs)] if network.table.encoded_width else []
        parts += [other(inputs[f"text:{column_of(key)}"]) if other is not backbone else None
                  for key, other in network.backbones.items()]
        embedded = backbone.embed(ids)
    position = next(i for i, part in enumerate(parts) if part is None)
    fixed = tuple(part for part in parts if part is not None)
    return EmbeddedText(column, network, backbone, mask, ids, embedded, fixed, position)
