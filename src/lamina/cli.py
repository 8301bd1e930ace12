"""The `lamina` command: parse, call the API, print. Heavy modules are imported inside commands so
that `lamina --help` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a reader that closed the pipe

def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1", "on"):
        return True
    if text.lower() in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: say yes or no")


def _or_auto(kind):
    """The type of an option whose setting also takes "auto" (its default; config.py): argparse takes what the
    settings' validator names in its messages."""
    def read(text: str):
        return "auto" if text == "auto" else kind(text)

    read.__name__ = f"{kind.__name__} or 'auto'"  # argparse names it: "invalid int or 'auto' value: 'x'"
    return read


# The settings every task reads, each a flag and the config key it sets (so a config file can say the same);
# TRAIN_SETTINGS below gathers them with the tasks' own.
COMMON_SETTINGS = [
    ("--task", "task", str, "classification (binary, multiclass), regression, forecast, recommend, generate, anomaly, translate or "
                            "transcribe (default: "
                            "inferred; a --horizon means forecast, --user and --item recommend)"),
    ("--seed", "seed", int, "random seed for the split, the weights and the batch order (default 0)"),
    ("--valid-fraction", "valid_fraction", _or_auto(float), "share of rows for early stopping and calibration "
     "(default auto: 0.15, at most 5,000 rows; where small tables' members are cross-fitted, --folds, they "
     "train too and out-of-fold predictions judge)"),
    ("--test-fraction", "test_fraction", float, "share of rows for the test metrics (default 0.15)"),
    ("--split", "split", str, "random, or scaffold: molecules' Bemis-Murcko scaffolds kept whole (default: scaffold "
                              "when a molecule column is the only input, else random)"),
    ("--arch", "arch", str, "network architecture by name (default: resnet for images, gru for text alone, else "
                            "mlp; forecasts: auto = linear and gru, the better; or mlp, lstm)"),
    ("--width", "width", _or_auto(int), "mlp: hidden units per layer (256); resnet: stem channels (16, 32 from 100k images); "
                              "forecasters: units per layer (64)"),
    ("--depth", "depth", _or_auto(int), "mlp: hidden layers (3); resnet: residual blocks per end stage (1); forecasters: "
                              "layers (1)"),
    ("--dropout", "dropout", _or_auto(float), "dropout probability (default: mlp 0.3, 0.5 under 1,000 training "
                                              "rows; resnet and forecasters 0.1)"),
    ("--norm", "norm", str, "mlp: batch, layer or none (default batch)"),
    ("--numbers", "numbers", str, "mlp: how numbers reach it: plain, or plr for a periodic embedding of each "
                                  "numeric column in place of its rank pieces (default: plr from 10,000 training rows)"),
    ("--members", "members", _or_auto(int), "mlp: ensemble members sharing one network, each with its own input "
                                            "adapter and head, predictions averaged (TabM-mini; default 8 under 5,000 "
                                            "training rows, else 1)"),
    ("--folds", "folds", _or_auto(int), "mlp members cross-fitted in this many folds: the validation rows train too, "
                                        "each member without its fold, and out-of-fold predictions of every row judge "
                                        "the epoch and calibrate (default 4 where the members are the small tables' "
                                        "default, under 5,000 training rows; 0: off)"),
    ("--linear-share", "linear_share", _or_auto(float), "mlp: share of a ridge or logistic regression on the number, "
                                                     "date and category columns blended into the outputs, 0 to 1 "
                                                     "(default: for "
                                                     "regression chosen on out-of-fold predictions where members are "
                                                     "cross-fitted, else 0)"),
    ("--image-size", "image_size", _or_auto(int), "pixels per side images are resized to (default: median, at most 64)"),
    ("--epochs", "epochs", _or_auto(int), "most epochs to train (default: 60 for tables, early stopping ends sooner; "
                                "about 2400 steps for images, 3000 for forecasters)"),
    ("--batch-size", "batch_size", _or_auto(int), "rows per step; translation: tokens per step (default: chosen from the data "
                                        "size)"),
    ("--lr", "lr", _or_auto(float), "peak learning rate (default 0.002; forecasters 0.003)"),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay (default 1e-4)"),
    ("--warmup-epochs", "warmup_epochs", float, "learning-rate warm-up length in epochs (default 1)"),
    ("--clip-norm", "clip_norm", float, "max gradient norm (default 1.0)"),
    ("--patience", "patience", int, "epochs without improvement before stopping (default 8; translation and "
                                    "speech wait at least 1,000 / 500 optimiser steps)"),
    ("--time-budget", "time_budget", str, "train for about this long, e.g. 90s, 5m, 1h: with the "
                            "epochs left to the recipe, table, image, translation and speech runs plan their schedule to fill "
                            "it; otherwise a cap"),
    ("--device", "device", str, "auto, cpu or cuda (default auto)"),
    ("--precision", "precision", str, "auto, fp32 or bf16 (default auto: bf16 on a GPU)"),
    ("--adversarial", "adversarial", str, "none or pgd: also train on PGD examples (default none)"),
    ("--adversarial-budget", "adversarial_budget", _or_auto(float), "L∞ radius of those examples (default: 0.2 normal-score "
                                                          "units for tables, 8/255 of the pixel range for images)"),
    ("--label-smoothing", "label_smoothing", _or_auto(float), "share of target mass spread over classes (default: 0.1 "
                                                    "for images and translation, else 0)"),
    ("--crop-padding", "crop_padding", _or_auto(int), "images: pixels of padding before random crops (default ≈ side/28, at least 1)"),
    ("--flip", "flip", _or_auto(_yes_no), "images: random left-right flips, yes or no (default: if mirrored images keep "
                                "their class)"),
    ("--cutout", "cutout", _or_auto(int), "images: side of a random blanked square, pixels (default: side/4 below 10k "
                                "images, else 0)"),
    ("--init-from", "init_from", str, "run, model folder or .safetensors state dict to start the backbone from"),
    ("--freeze-backbone", "freeze_backbone", int, "epochs the --init-from backbone stays fixed (default 0)"),
    ("--privacy", "privacy", str, "differential privacy target, e.g. epsilon=3,delta=1e-5: DP-SGD (opacus, RDP "
                                  "accountant), training stops before the target ε is exceeded; tables only"),
    ("--max-grad-norm", "max_grad_norm", float, "with --privacy: L2 norm each row's gradient is clipped to "
                                                "(default 1.0)"),
    ("--track", "track", str, "none or mlflow: log settings, per-epoch metrics and the run's files to MLflow "
                              "(MLFLOW_TRACKING_URI, else mlflow.db here; default none)"),
]

# The `lamina train` settings a forecaster reads (the rest are for rows: images, classes, attacks).
FORECAST_FLAGS = {"--seed", "--arch", "--width", "--depth", "--dropout", "--epochs", "--batch-size", "--lr",
                  "--weight-decay", "--clip-norm", "--patience", "--time-budget", "--device", "--precision"}

# The `lamina train` settings federated training reads (--privacy only to refuse it clearly).
FEDERATED_FLAGS = {"--task", "--seed", "--valid-fraction", "--test-fraction", "--width", "--depth", "--dropout",
                   "--norm", "--numbers", "--batch-size", "--lr", "--weight-decay", "--clip-norm", "--privacy"}

# Forecasting flags of `lamina train --task forecast` (and of its alias `lamina forecast`).
FORECAST_SETTINGS = [
    ("--time", "time", str, "forecasting: the column of dates or times; recommending: the column ordering each "
                            "user's interactions (the latest are held out)"),
    ("--horizon", "horizon", int, "forecasting: steps ahead to forecast"),
    ("--id", "id", str, "forecasting: the column telling several series apart (one network serves them all)"),
    ("--covariates", "covariates", lambda text: _names(text), "forecasting: comma-separated columns read from the "
                                                             "history beside the targets, or none (default: every "
                                                             "other numeric column)"),
    ("--lookback", "lookback", int, "forecasting: steps of history each forecast reads (default: 2 horizons or 3 "
                                    "seasons, the longer)"),
    ("--season", "season", int, "forecasting: steps per season for seasonal naive and MASE (default: 24 for hours, "
                                "7 for days, 12 for months...)"),
    ("--valid-steps", "valid_steps", int, "forecasting: time steps held out to pick the epoch and architecture "
                                          "(default 15%%, ≥ horizon)"),
    ("--test-steps", "test_steps", int, "forecasting: last time steps the backtest forecasts (default 15%%, "
                                        "≥ horizon)"),
]

# Recommendation flags of `lamina train --task recommend` (it also reads --time).
RECOMMEND_SETTINGS = [
    ("--user", "user", str, "recommending: the column of user ids (default: inferred from the names)"),
    ("--item", "item", str, "recommending: the column of item ids (default: inferred from the names)"),
    ("--rating", "rating", str, "recommending: the column of explicit ratings (default: inferred; none means "
                                "implicit feedback)"),
    ("--users", "users", str, "recommending: a users table keyed by the user column; its columns become features"),
    ("--items", "items", str, "recommending: an items table keyed by the item column; its columns become "
                              "features and show beside each recommended item"),
]

# Anomaly and rare-class flags: `lamina train --task anomaly`, and the threshold of a binary classifier.
ANOMALY_SETTINGS = [
    ("--contamination", "contamination", float, "anomaly: share of training rows to flag, in (0, 0.5] (default: "
                                                "best F1 on validation with --target, else 0.05)"),
    ("--cost", "cost", str, "anomaly and binary classification: prices of a missed positive and a false alarm, "
                            "e.g. fn=10,fp=1; the threshold minimises their sum on validation (default: best F1)"),
]

# Translation flags of `lamina train --task translate` (--target names the target column or side).
TRANSLATE_SETTINGS = [
    ("--source", "source", str, "translating: the column of source sentences (default: the other of two columns)"),
    ("--source-file", "source_file", str, "translating: plain text, one source sentence a line (instead of DATA)"),
    ("--target-file", "target_file", str, "translating: plain text, line i the translation of --source-file's"),
    ("--test-source-file", "test_source_file", str, "translating: held-out test sentences, one a line"),
    ("--test-target-file", "test_target_file", str, "translating: their translations, aligned line by line"),
    ("--valid-source-file", "valid_source_file", str, "translating: validation sentences, one a line (default: "
                                                      "--valid-fraction of the training pairs)"),
    ("--valid-target-file", "valid_target_file", str, "translating: their translations, aligned line by line"),
]

# Every `lamina train` setting flag and the config key it sets. --date-order is not one of them: it takes choices,
# which these (flag, key, type, help) rows do not carry, so _add_date_order adds it to every command reading data.
TRAIN_SETTINGS = COMMON_SETTINGS + FORECAST_SETTINGS + RECOMMEND_SETTINGS + ANOMALY_SETTINGS + TRANSLATE_SETTINGS

# The `lamina train` settings that describe the data rather than the model: what it is, which columns play which
# part, how it splits. `lamina check` takes them to see the data as training would (with --column, --date-order).
DATA_FLAGS = {"--task", "--valid-fraction", "--test-fraction", "--split", "--time", "--horizon", "--id",
              "--covariates", "--season", "--valid-steps", "--test-steps", "--user", "--item", "--rating", "--users",
              "--items", "--source", "--source-file", "--target-file"}

# The aligned-file flags `lamina tune` leaves out: each trial reads the data from one file (tuning.create).
PAIR_FILE_FLAGS = {s[0] for s in TRANSLATE_SETTINGS if s[0].endswith("-file")}

EXAMPLES = {
    "train": "lamina train adult.csv --target income --out runs/adult   |   lamina train sales.csv --task forecast "
             "--time date --target units --horizon 28 --id store   |   lamina train pairs.tsv --task translate "
             "--source en --target de",
    "forecast": "lamina forecast sales.csv --time date --target units --horizon 28 --id store --out runs/sales",
    "federate": "lamina federate adult.csv --target income --partition race --rounds 20 --strategy fedprox",
    "check": "lamina check adult.csv --target income",
    "predict": "lamina predict runs/adult new_rows.csv --out predictions.csv   |   lamina predict runs/ratings "
               "--user 42 --top 10   |   lamina predict runs/en-de sentences.txt --beam 5   |   "
               "lamina predict runs/speech clip.wav",
    "evaluate": "lamina evaluate runs/adult labelled_rows.csv",
    "report": "lamina report runs/adult",
    "info": "lamina info runs/adult",
    "demo": "lamina demo",
    "explain": "lamina explain runs/adult rows.csv --rows 0,1,2",
    "card": "lamina card runs/adult",
    "audit": "lamina audit runs/adult test.csv --sensitive sex,race --mitigate threshold",
    "serve": "lamina serve runs/adult --port 8000 --token $LAMINA_TOKEN",
    "export": "lamina export runs/adult --format onnx",
    "monitor": "lamina monitor runs/adult --window 24h   |   lamina monitor runs/adult --reference a.csv --current b.csv",
    "generate": "lamina generate runs/fashion --n 64 --class 3 --seed 0 --out grid.png",
    "tune": "lamina tune adult.csv --target income --trials 40 --time-budget 1h --workers 2 --out studies/adult   |   "
            "lamina tune --resume studies/adult",
}


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (processes, workers, clients, rounds, epochs, trials)."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give 1 or more") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{number} is below 1; give 1 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lamina",
        description="Deep learning from raw data to a trained, evaluated and reported model.",
        epilog="Run `lamina COMMAND --help` for each command's options and an example.",
        allow_abbrev=False,  # a flag is written whole: `check --test` was read as a prefix of --test-fraction
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors, and library warnings "
                                                             "(else kept in the run's warnings.log)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, epilog=f"example: {EXAMPLES[name]}",
                                  allow_abbrev=False)
        # SUPPRESS: without it the subcommand's default would undo `lamina --debug COMMAND`.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        return sub

    from lamina.data.formats import FORMATS

    def add_column(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--column", action="append", default=[], metavar="NAME=KIND",
                         help="override a column's kind: number, category, binary, datetime, text, ignore")

    train = command("train", "train a model on a table and write a run folder")
    train.add_argument("data", nargs="?", help=f"a table ({FORMATS}), a folder of class folders, idx/.npz/.npy "
                                               "arrays (or data.path in --config)")
    train.add_argument("--target", help="the column to predict; several, comma-separated (one network, a head each), "
                                        "or 'all': every number, category or yes/no column not set with --column")
    train.add_argument("--test", help="a held-out test table (otherwise the data is split three ways)")
    train.add_argument("--config", help="YAML config file; flags override it")
    train.add_argument("--out", help="run folder (default runs/<data name>)")
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    train.add_argument("--from", dest="start", choices=["last", "best"], default="last",
                       help="with --resume: best continues from the best checkpoint where the last is missing or "
                            "damaged (default last: stop and say so)")
    add_column(train)
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.add_argument("--nproc", type=at_least_one, metavar="N", help="train with N processes on this machine "
                       "(DistributedDataParallel through torchrun; --batch-size is rows per process)")
    for flag, _key, kind, text in TRAIN_SETTINGS:
        train.add_argument(flag, type=kind, help=text)
    _add_date_order(train)
    train.add_argument("--normal-only", action="store_const", const=True,
                       help="anomaly with --target: the autoencoder learns from the normal rows only")
    train.add_argument("--implicit", action="store_const", const=True,
                       help="recommending: learn to rank from the interactions even when there is a rating column")

    forecast = command("forecast", "train a forecaster on time series and backtest it against seasonal naive "
                                   "(the same as lamina train --task forecast)")
    forecast.add_argument("data", help="table with a time column and one or more series to forecast")
    forecast.add_argument("--target", required=True, help="column(s) to forecast, comma-separated")
    forecast.add_argument("--config", help="YAML config file; flags override it")
    forecast.add_argument("--out", help="run folder (default runs/<data name>)")
    forecast.add_argument("--quiet", action="store_true", help="no progress output")
    for flag, _key, kind, text in [s for s in COMMON_SETTINGS if s[0] in FORECAST_FLAGS] + FORECAST_SETTINGS:
        forecast.add_argument(flag, type=kind, help=text, required=flag in ("--time", "--horizon"))
    _add_date_order(forecast)

    federate = command("federate", "train a table model with federated learning (Flower): clients keep their rows "
                                   "and share statistics and weights")
    federate.add_argument("data", help=f"a table ({FORMATS}) whose rows are split between simulated clients")
    federate.add_argument("--target", required=True, help="the column to predict")
    split = federate.add_mutually_exclusive_group(required=True)
    split.add_argument("--partition", metavar="COLUMN", help="one client per value of this column (e.g. hospital)")
    split.add_argument("--clients", type=at_least_one, help="this many clients, the rows split at random (IID)")
    federate.add_argument("--non-iid", type=float, metavar="ALPHA", help="with --clients: class shares per client "
                          "drawn from Dirichlet(ALPHA) (0.1 very skewed, 100 nearly IID)")
    federate.add_argument("--rounds", type=at_least_one, default=20, help="aggregation rounds (default 20)")
    federate.add_argument("--local-epochs", type=at_least_one, default=1, help="epochs each client trains per round (default 1)")
    federate.add_argument("--fraction", type=float, default=1.0, help="share of clients trained each round (default 1)")
    federate.add_argument("--strategy", choices=["fedavg", "fedprox"], default="fedavg", help="default fedavg")
    federate.add_argument("--mu", type=float, default=0.01, help="FedProx proximal weight μ (default 0.01)")
    federate.add_argument("--config", help="YAML config file (model and training settings)")
    federate.add_argument("--column", action="append", default=[], metavar="NAME=KIND",
                          help="set a column's kind on every client: number, category, binary, or ignore to leave it out")
    federate.add_argument("--out", help="run folder (default runs/<data name>)")
    federate.add_argument("--quiet", action="store_true", help="no progress output")
    for flag, _key, kind, text in TRAIN_SETTINGS:
        if flag in FEDERATED_FLAGS:
            federate.add_argument(flag, type=kind, help=text)

    tune = command("tune", "search hyperparameters with Optuna: trials chosen on validation, the winner tested once")
    tune.add_argument("data", nargs="?", help="the table to tune on (or data.path in --config)")
    tune.add_argument("--target", help="the column to predict")
    tune.add_argument("--test", help="a held-out test table (otherwise the data is split three ways)")
    tune.add_argument("--config", help="YAML config file (its tune: section sets trials, budget, pruner, space)")
    tune.add_argument("--out", help="study folder (default studies/<data name>)")
    tune.add_argument("--resume", metavar="STUDY", help="continue a study: its remaining trials, then the winner")
    tune.add_argument("--trials", type=at_least_one, help="trials in all, over every worker (default 20)")
    tune.add_argument("--time-budget", dest="budget", help="no trial starts after this long, e.g. 30m, 1h")
    tune.add_argument("--workers", type=at_least_one, default=1, help="trials run at once, each in its own process (default 1)")
    tune.add_argument("--storage", help="an SQLAlchemy URL of the study's database, for workers on several machines "
                                        "(default: study.sqlite in the study folder)")
    tune.add_argument("--pruner", choices=["median", "hyperband", "none"], help="stops lagging trials (default median)")
    tune.add_argument("--quiet", action="store_true", help="no line per trial")
    _add_date_order(tune)  # each trial reads the dates as `lamina train --date-order` would
    add_column(tune)
    for flag, _key, kind, text in TRAIN_SETTINGS:
        # --time-budget: here the study's budget (a trial's own is config train.time_budget)
        if flag != "--time-budget" and flag not in PAIR_FILE_FLAGS:
            tune.add_argument(flag, type=kind, help=text)

    check = command("check", "report data-quality findings without training")
    check.add_argument("data", nargs="?", help=f"a table ({FORMATS}), a folder of class folders or idx/.npz/.npy "
                                               "arrays (or data.path in --config)")
    check.add_argument("--target", help="the column to predict (several: comma-separated, or 'all')")
    check.add_argument("--config", help="YAML config file")
    add_column(check)
    for flag, _key, kind, text in TRAIN_SETTINGS:
        if flag in DATA_FLAGS:  # the data as training would see it
            check.add_argument(flag, type=kind, help=text)
    _add_date_order(check)

    predict = command("predict", "predict every row of a table")
    predict.add_argument("run", help="run folder or model folder")
    predict.add_argument("data", nargs="?", help="rows to predict: a table, a folder, or one picture or recording "
                         "(a recommender: users, or user and item pairs; a speech-to-text model prints the text of "
                         "one recording)")
    predict.add_argument("--user", action="append", help="recommending: a user to recommend to (repeatable)")
    predict.add_argument("--top", type=int, help="recommending: items per user (default 10)")
    predict.add_argument("--similar-to", metavar="ITEM", help="recommending: the items most like ITEM")
    predict.add_argument("--exclude-seen", action=argparse.BooleanOptionalAction,
                         help="recommending: leave out the items each user already had (the default)")
    predict.add_argument("--out", help="CSV file to write (default: print to the terminal)")
    predict.add_argument("--beam", type=at_least_one, help="translating: beams of the search, 1 (greedy) to 10 "
                                                           "(default 5); transcribing: prefixes the beam search keeps, "
                                                           "1 to 64 (default: greedy decoding)")
    predict.add_argument("--engine", choices=["torch", "onnx"], default="torch",
                         help="onnx runs the exported network in onnxruntime (after `lamina export`)")

    evaluate = command("evaluate", "score a model on a labelled table")
    evaluate.add_argument("run")
    evaluate.add_argument("data")
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    report = command("report", "(re)write a run's report.html")
    report.add_argument("run")

    info = command("info", "describe a trained model")
    info.add_argument("run")

    explain = command("explain", "why the model predicts what it does: per-row attributions and column importance")
    explain.add_argument("run")
    explain.add_argument("data")
    explain.add_argument("--rows", help="rows (0-based) to explain one by one: a list, "
                         f"ranges or both, e.g. 0,3,7 or 0:5 (rows 0-4) or 10-20 (rows 10 to 20), at most "
                         f"{MAX_EXPLAINED_ROWS:,} (default: the first 5, or every row of a shorter table)")
    explain.add_argument("--repeats", type=int, default=5, help="shuffles per column for permutation importance")

    audit = command("audit", "bias audit (per-group metrics, disparities, mitigation) and robustness audit (attacks)")
    audit.add_argument("run")
    audit.add_argument("data", help="labelled rows, e.g. the test file")
    audit.add_argument("--sensitive", default="", help="comma-separated sensitive columns, e.g. sex,race")
    audit.add_argument("--mitigate", choices=["threshold"], help="per-group thresholds (fairlearn ThresholdOptimizer)")
    audit.add_argument("--constraint", default="demographic_parity",
                       choices=["demographic_parity", "equalized_odds", "true_positive_rate_parity"],
                       help="what the mitigation equalises (default demographic_parity)")

    card = command("card", "write the model card (Markdown) of a run: use, data, metrics with intervals, groups")
    card.add_argument("run")
    card.add_argument("--out", help="Markdown file (default RUN/model_card.md)")

    serve = command("serve", "serve a model (or every model under a folder) over HTTP, with a web playground")
    serve.add_argument("run", help="run or model folder, or a folder of them")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (needed to bind beyond loopback)")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback address without a token")
    serve.add_argument("--no-monitor", action="store_true", help="do not record request summaries for drift")

    export = command("export", "export a model's network to ONNX, checked against PyTorch")
    export.add_argument("run")
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--data", help="rows to check the export on (default: the run's held-out test rows)")

    monitor = command("monitor", "report drift of served requests (or of a file) against the training data")
    monitor.add_argument("run")
    monitor.add_argument("--window", help="only requests this recent, e.g. 1h, 7d... (default: all recorded)")
    monitor.add_argument("--reference", help="offline: a reference table (e.g. the training data)")
    monitor.add_argument("--current", help="offline: the table to compare with the reference")
    monitor.add_argument("--out", help="drift page to write (default RUN/drift.html)")

    generate = command("generate", "draw new images with a model trained with --task generate")
    generate.add_argument("run", help="run folder or model folder")
    generate.add_argument("--n", type=int, default=64, help="images to draw (default 64)")
    generate.add_argument("--class", dest="label", metavar="NAME", help="the class to draw (default: each in turn)")
    generate.add_argument("--seed", type=int, help="the same seed draws the same images (default: new ones)")
    generate.add_argument("--out", required=True, help="a folder (one PNG per image) or a file ending in .png (one "
                                                        "grid, 8 images a row)")

    demo = command("demo", "train, evaluate and report on a dataset that ships with scikit-learn")
    demo.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_minus_values_joined(sys.argv[1:] if argv is None else argv))
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what `--nproc N` starts each process with
    if args.command is None:
        parser.print_help()
        return 0
    from lamina.errors import LaminaError
    from lamina.library_warnings import logged_to_run

    def run_folder():
        return getattr(args, "run", None) or getattr(args, "resume", None) or getattr(args, "out", None)

    try:
        with contextlib.nullcontext() if args.debug else logged_to_run(run_folder):
            return COMMANDS[args.command](args) or 0
    except LaminaError as error:
        if args.debug:
            raise
        print(f"{_rank_prefix()}error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `lamina predict RUN DATA | head`: the reader left, which is no error of ours
        # Python flushes stdout once more at exit; point it at /dev/null so that flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as error:  # a path the user gave: a missing folder, no permission, a file where a folder goes
        if args.debug:
            raise
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: {error.strerror or error}{where}. Check the path and its permissions.", file=sys.stderr)
        return EXIT_BAD_INPUT


# ---- commands -----------------------------------------------------------------------------------


def run_train(args) -> int:
    from lamina import api
    from lamina.errors import LaminaError
    from lamina.training import distributed
    from lamina.training.trainer import TrainingInterrupted

    resume = getattr(args, "resume", None)  # `lamina forecast` has no --resume: resume with `lamina train`
    nproc = getattr(args, "nproc", None)
    if resume and not distributed.launched():  # a resume trains with as many processes as the run began
        recorded = distributed.recorded_processes(resume)
        if nproc is not None and nproc != recorded:
            raise LaminaError(f"{resume} was trained with {recorded} process(es), and --nproc {nproc} is given: its "
                              f"checkpoints continue only on as many. Resume with --nproc {recorded}, or leave "
                              "--nproc out.")
        nproc = recorded
    if nproc is not None:
        if distributed.launched():
            raise LaminaError("--nproc starts torchrun, and this process is already one that torchrun started: give "
                              "the processes to torchrun (--nproc-per-node) and drop --nproc.")
        if nproc != 1:
            return distributed.launch(nproc, _without_option(args.argv, "--nproc"))
    progress = not args.quiet and distributed.is_writer()
    if resume:
        _refuse_settings_on_resume(args)
        data = None
    else:
        settings = {key: getattr(args, key, None) for key in ("implicit", "normal_only")}
        config = _data_config(args, TRAIN_SETTINGS, **settings)
        data = args.data or config.data.path
        if not data and not config.data.source_file:
            raise LaminaError("Give the data to train on: lamina train DATA --target COL (or --resume RUN; "
                              "translation pairs also as --source-file FILE --target-file FILE).")
    out = args.out = Path(resume or args.out or _new_run_folder(Path(data or config.data.source_file).stem))
    try:
        if resume:
            if _complete_or_told_where(out, args.start):
                return 0
            model = api.resume_run(out, progress=progress, start=args.start)
        else:
            model = api.fit(data, args.target or config.data.target, test=getattr(args, "test", None) or config.data.test,
                            config=config, out=out, progress=progress)
    except TrainingInterrupted:
        if distributed.is_writer():  # a resume takes the number of processes from the checkpoint
            print(f"\nStopped; the last checkpoint is saved. Resume with:\n  lamina train --resume {out}",
                  file=sys.stderr)
        return EXIT_INTERRUPTED
    if not distributed.is_writer():  # rank 0 says how it went
        return 0
    print(model.task.summary(model))
    if model.training.get("privacy"):
        from lamina.training.privacy import privacy_text

        print(f"\n{privacy_text(model.training['privacy'])}; {model.training['stop_reason']}")
    _print_baseline_warning(model)
    _print_warnings(out)
    print(f"\nrun folder: {out}\nreport: {out / 'report.html'}\nmodel:  {out / 'model'}")
    return 0


def _data_config(args, settings: list[tuple], **more):
    """The config of `lamina train` or `lamina check`: --config with the flags of `settings` (TRAIN_SETTINGS rows)
    given, --date-order, `more` and each --column NAME=KIND over the config's data.columns."""
    from lamina import api

    given = {key: getattr(args, key, None) for _flag, key, _, _ in settings}
    config = api.resolve_config(args.config, **given, date_order=args.date_order, **more)
    columns = _parse_columns(args.column)
    return config.with_overrides(columns={**config.data.columns, **columns}) if columns else config


def _print_baseline_warning(model) -> None:
    """The warning of a model no better than its trivial baseline (report.html leads with it too)."""
    from lamina.evaluation.baseline import baseline_warning

    if warning := baseline_warning(model.metrics, model.task.judged_on, model.training):
        print(f"\nwarning: {warning}")


def _print_warnings(run: Path) -> None:
    """The run's data-quality warnings (checks.json; the report's "Data quality" shows them too): rows and clips
    left out, outliers, leaks... seen only in a file, they would go unread."""
    from lamina.run import CHECKS, RunFolder

    warnings = [f["message"] for f in RunFolder(run).read_json(CHECKS, default=[]) if f["level"] == "warning"]
    if warnings:
        print(f"\n{len(warnings)} data-quality warning(s), in the report too:")
        for message in warnings:
            print(f"  - {message}")


def run_federate(args) -> int:
    from lamina import api

    settings = {key: getattr(args, key, None) for flag, key, _, _ in TRAIN_SETTINGS if flag in FEDERATED_FLAGS}
    columns = _parse_columns(args.column)
    if columns:  # over the config's data.columns, as `lamina train --column` does
        settings["columns"] = {**api.resolve_config(args.config).data.columns, **columns}
    out = args.out = Path(args.out or _new_run_folder(Path(args.data).stem))
    model = api.federate(args.data, args.target, partition=args.partition, clients=args.clients,
                         non_iid=args.non_iid, rounds=args.rounds, local_epochs=args.local_epochs,
                         fraction=args.fraction, strategy=args.strategy, mu=args.mu, out=out,
                         progress=not args.quiet, config=args.config, **settings)
    federated = model.training["federated"]
    print(f"{federated['partition']}: {federated['rounds'][-1]['epoch']} rounds, best round {model.training['best_epoch']}")
    print(model.task.summary(model))
    _print_baseline_warning(model)
    print(f"\nrun folder: {out}\nreport: {out / 'report.html'}\nmodel:  {out / 'model'}")
    return 0


def _add_date_order(parser) -> None:
    """--date-order (data.date_order), on every command that reads dates the way `lamina train` does."""
    parser.add_argument("--date-order", choices=["auto", "day_first", "month_first"],
                        help="how dates written 01/02/2020 read (default auto: month first unless a value such as "
                             "13/02/2020 proves day first)")


def run_tune(args) -> int:
    from lamina import tuning
    from lamina.training.crossfit import validation_text
    from lamina.training.trainer import TrainingInterrupted

    try:
        folder, summary = _tune(args)
    except TrainingInterrupted:
        print(f"\nStopped; the interrupted trial is marked failed. Continue the study with:\n  lamina tune --resume "
              f"{args.resume or args.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    model = tuning.best_model(folder)  # its training record names its score: out-of-fold where members were cross-fitted
    print(f"\nbest trial {summary['best_trial']} of {summary['trials']}: {validation_text(model.training)}; its "
          f"settings: {summary['params']}")
    print(model.task.summary(model))
    print(f"\nstudy folder: {folder}\nreport: {folder / tuning.REPORT}\nbest config: {folder / tuning.BEST_CONFIG}"
          f"\nbest model: {folder / tuning.BEST}")
    return 0


def _tune(args):
    """The study folder and summary of `lamina tune`: a new study, or the one --resume names continued."""
    from lamina import tuning
    from lamina.errors import LaminaError

    progress = not args.quiet
    if args.resume:
        given = [flag for flag, key, _, _ in TRAIN_SETTINGS if getattr(args, key, None) is not None]
        given += [flag for flag in ("data", "target", "test", "config", "out", "storage", "pruner") if getattr(args, flag)]
        given += ["--date-order"] if args.date_order else []
        given += ["--column"] if args.column else []
        if given:
            raise LaminaError(f"--resume continues the study {args.resume} with its own settings (study.json), so "
                              f"{', '.join(given)} cannot be given with it (--trials, --time-budget and --workers can).")
        folder = Path(args.resume)
        return folder, tuning.resume(folder, args.workers, args.trials, args.budget, progress)
    config = _data_config(args, [setting for setting in TRAIN_SETTINGS if setting[0] != "--time-budget"],
                          trials=args.trials, budget=args.budget, pruner=args.pruner)
    data = args.data or config.data.path
    if not data:
        raise LaminaError("Give the data to tune on: lamina tune DATA --target COL (or --resume STUDY).")
    args.out = Path(args.out or _new_run_folder(Path(data).stem, "studies"))
    return args.out, tuning.tune(data, args.target or config.data.target, out=args.out, config=config,
                                 test=args.test or config.data.test, workers=args.workers, storage=args.storage,
                                 progress=progress)


def _refuse_settings_on_resume(args) -> None:
    """A resume continues the run's own settings (its config.yaml, which its checkpoints were made with): a setting
    given beside --resume would be ignored, so it is refused."""
    from lamina.errors import LaminaError

    given = [flag for flag, key, _, _ in TRAIN_SETTINGS if getattr(args, key, None) is not None]
    given += [flag for flag, key in (("DATA", "data"), ("--target", "target"), ("--test", "test"),
                                     ("--config", "config"), ("--out", "out"), ("--column", "column"),
                                     ("--date-order", "date_order"),
                                     ("--implicit", "implicit"), ("--normal-only", "normal_only")) if getattr(args, key, None)]
    if given:
        raise LaminaError(f"--resume continues the run {args.resume} with its own settings (its config.yaml), so "
                          f"{', '.join(given)} cannot be given with it. To train with other settings, start a new "
                          "run: lamina train DATA --target COL ... --out NEW_FOLDER. (With --resume only --from, "
                          "--quiet and --debug are taken.)")


def _complete_or_told_where(run: Path, start: str) -> bool:
    """Whether the run is already complete (said, and nothing trained); else says where it continues from."""
    from lamina import api
    from lamina.run import RunFolder
    from lamina.training import distributed
    from lamina.training.session import resume_points

    if not distributed.is_writer():  # rank 0 says it
        return api.is_complete(run)
    if api.is_complete(run):
        print(f"{run} is already complete: its training finished and its model and report are written; nothing to "
              f"resume. See it with: lamina info {run}  (other settings mean a new run, with another --out)")
        return True
    points = resume_points(RunFolder(run), start)
    if points:
        print(f"Resuming {run} from " + "; ".join(points) + ".")
    return False


def run_forecast(args) -> int:
    """`lamina forecast` is `lamina train --task forecast`."""
    args.task, args.column = "forecast", []
    return run_train(args)


def run_check(args) -> int:
    from lamina import api
    from lamina.errors import LaminaError

    config = _data_config(args, [s for s in TRAIN_SETTINGS if s[0] in DATA_FLAGS])
    data = args.data or config.data.path
    if not data and not config.data.source_file:
        raise LaminaError("Give the data to check: lamina check DATA --target COL (translation pairs also as "
                          "--source-file FILE --target-file FILE).")
    frame, prepared, task = api.check(data, args.target, config)
    findings = prepared.findings
    sizes = prepared.split_sizes()
    test = config.data.test or config.data.test_source_file  # read and prepared with the data, as training reads it
    # files skipped and rows without a target: not used; a test file's rows are its own
    used = len(frame) if sizes is None else sum(n for part, n in sizes.items() if not (test and part == "test"))
    rows = f"{len(frame)} rows" if used == len(frame) else f"{used} of {len(frame)} rows used (the findings say why)"
    read = data or f"{config.data.source_file} and {config.data.target_file}"
    print(f"{read}: {rows}, {len(frame.columns)} columns")
    if test:
        print(f"test file {test}: " + (f"{sizes['test']} rows, " if sizes is not None else "") +
              "checked as training reads it")
    schema = getattr(prepared, "schema", None)  # the columns of a task that reads rows
    # The task that trains; a classification's schema says which kind (binary, multiclass), one of its names.
    problem = f" ({schema.task})" if schema is not None and schema.task in task.aliases else ""
    targets = ", ".join(repr(c.name) for c in schema.columns if c.role == "target") if schema is not None else ""
    print(f"task {task.name}{problem}" + (f", target {targets}" if targets else ""))
    if schema is not None:
        for column in schema.columns:
            print(f"  {column.name:<28} {column.kind:<9} {column.role:<8} {column.note}")
    if not any(f.level == "error" for f in findings):  # errors stopped the task before it read the data whole
        for line in task.data_lines(prepared):
            print(f"  {line}")
    print(f"\n{len(findings)} finding(s):" if findings else "\nNo findings.")
    for finding in findings:
        print(f"  [{finding.level}] {finding.message}")
    return EXIT_BAD_INPUT if any(finding.level == "error" for finding in findings) else 0


def run_predict(args) -> int:
    from lamina import api
    from lamina.errors import LaminaError

    if args.out and args.data and Path(args.out).resolve() == Path(args.data).resolve():
        raise LaminaError(f"--out {args.out} is the data file itself: writing the predictions would replace the "
                          "data. Give another file.")
    if args.out and not re.search(r"\.csv(\.(gz|bz2|xz|zip))?$", args.out.lower()):  # pandas compresses by suffix
        raise LaminaError(f"--out {args.out}: predictions are written as CSV, and a file named otherwise would be read "
                          "back as what its name says. Name it .csv (or .csv.gz).")
    if args.user or args.similar_to or args.top is not None or args.exclude_seen is not None:
        if args.top is not None and args.top < 1:
            raise LaminaError(f"--top {args.top}: the items per list must be from 1.")
        table = api.recommend(args.run, args.user, args.data, 10 if args.top is None else args.top,
                              args.exclude_seen is not False, args.similar_to)
        for note in table.attrs.get("notes", []):  # lists cut short: fewer unseen items than --top
            print(f"note: {note}", file=sys.stderr)
        return _write_table(table, args.out)
    if not args.data:
        raise LaminaError("Give the rows to predict: lamina predict RUN DATA (a recommender also takes --user ID "
                          "or --similar-to ITEM).")
    if not args.out and api.prints_transcript(args.run, args.data):
        print(api.transcribe(args.run, args.data, args.beam))
        return 0
    return _write_table(api.predict(args.run, args.data, engine=args.engine, beam=args.beam), args.out)


def _write_table(table, out: str | None) -> int:
    if out:
        _refuse_replacing_other_data(out, list(table.columns))
        table.to_csv(out, index=False)
        print(f"wrote {len(table)} {'row' if len(table) == 1 else 'rows'} to {out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def _refuse_replacing_other_data(out: str, columns: list[str]) -> None:
    """A LaminaError when `out` exists and is not a table of these columns: predictions written again over earlier
    ones are fine, over a data table they would lose it."""
    import pandas as pd

    from lamina.errors import LaminaError

    if not Path(out).is_file():
        return
    try:
        held = list(pd.read_csv(out, nrows=0).columns)
    except (ValueError, OSError):  # not CSV text (pandas' parser and decoding errors are ValueErrors)
        held = None
    if held != columns:
        raise LaminaError(f"--out {out} exists and holds other columns than these predictions ({', '.join(columns)}): "
                          "writing would replace it. Give another file, or remove it first.")


def run_evaluate(args) -> int:
    import json

    from lamina import api

    result, text = api.evaluate(args.run, args.data)
    print(json.dumps(result, indent=2) if args.json else text)
    return 0


def run_report(args) -> int:
    from lamina import api

    print(api.report(args.run))
    return 0


def run_info(args) -> int:
    from lamina import api
    from lamina.features.image import picture_shape_text
    from lamina.training.crossfit import validation_text

    model = api.load(args.run)
    training = model.training
    print(f"{model!r}")
    # A row model's kind of problem (binary, multiclass) where it is not the task's name (regression's is).
    kind = model.schema.task if model.task.row_model else model.task.name
    problem = f" ({kind})" if kind != model.task.name else ""
    classes = f"; classes: {model.classes}" if model.classes else ""
    print(f"task: {model.task.name}{problem}{classes}")
    print(f"architecture: {model.architecture['arch']} ({_pairs_text(model.architecture['hyperparameters'])})")
    folds = (training.get("cross_fit") or {}).get("folds")
    together = f" (cross-fitted: the validation rows train too, each member without one of {folds} folds)" if folds else ""
    print(f"split: {training.get('split')}; sizes: {_pairs_text(training.get('sizes'))}{together}")
    if model.task.row_model:
        print(f"epochs run: {training.get('epochs_run')}, best {training.get('best_epoch')} "
              f"({training.get('stop_reason')})")
        if chosen_on := validation_text(training):
            print(f"best epoch chosen on: {chosen_on}")
        if "whitening_bias_epochs" in training:
            print(f"whitening bias: trained in {training['whitening_bias_epochs']} epoch(s), then held fixed")
    if model.table_schema is not None:  # a table's rows in: a classifier's, a regressor's, an anomaly model's
        print("columns:")
        pictures = (model.architecture["inputs"] or {}).get("images", {})
        for column in model.table_schema.columns:
            shape = f"  ({picture_shape_text(pictures[column.name])})" if column.name in pictures else ""
            print(f"  {column.name:<28} {column.kind:<9} {column.role}{shape}")
    if model.metrics:
        print(model.task.summary(model))
    return 0


def _pairs_text(mapping: dict | None) -> str:
    """{"train": 425, "valid": 75} as a person reads it: "train 425, valid 75" (no Python dict)."""
    return ", ".join(f"{name} {value}" for name, value in (mapping or {}).items()) or "none"


def run_demo(args) -> int:
    from lamina import api
    from lamina.demo import (
        DEMO_TARGET,
        clear_earlier_demo,
        comparison_text,
        logistic_regression_metrics,
        write_demo_data,
    )
    from lamina.tasks.decision import decision_text

    out = Path(args.out)
    clear_earlier_demo(out)
    train_file, test_file = write_demo_data(out / "data")
    print(f"demo: handwritten digits as a table of 8 × 8 pixel columns (scikit-learn's bundled copy of the UCI "
          f"set); files in {out / 'data'}",
          file=sys.stderr)
    model = api.fit(train_file, DEMO_TARGET, test=test_file, out=out)
    columns = {"model": model.metrics["test"], "logistic": logistic_regression_metrics(model, train_file, test_file),
               "baseline": model.metrics["baseline"]}
    print("\n" + comparison_text(columns, model.training["sizes"]["test"]))
    print("logistic: scikit-learn's LogisticRegression on standardised columns; baseline: the majority class"
          + decision_text(model.task.decision_))
    result = api.load(out).evaluate(test_file)
    print(f"\nre-loaded from {out / 'model'}: test accuracy {result['metrics']['accuracy']:.4f}")
    print(f"report: {out / 'report.html'}")
    return 0


def run_serve(args) -> int:
    from lamina import api
    from lamina.serving.server import listening_socket, serve

    app, names, recorded = api.serving_app(args.run, args.host, args.token, args.insecure,
                                           monitor=not args.no_monitor)
    listening = listening_socket(args.host, args.port)  # a port in use is refused before "serving ..." is said
    # Only row models are watched (`lamina monitor` measures drift against their training profile).
    which = "" if recorded == names else f" of {', '.join(recorded)}"
    recording = f"; request summaries{which} recorded for `lamina monitor`" if recorded else ""
    print(f"serving {', '.join(names)} on http://{args.host}:{args.port}/ (playground at /, API docs at "
          f"/docs){recording}", file=sys.stderr)
    serve(app, args.host, args.port, listening)
    return 0


def run_generate(args) -> int:
    from lamina import api
    from lamina.tasks.generate import check_out, write_images

    check_out(Path(args.out))  # before drawing: a wrong name costs no generation
    model = api.load(args.run)
    images = model.generate(args.n, args.label, args.seed)
    written = write_images(images, model.task.labels_of(args.n, args.label), Path(args.out))
    where = written[0] if len(written) == 1 else Path(args.out)
    print(f"wrote {len(images)} image(s) of {images.shape[2]}×{images.shape[3]} pixels to {where}", file=sys.stderr)
    return 0


def run_export(args) -> int:
    from lamina import api

    path, difference, rows = api.export(args.run, args.data)
    print(f"wrote {path}; max |ONNX - PyTorch| on {rows} held-out rows: {difference:.2e}")
    return 0


def run_monitor(args) -> int:
    from lamina import api

    text, page = api.monitor(args.run, args.window, args.reference, args.current, args.out)
    print(text)
    print(f"\ndrift page: {page} (numbers in {page.with_suffix('.json')})")
    return 0


def run_explain(args) -> int:
    rows = None if args.rows is None else _parse_rows(args.rows)  # before importing torch: a mistyped one is told at once
    from lamina import api

    print(api.explain(args.run, args.data, rows, args.repeats)[1])
    return 0


def run_audit(args) -> int:
    from lamina import api

    print(api.audit(args.run, args.data, _names(args.sensitive), args.mitigate, args.constraint)[1])
    return 0


def run_card(args) -> int:
    from lamina import api

    text, path = api.card(args.run, args.out)
    print(text)
    print(f"wrote {path}", file=sys.stderr)
    return 0


COMMANDS = {"train": run_train, "forecast": run_forecast, "check": run_check, "predict": run_predict,
            "evaluate": run_evaluate, "report": run_report, "info": run_info, "demo": run_demo, "serve": run_serve,
            "export": run_export, "monitor": run_monitor, "explain": run_explain, "audit": run_audit, "card": run_card,
            "generate": run_generate, "federate": run_federate, "tune": run_tune}


# ---- helpers ------------------------------------------------------------------------------------


# The most rows `lamina explain --rows` takes: each row is explained one by one (integrated gradients, 128 or
# more forward and backward passes a row), and the attributions are read by a person; a larger range is a slip.
MAX_EXPLAINED_ROWS = 1000


def _parse_rows(text: str) -> list[int]:
    """`--rows`: 0-based row numbers as a list (0,3,7), slices (0:5, rows 0 to 4, as Python counts them) or
    inclusive ranges (10-20, rows 10 to 20), mixed as wanted; at most MAX_EXPLAINED_ROWS rows. A row past the end
    of the data is refused where the data is read, naming its last row (a range is not cut short silently)."""
    import re

    from lamina.errors import LaminaError

    example = "Give e.g. 0,1,2 or 0:5 (rows 0-4) or 10-20 (rows 10 to 20)."
    rows: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d{1,15})\s*([:-])\s*(\d{1,15})|(\d{1,15})", part)  # no row has more digits
        if match is None:
            raise LaminaError(f"--rows {text!r}: {part!r} is not a row number or a range. {example}")
        start = int(match[1] or match[4])
        end = start + 1 if match[4] is not None else int(match[3]) + (match[2] == "-")
        if end <= start:
            raise LaminaError(f"--rows {text!r}: the range {part!r} holds no row; give the first row before the last.")
        if len(rows) + end - start > MAX_EXPLAINED_ROWS:  # checked before the range is made: 0-999999999 is 1e9 rows
            raise LaminaError(f"--rows {text!r} names {len(rows) + end - start:,} rows; explain at most "
                              f"{MAX_EXPLAINED_ROWS:,} at a time (each is explained one by one). Give a shorter range.")
        rows.extend(range(start, end))
    if not rows:
        raise LaminaError(f"--rows {text!r}: no row given. {example}")
    return rows


def _rank_prefix() -> str:
    """"rank R: " before what a process other than rank 0 of a distributed run prints, else nothing. Read from
    torchrun's environment as distributed.launched() does, without importing torch for an error message."""
    launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("RANK", "0") != "0"
    return f"rank {os.environ['RANK']}: " if launched else ""


# A word that starts with a minus and a digit: a value (-5m, -0.5, -1), never an option (no lamina option starts so).
MINUS_VALUE = re.compile(r"-\.?\d")


def _minus_values_joined(argv: list[str]) -> list[str]:
    """`argv` with each `--option -5m` written `--option=-5m`: argparse reads a word starting with a minus as an
    option unless it is a plain number, and answered `--time-budget -5m` with "expected one argument", not with
    what is wrong with the value. Joined, the value reaches the option's own check, whose error names it."""
    joined, position = [], 0
    while position < len(argv):
        word, following = argv[position], argv[position + 1] if position + 1 < len(argv) else ""
        if word.startswith("--") and "=" not in word and MINUS_VALUE.match(following):
            joined.append(f"{word}={following}")
            position += 2
        else:
            joined.append(word)
            position += 1
    return joined


def _without_option(argv: list[str], option: str) -> list[str]:
    """`argv` without `option` and its value (given as `option VALUE` or `option=VALUE`)."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == option:
            skip = True
        elif not word.startswith(f"{option}="):
            kept.append(word)
    return kept


def _names(text: str) -> list[str]:
    """Comma-separated column names; "none" for none."""
    return [] if text.strip().lower() == "none" else [name.strip() for name in text.split(",") if name.strip()]


def _parse_columns(pairs: list[str]) -> dict[str, str]:
    from lamina.errors import LaminaError

    columns = {}
    for pair in pairs:
        name, sep, kind = pair.rpartition("=")
        if not sep or not name:
            raise LaminaError(f"--column {pair!r} must look like NAME=KIND, e.g. --column zip=category.")
        columns[name] = kind
    return columns


def _new_run_folder(name: str, parent: str = "runs") -> Path:
    base = Path(parent) / name
    candidate, number = base, 2
    while candidate.exists():
        candidate, number = Path(f"{base}-{number}"), number + 1
    return candidate


if __name__ == "__main__":
    sys.exit(main())
