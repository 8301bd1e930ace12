"""Bidirectional GRU and LSTM text encoders with attention pooling."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lamina.nets.sequence import AttentionPooling, trimmed


class RecurrentText(nn.Module):
    """Token ids [rows, length] → one feature vector per row (2 × hidden: both directions)."""

    def __init__(self, text: dict, cell: Literal["gru", "lstm"], embedding: int, hidden: int, layers: int,
                 dropout: float):
        super().__init__()
        self.pad = text["pad"]
        self.embed = nn.Embedding(text["vocabulary"], embedding, padding_idx=self.pad)
        recurrent = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.recurrent = recurrent(embedding, hidden, layers, batch_first=True, bidirectional=True,
                                   dropout=dropout if layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.pool = AttentionPooling(2 * hidden)
        self.features = 2 * hidden

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, mask = trimmed(ids, self.pad)
        return self.read(self.embed(ids), mask)

    def read(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Embedded tokens → features; per-token explanations integrate gradients from here."""
        lengths = mask.sum(dim=1).cpu()
        # Packing keeps the backward direction from starting in the padding.
        packed = pack_padded_sequence(self.dropout(embedded), lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.recurrent(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=embedded.shape[1])
        return self.pool(self.dropout(states), mask)
