"""Multi30k translation (WMT16 multimodal task 1, Elliott et al. 2016): lamina's translate task with its default
settings under a CPU time budget, en→de and de→en, scored on test2016 with sacreBLEU (cased, detokenised, its
signature printed) and chrF beside the trivial baseline of copying the source; also BLEU lower-cased (13a), the
variant the PyTorch tutorials report. Then the same network in a hand-written PyTorch loop on the same batches,
for training speed (tokens/s) side by side.

    python bench/multi30k.py [--minutes 35] [--reverse-minutes 35] [--arch transformer] [--hand-seconds 60]

Both directions train at once, each in its own process on one thread (on 2 cores this beats two processes
fighting over both). Reads $LAMINA_DATA/multi30k/raw (default ../shared/data): train (29,000 pairs) and val
(1,014) — lamina holds --valid-fraction of them out for picking the epoch by validation BLEU (10% when the
figures in BENCHMARKS.md were made, 15% since) — and test_2016_flickr (1,000)
for the test. Nothing is copied into the repository; the run folders go to a temporary folder.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = [  # test2016 BLEU; tutorials: de→en, lower-cased and tokenised (compare with "BLEU lc")
    ("GRU + attention, PyTorch tutorial (bentrevett, de→en, lower-cased)", 28.0),
    ("3-layer Transformer, PyTorch tutorial (bentrevett, de→en, lower-cased)", 36.5),
]


def data_folder() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / "multi30k" / "raw"


def lines(split: str, language: str) -> list[str]:
    with gzip.open(data_folder() / f"{split}.{language}.gz", "rt", encoding="utf-8") as file:
        return file.read().splitlines()


def write_files(folder: Path) -> None:
    """Plain-text copies (one sentence a line) in a temporary folder: train+val for training, test2016."""
    for language in ("en", "de"):
        (folder / f"train.{language}").write_text("\n".join(lines("train", language) + lines("val", language)) + "\n")
        (folder / f"test.{language}").write_text("\n".join(lines("test_2016_flickr", language)) + "\n")


def start(folder: Path, source: str, target: str, minutes: float, arch: str,
          sizes: list[str]) -> tuple[subprocess.Popen, Path]:
    out = folder / f"run-{source}-{target}"
    command = [sys.executable, "-m", "lamina.cli", "train", "--task", "translate", "--source", source, "--target",
               target, "--source-file", str(folder / f"train.{source}"), "--target-file", str(folder / f"train.{target}"),
               "--test-source-file", str(folder / f"test.{source}"), "--test-target-file",
               str(folder / f"test.{target}"), "--time-budget", f"{minutes}m", "--arch", arch, "--out", str(out),
               "--quiet", *sizes]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = (folder / f"log-{source}-{target}.txt").open("w")
    return subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT), out


def result(out: Path, started: float) -> dict:
    model = json.loads((out / "model" / "model.json").read_text())
    return {"metrics": model["metrics"], "training": model["training"], "architecture": model["architecture"],
            "wall": time.perf_counter() - started}


def hand_loop(out: Path, seconds: float) -> dict:
    """The trained run's network and batches (same vocabulary, sizes, token budget) in a plain PyTorch loop: AdamW,
    label-smoothed cross-entropy, no validation or checkpoints. Returns training tokens/s (source + target)."""
    import torch
    import torch.nn.functional as F

    import lamina
    from lamina.training.batches import TokenBatches

    torch.set_num_threads(1)
    model = lamina.load(out / "model")
    task, architecture = model.task, model.architecture
    sources = (out.parent / f"train.{task.source_}").read_text().splitlines()
    targets = (out.parent / f"train.{task.target_}").read_text().splitlines()
    source = task.subwords_.encode(sources, "source", task.max_source_)
    target = task.subwords_.encode(targets, "target", task.max_target_)
    network = task.build_network(architecture).train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=5e-4)
    batches = TokenBatches(source, target, model.training["batch_tokens"], shuffle=True)
    tokens, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for batch in batches:
            logits = network({"source": batch["source"], "target_in": batch["target"][:, :-1]})
            loss = F.cross_entropy(logits.flatten(0, 1), batch["target"][:, 1:].flatten(), ignore_index=0,
                                   label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tokens += int((batch["source"] != 0).sum() + (batch["target"] != 0).sum())
            if time.perf_counter() - started >= seconds:
                break
    return {"tokens_per_second": tokens / (time.perf_counter() - started)}


def lamina_tokens_per_second(run: dict, out: Path) -> float:
    """Training tokens (source + target, as the hand loop counts them) per second of the run's training time
    (its per-epoch greedy validation decoding included)."""
    import lamina

    model = lamina.load(out / "model")
    task = model.task
    pairs = [(out.parent / f"train.{side}").read_text().splitlines() for side in (task.source_, task.target_)]
    tokens = sum(int(task.subwords_.lengths(texts, role).sum()) for texts, role in zip(pairs, ("source", "target"),
                                                                                         strict=True))
    share = run["training"]["sizes"]["train"] / len(pairs[0])  # lamina trains on 90% of the pairs
    return tokens * share * run["training"]["epochs_run"] / run["training"]["train_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=35.0, help="en→de training budget (minutes)")
    parser.add_argument("--reverse-minutes", type=float, default=35.0, help="de→en training budget (minutes)")
    parser.add_argument("--arch", default="transformer", choices=["transformer", "gru"])
    parser.add_argument("--hand-seconds", type=float, default=60.0, help="hand-written loop's timing (seconds)")
    parser.add_argument("--width", type=int, help="model dimensions instead of the data-sized default")
    parser.add_argument("--depth", type=int, help="layers a side instead of the data-sized default")
    args = parser.parse_args()
    if not data_folder().is_dir():
        sys.exit(f"Multi30k not found at {data_folder()} (set LAMINA_DATA to the folder holding multi30k/raw).")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_files(folder)
        started = time.perf_counter()
        sizes = [*(["--width", str(args.width)] if args.width else []), *(["--depth", str(args.depth)] if args.depth
                                                                          else [])]
        runs = {"en→de": start(folder, "en", "de", args.minutes, args.arch, sizes),
                "de→en": start(folder, "de", "en", args.reverse_minutes, args.arch, sizes)}
        results = {}
        for name, (process, out) in runs.items():
            if process.wait() != 0:
                log = (folder / f"log-{out.name[4:]}.txt").read_text()
                sys.exit(f"{name} failed:\n{log[-3000:]}")
            results[name] = result(out, started)
        load_during = os.getloadavg()
        first = runs["en→de"][1]
        hand = hand_loop(first, args.hand_seconds)
        lamina_speed = lamina_tokens_per_second(results["en→de"], first)
    report(results, args, load_before, load_during, lamina_speed, hand)


def report(results: dict, args, load_before, load_during, lamina_speed: float, hand: dict) -> None:
    settings = "default settings" if not (args.width or args.depth) else f"width {args.width}, depth {args.depth}"
    print(f"Multi30k test2016 ({results['en→de']['metrics']['pairs']:,} pairs), lamina translate task, arch {args.arch}, {settings}; budgets: "
          f"en→de {args.minutes:g} min, de→en {args.reverse_minutes:g} min, trained at once, 1 thread each on "
          f"{os.cpu_count()} shared cores")
    print(f"machine load (1/5/15-min averages): before {load_before[0]:.1f}/{load_before[1]:.1f}/"
          f"{load_before[2]:.1f}, after training {load_during[0]:.1f}/{load_during[1]:.1f}/{load_during[2]:.1f}")
    print()
    print(f"{'direction':<10}{'system':<22}{'BLEU':>7}{'chrF':>7}{'BLEU lc':>9}{'len ratio':>10}{'epochs':>8}"
          f"{'train s':>9}{'wall s':>8}")
    for name, run in results.items():
        metrics, training = run["metrics"], run["training"]
        for system, scores in ((f"lamina (beam {metrics['beam']})", metrics["test"]),
                               ("copy the source", metrics["baseline"])):
            own = system.startswith("lamina")
            print(f"{name:<10}{system:<22}{scores['bleu']:>7.1f}{scores['chrf']:>7.1f}{scores['bleu_lowercase']:>9.1f}"
                  f"{scores['length_ratio']:>10.2f}" + (f"{training['epochs_run']:>8}{training['train_seconds']:>9.0f}"
                                                          f"{run['wall']:>8.0f}" if own else ""))
    for system, bleu in PUBLISHED:
        print(f"{'(de→en)':<10}{system}: BLEU lc {bleu}")
    run = results["en→de"]
    print()
    print(f"network: {run['architecture']['arch']} {run['architecture']['hyperparameters']}, "
          f"{run['training']['batch_tokens']} tokens a batch, {run['training']['sizes']}")
    print(f"signature: {run['metrics']['signature']['bleu']}")
    print(f"signature (lower-cased): {run['metrics']['signature']['bleu_lowercase']}")
    print(f"signature (chrF): {run['metrics']['signature']['chrf']}")
    print(f"training speed, en→de network, 1 thread: lamina {lamina_speed:,.0f} tokens/s (its validation decoding "
          f"included), hand-written PyTorch loop {hand['tokens_per_second']:,.0f} tokens/s "
          f"({args.hand_seconds:g} s, under the load above)")


if __name__ == "__main__":
    main()
