"""Audio files (wav, flac, ogg, mp3... through soundfile): what a recording is, whether it can be used, and its
samples as mono float32 at one sample rate."""

from __future__ import annotations

import io
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd

from lamina.data.inline import bytes_from_base64, is_missing
from lamina.data.media import (
    AUDIO,
    NotARegularFile,
    library_message,
    looks_like_media_paths,
    require_regular_file,
)
from lamina.errors import LaminaError

AUDIO_COLUMN = "audio"
MIN_SECONDS = 0.05  # shorter clips hold less than a syllable (and fewer frames than one STFT window)
SILENT_PEAK = 1e-4  # a clip whose loudest sample stays below this (−80 dBFS) is silence
CLIPPED_SHARE = 0.01  # a clip with more than this share of samples at full scale is clipped
READ_THREADS = 8  # libsndfile releases the GIL while decoding
# A request's clip is refused above this length, read from its header before decoding: 650 KB of FLAC can
# hold an hour of 48 kHz stereo silence (1.4 GB as float32 samples), and a model reads at most 10 s.
MAX_SENT_SECONDS = 600
# What the clips of one request may make the server decode together, in seconds of 48 kHz stereo (a clip at a
# higher rate or with more channels counts for more, as decoding costs per sample). Only the part the model reads
# is decoded, at most its `seconds_` (10 s) a clip, so this bounds the clips a request sends, as REQUEST_PIXELS
# bounds pictures: 600 s is 58 million samples, about a second of decoding and resampling.
REQUEST_SECONDS = 600
REFERENCE_SAMPLES = 48_000 * 2  # samples a second of 48 kHz stereo
# Bounds on what a header may claim, checked before anything is decoded (a 650 kHz × 8 channel header would make
# the first 30 s alone 630 MB of float32 samples): the highest rate recorders and audio interfaces offer, and 7.1
# surround's channels.
MAX_CLIP_RATE = 192_000  # samples a second
MAX_CLIP_CHANNELS = 8
# What libsndfile reports as the frame count of a file whose header leaves its length unknown (SF_COUNT_MAX: a FLAC
# stream's total_samples may legally be 0, "unknown"); such a clip is measured by decoding it, up to MAX_SENT_SECONDS
# and a second: a longer one reads as that long, as no caller needs to know more than that a clip is longer.
UNKNOWN_FRAMES = 2**63 - 1
LENGTH_BLOCK = 65_536  # frames decoded at a time to measure a clip of unknown length


class BadAudio(ValueError):
    """A clip soundfile reads whose header or samples cannot be used; the message says why (no file named)."""


@dataclass
class AudioInfo:
    rate: int  # samples per second; 0 when the file is unreadable
    seconds: float
    problem: str = ""  # why the clip cannot be used
    clipped: bool = False
    channels: int = 1


def looks_like_audio_paths(series: pd.Series, root: Path | None = None) -> bool:
    """Paths of recordings, by suffix or by content (relative to `root` when given)."""
    return looks_like_media_paths(series, AUDIO, root)


def _soundfile():
    try:
        import soundfile
    except ImportError:
        raise LaminaError("Reading audio needs soundfile: pip install 'lamina[audio]'.") from None
    return soundfile


def _opened(source):
    """A soundfile.SoundFile of a file path or of a file's bytes, its header read. Raises NotARegularFile for a
    pipe, socket or device (never opened: a FIFO would block, /dev/zero read forever), FileNotFoundError, and
    soundfile's errors for what it cannot read."""
    soundfile = _soundfile()
    require_regular_file(source)
    return soundfile.SoundFile(io.BytesIO(source) if isinstance(source, bytes) else source)


def read_samples(source, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """(float32 [samples, channels] in −1…1, sample rate) of a file path or of a file's bytes: the first
    `seconds` (the whole clip when None); frames after them are never decoded. Raises as `_opened`, and BadAudio
    for a header past MAX_CLIP_RATE or MAX_CLIP_CHANNELS (before decoding) or a NaN or infinite sample (a float
    WAV can hold them; every later step would turn them into NaN features)."""
    with _opened(source) as clip:
        problem = _header_problem(clip.samplerate, clip.channels)
        if problem:
            raise BadAudio(problem)
        rate = int(clip.samplerate)
        samples = _read(clip, None if seconds is None else math.ceil(seconds * rate))
    if not np.isfinite(samples).all():
        raise BadAudio(f"{int((~np.isfinite(samples)).sum()):,} sample(s) are NaN or infinite; a recording's samples "
                       "are finite (re-export it as 16-bit PCM)")
    return samples, rate


def _read(clip, frames: int | None) -> np.ndarray:
    """float32 [frames, channels] of an open clip: its first `frames` (all when None)."""
    if clip.frames != UNKNOWN_FRAMES:
        return clip.read(-1 if frames is None else frames, dtype="float32", always_2d=True)
    blocks = list(_blocks(clip, frames))  # soundfile would allocate the claimed length at once
    return np.concatenate(blocks) if blocks else np.zeros((0, clip.channels), np.float32)


def _frames(clip) -> int:
    """An open clip's length in frames: its header's, or for a clip of unknown length (UNKNOWN_FRAMES) the frames
    decoded, up to MAX_SENT_SECONDS and a second (its rate and channels checked first: _header_problem)."""
    if clip.frames != UNKNOWN_FRAMES or _header_problem(clip.samplerate, clip.channels):
        return clip.frames
    return sum(len(block) for block in _blocks(clip, (MAX_SENT_SECONDS + 1) * clip.samplerate))


def _blocks(clip, most: int | None):
    """The decoded blocks (float32 [frames, channels]) of an open clip of unknown length, up to `most` frames (all
    when None). soundfile moves its position by a seek after each read, which libsndfile refuses at the end of such
    a clip: the last read raises once it has filled its block. So each block starts as NaN, and the frames decoded
    into the last are those before its trailing NaNs (a clip holding NaN samples is refused anyway: read_samples)."""
    read = 0
    while most is None or read < most:
        block = np.full((LENGTH_BLOCK if most is None else min(LENGTH_BLOCK, most - read), clip.channels), np.nan,
                        np.float32)
        try:
            block = clip.read(len(block), dtype="float32", always_2d=True, out=block)
        except RuntimeError:  # soundfile's LibsndfileError: the seek past the end
            decoded = np.flatnonzero(~np.isnan(block).all(axis=1))
            yield block[: decoded[-1] + 1 if len(decoded) else 0]
            return
        if not len(block):
            return
        yield block
        read += len(block)


def _header_problem(rate: int, channels: int) -> str:
    """Why a header's rate or channels are past what lamina decodes ("" if they are not)."""
    if rate > MAX_CLIP_RATE:
        return f"its header claims {rate:,} samples a second, over the {MAX_CLIP_RATE:,} Hz accepted (resample it)"
    if channels > MAX_CLIP_CHANNELS:
        return f"its header claims {channels} channels, over the {MAX_CLIP_CHANNELS} accepted (mix it down)"
    return ""


def read_header(value) -> AudioInfo:
    """Rate, length and channels of one clip from its header alone (nothing decoded, but for a clip whose header
    leaves its length unknown: _frames), and the problem a header shows: unreadable, not a file, or too short."""
    try:
        with _opened(value) as clip:
            info = AudioInfo(int(clip.samplerate), _frames(clip) / clip.samplerate, channels=clip.channels)
    except Exception as error:  # soundfile raises its own LibsndfileError, or RuntimeError, for bad files
        return AudioInfo(0, 0.0, _unreadable(error))
    info.problem = _header_problem(info.rate, info.channels) or _too_short(info.seconds)
    return info


def inspect_audio(value) -> AudioInfo:
    """Decodes one clip fully (a corrupt file fails only there) and says whether it can be used."""
    try:
        samples, rate = read_samples(value)
    except Exception as error:  # soundfile raises its own LibsndfileError, or RuntimeError, for bad files
        return AudioInfo(0, 0.0, _unreadable(error))
    seconds = len(samples) / rate
    if _too_short(seconds):
        return AudioInfo(rate, seconds, _too_short(seconds))
    peak = float(np.abs(samples).max())
    if peak < SILENT_PEAK:
        return AudioInfo(rate, seconds, "silent (every sample below −80 dBFS)")
    clipped = float((np.abs(samples) >= 0.999).mean()) > CLIPPED_SHARE
    return AudioInfo(rate, seconds, clipped=clipped)


def _unreadable(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "file not found"
    if isinstance(error, (NotARegularFile, BadAudio)):
        return str(error)
    return f"not audio soundfile can read ({library_message(error)})"


def _too_short(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms long, shorter than {MIN_SECONDS * 1000:.0f} ms" if seconds < MIN_SECONDS else ""


def inspect_audio_column(series: pd.Series, image_size: int | str = "auto") -> list[AudioInfo]:
    """One AudioInfo per value, each clip decoded in full. `image_size` (the run's picture side, which every
    kind's file check is given) does not concern recordings."""
    return _each(inspect_audio, series)


def read_headers(series: pd.Series) -> list[AudioInfo]:
    """One AudioInfo per value from its header alone (read_header)."""
    return _each(read_header, series)


def _each(read, series: pd.Series) -> list[AudioInfo]:
    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(read, series.tolist()))


def mono_at(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Channels averaged, then resampled to `target_rate` with a polyphase filter (scipy)."""
    mono = samples.mean(axis=1)
    if rate == target_rate:
        return mono
    from scipy.signal import resample_poly

    common = gcd(rate, target_rate)
    return resample_poly(mono, target_rate // common, rate // common).astype(np.float32)


def audio_from_base64(text: str | None, where: str) -> bytes | None:
    """A clip sent inline (base64 of a wav/flac/ogg/mp3 file; see data.inline) → its bytes, checked from its
    header alone (readable, at least MIN_SECONDS, at most MAX_SENT_SECONDS): the encoder then decodes only the
    part its model reads. Servers take audio this way and never as paths, so a request cannot make lamina read a
    file. A missing value (None, NaN) stays None. Raises LaminaError naming `where`."""
    if is_missing(text):
        return None
    data = bytes_from_base64(text, where, "audio")
    header = read_header(data)
    if header.seconds > MAX_SENT_SECONDS:
        raise LaminaError(f"{where}: a clip of {header.seconds:,.0f} s, over the limit of {MAX_SENT_SECONDS} s a "
                          "clip sent; send a shorter part.")
    if header.problem:
        raise LaminaError(f"{where}: {header.problem}.")
    return data
