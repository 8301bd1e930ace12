"""UCI Adult: `lamina tune` with K workers for a time budget against the default `lamina train`: the best
validation loss (what trials are chosen on) and the winner's test accuracy, beside the default run's.

    python bench/tune_adult.py [--budget 10m] [--workers 2] [--trials 200] [--docs docs/tune_adult_study.html]
    python bench/tune_adult.py --quick      # a 3,000-row slice, 3 trials: checks the script, not the figures

Reads $LAMINA_DATA/adult (default ../shared/data/adult): adult-train.csv is split into train and valid, adult-test.csv
is the test set, for the default run and every trial alike (same seed, same split). Nothing is copied into the
repository but the study report, with --docs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from adult import data_folder, default_train, write_tables  # bench/adult.py: the same tables and default run
from lamina import tuning


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="10m", help="the study's time budget (the issue's figure is 30m)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=200, help="at most this many; the budget usually ends it")
    parser.add_argument("--docs", help="copy the study report here")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", help="keep the tables, the default run and the study here (default: a temporary "
                                       "folder, deleted)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        train, test = write_tables(data_folder(), work)
        if args.quick:
            import pandas as pd

            pd.read_csv(train).head(3000).to_csv(train, index=False)
            args.trials, args.budget = 3, "2m"
        default = default_train(train, test, work / "default", seed=0)
        default_valid = json.loads((work / "default" / "model" / "model.json").read_text())["training"]["validation"]
        started = time.perf_counter()
        folder = tuning.create(train, "income", work / "study", test=test, trials=args.trials, budget=args.budget,
                               epochs=30 if args.quick else "auto")
        tuning.optimize(folder, args.workers)
        summary = tuning.finish(folder)
        wall = time.perf_counter() - started
        trials = [t.state.name for t in tuning.load_study(folder, tuning.read_settings(folder)).trials]
        if args.docs:
            shutil.copyfile(folder / tuning.REPORT, args.docs)
    tuned = summary["test"]["test"]
    print(f"\n| run | validation log loss | test accuracy | test ROC AUC | wall |\n|---|---|---|---|---|\n"
          f"| default `lamina train` | {default_valid['score']:.4f} | {default['accuracy']:.4f} | "
          f"{default['roc_auc']:.4f} | {default['wall']:.0f} s |\n"
          f"| `lamina tune`, {args.workers} workers, {args.budget} | {summary['validation']['score']:.4f} | "
          f"{tuned['accuracy']:.4f} | {tuned['roc_auc']:.4f} | {wall:.0f} s |")
    print(f"\n{len(trials)} trials: {trials.count('COMPLETE')} complete, {trials.count('PRUNED')} pruned, "
          f"{trials.count('FAIL')} failed; best trial {summary['best_trial']}: {summary['params']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
