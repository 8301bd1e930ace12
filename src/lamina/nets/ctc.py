"""Speech recognisers trained with CTC: log-mel frames → per-frame log-probabilities over characters.

Input family "frames": a dict {"frames": uint8 [rows, time, mels] (features.audio.log_mel, transposed; rows
right-padded with zeros), "lengths": int64 [rows] (real frames per row)}. Output: float log-probabilities
[rows, time', vocabulary] with the blank at index 0, time' = `output_lengths(time)`: two stride-2 convolutions
subsample time ×4 (Conv2dSubsampling of ESPnet; Dong et al. 2018 "Speech-Transformer"), so a 10 ms hop
becomes a 40 ms output frame. The encoder is a bidirectional GRU (as Deep Speech 2, Amodei et al. 2016) or a
small Transformer encoder (Vaswani et al. 2017); a linear layer gives the characters, trained with
torch.nn.functional.ctc_loss (Graves et al. 2006).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def subsampled(lengths: torch.Tensor) -> torch.Tensor:
    """Frames after the two stride-2, kernel-3, padding-1 convolutions: ⌊(n − 1) / 2⌋ + 1, twice."""
    for _ in range(2):
        lengths = torch.div(lengths - 1, 2, rounding_mode="floor") + 1
    return lengths


class Subsampling(nn.Module):
    """uint8 frames [rows, time, mels] → [rows, ⌈time/4⌉, width]: scaled to 0…1, standardised with the training
    frames' `mean` and `std`, padding zeroed, then two 3×3 stride-2 convolutions of `channels` maps (ReLU) over
    (time, mel) and a linear projection of each output frame's maps to `width`."""

    def __init__(self, mels: int, mean: float, std: float, channels: int, width: int):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.convolutions = nn.Sequential(nn.Conv2d(1, channels, 3, 2, 1), nn.ReLU(),
                                          nn.Conv2d(channels, channels, 3, 2, 1), nn.ReLU())
        self.project = nn.Linear(channels * int(subsampled(torch.tensor(mels))), width)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = frames[:, : int(lengths.max())]  # batches of similar lengths: no frame past the longest row
        real = torch.arange(frames.shape[1], device=frames.device) < lengths[:, None]
        x = ((frames.float() / 255 - self.mean) / self.std) * real[..., None]
        x = self.convolutions(x.unsqueeze(1))  # [rows, channels, time/4, mels/4]
        return self.project(x.permute(0, 2, 1, 3).flatten(2)), subsampled(lengths)


class GRURecognizer(nn.Module):
    """Subsampling, `depth` bidirectional GRU layers of `width` units a direction (padding packed away, so the
    backward direction starts at each row's last real frame), a linear layer to `vocabulary` characters."""

    def __init__(self, mels: int, mean: float, std: float, vocabulary: int, channels: int, width: int, depth: int,
                 dropout: float):
        super().__init__()
        self.subsample = Subsampling(mels, mean, std, channels, width)
        self.dropout = nn.Dropout(dropout)
        self.rnn = nn.GRU(width, width, depth, batch_first=True, bidirectional=True,
                          dropout=dropout if depth > 1 else 0.0)
        self.head = nn.Linear(2 * width, vocabulary)

    def forward(self, inputs: dict) -> torch.Tensor:
        x, lengths = self.subsample(inputs["frames"], inputs["lengths"])
        time = x.shape[1]
        packed = nn.utils.rnn.pack_padded_sequence(self.dropout(x), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        x, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=time)
        return self.head(self.dropout(x)).float().log_softmax(-1)

    output_lengths = staticmethod(subsampled)


class TransformerRecognizer(nn.Module):
    """Subsampling, sinusoidal positions, `depth` pre-norm Transformer encoder layers of `width` dimensions and
    4 heads (padding masked out of attention), a linear layer to `vocabulary` characters."""

    def __init__(self, mels: int, mean: float, std: float, vocabulary: int, channels: int, width: int, depth: int,
                 dropout: float):
        super().__init__()
        self.subsample = Subsampling(mels, mean, std, channels, width)
        layer = nn.TransformerEncoderLayer(width, 4, 4 * width, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocabulary)

    def forward(self, inputs: dict) -> torch.Tensor:
        x, lengths = self.subsample(inputs["frames"], inputs["lengths"])
        x = x + positions(x.shape[1], x.shape[2], x.device)
        padding = torch.arange(x.shape[1], device=x.device) >= lengths[:, None]
        x = self.encoder(x, src_key_padding_mask=padding)
        return self.head(self.norm(x)).float().log_softmax(-1)

    output_lengths = staticmethod(subsampled)


def positions(length: int, width: int, device) -> torch.Tensor:
    """Sinusoidal position encodings [length, width] (Vaswani et al. 2017, §3.5)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, device=device) * (-math.log(10_000.0) / width))
    table = torch.zeros(length, width, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : width // 2]
    return table
