"""UCI Adult: accuracy of the default `lamina train` beside HistGradientBoosting tuned on a small grid
(bench/scoreboard.py's), lamina's loop overhead against a hand-written PyTorch loop on the identical network and
tensors, and the start-up time of `lamina --help`.

    python bench/adult.py [--seeds 0 1 2] [--overhead-epochs 6] [--numbers plain plr]

Threads: torch's default, OMP_NUM_THREADS when set (else the cores), here and in the `lamina train` runs; the
table's heading prints the count.

`--numbers`: how the mlp reads numeric floats (`lamina train --numbers`), one row of runs per choice, to compare
the periodic (PLR) embeddings with the plain floats on the same seeds.

Reads $LAMINA_DATA/adult (default ../shared/data/adult): adult-train.csv is split into train and
valid by lamina, adult-test.csv is the test set. Nothing is copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 3  # overhead runs of each loop, alternated
COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
           "income"]


def data_folder() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / "adult"


def write_tables(folder: Path, out: Path) -> tuple[Path, Path]:
    """The UCI files have no header and the test labels end in '.'; write them as a user would have them."""
    paths = []
    for name in ("train", "test"):
        frame = pd.read_csv(folder / f"adult-{name}.csv", header=None, names=COLUMNS, skipinitialspace=True)
        frame = frame.dropna(how="all")
        frame["income"] = frame["income"].str.rstrip(".")
        path = out / f"adult_{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths[0], paths[1]


def default_train(train: Path, test: Path, out: Path, seed: int, numbers: str | None = None) -> dict:
    """`lamina train` with its defaults; `numbers` given as its --numbers for this run."""
    started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-m", "lamina.cli"]
    chosen = [] if numbers is None else ["--numbers", numbers]
    subprocess.run([*command, "train", str(train), "--target", "income", "--test", str(test), "--out", str(out),
                    "--seed", str(seed), "--quiet", *chosen], check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime  # the run's CPU seconds
    model = json.loads((out / "model" / "model.json").read_text())
    return {"seed": seed, "numbers": numbers or "default", "accuracy": model["metrics"]["test"]["accuracy"], "roc_auc": model["metrics"]["test"]["roc_auc"],
            "baseline": model["metrics"]["baseline"]["accuracy"], "epochs": model["training"]["epochs_run"],
            "wall": wall, "cpu": cpu}


def overhead(train_path: Path, epochs: int, work: Path) -> dict:
    """Seconds per epoch: lamina's Trainer (checkpoints and all) against a hand-written loop, same work."""
    from lamina import api
    from lamina.config import Config
    from lamina.data.read import read_table
    from lamina.data.split import split_rows
    from lamina.features.pipeline import FeaturePipeline
    from lamina.features.target import TargetEncoder
    from lamina.nets.build import build_network
    from lamina.nets.recipe import MLP_DEFAULTS, choose_batch_size, learning_rate
    from lamina.training.batches import TensorBatches
    from lamina.training.optim import make_optimizer, make_schedule
    from lamina.training.trainer import Trainer

    config = Config().with_overrides(target="income")
    frame = read_table(train_path)
    schema = api.prepare(config, frame, None).schema
    split = split_rows(frame, "income", schema.task, 0.15, 0.15, 0)
    features = FeaturePipeline(schema).fit(split.train)
    target = TargetEncoder(schema.task, "income").fit(frame["income"])
    batch_size = choose_batch_size(len(split.train))
    train_x, valid_x = features.transform(split.train), features.transform(split.valid)
    train_y = torch.from_numpy(target.encode(split.train["income"]).copy())
    valid_y = torch.from_numpy(target.encode(split.valid["income"]).copy())
    hyper = {**MLP_DEFAULTS, "norm": config.model.norm}

    def network():
        torch.manual_seed(0)
        return build_network("mlp", features.spec(), target.outputs, **hyper)

    loss_fn = torch.nn.functional.cross_entropy
    train_cfg = config.train
    steps = len(train_y) // batch_size

    def lamina_loop() -> float:
        """The same Trainer `lamina train` uses, writing a checkpoint after every epoch."""
        module = network()
        started = time.perf_counter()
        trainer = Trainer(module, loss_fn, epochs=epochs, lr=learning_rate(train_cfg, "mlp"), weight_decay=train_cfg.weight_decay,
                          warmup_epochs=train_cfg.warmup_epochs, clip_norm=train_cfg.clip_norm, patience=None,
                          checkpoint_dir=work / "checkpoints", seed=0, progress=False)
        trainer.fit(TensorBatches(train_x, train_y, batch_size, shuffle=True),
                    TensorBatches(valid_x, valid_y, 4 * batch_size))
        return (time.perf_counter() - started) / epochs

    def raw_loop() -> float:
        """Hand-written: shuffle, slice, forward, loss, backward, clip, step, schedule, validate."""
        module = network()
        started = time.perf_counter()
        optimizer = make_optimizer(module, learning_rate(train_cfg, "mlp"), train_cfg.weight_decay)
        schedule = make_schedule(optimizer, int(train_cfg.warmup_epochs * steps), epochs * steps)
        for epoch in range(epochs):
            module.train()
            order = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(epoch))
            for start in range(0, steps * batch_size, batch_size):
                index = order[start:start + batch_size]
                loss = loss_fn(module({k: v[index] for k, v in train_x.items()}), train_y[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(module.parameters(), train_cfg.clip_norm)
                optimizer.step()
                schedule.step()
            module.eval()
            with torch.no_grad():
                outputs = [module({k: v[i:i + 4 * batch_size] for k, v in valid_x.items()})
                           for i in range(0, len(valid_y), 4 * batch_size)]
                float(loss_fn(torch.cat(outputs), valid_y))
        return (time.perf_counter() - started) / epochs

    # Whole runs, wall clock (lamina's checkpoints included), alternated so that drifts of the
    # machine's speed fall on both alike; the median run of each side is compared.
    lamina_runs, raw_runs = [], []
    for _ in range(ROUNDS):
        raw_runs.append(raw_loop())
        lamina_runs.append(lamina_loop())
    lamina_median, raw_median = statistics.median(lamina_runs), statistics.median(raw_runs)
    return {"lamina": lamina_median, "raw": raw_median, "ratio": lamina_median / raw_median,
            "batch_size": batch_size, "steps": steps}


def help_time(repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lamina.cli", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--overhead-epochs", type=int, default=6)
    parser.add_argument("--numbers", nargs="+", choices=["plain", "plr"], help="default: the recipe's choice")
    args = parser.parse_args()
    from scoreboard import GRID, hgb_score  # here: scoreboard imports this module to read Adult

    folder = data_folder()
    if not (folder / "adult-train.csv").exists():
        print(f"UCI Adult is not at {folder}; set LAMINA_DATA to the folder that holds adult/. Nothing was run.")
        return 2
    # torch's own thread count (OMP_NUM_THREADS when set, else the cores) in this process and in the `lamina train`
    # runs it starts alike, so the count printed is the one they ran with.
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        train, test = write_tables(folder, scratch)
        runs = [default_train(train, test, scratch / f"run-{numbers}-{seed}", seed, numbers)
                for numbers in args.numbers or [None] for seed in args.seeds]
        boosted = [hgb_score(pd.read_csv(train), pd.read_csv(test), "income", "accuracy", seed)[0]
                   for seed in args.seeds]
        cost = overhead(train, args.overhead_epochs, scratch)
    startup = help_time()

    print(f"\nUCI Adult, default `lamina train` (test = adult-test.csv, {torch.get_num_threads()} CPU threads, "
          f"load average {os.getloadavg()[0]:.1f})")
    print(f"{'numbers':>8} {'seed':>4} {'test acc':>9} {'ROC AUC':>8} {'baseline':>9} {'epochs':>7} {'wall s':>7} "
          f"{'CPU s':>6} {'HGB acc':>8}")
    for r in runs:
        print(f"{r['numbers']:>8} {r['seed']:>4} {r['accuracy']:>9.4f} {r['roc_auc']:>8.4f} {r['baseline']:>9.4f} "
              f"{r['epochs']:>7} {r['wall']:>7.1f} {r['cpu']:>6.0f} {boosted[args.seeds.index(r['seed'])]:>8.4f}")
    for numbers in args.numbers or ["default"]:
        accuracies = [r["accuracy"] for r in runs if r["numbers"] == numbers]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        print(f"numbers {numbers}: mean test accuracy {statistics.mean(accuracies):.4f} ± {spread:.4f} "
              "(target ≥ 0.855, goal 0.865)")
    print(f"HistGradientBoosting (grid {GRID}): mean test accuracy {statistics.mean(boosted):.4f}")
    print(f"\nLoop overhead, same network and tensors: {ROUNDS} alternated runs of {args.overhead_epochs} epochs "
          f"of {cost['steps']} steps (batch {cost['batch_size']}) each; wall s/epoch of the median run")
    print(f"{'loop':<22} {'s/epoch':>8}")
    print(f"{'hand-written PyTorch':<22} {cost['raw']:>8.3f}")
    print(f"{'lamina Trainer':<22} {cost['lamina']:>8.3f}")
    print(f"ratio lamina / raw: {cost['ratio']:.3f} (target ≤ 1.05)")
    print(f"\n`lamina --help` wall time, median of 5: {startup:.3f} s (target < 0.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
