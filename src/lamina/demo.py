"""The demo's data: scikit-learn's bundled copy of the Wisconsin breast-cancer table, written as CSV
files the way a user would have them (a training file and a held-out test file)."""

from __future__ import annotations

from pathlib import Path

DEMO_TEST_FRACTION = 0.2
DEMO_SEED = 0


def clear_earlier_demo(out: Path) -> None:
    """`lamina demo` run again replaces its own earlier run folder (recognised by the data it wrote there);
    any other folder is left for the run folder's own check to refuse."""
    import shutil

    from lamina.config import Config
    from lamina.run import CONFIG

    train_file = out / "data" / "breast_cancer_train.csv"
    if (out / CONFIG).exists() and train_file.exists():
        if Config.from_file(out / CONFIG).data.path == str(train_file.resolve()):
            shutil.rmtree(out)


def write_demo_data(folder: Path) -> tuple[Path, Path]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "diagnosis"})
    frame["diagnosis"] = frame["diagnosis"].map(dict(enumerate(bunch.target_names)))
    train, test = train_test_split(frame, test_size=DEMO_TEST_FRACTION, random_state=DEMO_SEED,
                                   stratify=frame["diagnosis"])
    folder.mkdir(parents=True, exist_ok=True)
    train_file, test_file = folder / "breast_cancer_train.csv", folder / "breast_cancer_test.csv"
    train.to_csv(train_file, index=False)
    test.to_csv(test_file, index=False)
    return train_file, test_file
