"""Audio: reading recordings, log-mel spectrograms, bad clips, and training on class folders."""

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from lamina.api import prepare
from lamina.config import Config
from lamina.data.audio import inspect_audio
from lamina.data.read import read_table
from lamina.errors import LaminaError
from lamina.features.audio import MELS, AudioEncoder, mel_filter_bank

soundfile = pytest.importorskip("soundfile")


def tone(hz: float, seconds: float, rate: int, seed: int, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * t) * np.hanning(len(t)) + 0.01 * rng.standard_normal(len(t))
    return np.repeat(wave[:, None], channels, axis=1).astype(np.float32)


def recordings(folder, per_class: int = 24):
    """Low and high whistles, at 8 and 16 kHz, mono and stereo, wav and flac, 0.3 to 0.6 s long."""
    rng = np.random.default_rng(0)
    for label, base in (("low", 400), ("high", 1600)):
        (folder / label).mkdir(parents=True)
        for i in range(per_class):
            rate, channels, suffix = (8000, 1, "wav") if i % 2 else (16000, 2, "flac")
            wave = tone(base * rng.uniform(0.8, 1.25), rng.uniform(0.3, 0.6), rate, seed=i, channels=channels)
            soundfile.write(folder / label / f"{i}.{suffix}", wave, rate)
    return folder


def test_a_tone_lands_in_the_mel_band_around_its_frequency(tmp_path):
    path = tmp_path / "a.wav"
    soundfile.write(path, tone(1000, 0.5, 16000, seed=0), 16000)
    encoder = AudioEncoder("clip").fit(pd.Series([str(path)]))
    picture = encoder.transform(pd.Series([str(path)]))
    assert picture.dtype == torch.uint8 and picture.shape[:3] == (1, 1, MELS)
    loudest_row = int(picture[0, 0].float().mean(dim=1).argmax())
    band = MELS - 1 - loudest_row  # rows are drawn with low frequencies at the bottom
    filters = mel_filter_bank(16000, encoder.fft_size, MELS)
    bins = torch.linspace(0, 8000, filters.shape[0])
    centres = bins[filters.argmax(dim=0)]
    assert abs(float(centres[band]) - 1000) < 120, float(centres[band])
    assert (filters.max(dim=0).values > 0.5).all() and (centres.diff() >= 0).all()


def test_every_unreadable_recording_to_predict_is_named_in_one_error(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, tone(500, 0.3, 8000, seed=0), 8000)
    encoder = AudioEncoder("clip").fit(pd.Series([str(good)]))
    bad = [tmp_path / "a.wav", tmp_path / "b.flac", tmp_path / "gone.wav"]
    bad[0].write_bytes(b"RIFF not a wave at all")
    bad[1].write_text("a shopping list")
    with pytest.raises(LaminaError, match=r"Column 'clip': 3 recording\(s\) cannot be read") as refused:
        encoder.transform(pd.Series([str(good), str(bad[0]), str(good), str(bad[1]), str(bad[2])]))
    assert all(str(path) in str(refused.value) for path in bad) and "Replace each" in str(refused.value)


def test_rates_and_channels_become_one_shape_and_silence_stays_dark(tmp_path):
    paths = []
    for i, (rate, channels) in enumerate([(8000, 1), (16000, 2), (44100, 1)]):
        paths.append(tmp_path / f"{i}.wav")
        soundfile.write(paths[-1], tone(700, 0.4, rate, seed=i, channels=channels), rate)
    values = pd.Series([str(p) for p in paths] + [None])
    encoder = AudioEncoder("clip").fit(values)
    assert encoder.rate_ == 16000, "the median rate"
    pictures = encoder.transform(values).float()
    assert pictures.shape[0] == 4
    assert pictures[3].max() == 0, "a missing clip is silence, at the floor"
    assert encoder.transform(values.iloc[:0]).shape == (0, *pictures.shape[1:]), "no rows: an empty batch"
    same_tone = torch.nn.functional.cosine_similarity(pictures[0].flatten(), pictures[1].flatten(), dim=0)
    assert same_tone > 0.8, "the same tone at 8 kHz mono and 16 kHz stereo looks alike (measured 0.88)"


def test_bad_clips_are_named_and_skipped(tmp_path):
    folder = recordings(tmp_path / "clips", per_class=30)  # 3 bad of 64: under the 5% that stops a run
    soundfile.write(folder / "low" / "silent.wav", np.zeros(4000, np.float32), 8000)
    soundfile.write(folder / "low" / "short.wav", tone(400, 0.01, 8000, seed=1), 8000)
    (folder / "high" / "corrupt.wav").write_bytes(b"RIFF\x00\x00not really audio")
    loud = np.clip(tone(1600, 0.5, 8000, seed=2) * 40, -1, 1)
    soundfile.write(folder / "high" / "clipped.wav", loud, 8000)
    assert inspect_audio(str(folder / "low" / "silent.wav")).problem.startswith("silent")
    prepared = prepare(Config().with_overrides(target="label"), read_table(folder), None)
    messages = " | ".join(f.message for f in prepared.findings)
    for name, reason in (("silent.wav", "silent"), ("short.wav", "shorter than 50 ms"), ("corrupt.wav", "not audio")):
        assert name in messages and reason in messages, name
    assert "clipped.wav" in messages and "kept" in messages
    assert len(prepared.frame) == 61, "three unusable clips left out, the clipped one kept"


def flac_of_unknown_length(samples: np.ndarray, rate: int) -> bytes:
    """A FLAC file whose STREAMINFO says total_samples = 0: legal, "unknown" (a stream written as it was recorded)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC")
    data = bytearray(buffer.getvalue())
    assert data[:4] == b"fLaC"  # then a block header (4 bytes) and STREAMINFO: total_samples its bits 108 to 143
    data[21] &= 0xF0
    data[22:26] = bytes(4)
    return bytes(data)


def test_a_flac_clip_of_unknown_length_is_measured_by_decoding_it():
    from lamina.data.audio import MAX_SENT_SECONDS, audio_from_base64, read_header, read_samples

    wave = tone(400, 1.5, 16000, seed=0, channels=2)
    clip = flac_of_unknown_length(wave, 16000)
    assert soundfile.info(io.BytesIO(clip)).frames > 10**18, "libsndfile reports the unknown length as SF_COUNT_MAX"
    assert read_header(clip).seconds == 1.5 and inspect_audio(clip).seconds == 1.5
    samples, rate = read_samples(clip)
    assert rate == 16000 and samples.shape == wave.shape and np.abs(samples - wave).max() < 1e-4
    assert len(read_samples(clip, 0.5)[0]) == 8000
    hour = flac_of_unknown_length(np.zeros(16000 * (MAX_SENT_SECONDS + 60), np.float32), 16000)  # 40 KB of silence
    assert read_header(hour).seconds == MAX_SENT_SECONDS + 1, "measured up to a second past the limit"
    with pytest.raises(LaminaError, match="field 'audio': a clip of 601 s, over the limit of 600 s"):
        audio_from_base64(base64.b64encode(hour).decode(), "field 'audio'")


def test_a_folder_of_recordings_trains_a_cnn_on_spectrograms(tmp_path, capsys):
    from lamina.cli import main

    folder = recordings(tmp_path / "clips", per_class=40)
    model = lamina.fit(folder, epochs=30, batch_size=16, out=tmp_path / "run", progress=False)
    assert model.schema.to_dict()["columns"][0] == {"name": "audio", "kind": "audio", "role": "feature",
                                                    "note": "audio file paths"}
    assert model.architecture["arch"] == "resnet"
    assert model.metrics["test"]["accuracy"] >= 0.85
    again = lamina.load(tmp_path / "run" / "model")
    rows = read_table(folder).head(6)
    assert np.allclose(model.predict(rows)["proba_high"], again.predict(rows)["proba_high"], atol=1e-5)
    # one recording predicts as it does among others, from Python and the CLI (a classifier: no transcript)
    clip, expected = rows["audio"].iloc[3], model.predict(rows)["proba_high"].iloc[3]
    assert again.predict(clip)["proba_high"].tolist() == pytest.approx([expected], abs=1e-5)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "run"), clip]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert printed["audio"].tolist() == [clip] and printed["proba_high"].tolist() == pytest.approx([expected], abs=1e-5)


def test_a_table_column_of_relative_audio_paths_is_audio_beside_other_columns(tmp_path):
    folder = recordings(tmp_path / "clips", per_class=12)
    rows = read_table(folder)
    table = pd.DataFrame({"clip": [str(Path(p).relative_to(tmp_path.resolve())) for p in rows["audio"]],
                          "speaker_age": np.resize([31.5, 25.0, 40.0], len(rows)), "label": rows["label"]})
    table.to_csv(tmp_path / "clips.csv", index=False)
    frame = read_table(tmp_path / "clips.csv")
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["clip"]), "paths resolved from the table"
    prepared = prepare(Config().with_overrides(target="label"), frame, None)
    kinds = {column.name: column.kind for column in prepared.schema.features}
    assert kinds == {"clip": "audio", "speaker_age": "number"}
    assert len(prepared.frame) == len(table) and not [f for f in prepared.findings if f.code == "audio_skipped"]
