"""A small Transformer encoder for text, trained from scratch (pre-norm layers, learned positions)."""

from __future__ import annotations

import torch
from torch import nn

from lamina.nets.sequence import AttentionPooling, trimmed

HEAD_WIDTH = 32  # channels per attention head; heads = width / HEAD_WIDTH
FEEDFORWARD_FACTOR = 4  # feed-forward width as a multiple of the model width (as in BERT)


class TransformerText(nn.Module):
    """Token ids [rows, length] → one feature vector per row (width)."""

    def __init__(self, text: dict, width: int, depth: int, dropout: float):
        super().__init__()
        self.pad = text["pad"]
        self.embed = nn.Embedding(text["vocabulary"], width, padding_idx=self.pad)
        self.position = nn.Embedding(text["length"], width)
        layer = nn.TransformerEncoderLayer(width, max(1, width // HEAD_WIDTH), FEEDFORWARD_FACTOR * width,
                                           dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.pool = AttentionPooling(width)
        self.features = width

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, mask = trimmed(ids, self.pad)
        return self.read(self.embed(ids), mask)

    def read(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embedded tokens → features; per-token explanations integrate gradients from here."""
        positions = torch.arange(embedded.shape[1], device=embedded.device)
        states = self.encoder(embedded + self.position(positions), src_key_padding_mask=~mask)
        return self.pool(self.norm(states), mask)
