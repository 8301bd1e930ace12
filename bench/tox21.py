"""Tox21: mean test ROC-AUC over its 12 assays of one `lamina train` with all twelve as targets (missing labels
masked), on random 80/10/10 and scaffold splits, over seeds, beside a Morgan fingerprint + random forest per
assay on the very same splits.

    python bench/tox21.py [--seeds 0 1 2] [--arch auto] [--quick]

Reads $LAMINA_DATA/tox21/tox21.csv.gz (default ../shared/data). Needs several targets (`--target a,b,c`).
Anchors: random split AttentiveFP 0.85, random forest 0.84; scaffold split GCN 0.77-0.79.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd

from esol import FOREST_TREES, FRACTIONS, arguments, compare, data_folder, fingerprints, splits

ASSAYS = ["NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD", "NR-PPAR-gamma", "SR-ARE",
          "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53"]


def read_tox21() -> pd.DataFrame:
    """The SMILES and assays, without the rows lamina leaves out (SMILES RDKit cannot read, no label at all), so
    the forest's split is lamina's."""
    from lamina.data.smiles import parse

    frame = pd.read_csv(data_folder("tox21") / "tox21.csv.gz")[["smiles", *ASSAYS]]
    readable = frame["smiles"].map(lambda smiles: parse(smiles)[0] is not None)
    return frame[readable & frame[ASSAYS].notna().any(axis=1)].reset_index(drop=True)


def forest_auc(frame: pd.DataFrame, split: str, seed: int) -> float:
    """Mean over assays of a random forest's test ROC-AUC, each trained on its assay's labelled rows.
    The split is the one lamina makes (split_rows, with the first assay standing in as target)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    parts = splits(frame, split, seed, "regression", ASSAYS[0])  # "regression": no stratifying on one assay
    train_bits, test_bits = fingerprints(parts.train["smiles"]), fingerprints(parts.test["smiles"])
    scores = []
    for assay in ASSAYS:
        known, test_known = parts.train[assay].notna().to_numpy(), parts.test[assay].notna().to_numpy()
        forest = RandomForestClassifier(FOREST_TREES, random_state=seed, n_jobs=1, class_weight="balanced")
        forest.fit(train_bits[known], parts.train[assay][known].astype(int))
        truth = parts.test[assay][test_known].astype(int)
        if truth.nunique() == 2:
            scores.append(roc_auc_score(truth, forest.predict_proba(test_bits[test_known])[:, 1]))
    return float(np.mean(scores))


def lamina_run(frame: pd.DataFrame, split: str, seed: int, arch: str, epochs: str | int) -> dict:
    import lamina

    started = time.perf_counter()
    model = lamina.fit(frame, ",".join(ASSAYS), split=split, seed=seed, arch=arch, epochs=epochs, progress=False,
                       **FRACTIONS)
    targets = model.metrics["targets"]  # {assay: {"rows", "test", "baseline"}}
    per_assay = {assay: targets[assay]["test"]["roc_auc"] for assay in ASSAYS if targets[assay]["test"]}
    return {"roc_auc": statistics.mean(per_assay.values()), "mean_reported": model.metrics["test"]["roc_auc"],
            "per_assay": per_assay,
            "arch": model.architecture["arch"], "epochs": model.training["epochs_run"],
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    args = arguments("1,000 molecules")
    frame = read_tox21()
    if args.quick:
        frame, args.seeds = frame.sample(1000, random_state=0).reset_index(drop=True), args.seeds[:1]
    compare(frame, args, lamina_run, forest_auc, "mean ROC-AUC", "roc_auc")


if __name__ == "__main__":
    main()
