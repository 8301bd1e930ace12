"""What every text backbone shares: trimming a batch to its longest row, and attention pooling."""

from __future__ import annotations

import torch
from torch import nn


def trimmed(ids: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids cut to the batch's longest row, mask of real tokens). Rows are padded on the right, so the
    columns past the longest row are padding in every row and need no computation. The first position
    always counts: it holds the start piece, which keeps an empty text from masking everything out."""
    mask = ids != pad
    mask[:, 0] = True
    longest = int(mask.sum(dim=1).max())
    return ids[:, :longest], mask[:, :longest]


class AttentionPooling(nn.Module):
    """A learned weighted mean over time (Bahdanau-style scores): each token's weight is a softmax of a
    small network's score, padding excluded. The weights say which tokens the model read."""

    def __init__(self, width: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(states).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=1).to(states.dtype)
        return torch.einsum("rt,rtf->rf", weights, states)
