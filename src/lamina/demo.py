"""The demo's data: scikit-learn's bundled copy of the UCI handwritten digits (1,797 scans of 8 × 8 pixels, each
pixel an ink count 0-16), written as a table of 64 pixel columns in CSV files the way a user would have them (a
training file and a held-out test file); and what the demo prints: the model's test metrics beside a logistic
regression's on the same files and the majority-class baseline's.

Why this table: on it a network reliably beats the linear model a deep default must beat (over 20 splits the
default won 17 and lost 1 against logistic regression, BENCHMARKS.md). On the Wisconsin breast-cancer table, the demo
before it, the two are at parity over 20 splits, so any one split's comparison is a coin toss."""

from __future__ import annotations

from pathlib import Path

DEMO_TEST_FRACTION = 0.2
DEMO_SEED = 0
DEMO_TARGET = "digit"
COLUMNS = ("model", "logistic", "baseline")  # the printed table's columns, in order


def clear_earlier_demo(out: Path) -> None:
    """`lamina demo` run again replaces its own earlier run folder (recognised by the data it wrote there);
    any other folder is left for the run folder's own check to refuse."""
    import shutil

    from lamina.config import Config
    from lamina.run import CONFIG

    train_file = out / "data" / "digits_train.csv"
    if (out / CONFIG).exists() and train_file.exists():
        if Config.from_file(out / CONFIG).data.path == str(train_file.resolve()):
            shutil.rmtree(out)


def write_demo_data(folder: Path) -> tuple[Path, Path]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    frame = load_digits(as_frame=True).frame.rename(columns={"target": DEMO_TARGET})
    train, test = train_test_split(frame, test_size=DEMO_TEST_FRACTION, random_state=DEMO_SEED,
                                   stratify=frame[DEMO_TARGET])
    folder.mkdir(parents=True, exist_ok=True)
    train_file, test_file = folder / "digits_train.csv", folder / "digits_test.csv"
    train.to_csv(train_file, index=False)
    test.to_csv(test_file, index=False)
    return train_file, test_file


def logistic_regression_metrics(model, train_file: Path, test_file: Path) -> dict[str, float]:
    """The test metrics of scikit-learn's LogisticRegression (L2, C=1) on standardised columns, fitted on the
    same training file: the classical model a deep default must beat on a small table. The classes are indexed
    as the model indexes them, so every metric (pr_auc, precision, recall of the second class...) is comparable."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lamina.evaluation.metrics import classification_metrics

    train, test = pd.read_csv(train_file), pd.read_csv(test_file)
    target = model.task.target_
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    classifier.fit(train.drop(columns=DEMO_TARGET), target.encode(train[DEMO_TARGET]))
    proba = classifier.predict_proba(test.drop(columns=DEMO_TARGET))
    return classification_metrics(target.encode(test[DEMO_TARGET]), proba)


def comparison_text(columns: dict[str, dict], rows: int) -> str:
    """The demo's table: one line per metric of the first column, each column's value (n/a where it has none),
    and the direction that is better."""
    from lamina.evaluation.metrics import HIGHER_IS_BETTER
    from lamina.tasks.table import number

    first = next(iter(columns.values()))
    lines = [f"{f'test metrics on {rows} rows':<26}" + "".join(f"{name:>10}" for name in columns)]
    for metric in first:
        direction = "higher is better" if metric in HIGHER_IS_BETTER else "lower is better"
        values = "".join(f"{number(column.get(metric)):>10}" for column in columns.values())
        lines.append(f"  {metric:<24}{values}   ({direction})")
    return "\n".join(lines)
