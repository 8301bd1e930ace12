"""Forecasting: `lamina.forecast` on the airline passengers and ETTh1, each beside the seasonal-naive
forecast from the same rolling origins, and ETTh1 beside the figures papers publish.

    python bench/forecasting.py [--skip-airline] [--skip-ett] [--multivariate]

Reads $LAMINA_DATA/timeseries/airline-passengers.csv and $LAMINA_DATA/ett-small/ETTh1.csv (default
../shared/data). ETTh1 follows the Informer protocol: the first 20 months only (14,400 hours), 12 months to
train, the next 4 to validate, the last 4 to test, every hour of the test part an origin, values standardised
with the training part's mean and spread; the univariate setting forecasts oil temperature (OT) from its own
history, `--multivariate` forecasts all seven columns from all seven.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from lamina import forecast

ROOT = Path(__file__).resolve().parents[1]
ETT_HOURS = 20 * 30 * 24  # the Informer split uses 30-day months: 12 train + 4 validation + 4 test
ETT_PART = 4 * 30 * 24
# Published test MSE on standardised ETTh1, each in the setting (univariate OT, or all seven) and horizon named.
PUBLISHED = {
    ("univariate", 24): [("Informer (Zhou et al., AAAI 2021), input 96 h", 0.098)],
    ("univariate", 96): [("DLinear (Zeng et al., AAAI 2023), input 336 h", 0.056)],
    ("multivariate", 24): [("Informer (Zhou et al., AAAI 2021)", 0.577)],
    ("multivariate", 96): [("DLinear (Zeng et al., AAAI 2023), input 336 h", 0.375),
                           ("PatchTST/42 (Nie et al., ICLR 2023), input 336 h", 0.375)],
}


def data_folder() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data"))


def airline(rows: list) -> None:
    path = data_folder() / "timeseries" / "airline-passengers.csv"
    if not path.exists():
        print(f"airline passengers not found at {path}: set LAMINA_DATA. Skipped.")
        return
    started = time.perf_counter()
    model = forecast(path, "Month", "Passengers", 12, progress=False)
    rows.append(_row("airline, 12 months ahead", "auto", model, time.perf_counter() - started))


def ett(rows: list, multivariate: bool) -> None:
    path = data_folder() / "ett-small" / "ETTh1.csv"
    if not path.exists():
        print(f"ETTh1 not found at {path}: set LAMINA_DATA. Skipped.")
        return
    frame = pd.read_csv(path).head(ETT_HOURS)
    setting = "multivariate" if multivariate else "univariate"
    targets = [c for c in frame.columns if c != "date"] if multivariate else ["OT"]
    for horizon in (24, 96):
        for lookback in (None, 336):
            started = time.perf_counter()
            model = forecast(frame, "date", targets, horizon, covariates=[], valid_steps=ETT_PART, test_steps=ETT_PART,
                             lookback=lookback, progress=False)
            name = f"ETTh1 {setting}, {horizon} h ahead, input {model.task.lookback} h"
            rows.append(_row(name, "auto", model, time.perf_counter() - started,
                             published=PUBLISHED[(setting, horizon)]))


def _row(name: str, arch: str, model, seconds: float, published=()) -> dict:
    metrics = model.metrics
    return {"name": name, "arch": f"{arch} → {model.architecture['arch']}", "mase": metrics["model"]["mase"],
            "naive_mase": metrics["seasonal_naive"]["mase"], "mse": metrics["model"]["mse_standardised"],
            "naive_mse": metrics["seasonal_naive"]["mse_standardised"], "mae": metrics["model"]["mae_standardised"],
            "coverage": metrics["interval_coverage"], "origins": metrics["origins"], "seconds": seconds,
            "candidates": {c["arch"]: round(c["valid_mse"], 4) for c in model.training["candidates"]},
            "published": published}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-airline", action="store_true")
    parser.add_argument("--skip-ett", action="store_true")
    parser.add_argument("--multivariate", action="store_true", help="ETTh1: all seven columns as targets")
    args = parser.parse_args()
    rows: list[dict] = []
    if not args.skip_airline:
        airline(rows)
    if not args.skip_ett:
        ett(rows, args.multivariate)
    print(f"\n{'series':<46} {'model':<15} {'MASE':>6} {'naive':>6} {'MSE std':>8} {'naive':>6} {'MAE std':>8} "
          f"{'80% cover':>9} {'origins':>7} {'wall s':>7}")
    for r in rows:
        print(f"{r['name']:<46} {r['arch']:<15} {r['mase']:>6.3f} {r['naive_mase']:>6.3f} {r['mse']:>8.4f} "
              f"{r['naive_mse']:>6.3f} {r['mae']:>8.4f} {r['coverage']:>9.1%} {r['origins']:>7} {r['seconds']:>7.0f}")
    print("\nvalidation MSE (standardised) of each architecture auto tried:")
    for r in rows:
        print(f"  {r['name']:<46} {r['candidates']}")
    print("\npublished test MSE on the same split (standardised), for comparison:")
    for r in rows:
        for source, mse in r["published"]:
            print(f"  {r['name']:<46} {source}: {mse}")


if __name__ == "__main__":
    main()
