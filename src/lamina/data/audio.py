"""Audio files (wav, flac, ogg, mp3... through soundfile): what a recording is, whether it can be used, and its
samples as mono float32 at one sample rate."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.data.inline import bytes_from_base64, is_missing
from lamina.data.media import AUDIO, looks_like_media_paths
from lamina.errors import LaminaError

AUDIO_COLUMN = "audio"
MIN_SECONDS = 0.05  # shorter clips hold less than a syllable (and fewer frames than one STFT window)
SILENT_PEAK = 1e-4  # a clip whose loudest sample stays below this (−80 dBFS) is silence
CLIPPED_SHARE = 0.01  # a clip with more than this share of samples at full scale is clipped
READ_THREADS = 8  # libsndfile releases the GIL while decoding
# A request's clip is refused above this length, read from its header before decoding: 650 KB of FLAC can
# hold an hour of 48 kHz stereo silence (1.4 GB as float32 samples), and a model reads at most 10 s.
MAX_SENT_SECONDS = 600


@dataclass
class AudioInfo:
    rate: int  # samples per second; 0 when the file is unreadable
    seconds: float
    problem: str = ""  # why the clip cannot be used
    clipped: bool = False


def looks_like_audio_paths(series: pd.Series, root: Path | None = None) -> bool:
    """Paths of recordings, by suffix or by content (relative to `root` when given)."""
    return looks_like_media_paths(series, AUDIO, root)


def _soundfile():
    try:
        import soundfile
    except ImportError:
        raise LaminaError("Reading audio needs soundfile: pip install 'lamina[audio]'.") from None
    return soundfile


def read_samples(source) -> tuple[np.ndarray, int]:
    """(float32 [samples, channels] in −1…1, sample rate) of a file path or of a file's bytes."""
    soundfile = _soundfile()
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    samples, rate = soundfile.read(data, dtype="float32", always_2d=True)
    return samples, int(rate)


def inspect_audio(value) -> AudioInfo:
    """Decodes one clip fully (a corrupt file fails only there) and says whether it can be used."""
    try:
        samples, rate = read_samples(value)
    except FileNotFoundError:
        return AudioInfo(0, 0.0, "file not found")
    except Exception as error:  # soundfile raises its own LibsndfileError, or RuntimeError, for bad files
        return AudioInfo(0, 0.0, f"not audio soundfile can read ({str(error).strip() or type(error).__name__})")
    seconds = len(samples) / rate
    if seconds < MIN_SECONDS:
        return AudioInfo(rate, seconds, f"{seconds * 1000:.0f} ms long, shorter than {MIN_SECONDS * 1000:.0f} ms")
    peak = float(np.abs(samples).max())
    if peak < SILENT_PEAK:
        return AudioInfo(rate, seconds, "silent (every sample below −80 dBFS)")
    clipped = float((np.abs(samples) >= 0.999).mean()) > CLIPPED_SHARE
    return AudioInfo(rate, seconds, clipped=clipped)


def inspect_audio_column(series: pd.Series, image_size: int | str = "auto") -> list[AudioInfo]:
    """One AudioInfo per value. `image_size` (the run's picture side, which every kind's file check is given)
    does not concern recordings."""
    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(inspect_audio, series.tolist()))


def mono_at(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Channels averaged, then resampled to `target_rate` with a polyphase filter (scipy)."""
    mono = samples.mean(axis=1)
    if rate == target_rate:
        return mono
    from scipy.signal import resample_poly

    common = gcd(rate, target_rate)
    return resample_poly(mono, target_rate // common, rate // common).astype(np.float32)


def audio_from_base64(text: str | None, where: str) -> bytes | None:
    """A clip sent inline (base64 of a wav/flac/ogg/mp3 file; see data.inline) → its bytes, checked to be
    usable audio. Servers take audio this way and never as paths, so a request cannot make lamina read a file.
    A missing value (None, NaN) stays None."""
    if is_missing(text):
        return None
    data = bytes_from_base64(text, where, "audio")
    try:
        seconds = _soundfile().info(io.BytesIO(data)).duration
    except Exception:  # not audio: inspect_audio below says why
        seconds = 0.0
    if seconds > MAX_SENT_SECONDS:
        raise LaminaError(f"{where}: a clip of {seconds:,.0f} s, over the limit of {MAX_SENT_SECONDS} s a clip sent; "
                          "send the part to classify.")
    problem = inspect_audio(data).problem
    if problem:
        raise LaminaError(f"{where}: {problem}.")
    return data
