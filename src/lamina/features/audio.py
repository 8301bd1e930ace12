"""Audio clips → log-mel spectrograms, cached as one-channel uint8 pictures that the image CNNs read.

Every clip is mixed to mono, resampled to one rate and cut or padded (with silence) to one length; the
power spectrogram comes from `torch.stft` and a mel filter bank computed once. Decibels relative to each
clip's peak, floored DYNAMIC_RANGE below it, are stored in 256 steps (0.31 dB each, below what a
classifier can use), so the spectrograms share the image cache, augmentation, attacks and explanations.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import torch
from pydantic import Field, StrictInt

from lamina.checked import Record, checked
from lamina.data.audio import (
    REFERENCE_SAMPLES,
    REQUEST_SECONDS,
    audio_from_base64,
    inspect_audio_column,
    looks_like_audio_paths,
    mono_at,
    read_header,
    read_headers,
    read_samples,
)
from lamina.data.media import library_message, refuse_unreadable
from lamina.errors import LaminaError
from lamina.features.blocks import PICTURE
from lamina.features.kinds import FILE_FIELD, ColumnSample, Kind, register_kind, sniff

MELS = 64  # mel bands: the spectrogram's height
WINDOW_SECONDS, HOP_SECONDS = 0.025, 0.010  # 25 ms analysis windows every 10 ms, speech's usual frames
MAX_RATE = 16_000  # Hz; clips are resampled to their median rate, at most this (speech lives below 8 kHz)
DURATION_PERCENTILE = 95  # clips are cut at this percentile of training durations...
MAX_SECONDS = 10.0  # ...and never kept longer than this
DYNAMIC_RANGE = 80.0  # dB below each clip's peak that the spectrogram keeps; quieter reads as the floor
SILENCE_POWER = 1e-10  # mel power added before the logarithm (−100 dB), so silence has a finite level
CHUNK = 1024  # clips turned into spectrograms at a time (bounds the memory of the STFT)


def mel_filter_bank(rate: int, fft_size: int, mels: int) -> torch.Tensor:
    """[fft_size // 2 + 1, mels] triangular filters evenly spaced on the HTK mel scale from 0 Hz to Nyquist."""
    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def to_hz(mel):
        return 700.0 * (10 ** (np.asarray(mel) / 2595.0) - 1.0)

    edges = to_hz(np.linspace(0.0, to_mel(rate / 2), mels + 2))
    bins = np.linspace(0.0, rate / 2, fft_size // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    return torch.from_numpy(np.clip(np.minimum(rising, falling), 0.0, None).T.astype(np.float32))


def fft_size_at(rate: int) -> int:
    """Points of the FFT: the 25 ms window rounded up to a power of two."""
    return 2 ** math.ceil(math.log2(WINDOW_SECONDS * rate))


def log_mel(waves: torch.Tensor, rate: int) -> torch.Tensor:
    """float32 waves [rows, samples] at `rate` Hz → uint8 log-mel spectrograms [rows, MELS, frames], band 0 the
    lowest: a frame every HOP_SECONDS (frames = samples // hop + 1, torch.stft centred), decibels relative to each
    row's peak, floored DYNAMIC_RANGE below it, in 256 steps; a silent row is all zeros."""
    filters = mel_filter_bank(rate, fft_size_at(rate), MELS)
    window = torch.hann_window(round(WINDOW_SECONDS * rate))
    power = torch.stft(waves, fft_size_at(rate), hop_length=round(HOP_SECONDS * rate),
                       win_length=len(window), window=window, return_complex=True).abs() ** 2
    decibels = 10 * torch.log10(torch.einsum("rft,fm->rmt", power, filters) + SILENCE_POWER)
    peak = decibels.amax(dim=(1, 2), keepdim=True)
    steps = ((decibels - peak).clamp(min=-DYNAMIC_RANGE) + DYNAMIC_RANGE) / DYNAMIC_RANGE * 255
    steps = steps.masked_fill(peak <= 10 * math.log10(SILENCE_POWER) + 1, 0)  # silence stays at the floor
    return steps.round().to(torch.uint8)


class AudioEncoder:
    width = 1

    def __init__(self, column: str):
        self.column = column

    def fit(self, values: pd.Series) -> AudioEncoder:
        infos = [i for i in read_headers(values.dropna()) if not i.problem]  # the file check decoded them
        if not infos:
            raise LaminaError(f"Audio column {self.column!r} has no readable clip in the training rows.")
        self.rate_ = int(min(MAX_RATE, np.median([i.rate for i in infos])))
        self.seconds_ = float(min(MAX_SECONDS, np.percentile([i.seconds for i in infos], DURATION_PERCENTILE)))
        pictures = self.transform(values).float() / 255
        self.mean_, self.std_ = [float(pictures.mean())], [float(pictures.std().clamp_min(1e-3))]
        return self

    @property
    def fft_size(self) -> int:
        return fft_size_at(self.rate_)

    def spec(self) -> dict:
        return {"channels": 1, "size": MELS, "mean": self.mean_, "std": self.std_}

    def transform(self, values: pd.Series) -> torch.Tensor:
        """uint8 [rows, 1, MELS, frames] of file paths or files' bytes (what a request sends; see
        `_within_request_budget`); a missing clip is silence. Only the first `seconds_` of a clip are decoded.
        Raises LaminaError naming every file (or record of a request) that cannot be read (media.refuse_unreadable)."""
        values = values.tolist()
        if not values:  # an empty selection still has the pictures' shape
            return self._pictures([None], 0, [])[:0]
        self._within_request_budget(values)
        problems: list[tuple[str, str]] = []  # (where, why) of every clip that cannot be read, named at the end
        pictures = torch.cat([self._pictures(values[start:start + CHUNK], start, problems)
                              for start in range(0, len(values), CHUNK)])
        refuse_unreadable(self.column, problems, "recording")
        return pictures

    def _within_request_budget(self, values: list) -> None:
        """Clips sent inline (bytes) come from one request: what the model reads of them (at most `seconds_`
        each, from their headers) may hold at most REQUEST_SECONDS of 48 kHz stereo together, so a request
        cannot make the server decode without end in clips each under the limit."""
        samples = 0
        for value in values:
            if isinstance(value, bytes):
                header = read_header(value)
                samples += min(header.seconds, self.seconds_) * header.rate * header.channels
        if samples > REQUEST_SECONDS * REFERENCE_SAMPLES:
            raise LaminaError(
                f"Field {self.column!r}: the clips sent hold {samples / REFERENCE_SAMPLES:,.1f} s of audio to decode "
                f"together (counted as 48 kHz stereo), over the limit of {REQUEST_SECONDS:,} s a request; send "
                "fewer clips at a time.")

    def _pictures(self, values: list, first_row: int, problems: list[tuple[str, str]]) -> torch.Tensor:
        """Spectrograms of `values` (rows from `first_row`); a clip that cannot be read is silence here and its
        (where, why) is added to `problems`."""
        length = round(self.seconds_ * self.rate_)
        waves = torch.zeros(len(values), length)
        for row, value in enumerate(values):
            if not isinstance(value, (str, bytes)):
                continue
            try:  # read_samples decodes only the seconds the model reads, so resampling filters no more than them
                samples, rate = read_samples(value, self.seconds_)
            except Exception as error:  # soundfile's own error types, a missing file, a pipe or device
                problems.append((value if isinstance(value, str) else f"row {first_row + row}",
                                 library_message(error)))
                continue
            wave = torch.from_numpy(mono_at(samples, rate, self.rate_))[:length]
            waves[row, :len(wave)] = wave
        return self._log_mel(waves)

    def _log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        return log_mel(waves, self.rate_).unsqueeze(1).flip(2)  # low frequencies at the bottom, as drawn

    def state(self) -> dict:
        return {"rate": self.rate_, "seconds": self.seconds_, "mean": self.mean_, "std": self.std_}

    def load_state(self, state: dict) -> AudioEncoder:
        stored = checked(_AudioState, state)
        self.rate_, self.seconds_ = stored.rate, stored.seconds
        self.mean_, self.std_ = stored.mean, stored.std
        return self


class _AudioState(Record):
    rate: StrictInt = Field(gt=0)  # samples a second
    seconds: float = Field(gt=0)  # length every clip is cut or padded to
    mean: list[float] = Field(min_length=1, max_length=1)  # of the spectrogram's one channel
    std: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, max_length=1)


@register_kind
class AudioKind(Kind):
    """Recordings: file paths in a table. The schema only says "audio"; reading them as pictures is this
    declaration's choice: the encoder makes log-mel spectrograms and the picture block hands them to the
    image CNNs. A request sends the file's bytes in base64, never a path. Not profiled for drift."""

    name = "audio"
    encoder = AudioEncoder
    block = PICTURE
    request_field = FILE_FIELD
    decode = staticmethod(audio_from_base64)
    inspect_files = staticmethod(inspect_audio_column)

    @sniff(30)
    def audio_paths(self, column: ColumnSample) -> str | None:
        return "audio file paths" if looks_like_audio_paths(column.values) else None

    def example(self, rows: int, folder: Path) -> pd.Series:
        import soundfile

        rate = 8000
        seconds = np.arange(rate // 5) / rate  # 0.2 s clips
        paths = []
        for row in range(rows):
            paths.append(folder / f"clip-{row}.wav")
            soundfile.write(paths[-1], 0.5 * np.sin(2 * np.pi * (300 + 100 * row) * seconds), rate)
        return pd.Series([str(p) for p in paths])

    def request_example(self, folder: Path) -> str:
        import base64

        return base64.b64encode(Path(self.example(1, folder)[0]).read_bytes()).decode()
