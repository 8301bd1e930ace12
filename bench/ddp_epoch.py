"""UCI Adult on 1 and on 2 processes (`lamina train --nproc 2`, DDP over gloo on the CPU) with the same global
batch: wall seconds per epoch, the whole command's wall time, and the scores of both, to show the 2-process run
trains the same model (within batch norm's and dropout's per-rank differences), not to show a speed-up on a
2-core machine.

    python bench/ddp_epoch.py [--epochs 6] [--batch 256] [--quick]

Reads $LAMINA_DATA/adult (default ../shared/data/adult) as bench/adult.py does. The GPU path (NCCL) is not
measured here unless a GPU machine ran it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from adult import data_folder, write_tables  # noqa: E402

QUICK_ROWS = 3000  # rows of each table --quick keeps


def train(train_csv: Path, test_csv: Path, out: Path, epochs: int, batch: int, processes: int,
          threads: int | None) -> dict:
    """One `lamina train` with `processes` processes, each taking batch/processes rows a step on `threads` CPU
    threads (None: torch's default, all cores; `--nproc` gives each process its share of the cores)."""
    command = [sys.executable, "-m", "lamina.cli", "train", str(train_csv), "--target", "income", "--test",
               str(test_csv), "--out", str(out), "--epochs", str(epochs), "--patience", str(epochs),
               "--batch-size", str(batch // processes), "--quiet"]
    if processes > 1:
        command += ["--nproc", str(processes)]
    started = time.perf_counter()
    environment = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    subprocess.run(command, check=True, capture_output=True, env=environment)
    wall = time.perf_counter() - started
    history = pd.read_csv(out / "history.csv")
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    return {"processes": processes, "threads": threads or "all", "per_process_batch": batch // processes,
            "s_per_epoch": statistics.median(history["seconds"].iloc[1:] if len(history) > 1 else history["seconds"]),
            "wall": wall, "last_valid_loss": float(history["valid_loss"].iloc[-1]),
            "accuracy": metrics["accuracy"], "roc_auc": metrics["roc_auc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6, help="epochs of each run (early stopping off)")
    parser.add_argument("--batch", type=int, default=256, help="global batch: rows per step over all processes")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS} rows per table, 2 epochs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        train_csv, test_csv = write_tables(data_folder(), work)
        epochs = 2 if args.quick else args.epochs
        if args.quick:
            for path in (train_csv, test_csv):
                pd.read_csv(path).head(QUICK_ROWS).to_csv(path, index=False)
        setups = [(1, None), (1, 1), (2, 1)]  # (processes, threads each)
        rows = [train(train_csv, test_csv, work / f"run{n}-{t}", epochs, args.batch, n, t) for n, t in setups]
    print(f"UCI Adult, {epochs} epochs, global batch {args.batch}")
    print(f"CPU cores: {os.cpu_count()}")
    print("| processes | threads each | rows per process per step | s/epoch (median, first epoch left out) | whole command s | "
          "last valid loss | test accuracy | ROC AUC |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['processes']} | {row['threads']} | {row['per_process_batch']} | {row['s_per_epoch']:.3f} | {row['wall']:.1f} | "
              f"{row['last_valid_loss']:.4f} | {row['accuracy']:.4f} | {row['roc_auc']:.4f} |")


if __name__ == "__main__":
    main()
