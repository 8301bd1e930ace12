"""Fashion-MNIST, conditional GAN (`lamina train --task generate`, default settings) under a stated CPU time
budget: lamina-FD of generated against test images beside the real-vs-real floor and the per-class Gaussian
baseline, the feature classifier's accuracy on generated images of each class, and the memorisation check.
The last sample grid is copied to docs/fashion_gan_samples.png.

    python bench/fashion_gan.py [--budget 6m] [--images 60000] [--test-images 10000] [--quick]

Reads $LAMINA_DATA/fashion-mnist (default ../shared/data/fashion-mnist), the idx .gz files as shipped. With
--images below 60000 the first images of each official split are written to a temporary .npz (nothing is
copied into the repository). --quick: 2000 images, a 40-second budget (checks the script, not the model).

Scale only: published Inception-FID of DCGAN-family models on Fashion-MNIST is roughly 20–30; lamina-FD is on
other features and is not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "docs" / "fashion_gan_samples.png"
NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def data_folder() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / "fashion-mnist"


def subset(folder: Path, work: Path, images: int, test_images: int) -> tuple[Path, list[str]]:
    """The first `images` training and `test_images` test images as .npz files; (training file, --test flags)."""
    from lamina.data.images import read_idx

    for part, count in (("train", images), ("t10k", test_images)):
        x = read_idx(folder / f"{part}-images-idx3-ubyte.gz")[:count]
        y = read_idx(folder / f"{part}-labels-idx1-ubyte.gz")[:count]
        np.savez(work / f"{part}.npz", x=x, y=y)
    return work / "train.npz", ["--test", str(work / "t10k.npz")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", default="6m", help="training time budget (lamina --time-budget)")
    parser.add_argument("--images", type=int, default=60_000, help="training images (first of the official split)")
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    if args.quick:
        args.budget, args.images, args.test_images = "40s", 2000, 500
    folder = data_folder()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        data, flags = (folder, []) if args.images >= 60_000 and args.test_images >= 10_000 else \
            subset(folder, work, args.images, args.test_images)
        out = work / "run"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lamina.cli", "train", str(data), "--task", "generate", "--out", str(out),
                        "--time-budget", args.budget, "--quiet", *flags], check=True)
        wall = time.perf_counter() - started
        model = json.loads((out / "model" / "model.json").read_text())
        grids = sorted((out / "checkpoints" / "samples").glob("epoch_*.png"))
        if not args.quick:
            GRID.parent.mkdir(exist_ok=True)
            shutil.copyfile(grids[-1], GRID)
    metrics, training = model["metrics"], model["training"]
    result = {"budget": args.budget, "wall_seconds": round(wall, 1), "train_seconds": training["seconds"],
              "epochs": training["epochs_run"], "generator_steps": training["generator_steps"],
              "sizes": training["sizes"], "fd": metrics["fd"], "generated_accuracy": metrics["generated_accuracy"],
              "classifier_test_accuracy": metrics["classifier_test_accuracy"],
              "per_class": metrics["per_class"], "memorisation": metrics["memorisation"],
              "diversity": metrics["diversity"], "cpu_threads": os.cpu_count()}
    fd = metrics["fd"]
    print(f"Fashion-MNIST conditional GAN, {training['sizes']['train']} training images, budget {args.budget} "
          f"({training['epochs_run']} epochs, {training['generator_steps']} generator steps, {wall:.0f} s wall)")
    print(f"lamina-FD generated vs test {fd['generated']:.2f} | real-vs-real floor {fd['real']:.2f} | per-class "
          f"Gaussian {fd['gaussian']:.2f}   (not Inception-FID; published DCGAN Inception-FID 20–30 for scale only)")
    print(f"classifier accuracy on generated {metrics['generated_accuracy']:.3f} (on real test "
          f"{metrics['classifier_test_accuracy']:.3f})")
    for row in metrics["per_class"]:
        name = NAMES[int(row["class"])] if row["class"].isdigit() else row["class"]
        print(f"  {name:<12} generated {row['generated_accuracy']:.3f}  real {row['real_accuracy']:.3f}  "
              f"diversity ratio {row['diversity_ratio']:.2f}")
    memo = metrics["memorisation"]
    print(f"memorisation: nearest training image median {memo['generated_median']:.3f} generated, "
          f"{memo['test_median']:.3f} test; copies {memo['copies']:.3f} (expected {memo['expected_copies']:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
