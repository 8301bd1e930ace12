"""ESOL (Delaney solubility): test RMSE of `lamina train` on SMILES alone, on random 80/10/10 splits and on
scaffold splits, mean ± std over seeds, beside a Morgan fingerprint + random forest on the very same splits.

    python bench/esol.py [--seeds 0 1 2] [--arch auto] [--quick]

Reads $LAMINA_DATA/esol/delaney-processed.csv (default ../shared/data). Only the SMILES and the measured log
solubility are used (the file's descriptors and Delaney's own predictions are left out, as in MoleculeNet).
Anchors (Jiang et al. 2021, random split): SVM 0.57, XGBoost 0.58, AttentiveFP 0.59, MPNN 0.70, GCN 0.71;
scaffold split: AttentiveFP about 0.82-0.88, GCN 0.86-0.89.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TARGET = "logS"
FRACTIONS = {"valid_fraction": 0.1, "test_fraction": 0.1}  # 80/10/10, as MoleculeNet
FOREST_TREES = 500


def data_folder(name: str) -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / name


def read_esol() -> pd.DataFrame:
    frame = pd.read_csv(data_folder("esol") / "delaney-processed.csv")
    return pd.DataFrame({"smiles": frame["smiles"].str.strip(),
                         TARGET: frame["measured log solubility in mols per litre"]})


def fingerprints(smiles: pd.Series) -> np.ndarray:
    """Morgan radius 2, 2048 bits: the same fingerprint lamina's fingerprint architecture reads."""
    from lamina.features.molecule import MoleculeEncoder

    return MoleculeEncoder("smiles").transform(smiles)["fingerprint"].numpy()


def splits(frame: pd.DataFrame, split: str, seed: int, task: str, target: str):
    """The split lamina makes for these settings (data.split.split_rows is deterministic in them)."""
    from lamina.data.split import split_rows

    return split_rows(frame, target, task, FRACTIONS["valid_fraction"], FRACTIONS["test_fraction"], seed,
                      by="smiles" if split == "scaffold" else None)


def forest_rmse(frame: pd.DataFrame, split: str, seed: int) -> float:
    from sklearn.ensemble import RandomForestRegressor

    parts = splits(frame, split, seed, "regression", TARGET)
    forest = RandomForestRegressor(FOREST_TREES, random_state=seed, n_jobs=1)
    forest.fit(fingerprints(parts.train["smiles"]), parts.train[TARGET])
    predicted = forest.predict(fingerprints(parts.test["smiles"]))
    return float(np.sqrt(np.mean((predicted - parts.test[TARGET].to_numpy()) ** 2)))


def lamina_run(frame: pd.DataFrame, split: str, seed: int, arch: str, epochs: str | int) -> dict:
    import lamina

    started = time.perf_counter()
    model = lamina.fit(frame, TARGET, split=split, seed=seed, arch=arch, epochs=epochs, progress=False, **FRACTIONS)
    return {"rmse": model.metrics["test"]["rmse"], "arch": model.architecture["arch"],
            "epochs": model.training["epochs_run"], "sizes": model.training["sizes"],
            "seconds": round(time.perf_counter() - started, 1)}


def summary(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {spread:.3f}"


def arguments(quick: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--arch", default="auto")
    parser.add_argument("--quick", action="store_true", help=f"{quick}, 3 epochs, one seed: a smoke test")
    return parser.parse_args()


def compare(frame: pd.DataFrame, args, run_lamina, run_forest, metric: str, key: str) -> dict:
    """lamina (`run_lamina(frame, split, seed, arch, epochs)` → a dict holding `key`) beside the forest
    (`run_forest(frame, split, seed)` → the metric) per seed and split, printed as each ends, then mean ± std."""
    epochs = 3 if args.quick else "auto"
    results = {split: {"lamina": [], "forest": []} for split in ("random", "scaffold")}
    for seed in args.seeds:  # seed by seed, both splits: a run cut short still has figures for each
        for split, result in results.items():
            run = run_lamina(frame, split, seed, args.arch, epochs)
            result["lamina"].append(run)
            result["forest"].append(run_forest(frame, split, seed))
            print(f"seed {seed} {split:>8}: lamina ({run['arch']}, {run['epochs']} epochs, {run['seconds']} s) "
                  f"{metric} {run[key]:.3f}   Morgan + random forest {result['forest'][-1]:.3f}", flush=True)
    for split, result in results.items():
        result["lamina_summary"] = summary([r[key] for r in result["lamina"]])
        result["forest_summary"] = summary(result["forest"])
        print(f"{split:>8}: lamina {metric} {result['lamina_summary']}   Morgan + random forest "
              f"{result['forest_summary']}  ({len(args.seeds)} seeds)")
    print(json.dumps(results, indent=1))
    return results


def main() -> None:
    args = arguments("300 molecules")
    frame = read_esol()
    if args.quick:
        frame, args.seeds = frame.sample(300, random_state=0).reset_index(drop=True), args.seeds[:1]
    compare(frame, args, lamina_run, forest_rmse, "RMSE", "rmse")


if __name__ == "__main__":
    main()
