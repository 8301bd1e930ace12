"""The `lamina` command: parse, call the API, print. Heavy modules are imported inside commands so
that `lamina --help` stays fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

# Every `lamina train` setting flag and the config key it sets (so a config file can say the same).
def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1", "on"):
        return True
    if text.lower() in ("no", "false", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: say yes or no")


TRAIN_SETTINGS = [
    ("--task", "task", str, "binary, multiclass or regression (default: inferred from the target)"),
    ("--seed", "seed", int, "random seed for the split, the weights and the batch order (default 0)"),
    ("--valid-fraction", "valid_fraction", float, "share of rows for early stopping (default 0.15)"),
    ("--test-fraction", "test_fraction", float, "share of rows for the test metrics (default 0.15)"),
    ("--arch", "arch", str, "network architecture by name (default: resnet for images, else mlp)"),
    ("--width", "width", int, "mlp: hidden units per layer (256); resnet: stem channels (16, 32 from 100k images)"),
    ("--depth", "depth", int, "mlp: hidden layers (3); resnet: residual blocks per end stage (1)"),
    ("--dropout", "dropout", float, "dropout probability (default: mlp 0.3, resnet 0.1)"),
    ("--norm", "norm", str, "mlp: batch, layer or none (default batch)"),
    ("--image-size", "image_size", int, "pixels per side images are resized to (default: median, at most 64)"),
    ("--epochs", "epochs", int, "most epochs to train (default: 60 for tables, early stopping ends sooner; "
                                "about 2400 steps for images)"),
    ("--batch-size", "batch_size", int, "rows per step (default: chosen from the data size)"),
    ("--lr", "lr", float, "peak learning rate (default 0.002)"),
    ("--weight-decay", "weight_decay", float, "AdamW weight decay (default 1e-4)"),
    ("--warmup-epochs", "warmup_epochs", float, "learning-rate warm-up length in epochs (default 1)"),
    ("--clip-norm", "clip_norm", float, "max gradient norm (default 1.0)"),
    ("--patience", "patience", int, "epochs without improvement before stopping (default 8)"),
    ("--time-budget", "time_budget", str, "stop training after this long, e.g. 90s, 5m, 1h"),
    ("--device", "device", str, "auto, cpu or cuda (default auto)"),
    ("--precision", "precision", str, "auto, fp32 or bf16 (default auto: bf16 on a GPU)"),
    ("--adversarial", "adversarial", str, "none or pgd: also train on PGD examples (default none)"),
    ("--adversarial-budget", "adversarial_budget", float, "L∞ radius of those examples (default: 0.2 normal-score "
                                                          "units for tables, 8/255 of the pixel range for images)"),
    ("--label-smoothing", "label_smoothing", float, "share of target mass spread over classes (default: 0.1 "
                                                    "for images, else 0)"),
    ("--crop-padding", "crop_padding", int, "images: pixels of padding before random crops (default ≈ side/12)"),
    ("--flip", "flip", _yes_no, "images: random left-right flips, yes or no (default: if mirrored images keep "
                                "their class)"),
    ("--cutout", "cutout", int, "images: side of a random blanked square, pixels (default: side/4 below 10k "
                                "images, else 0)"),
    ("--init-from", "init_from", str, "run, model folder or .safetensors state dict to start the backbone from"),
    ("--freeze-backbone", "freeze_backbone", int, "epochs the --init-from backbone stays fixed (default 0)"),
]

FORECAST_SETTINGS = [
    ("--lookback", int, "steps of history each forecast reads (default: 2 horizons or 3 seasons, the longer)"),
    ("--season", int, "steps per season for seasonal naive and MASE (default: 24 for hours, 7 for days, 12 for "
                      "months...)"),
    ("--arch", str, "linear, mlp, gru, lstm, or auto: linear and gru, the better on validation (default auto)"),
    ("--valid-steps", int, "time steps held out to pick the epoch and architecture (default 15%%, ≥ horizon)"),
    ("--test-steps", int, "last time steps the backtest forecasts (default 15%%, ≥ horizon)"),
    ("--width", int, "mlp/gru/lstm hidden units per layer (default 64)"),
    ("--depth", int, "mlp hidden layers or stacked recurrent layers (default 1)"),
    ("--batch-size", int, "windows per step (default: a twentieth of the training windows, 16 to 64)"),
    ("--epochs", int, "most epochs (default: about 3000 optimiser steps; early stopping ends sooner)"),
    ("--lr", float, "peak learning rate (default 0.003)"),
    ("--seed", int, "random seed (default 0)"),
]

EXAMPLES = {
    "train": "lamina train adult.csv --target income --out runs/adult",
    "forecast": "lamina forecast sales.csv --time date --target units --horizon 28 --id store --out runs/sales",
    "check": "lamina check adult.csv --target income",
    "predict": "lamina predict runs/adult new_rows.csv --out predictions.csv",
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
}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lamina",
        description="Deep learning from raw data to a trained, evaluated and reported model.",
        epilog="Run `lamina COMMAND --help` for each command's options and an example.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, epilog=f"example: {EXAMPLES[name]}")
        # SUPPRESS: without it the subcommand's default would undo `lamina --debug COMMAND`.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        return sub

    train = command("train", "train a model on a table and write a run folder")
    train.add_argument("data", nargs="?", help="table file: .csv .tsv .parquet .jsonl (or data.path in --config)")
    train.add_argument("--target", help="the column to predict")
    train.add_argument("--test", help="a held-out test table (otherwise the data is split three ways)")
    train.add_argument("--config", help="YAML config file; flags override it")
    train.add_argument("--out", help="run folder (default runs/<data name>)")
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    train.add_argument("--column", action="append", default=[], metavar="NAME=KIND",
                       help="override a column's kind: number, category, binary, datetime, text, ignore")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    for flag, _key, kind, text in TRAIN_SETTINGS:
        train.add_argument(flag, type=kind, help=text)

    forecast = command("forecast", "train a forecaster on time series and backtest it against seasonal naive")
    forecast.add_argument("data", help="table with a time column and one or more series to forecast")
    forecast.add_argument("--time", required=True, help="the column of dates or times")
    forecast.add_argument("--target", required=True, help="column(s) to forecast, comma-separated")
    forecast.add_argument("--horizon", required=True, type=int, help="steps ahead to forecast")
    forecast.add_argument("--id", help="column telling several series apart (one network serves them all)")
    forecast.add_argument("--covariates", help="comma-separated columns read from the history beside the targets, "
                                               "or none (default: every other numeric column)")
    forecast.add_argument("--out", help="run folder (default runs/<data name>)")
    forecast.add_argument("--quiet", action="store_true", help="no progress output")
    for flag, kind, text in FORECAST_SETTINGS:
        forecast.add_argument(flag, type=kind, help=text)

    check = command("check", "report data-quality findings without training")
    check.add_argument("data")
    check.add_argument("--target", help="the column to predict")
    check.add_argument("--config", help="YAML config file")

    predict = command("predict", "predict every row of a table")
    predict.add_argument("run", help="run folder or model folder")
    predict.add_argument("data")
    predict.add_argument("--out", help="CSV file to write (default: print to the terminal)")
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
    explain.add_argument("--rows", default="0,1,2,3,4", help="rows (0-based) to explain one by one (default 0-4)")
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

    demo = command("demo", "train, evaluate and report on a dataset that ships with scikit-learn")
    demo.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from lamina.errors import LaminaError

    try:
        return COMMANDS[args.command](args) or 0
    except LaminaError as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


# ---- commands -----------------------------------------------------------------------------------


def run_train(args) -> int:
    from lamina import api
    from lamina.errors import LaminaError
    from lamina.training.trainer import TrainingInterrupted

    progress = not args.quiet
    if not args.resume:
        settings = {key: getattr(args, flag[2:].replace("-", "_")) for flag, key, _, _ in TRAIN_SETTINGS}
        config = api.resolve_config(args.config, **settings)
        columns = _parse_columns(args.column)
        if columns:
            config = config.with_overrides(columns={**config.data.columns, **columns})
        data = args.data or config.data.path
        if not data:
            raise LaminaError("Give the data to train on: lamina train DATA --target COL (or --resume RUN).")
    out = Path(args.resume or args.out or _new_run_folder(Path(data).stem))
    print(f"run folder: {out}", file=sys.stderr)
    try:
        if args.resume:
            model = api.resume_run(out, progress=progress)
        else:
            model = api.fit(data, args.target or config.data.target, test=args.test or config.data.test,
                            config=config, out=out, progress=progress)
    except TrainingInterrupted:
        print(f"\nStopped; the last checkpoint is saved. Resume with:\n  lamina train --resume {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(_metrics_text(model.metrics["test"], model.metrics["baseline"], model.training["sizes"]["test"]))
    print(f"\nreport: {out / 'report.html'}\nmodel:  {out / 'model'}")
    return 0


def run_forecast(args) -> int:
    from lamina.forecast.fit import forecast

    settings = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_")) for flag, _, _ in FORECAST_SETTINGS}
    covariates = None if args.covariates is None else _names(args.covariates)
    out = Path(args.out or _new_run_folder(Path(args.data).stem))
    print(f"run folder: {out}", file=sys.stderr)
    model = forecast(args.data, args.time, _names(args.target), args.horizon, id=args.id, covariates=covariates,
                     out=out, progress=not args.quiet, **{k: v for k, v in settings.items() if v is not None})
    metrics = model.metrics
    print(f"\nbacktest: {metrics['origins']} forecasts of {model.horizon} steps "
          f"({model.architecture['arch']}, reading {model.lookback} steps)      model   seasonal naive")
    for name in ("mae", "rmse", "mase", "smape"):
        print(f"  {name:<52} {_number(metrics['model'][name]):>10} {_number(metrics['seasonal_naive'][name]):>10}")
    print(f"  {model.interval['level']:.0%} interval coverage {metrics['interval_coverage']:.1%}")
    for target, scores in metrics.get("per_target", {}).items():
        print(f"  {target}: MASE {scores['model']['mase']:.4f} (seasonal naive {scores['seasonal_naive']['mase']:.4f})")
    print(f"\nreport: {out / 'report.html'}\nmodel:  {out / 'model'}\nnext {model.horizon} steps: "
          f"lamina predict {out} {args.data}")
    return 0


def run_check(args) -> int:
    from lamina import api
    from lamina.data.checks import has_errors
    from lamina.data.read import read_table

    config = api.resolve_config(args.config, target=args.target or api.implied_target(args.data))
    frame = read_table(args.data, "data")
    prepared = api.prepare(config, frame, None)
    schema, findings = prepared.schema, prepared.findings
    print(f"{args.data}: {len(frame)} rows, {len(frame.columns)} columns; task {schema.task}, target {schema.target!r}")
    for column in schema.columns:
        print(f"  {column.name:<28} {column.kind:<9} {column.role:<8} {column.note}")
    print(f"\n{len(findings)} finding(s):" if findings else "\nNo findings.")
    for finding in findings:
        print(f"  [{finding.level}] {finding.message}")
    return EXIT_BAD_INPUT if has_errors(findings) else 0


def run_predict(args) -> int:
    from lamina import api
    from lamina.data.images import looks_like_image_paths
    from lamina.data.read import read_table

    model = api.load(args.run)
    frame = read_table(args.data, "prediction data")
    if model.task == "forecast":  # the next horizon after the history in DATA
        return _write_table(model.predict(frame), args.out, "forecast rows")
    predictions = model.predict(frame, engine=args.engine)
    for column in reversed([c.name for c in model.schema.features if c.kind == "image"]):
        if looks_like_image_paths(frame[column]):  # which file each prediction is for
            predictions.insert(0, column, frame[column])
    return _write_table(predictions, args.out, "predictions")


def _write_table(table, out: str | None, what: str) -> int:
    if out:
        table.to_csv(out, index=False)
        print(f"wrote {len(table)} {what} to {out}", file=sys.stderr)
    else:
        table.to_csv(sys.stdout, index=False)
    return 0


def run_evaluate(args) -> int:
    import json


    result = _table_model(args.run, "evaluate").evaluate(args.data)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(_metrics_text(result["metrics"], result["baseline"], result["rows"]))
    return 0


def run_report(args) -> int:
    from lamina.evaluation.report import write_report
    from lamina.forecast.fit import SETTINGS_FILE
    from lamina.forecast.report import write_forecast_report

    run = Path(args.run)
    print(write_forecast_report(run) if (run / SETTINGS_FILE).exists() else write_report(run))
    return 0


def run_info(args) -> int:
    from lamina import api

    model = api.load(args.run)
    training = model.training
    print(f"{model!r}")
    if model.task == "forecast":
        layout = model.layout
        print(f"time {layout.time!r} every {layout.step}, season {layout.season} steps; targets {layout.targets}; "
              f"covariates {layout.covariates or 'none'}; series id {layout.id!r}")
        print(f"split: {training['split']}")
        print(f"backtest MASE {model.metrics['model']['mase']:.4f} (seasonal naive "
              f"{model.metrics['seasonal_naive']['mase']:.4f}) over {model.metrics['origins']} forecasts")
        return 0
    print(f"task: {model.task}; classes: {model.classes}" if model.classes else f"task: {model.task}")
    print(f"architecture: {model.architecture['arch']} {model.architecture['hyperparameters']}")
    print(f"split: {training.get('split')}; sizes {training.get('sizes')}")
    print(f"epochs run: {training.get('epochs_run')}, best {training.get('best_epoch')} ({training.get('stop_reason')})")
    print("columns:")
    for column in model.schema.columns:
        print(f"  {column.name:<28} {column.kind:<9} {column.role}")
    if model.metrics:
        print(_metrics_text(model.metrics["test"], model.metrics["baseline"], training["sizes"]["test"]))
    return 0


def run_demo(args) -> int:
    from lamina import api
    from lamina.demo import write_demo_data

    out = Path(args.out)
    train_file, test_file = write_demo_data(out / "data")
    print(f"demo: breast cancer diagnosis (scikit-learn's bundled copy of the UCI table); files in {out / 'data'}",
          file=sys.stderr)
    model = api.fit(train_file, "diagnosis", test=test_file, out=out)
    print(_metrics_text(model.metrics["test"], model.metrics["baseline"], model.training["sizes"]["test"]))
    result = api.load(out).evaluate(test_file)
    print(f"\nre-loaded from {out / 'model'}: test accuracy {result['metrics']['accuracy']:.4f}")
    print(f"report: {out / 'report.html'}")
    return 0


def run_serve(args) -> int:
    from lamina.errors import LaminaError

    if args.host not in LOOPBACK and not args.token and not args.insecure:
        raise LaminaError(
            f"Refusing to serve on {args.host} without a token: anyone who can reach it could use the model. "
            "Add --token SECRET (clients send 'Authorization: Bearer SECRET'), or --insecure if you mean it."
        )
    import uvicorn

    from lamina.serving.server import create_app
    from lamina.serving.sources import find_models

    models = find_models(Path(args.run))
    app = create_app(models, token=args.token, monitor=not args.no_monitor)
    recording = "" if args.no_monitor else "; request summaries recorded for `lamina monitor`"
    print(f"serving {', '.join(sorted(models))} on http://{args.host}:{args.port}/ (playground at /, API docs at "
          f"/docs){recording}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def run_export(args) -> int:
    from lamina import api
    from lamina.data.read import read_table
    from lamina.serving.export import export_onnx

    model = _table_model(args.run, "export")
    rows = read_table(args.data, "check data") if args.data else api.held_out_rows(Path(args.run))
    path, difference = export_onnx(model, model.directory, rows.head(EXPORT_CHECK_ROWS))
    print(f"wrote {path}; max |ONNX - PyTorch| on {min(len(rows), EXPORT_CHECK_ROWS)} held-out rows: {difference:.2e}")
    return 0


def run_monitor(args) -> int:
    import json

    from lamina.config import parse_duration
    from lamina.data.read import read_table
    from lamina.errors import LaminaError
    from lamina.serving import monitor

    model = _table_model(args.run, "monitor")
    run = Path(args.run)
    if args.reference or args.current:
        if not (args.reference and args.current):
            raise LaminaError("Offline drift needs both --reference FILE and --current FILE.")
        reference, current = read_table(args.reference, "reference data"), read_table(args.current, "current data")
        table, profile, counts = monitor.offline_drift(model, reference, current)
    else:
        if model.profile is None:
            raise LaminaError(f"{run} has no training profile (trained by an older lamina); retrain to monitor it.")
        database = monitor.database_of(model)
        if not database.exists():
            raise LaminaError(f"No requests recorded yet ({database} is missing). Serve the model with "
                              f"`lamina serve {run}` first, or compare two files with --reference and --current.")
        counts = monitor.recorded_counts(database, since_seconds=parse_duration(args.window))
        if not counts:
            raise LaminaError(f"No requests recorded in {database} within the window.")
        profile = model.profile
        table = monitor.drift_table(profile, counts)
    print(monitor.drift_text(table))
    page = Path(args.out) if args.out else run / "drift.html"
    page.write_text(monitor.drift_page(table, profile, counts, f"Drift: {run.name}"), encoding="utf-8")
    page.with_suffix(".json").write_text(json.dumps(monitor.to_json(table), indent=2), encoding="utf-8")
    print(f"\ndrift page: {page} (numbers in {page.with_suffix('.json')})")
    return 0


def run_explain(args) -> int:
    import json

    from lamina.data.read import read_table
    from lamina.errors import LaminaError
    from lamina.insight.explain import explain_rows, permutation_importance, top_attributions

    model = _table_model(args.run, "explain")
    frame = read_table(args.data, "data to explain")
    try:
        rows = [int(r) for r in args.rows.split(",") if r.strip()]
    except ValueError:
        raise LaminaError(f"--rows {args.rows!r} must be row numbers separated by commas, e.g. 0,1,2.") from None
    outside = [r for r in rows if not 0 <= r < len(frame)]
    if outside:
        raise LaminaError(f"Row {outside[0]} is outside the data ({len(frame)} rows, numbered from 0).")
    explanation = explain_rows(model, frame.iloc[rows])
    print(f"Integrated gradients ({explanation['output_unit']}; completeness gap "
          f"{explanation['completeness_gap']:.4f}: attributions sum to output − baseline within it)")
    for position, row in enumerate(rows):
        parts = ", ".join(f"{c} {v:+.3f}" for c, v in top_attributions(explanation, position))
        print(f"  row {row} → {explanation['explained_output'][position]}: {parts}")
        if "tokens" in explanation:
            strongest = sorted(explanation["tokens"][position], key=lambda pair: -abs(pair[1]))[:8]
            print("    tokens: " + ", ".join(f"{piece} {value:+.3f}" for piece, value in strongest))
    result = {"rows": rows, "attributions": explanation}
    if model.schema.target in frame.columns:
        importance = permutation_importance(model, frame, repeats=args.repeats)
        result["importance"] = importance
        print(f"\nPermutation importance ({importance[0]['metric']} lost when a column is shuffled, "
              f"mean ± std over {args.repeats})")
        for entry in importance:
            print(f"  {entry['column']:<28} {entry['drop']:+.4f} ± {entry['std']:.4f}")
    _save_beside(model, "explain.json", json.dumps(result, indent=2))
    return 0


def run_audit(args) -> int:
    import json

    from lamina.data.read import read_table
    from lamina.insight.fairness import audit, audit_text
    from lamina.insight.robustness import robustness_curve, robustness_text
    from lamina.plain import json_safe

    model = _table_model(args.run, "audit")
    frame = read_table(args.data, "audit data")
    sensitive = _names(args.sensitive)
    result = audit(model, frame, sensitive, mitigate=args.mitigate, constraint=args.constraint)
    result["robustness"] = robustness_curve(model, frame)
    if sensitive:
        print(audit_text(result))
    print("\n" + robustness_text(result["robustness"]))
    _save_beside(model, "audit.json", json.dumps(json_safe(result), indent=2))
    return 0


def run_card(args) -> int:
    from lamina.insight.card import model_card

    run = Path(args.run)
    text = model_card(run)
    path = Path(args.out) if args.out else run / "model_card.md"
    path.write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def _save_beside(model, name: str, text: str) -> None:
    """Writes a result into the model's run folder and refreshes its report when the run has one."""
    from lamina.evaluation.report import write_report

    path = model.run_folder / name
    path.write_text(text, encoding="utf-8")
    print(f"\nwrote {path}")
    if (model.run_folder / "config.yaml").exists():
        print(f"report: {write_report(model.run_folder)}")


EXPORT_CHECK_ROWS = 512  # held-out rows the ONNX export is compared on

COMMANDS = {"train": run_train, "forecast": run_forecast, "check": run_check, "predict": run_predict, "evaluate": run_evaluate,
            "report": run_report, "info": run_info, "demo": run_demo, "serve": run_serve, "export": run_export,
            "monitor": run_monitor, "explain": run_explain, "audit": run_audit, "card": run_card}


# ---- helpers ------------------------------------------------------------------------------------


def _table_model(run: str, command: str):
    """The model of a `lamina train` run; a forecasting run gets a clear refusal."""
    from lamina import api
    from lamina.errors import LaminaError

    model = api.load(run)
    if model.task == "forecast":
        raise LaminaError(f"{run} holds a forecasting model; `lamina {command}` works on models from `lamina train`. "
                          f"Its backtest is in {run}/report.html; `lamina predict {run} HISTORY` forecasts.")
    return model


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


def _new_run_folder(name: str) -> Path:
    base = Path("runs") / name
    candidate, number = base, 2
    while candidate.exists():
        candidate, number = Path(f"{base}-{number}"), number + 1
    return candidate


def _metrics_text(metrics: dict, baseline: dict, rows: int) -> str:
    from lamina.evaluation.metrics import HIGHER_IS_BETTER

    lines = [f"\ntest metrics on {rows} rows     model   baseline"]
    for name, value in metrics.items():
        direction = "higher is better" if name in HIGHER_IS_BETTER else "lower is better"
        lines.append(f"  {name:<20} {_number(value):>10} {_number(baseline.get(name)):>10}   ({direction})")
    return "\n".join(lines)


def _number(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.4f}"


if __name__ == "__main__":
    sys.exit(main())
