"""Spoken digit strings: `lamina.fit(..., task="transcribe")` on utterances of 2–6 digits joined from Free Spoken
Digit recordings, beside the trivial baseline (always the most common training transcript).

    python bench/spoken_digits.py [--train 3000] [--test 500] [--epochs 20] [--threads 1]

Reads $LAMINA_DATA/free-spoken-digit-dataset/recordings.tar.gz (default ../shared/data) through bench/fsdd.py's
reader and the dataset's documented split: training utterances are joined from recordings 5–49 of each speaker and
digit, test utterances from recordings 0–4, so no test recording is ever heard in training. An utterance is one
speaker's clips of 2–6 random digits (8 kHz) with 0.05–0.3 s of silence before, between and after them; its
transcript is the digits with spaces ("4 0 7 1"). Prints the digit error rate (WER over the digit tokens), the share
of utterances transcribed exactly, CER, the baseline, wall times, and the p50 latency of POST /transcribe for a
3-second clip through FastAPI's in-process TestClient (no network hop). Everything is written in a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fsdd import data_file, tables  # noqa: E402  (the Free Spoken Digit reader and its documented split)

RATE = 8000  # Hz, the dataset's rate
DIGITS = (2, 6)  # digits an utterance holds, both ends included
SILENCE = (0.05, 0.3)  # seconds of silence before, between and after the digits, drawn uniformly


def utterances(clips: pd.DataFrame, folder: Path, count: int, seed: int, read) -> pd.DataFrame:
    """`count` utterances written as WAV files in `folder`, each one speaker's clips of 2–6 random digits joined
    with random silences; `clips` has the columns audio (a readable clip), speaker and digit; `read(path)` gives a
    clip's float samples at RATE. Returns a table: audio (file name), text ("4 0 7 1"), silences (seconds, in
    order)."""
    import soundfile

    rng = np.random.default_rng(seed)
    by_speaker = {speaker: group for speaker, group in clips.groupby("speaker")}
    speakers = sorted(by_speaker)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(count):
        own = by_speaker[speakers[rng.integers(len(speakers))]]
        digits = rng.integers(0, 10, rng.integers(DIGITS[0], DIGITS[1] + 1))
        gaps = rng.integers(round(SILENCE[0] * RATE), round(SILENCE[1] * RATE) + 1, len(digits) + 1)  # samples
        pieces = [np.zeros(gaps[0], np.float32)]
        for digit, gap in zip(digits, gaps[1:], strict=True):
            choices = own[own["digit"] == digit]["audio"].tolist()
            pieces += [read(choices[rng.integers(len(choices))]), np.zeros(gap, np.float32)]
        name = f"utterance-{seed}-{number:05d}.wav"
        soundfile.write(folder / name, np.concatenate(pieces), RATE)
        rows.append({"audio": name, "text": " ".join(map(str, digits)), "silences": (gaps / RATE).tolist()})
    return pd.DataFrame(rows)


def digit_strings(archive: Path, folder: Path, train_count: int, test_count: int, seed: int):
    """(train, test) tables of utterances (`audio`: absolute paths of the WAVs written under `folder`, `text`),
    joined from the clips of the FSDD archive extracted into `folder`: training ones from recordings 5–49, test
    ones from 0–4 (fsdd.tables)."""
    import soundfile

    with tarfile.open(archive) as bundle:
        bundle.extractall(folder, filter="data")
    train_clips, test_clips = tables(folder)

    def read(path):
        samples, rate = soundfile.read(folder / path, dtype="float32")
        assert rate == RATE, f"{path}: {rate} Hz"
        return samples

    parts = []
    for part, clips, count, offset in (("train", train_clips, train_count, 1), ("test", test_clips, test_count, 2)):
        table = utterances(clips, folder / part, count, seed + offset, read)
        table["audio"] = [str(folder / part / name) for name in table["audio"]]
        parts.append(table)
    return parts[0], parts[1]


def latency(model, clip: bytes, calls: int) -> float:
    """Median seconds of POST /transcribe of `clip` (base64) through the in-process TestClient."""
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    client = TestClient(create_app({"digits": model}, monitor=False))
    body = {"audio": base64.b64encode(clip).decode()}
    times = []
    for _ in range(calls + 1):
        started = time.perf_counter()
        answer = client.post("/transcribe", json=body)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return statistics.median(times[1:])  # the first call warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="training utterances")
    parser.add_argument("--test", type=int, default=500, help="test utterances")
    parser.add_argument("--epochs", type=int, default=20, help="upper bound on epochs (early stopping may end sooner)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (a loaded machine runs 1 faster)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    archive = data_file()
    if not archive.exists():
        print(f"Free Spoken Digit Dataset not found at {archive}: set LAMINA_DATA to the folder holding "
              "free-spoken-digit-dataset/. Nothing was run.")
        return
    import os

    import soundfile
    import torch

    import lamina

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        started = time.perf_counter()
        train, test = digit_strings(archive, folder, args.train, args.test, args.seed)
        built = time.perf_counter() - started
        seconds = [soundfile.info(p).duration for p in train["audio"]]
        print(f"Built {len(train)} training utterances from recordings 5–49 and {len(test)} test utterances from "
              f"recordings 0–4 ({np.mean(seconds):.2f} s on average) in {built:.0f} s")
        started = time.perf_counter()
        model = lamina.fit(train[["audio", "text"]], target="text", task="transcribe", test=test[["audio", "text"]],
                           epochs=args.epochs, seed=args.seed, progress=False)
        wall = time.perf_counter() - started
        three = test.iloc[int(np.argmin([abs(soundfile.info(p).duration - 3.0) for p in test["audio"]]))]
        clip = Path(three["audio"]).read_bytes()
        p50 = latency(model, clip, 20)
        three_seconds = soundfile.info(io.BytesIO(clip)).duration
    test_scores, baseline = model.metrics["test"], model.metrics["baseline"]
    print(f"\n{'model':<52} {'digit error':>11} {'utterances exact':>17} {'CER':>7}")
    print(f"{'baseline: the most common training transcript':<52} {baseline['wer']:>11.2%} "
          f"{baseline['exact']:>17.2%} {baseline['cer']:>7.2%}")
    print(f"{'lamina ctc-gru, greedy decoding':<52} {test_scores['wer']:>11.2%} {test_scores['exact']:>17.2%} "
          f"{test_scores['cer']:>7.2%}")
    print(f"{'lamina ctc-gru, prefix beam search (8)':<52} {test_scores['wer_beam']:>11.2%} {'-':>17} "
          f"{test_scores['cer_beam']:>7.2%}")
    training = model.training
    print(f"\nTraining: {training['epochs_run']} epochs (best {training['best_epoch']}), {training['seconds']:.0f} s; "
          f"whole fit with features and scoring {wall:.0f} s; {args.threads} torch thread(s); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end")
    print(f"POST /transcribe p50 latency for a {three_seconds:.2f} s clip: {p50 * 1000:.0f} ms "
          "(in-process TestClient, 20 calls)")


if __name__ == "__main__":
    main()
