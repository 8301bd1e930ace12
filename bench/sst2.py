"""SST-2 sentiment: `lamina train` with its default text model (a bidirectional GRU trained from scratch),
the small Transformer, and the pretrained MiniLM-L6 encoder fine-tuned, beside a TF-IDF + logistic
regression baseline and the majority class, all on the same split.

    python bench/sst2.py [--skip-default] [--skip-transformer] [--skip-pretrained] [--pretrained-rows N]

Reads $LAMINA_DATA/sst2 (default ../shared/data/sst2): train_full.tsv is split into train and valid by
lamina (85/15, seed 0), dev.tsv (872 labelled sentences, GLUE's dev set) is the test set, as papers report
SST-2. `--pretrained-rows` fine-tunes MiniLM on the first N training sentences only (a CPU budget).
Nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = [  # accuracy on the SST-2 dev set, from the GLUE / model papers
    ("2-layer BiLSTM (GLUE baseline, Wang et al. 2019)", 0.863),
    ("DistilBERT (Sanh et al. 2019)", 0.913),
    ("BERT-base (Devlin et al. 2019)", 0.935),
]


def data_folder() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / "sst2"


def lamina_train(data: Path, test: Path, out: Path, *flags: str) -> dict:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lamina.cli", "train", str(data), "--target", "label", "--test", str(test),
                    "--out", str(out), "--quiet", *flags], check=True, capture_output=True)
    wall = time.perf_counter() - started
    model = json.loads((out / "model" / "model.json").read_text())
    return {"accuracy": model["metrics"]["test"]["accuracy"], "baseline": model["metrics"]["baseline"]["accuracy"],
            "epochs": model["training"]["epochs_run"], "train_seconds": model["training"]["train_seconds"],
            "wall": wall, "arch": model["architecture"]["arch"]}


def tfidf_baseline(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Word uni- and bigram TF-IDF with logistic regression: the classic strong linear baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    started = time.perf_counter()
    pipeline = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
                             LogisticRegression(C=4.0, max_iter=2000))
    pipeline.fit(train["sentence"], train["label"])
    accuracy = float((pipeline.predict(test["sentence"]) == test["label"]).mean())
    return {"accuracy": accuracy, "wall": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-default", action="store_true", help="skip the default GRU run")
    parser.add_argument("--skip-transformer", action="store_true")
    parser.add_argument("--skip-pretrained", action="store_true")
    parser.add_argument("--pretrained-rows", type=int, default=None)
    args = parser.parse_args()
    folder = data_folder()
    if not (folder / "train_full.tsv").exists():
        print(f"SST-2 not found at {folder}: set LAMINA_DATA to the folder holding sst2/. Nothing was run.")
        return
    train_path, test_path = folder / "train_full.tsv", folder / "dev.tsv"
    read = {"sep": "\t", "quoting": 3, "keep_default_na": False}
    train, test = pd.read_csv(train_path, **read), pd.read_csv(test_path, **read)
    print(f"SST-2: {len(train)} training sentences (lamina holds 15% out for validation), {len(test)} test (dev.tsv)")
    baseline = tfidf_baseline(train, test)
    rows = [("TF-IDF 1-2 grams + logistic regression (all train rows)", baseline["accuracy"], "-",
             f"{baseline['wall']:.0f}")]
    runs = []  # (name, lamina_train result)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        if not args.skip_default:
            default = lamina_train(train_path, test_path, work / "gru")
            runs.append((f"lamina default ({default['arch']}, from scratch)", default))
        if not args.skip_transformer:
            runs.append(("lamina --arch transformer (from scratch)",
                         lamina_train(train_path, test_path, work / "transformer", "--arch", "transformer")))
        if not args.skip_pretrained:
            data = train_path
            if args.pretrained_rows:
                data = work / "subset.tsv"
                train.head(args.pretrained_rows).to_csv(data, sep="\t", index=False)
            used = f"first {args.pretrained_rows} rows" if args.pretrained_rows else "all rows"
            runs.append((f"lamina --init-from minilm (fine-tuned, {used})",
                         lamina_train(data, test_path, work / "minilm", "--init-from", "minilm")))
    if runs:  # every lamina run reports the same majority-class baseline on the test set
        rows.insert(0, ("majority class", runs[0][1]["baseline"], "-", "-"))
    rows += [(name, result["accuracy"], result["epochs"], f"{result['wall']:.0f}") for name, result in runs]
    print(f"\n{'model':<60} {'accuracy':>9} {'epochs':>7} {'wall s':>7}")
    for name, accuracy, epochs, wall in rows:
        print(f"{name:<60} {accuracy:>9.4f} {epochs!s:>7} {wall:>7}")
    print("\npublished (SST-2 dev accuracy):")
    for name, accuracy in PUBLISHED:
        print(f"  {name:<58} {accuracy:.3f}")


if __name__ == "__main__":
    main()
