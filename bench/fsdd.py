"""Free Spoken Digit Dataset: `lamina train` on a table of audio paths (log-mel spectrograms → the image
CNN), on the dataset's documented split, beside a logistic regression on each mel band's mean and spread.

    python bench/fsdd.py

Reads $LAMINA_DATA/free-spoken-digit-dataset/recordings.tar.gz (default ../shared/data), unpacks it into a
temporary folder with train.csv and test.csv beside it: recordings 0–4 of each speaker and digit are the
test set (300 clips), 5–49 the training set (2,700; lamina holds 15% of them out for validation).
Nothing is copied into the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TEST_INDICES = range(5)  # the upstream README's split


def data_file() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / "free-spoken-digit-dataset" / \
        "recordings.tar.gz"


def tables(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for path in sorted((folder / "recordings").glob("*.wav")):
        digit, speaker, index = path.stem.split("_")
        rows.append({"audio": f"recordings/{path.name}", "speaker": speaker, "index": int(index), "digit": int(digit)})
    frame = pd.DataFrame(rows)
    test = frame["index"].isin(TEST_INDICES)
    return frame[~test], frame[test]


def band_statistics_baseline(folder: Path, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Logistic regression on the mean and standard deviation over time of each of the 64 log-mel bands
    (the same spectrograms lamina computes): what a model without any notion of time order reaches."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lamina.features.audio import AudioEncoder

    started = time.perf_counter()
    encoder = AudioEncoder("audio").fit((folder / train["audio"]).astype(str))

    def features(frame):
        pictures = encoder.transform((folder / frame["audio"]).astype(str)).float()[:, 0]
        return np.concatenate([pictures.mean(dim=2).numpy(), pictures.std(dim=2).numpy()], axis=1)

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    model.fit(features(train), train["digit"])
    accuracy = float((model.predict(features(test)) == test["digit"]).mean())
    return {"accuracy": accuracy, "wall": time.perf_counter() - started}


def main() -> None:
    archive = data_file()
    if not archive.exists():
        print(f"Free Spoken Digit Dataset not found at {archive}: set LAMINA_DATA to the folder holding "
              "free-spoken-digit-dataset/. Nothing was run.")
        return
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        with tarfile.open(archive) as bundle:
            bundle.extractall(folder, filter="data")
        train, test = tables(folder)
        train[["audio", "digit"]].to_csv(folder / "train.csv", index=False)
        test[["audio", "digit"]].to_csv(folder / "test.csv", index=False)
        print(f"FSDD: {len(train)} training clips, {len(test)} test clips (recordings 0–4 of each speaker and digit)")
        baseline = band_statistics_baseline(folder, train, test)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lamina.cli", "train", str(folder / "train.csv"), "--target", "digit",
                        "--test", str(folder / "test.csv"), "--out", str(folder / "run"), "--quiet"],
                       check=True, capture_output=True)
        wall = time.perf_counter() - started
        model = json.loads((folder / "run" / "model" / "model.json").read_text())
    rows = [
        ("majority class", model["metrics"]["baseline"]["accuracy"], "-", "-"),
        ("log-mel band mean/std + logistic regression", baseline["accuracy"], "-", f"{baseline['wall']:.0f}"),
        (f"lamina default ({model['architecture']['arch']} on log-mel spectrograms)", model["metrics"]["test"]["accuracy"],
         model["training"]["epochs_run"], f"{wall:.0f}"),
    ]
    print(f"\n{'model':<55} {'accuracy':>9} {'epochs':>7} {'wall s':>7}")
    for name, accuracy, epochs, seconds in rows:
        print(f"{name:<55} {accuracy:>9.4f} {epochs!s:>7} {seconds:>7}")
    features = model["features"]["audio"]
    print(f"\nspectrograms: {features['rate']} Hz, {features['seconds']:.2f} s per clip, 64 mel bands, 10 ms hops")


if __name__ == "__main__":
    main()
