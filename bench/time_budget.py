"""Time budgets that plan the schedule, on an image set nobody tuned lamina's recipe on: scikit-learn's 8 × 8
digits (1,797 images, bundled with scikit-learn). Side by side, per budget B, mean ± std over seeds:

- cap only (the old behaviour): the recipe's epochs, and training stops when the next epoch would pass B;
- planned: the epochs (and the cosine schedule's length) set from the first epochs' speed to fill B.

B is a share of the recipe's own training time, measured first (seed 0): a short budget (the cap cuts the
schedule mid-way) and a long one (the cap never binds: the old behaviour ends at the recipe's epochs).

    python bench/time_budget.py [--seeds 0 1 2] [--shares 0.5 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

import lamina


def write_digits(folder: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.clip(digits.images * 16, 0, 255).astype(np.uint8)  # 0…16 intensities as 8-bit grey
    path = folder / "digits.npz"
    np.savez(path, x=pixels, y=digits.target)
    return path


def train(data: Path, seed: int, **settings) -> dict:
    model = lamina.fit(data, "label", progress=False, seed=seed, **settings)
    trained = model.training
    result = {"accuracy": model.metrics["test"]["accuracy"], "seconds": trained["train_seconds"],
              "epochs": trained["epochs_run"], "planned": (trained.get("time_budget") or {}).get("planned_epochs")}
    print(f"seed {seed} {settings}: {result}", flush=True)
    return result


def spread(values: list[float], digits: int = 4) -> str:
    mean = statistics.mean(values)
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shares", type=float, nargs="+", default=[0.5, 2.0],
                        help="budgets as shares of the recipe's training seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = write_digits(Path(folder))
        recipe = {seed: train(data, seed) for seed in args.seeds}
        recipe_seconds = recipe[args.seeds[0]]["seconds"]
        epochs = recipe[args.seeds[0]]["epochs"]
        print(f"recipe: {epochs} epochs, {recipe_seconds:.1f} s of training (seed {args.seeds[0]})", flush=True)
        rows = [("recipe, no budget", None, list(recipe.values()))]
        for share in args.shares:
            budget = f"{share * recipe_seconds:.0f}s"
            capped = list(recipe.values()) if share >= 1 else [  # the cap never binds: the recipe's own runs
                train(data, seed, epochs=epochs, time_budget=budget) for seed in args.seeds]
            planned = [train(data, seed, time_budget=budget) for seed in args.seeds]
            rows += [("cap only", budget, capped), ("planned", budget, planned)]
            print(f"budget {budget} done", flush=True)
    print(f"\nsklearn digits as 8×8 images, {len(args.seeds)} seeds, mean ± std\n"
          "| budget | schedule | test accuracy | seconds used | epochs run | planned epochs |\n|---|---|---|---|---|---|")
    for name, budget, results in rows:
        planned = [r["planned"] for r in results if r["planned"] is not None]
        print(f"| {budget or '-'} | {name} | {spread([r['accuracy'] for r in results])} | "
              f"{spread([r['seconds'] for r in results], 1)} | {spread([r['epochs'] for r in results], 1)} | "
              f"{spread(planned, 1) if planned else '-'} |")


if __name__ == "__main__":
    main()
