"""Speech to text (--task transcribe): a CTC recogniser learns "letters" that are tones of their own frequency;
CTC decoding; the joined-digits builder of bench/spoken_digits.py; POST /transcribe; save and load."""

import base64
import importlib.util
import io
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch

import lamina
from lamina.errors import LaminaError
from lamina.nets.ctc_search import greedy, labelling_log_probability, prefix_beam_search

RATE = 8000
TONES = {"a": 400, "b": 900, "c": 1600}  # Hz: each letter a frequency


def tone_clip(text: str, rng) -> np.ndarray:
    """Letters as 0.10–0.14 s Hann-windowed tones, with 0.04–0.08 s of silence between and around them."""
    parts = [np.zeros(int(rng.uniform(0.03, 0.08) * RATE))]
    for letter in text:
        n = int(rng.uniform(0.10, 0.14) * RATE)
        tone = 0.5 * np.sin(2 * np.pi * TONES[letter] * np.arange(n) / RATE) * np.hanning(n)
        parts += [tone, np.zeros(int(rng.uniform(0.04, 0.08) * RATE))]
    return np.concatenate(parts).astype(np.float32)


def tone_table(folder: Path, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = []
    for row in range(rows):
        text = "".join(rng.choice(list(TONES), rng.integers(2, 4)))
        path = folder / f"tones-{seed}-{row}.wav"
        soundfile.write(path, tone_clip(text, rng), RATE)
        table.append({"audio": str(path), "text": text.upper() if row % 7 == 0 else text})  # normalised to lower
    return pd.DataFrame(table)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    train, test = tone_table(folder, 100, 1), tone_table(folder, 16, 2)
    broken = tone_clip("abc", np.random.default_rng(3))
    broken[500] = np.nan  # a sound header over a NaN sample: left out like an unreadable clip, not fatal
    soundfile.write(folder / "nan.wav", broken, RATE, subtype="FLOAT")
    train = pd.concat([train, pd.DataFrame({"audio": [str(folder / "nan.wav")], "text": ["abc"]})], ignore_index=True)
    run = folder / "run"
    model = lamina.fit(train, target="text", task="transcribe", test=test, out=run, width=48, depth=1, epochs=8,
                       batch_size=16, lr=3e-3, progress=False)
    return model, test, run


def test_ctc_learns_tone_letters_and_decodes_held_out_sequences(trained):
    model, test, _ = trained
    truth = test["text"].str.lower().tolist()
    assert model.transcribe(test["audio"].tolist()) == truth  # greedy
    assert model.transcribe(test["audio"].tolist(), beam=4) == truth
    metrics = model.metrics
    assert metrics["test"]["cer"] == 0 and metrics["test"]["exact"] == 1
    assert metrics["baseline"]["cer"] > 0.5  # the most common training transcript is mostly wrong
    assert model.training["validation"]["metric"] == "valid_cer"


def test_save_and_load_transcribe_identically_and_the_cli_prints_a_clips_text(trained, capsys):
    from lamina.cli import main

    model, test, run = trained
    loaded = lamina.load(run)
    clips = test["audio"].tolist()[:6]
    assert loaded.transcribe(clips) == model.transcribe(clips)
    assert loaded.transcribe(clips, beam=3) == model.transcribe(clips, beam=3)
    capsys.readouterr()
    assert main(["predict", str(run), clips[0]]) == 0
    assert capsys.readouterr().out.strip() == test["text"].iloc[0].lower()
    report = (run / "report.html").read_text()
    assert "held-out scores" in report and "Examples" in report
    left_out = "1 clip(s) of the train were left out: "
    assert left_out in report and "nan.wav: cannot be decoded: 1 sample(s) are NaN or infinite" in report
    assert model.training["sizes"]["train"] + model.training["sizes"]["valid"] == 100, "the NaN clip left out"


def test_the_server_answers_text_for_a_wav_and_4xx_for_bad_audio(trained):
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app
    from lamina.tasks.transcribe import MAX_REQUEST_CHARACTERS, MAX_SECONDS

    model, test, _ = trained
    client = TestClient(create_app({"tones": model}, monitor=False))
    clip = Path(test["audio"].iloc[1]).read_bytes()
    answer = client.post("/transcribe", json={"audio": base64.b64encode(clip).decode(), "beam": 4})
    assert answer.status_code == 200 and answer.json()["text"] == test["text"].iloc[1].lower()
    not_audio = base64.b64encode(b"RIFF this is no wave file" * 10).decode()
    long = io.BytesIO()
    soundfile.write(long, np.zeros(int((MAX_SECONDS + 1) * 100), np.float32), 100, format="WAV")
    for body in ({"audio": "@@not base64@@"}, {"audio": not_audio}, {"audio": 3}, {"audio": ""},
                 {"audio": base64.b64encode(long.getvalue()).decode()},
                 {"audio": "A" * (MAX_REQUEST_CHARACTERS + 4)}, {"audio": base64.b64encode(clip).decode(), "beam": 0}):
        reply = client.post("/transcribe", json=body)
        assert 400 <= reply.status_code < 500, (str(body)[:60], reply.status_code)
    page = client.get("/").text
    assert "MediaRecorder" in page and "type='file'" in page
    wrong = client.post("/predict", json={"audio": base64.b64encode(clip).decode()})
    assert wrong.status_code == 404 and "send POST /transcribe (GET its /schema" in wrong.json()["error"], wrong.text


def test_small_data_counts_patience_in_steps_and_a_time_budget_plans_the_schedule(tmp_path):
    from lamina.tasks.transcribe import PATIENCE_STEPS

    train, test = tone_table(tmp_path, 24, 3), tone_table(tmp_path, 4, 4)
    model = lamina.fit(train, target="text", task="transcribe", test=test, time_budget="2s", width=16, depth=1,
                       progress=False, out=tmp_path / "run")
    training = model.training
    # 20 training clips are one batch, one step an epoch: --patience's 8 epochs would be 8 steps
    assert training["steps_per_epoch"] == 1 and training["patience"] == PATIENCE_STEPS
    budget = training["time_budget"]
    assert budget["seconds"] == 2 and budget["recipe_epochs"] == 1500 and budget["planned_epochs"] is not None
    assert training["epochs_run"] <= budget["planned_epochs"] and budget["used_seconds"] <= 2
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "Time budget 2 s" in report and f"patience: {PATIENCE_STEPS} epochs" in report


@pytest.mark.parametrize("setting", [{"label_smoothing": 0.1}, {"init_from": "elsewhere"}, {"adversarial": "pgd"},
                                     {"cutout": 4}])
def test_settings_it_does_not_read_are_refused_not_ignored(tmp_path, setting):
    train = pd.DataFrame({"audio": ["a.wav", "b.wav"], "text": ["ab", "ba"]})
    flag = "--" + next(iter(setting)).replace("_", "-")
    with pytest.raises(LaminaError, match=f"{flag} \\(train\\.[a-z_]+\\) is a setting of the tasks .*classification.*, and this run's task is "
                                          "transcribe: it would be ignored"):
        lamina.fit(train, target="text", task="transcribe", progress=False, **setting)


def test_test_transcripts_with_characters_never_trained_on_are_refused(tmp_path):
    train, test = tone_table(tmp_path, 12, 3), tone_table(tmp_path, 3, 4)
    test.loc[1, "text"] = "ab<z>"
    with pytest.raises(LaminaError, match=r"characters no training transcript has: \['<', '>', 'z'\]"):
        lamina.fit(train, target="text", task="transcribe", test=test, epochs=1, progress=False)


def brute_force_best(probabilities: np.ndarray) -> tuple[tuple[int, ...], float]:
    """The labelling of highest probability, summing every path [time] → its collapse (blank 0)."""
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(probabilities.shape[1]), repeat=len(probabilities)):
        merged = tuple(s for i, s in enumerate(path) if s != 0 and (i == 0 or path[i - 1] != s))
        totals[merged] = totals.get(merged, 0.0) + float(np.prod(probabilities[np.arange(len(path)), path]))
    best = max(totals, key=totals.get)
    return best, totals[best]


def test_prefix_beam_search_finds_the_most_probable_labelling_and_beats_greedy():
    # Greedy reads "" (blank, blank: 0.36); the paths of "a" sum to 0.16 + 0.24 + 0.24 = 0.64.
    two_frames = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert greedy(torch.tensor(two_frames)[None], torch.tensor([2])) == [[]]
    labels, log_p = prefix_beam_search(two_frames, beam=2)
    assert labels == [1] and math.isclose(log_p, math.log(0.64))
    rng = np.random.default_rng(0)
    for _ in range(5):
        probabilities = rng.dirichlet(np.ones(3) * 0.7, size=5)  # 5 frames, blank and two symbols
        log_probs = np.log(probabilities)
        best, p = brute_force_best(probabilities)
        labels, log_p = prefix_beam_search(log_probs, beam=64)  # wide enough to be exact
        assert tuple(labels) == best and math.isclose(log_p, math.log(p), rel_tol=1e-9)
        assert math.isclose(labelling_log_probability(torch.tensor(log_probs), labels), math.log(p), rel_tol=1e-6)
        path = greedy(torch.tensor(log_probs)[None], torch.tensor([5]))[0]
        assert log_p >= labelling_log_probability(torch.tensor(log_probs), path) - 1e-9


def test_greedy_merges_repeats_drops_blanks_and_stops_at_each_rows_length():
    best = torch.tensor([[1, 1, 0, 1, 2, 2, 3], [2, 0, 2, 2, 0, 0, 1]])
    log_probs = torch.nn.functional.one_hot(best, 4).float().log()
    assert greedy(log_probs, torch.tensor([7, 5])) == [[1, 1, 2, 3], [2, 2]]


def load_bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "spoken_digits.py"
    spec = importlib.util.spec_from_file_location("spoken_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_joined_digits_have_their_transcripts_and_silences(tmp_path):
    bench = load_bench()
    clips = pd.DataFrame({"audio": [f"{d}_{s}" for s in ("x", "y") for d in range(10)],
                          "speaker": [s for s in ("x", "y") for _ in range(10)], "digit": list(range(10)) * 2})

    def read(name):  # digit d of speaker x as (d + 1) × 100 samples of 0.25 (speaker y: −0.25)
        digit, speaker = int(name[0]), name[2]
        return np.full((digit + 1) * 100, 0.25 if speaker == "x" else -0.25, np.float32)

    table = bench.utterances(clips, tmp_path, 30, 7, read)
    for row in table.itertuples():
        digits = [int(d) for d in row.text.split(" ")]
        assert 2 <= len(digits) <= 6 and len(row.silences) == len(digits) + 1
        assert all(0.05 <= s <= 0.3 for s in row.silences)
        samples, rate = soundfile.read(tmp_path / row.audio, dtype="float32")
        assert rate == bench.RATE
        sounding = np.abs(samples) > 0.1
        runs = [len(list(group)) for on, group in itertools.groupby(sounding) if on]
        assert runs == [(d + 1) * 100 for d in digits]  # each digit's clip, in order, between silences
        signs = {np.sign(samples[sounding]).min(), np.sign(samples[sounding]).max()}
        assert len(signs) == 1  # one speaker an utterance
        assert len(samples) == sum(runs) + sum(round(s * bench.RATE) for s in row.silences)


def test_transcripts_longer_than_every_clip_can_hold_are_refused_not_divided_by_zero(tmp_path):
    train = tone_table(tmp_path, 12, 5)
    train["text"] = "ab" * 40  # 80 letters: over 3 s of audio at 40 ms a letter, for clips under a second
    with pytest.raises(LaminaError, match="No train clip is long enough for its transcript"):
        lamina.fit(train, target="text", task="transcribe", epochs=1, progress=False)


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def test_a_30_s_clip_fits_the_body_limit_and_a_larger_body_is_told_to_send_flac(trained):
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    model, _, _ = trained
    client = TestClient(create_app({"tones": model}, monitor=False))
    speech = 0.1 * np.sin(np.arange(25 * 16_000) / 16_000 * 2 * np.pi * 400)  # 25 s of 16 kHz 16-bit mono: 800 kB
    answer = client.post("/transcribe", json={"audio": base64.b64encode(wav_bytes(speech, 16_000)).decode()})
    assert answer.status_code == 200 and answer.json()["seconds"] == 25.0
    too_big = client.post("/transcribe", json={"audio": "A" * 1_400_000})
    assert too_big.status_code == 413 and "send a longer or higher-rate clip as FLAC" in too_big.json()["error"]
    # Served beside a table model, only the speech model's routes take the larger body.
    import lamina
    from conftest import FAST, make_table

    table = lamina.fit(make_table(rows=200), target="y", progress=False, **FAST)
    both = TestClient(create_app({"tones": model, "table": table}, monitor=False))
    assert both.post("/models/tones/transcribe", json={"audio": base64.b64encode(wav_bytes(speech, 16_000)).decode()}
                     ).status_code == 200
    table_answer = both.post("/models/table/predict", json={"records": [{"comment": "A" * 1_200_000}]})
    assert table_answer.status_code == 413 and "FLAC" not in table_answer.json()["error"]


def test_a_header_claiming_655_khz_and_8_channels_is_refused_before_any_decoding(trained, monkeypatch):
    from fastapi.testclient import TestClient

    from lamina.data.audio import BadAudio, read_samples
    from lamina.serving.server import create_app

    model, _, _ = trained
    claimed = wav_bytes(np.zeros((4000, 8), np.float32), 655_360)  # 6 ms said to be 655 kHz × 8 channels
    monkeypatch.setattr(soundfile.SoundFile, "read", lambda *a, **k: pytest.fail("decoded a refused clip"))
    with pytest.raises(BadAudio, match="655,360 samples a second, over the 192,000 Hz accepted"):
        read_samples(claimed, 30)
    with pytest.raises(LaminaError, match="clip 0: its header claims 655,360 samples a second"):
        model.transcribe(claimed)
    client = TestClient(create_app({"tones": model}, monitor=False))
    answer = client.post("/transcribe", json={"audio": base64.b64encode(claimed).decode()})
    assert answer.status_code == 422 and "field 'audio': its header claims 655,360" in answer.json()["error"]
    eight = wav_bytes(np.zeros((8000, 9), np.float32), 8000)
    with pytest.raises(LaminaError, match="9 channels, over the 8 accepted"):
        model.transcribe(eight)


def test_nan_or_infinite_samples_are_refused_by_the_server_and_model_transcribe(trained):
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    model, test, _ = trained
    samples, rate = soundfile.read(test["audio"].iloc[0], dtype="float32")
    samples[100], samples[200] = np.nan, np.inf
    clip = wav_bytes(samples, rate, subtype="FLOAT")
    with pytest.raises(LaminaError, match=r"clip 0: cannot read this audio \(2 sample\(s\) are NaN or infinite"):
        model.transcribe(clip)
    answer = TestClient(create_app({"tones": model}, monitor=False)).post(
        "/transcribe", json={"audio": base64.b64encode(clip).decode()})
    # A request has no column, table or row to name: its field and what is wrong
    assert answer.status_code == 422 and answer.json()["error"].startswith(
        "field 'audio': cannot read this audio (2 sample(s) are NaN or infinite")


def test_a_clip_over_30_s_is_refused_not_cut_and_beam_applies_to_one_clip_and_a_table(trained, tmp_path, capsys,
                                                                                        monkeypatch):
    from lamina.cli import main
    from lamina.tasks import transcribe

    model, test, run = trained
    long = tmp_path / "long.wav"
    soundfile.write(long, np.full(31 * RATE, 0.1, np.float32), RATE)
    with pytest.raises(LaminaError, match=r"long.wav: a clip of 31.0 s, over the 30 s .* cut it into parts"):
        model.transcribe(str(long))
    capsys.readouterr()
    assert main(["predict", str(run), str(long)]) == 2
    assert "over the 30 s" in capsys.readouterr().err

    widths = []  # the beam each search ran with: --beam must reach it, for one clip and for a table of clips
    search = transcribe.prefix_beam_search
    monkeypatch.setattr(transcribe, "prefix_beam_search", lambda row, beam: widths.append(beam) or search(row, beam))
    clip = test["audio"].iloc[2]
    assert main(["predict", str(run), clip, "--beam", "3"]) == 0
    assert capsys.readouterr().out.strip() == model.transcribe(clip, beam=3) and widths == [3, 3]
    table = Path(clip).parent / "beam-clips.csv"  # beside the clips: a table's paths stay inside its folder
    test[["audio"]].head(4).map(lambda path: Path(path).name).to_csv(table, index=False)
    assert main(["predict", str(run), str(table), "--beam", "2", "--out", str(tmp_path / "t.csv")]) == 0
    assert widths[2:] == [2] * 4
    written = pd.read_csv(tmp_path / "t.csv")
    assert written["transcript"].tolist() == test["text"].str.lower().head(4).tolist()


def test_every_unreadable_clip_is_named_in_one_error_and_one_finding(trained, tmp_path, capsys):
    from lamina.cli import main
    from lamina.tasks.transcribe import _usable

    model, test, run = trained
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.wav").write_bytes(Path(test["audio"].iloc[0]).read_bytes())
    (folder / "noise.wav").write_bytes(b"not a recording at all")  # no header
    (folder / "empty.wav").write_bytes(b"")
    nan = tone_clip("ab", np.random.default_rng(4))
    nan[100] = np.nan
    soundfile.write(folder / "nan.wav", nan, RATE, subtype="FLOAT")  # a header over undecodable samples
    capsys.readouterr()
    assert main(["predict", str(run), str(folder)]) == 2  # once: only the first bad clip, one run per clip to fix
    error = capsys.readouterr().err
    assert "Column 'audio': 3 recording(s) cannot be used whole" in error and "Traceback" not in error
    assert "empty.wav: " in error and "noise.wav: " in error and "a.wav" not in error
    assert "nan.wav: cannot read this audio (1 sample(s) are NaN" in error  # decoded: its header is sound
    table = pd.DataFrame({"audio": sorted(map(str, folder.iterdir())), "text": ["ab"] * 4})
    findings = []
    assert len(_usable(table, "audio", "text", "train", findings)) == 2  # training leaves the bad headers out
    assert "2 clip(s) of the train were left out: " in findings[0].message
    assert "empty.wav: " in findings[0].message and "noise.wav: " in findings[0].message


def test_a_training_clip_over_30_s_is_left_out_with_a_finding_not_cut_under_its_transcript(tmp_path):
    from lamina.tasks.transcribe import _usable

    table = tone_table(tmp_path, 2, 5)
    soundfile.write(tmp_path / "long.wav", np.full(31 * RATE, 0.1, np.float32), RATE)
    table.loc[1, "audio"] = str(tmp_path / "long.wav")
    findings = []
    kept = _usable(table, "audio", "text", "training data", findings)
    assert kept["audio"].tolist() == [table["audio"].iloc[0]]
    assert "long.wav: 31.0 s long, over the 30 s a clip may last" in findings[0].message


def test_evaluate_gives_rows_metrics_and_baseline_from_python_and_the_cli(trained, capsys):
    from lamina.cli import main

    model, test, run = trained
    result = model.evaluate(test)  # it was the scores alone, and the CLI refused a transcriber
    assert result["rows"] == len(test) and set(result["metrics"]) == set(result["baseline"]) == {"cer", "wer", "exact"}
    assert result["metrics"]["cer"] < result["baseline"]["cer"]
    test.to_csv(run.parent / "evaluate.csv", index=False)  # beside its clips: a table reads files below its folder
    capsys.readouterr()
    assert main(["evaluate", str(run), str(run.parent / "evaluate.csv")]) == 0
    shown = capsys.readouterr().out
    assert f"metrics on {len(test)} rows of {run.parent / 'evaluate.csv'}" in shown and "cer" in shown and "(higher is better)" in shown


@pytest.mark.parametrize("given", [None, 5, [b"RIFF", None], {"audio": "a.wav"}])
def test_transcribe_refuses_what_is_no_clip_naming_what_it_takes(trained, given):
    model, _, _ = trained
    with pytest.raises(LaminaError, match="transcribe takes a clip .* or a list of them; got"):  # was a TypeError
        model.transcribe(given)
