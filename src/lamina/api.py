"""fit(), forecast(), resume_run() and load(): the one flow for every task, and nothing else.

read → task.prepare (schema or layout, checks, split) → task.fit (networks trained by the shared Trainer)
→ Model → task.score (held-out metrics beside the task's baseline) → the run folder (run.RunFolder) and its
report. What differs between learning problems is the task's (tasks/); this module only orchestrates.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import time
from pathlib import Path

import pandas as pd
import torch

from lamina.config import Config
from lamina.data.checks import has_errors
from lamina.data.images import (
    LABEL_COLUMN,
    TEST_DATA,
    is_image_source,
    refuse_target_without_labels,
    test_images_beside,
)
from lamina.data.read import read_table
from lamina.data.schema import written_keys
from lamina.errors import LaminaError
from lamina.model import Model, read_model_document
from lamina.run import CHECKS, HELD_OUT, METRICS, RunFolder
from lamina.tasks.base import Prepared, Task, task_for, task_named
from lamina.training import distributed
from lamina.training.session import Session


def load(directory) -> Model:
    """The model in a run or model folder, whatever its task."""
    return Model.from_document(*read_model_document(directory))


def resolve_config(config=None, **overrides) -> Config:
    if config is None:
        base = Config()
    elif isinstance(config, Config):
        base = config
    elif isinstance(config, dict):
        base = Config.from_dict(config)
    else:
        base = Config.from_file(config)
    return base.with_overrides(**overrides)


def fit(data, target: str | None = None, *, test=None, config=None, out=None, progress: bool = True,
        **overrides) -> Model:
    """Train a model on a table (path or DataFrame) to predict `target`.

    `overrides` are config settings by name (epochs=5, width=128, task="forecast", horizon=12...). With
    `out`, a run folder is written there (checkpoints included, so `resume_run(out)` can continue after an
    interruption). Translation pairs in two aligned files take `data` None and the files as settings:
    fit(None, "de", task="translate", source="en", source_file="train.en", target_file="train.de").
    """
    path = str(Path(data).resolve()) if isinstance(data, (str, Path)) else None
    if test is None and path is not None:
        test = test_images_beside(Path(path))  # a folder of idx files brings its official test split
    test_path = str(Path(test).resolve()) if isinstance(test, (str, Path)) else None
    config, named = with_target(resolve_config(config, path=path, test=test_path, **overrides), target, data)
    # Aligned files are recorded like the data path: absolute, so a resume finds them.
    config = config.with_overrides(**{key: str(Path(getattr(config.data, key)).resolve()) for key in PAIR_FILES
                                      if getattr(config.data, key) is not None})
    frame, test_frame = tables_of(config, data, test)
    refuse_target_without_labels(frame, named)
    return train(config, frame, test_frame, RunFolder(out) if out else None, resume=False, progress=progress)


PAIR_FILES = ("source_file", "target_file", "test_source_file", "test_target_file", "valid_source_file",
              "valid_target_file")  # data settings naming files of sentence pairs


def forecast(data, time: str, target, horizon: int, *, out=None, progress: bool = True, **overrides) -> Model:
    """Train a forecaster of `target` (a column, or a list of columns) `horizon` steps ahead from the series
    table `data`; the same as fit(data, target, task="forecast", time=..., horizon=...)."""
    targets = target if isinstance(target, str) else ",".join(target)
    return fit(data, targets, task="forecast", time=time, horizon=horizon, out=out, progress=progress, **overrides)


def federate(data, target: str, *, partition: str | None = None, clients: int | None = None,
             non_iid: float | None = None, rounds: int = 20, local_epochs: int = 1, fraction: float = 1.0,
             strategy: str = "fedavg", mu: float = 0.01, out=None, progress: bool = True, **overrides) -> Model:
    """Train a table model with federated learning (federated.py): Flower-simulated clients each hold a partition
    of `data` — one per value of the column `partition`, or `clients` IID parts, or `clients` Dirichlet(`non_iid`)
    parts by label — and share statistics and weights, never rows. FedAvg or FedProx (`strategy`, `mu`) for
    `rounds` rounds of `local_epochs` on a `fraction` of the clients. With `out`, a run folder as fit() writes."""
    from lamina.federated import Federation
    from lamina.federated import federate as run

    federation = Federation(rounds=rounds, local_epochs=local_epochs, fraction=fraction, strategy=strategy, mu=mu)
    return run(data, target, partition=partition, clients=clients, non_iid=non_iid, federation=federation, out=out,
               progress=progress, **overrides)
def tune(data, target: str | None = None, *, out, test=None, config=None, workers: int = 1,
         storage: str | None = None, progress: bool = True, **overrides) -> tuple[Model, dict]:
    """A hyperparameter search (lamina.tuning): trials trained in `workers` processes into the study folder `out`,
    chosen on validation; returns the winner's model (scored on the test split once) and the study's summary.
    `overrides` are config settings by name: trials=40, budget="1h", pruner="hyperband", epochs=30..."""
    from lamina import tuning

    summary = tuning.tune(data, target, out=out, test=test, config=config, workers=workers, storage=storage,
                          progress=progress, **overrides)
    return tuning.best_model(out), summary


def with_target(config: Config, target: str | None, data) -> tuple[Config, str | None]:
    """`config` with its target, and the target the user named: `target`, else the config's own data.target (a
    config file's), else none; the config then holds it, or the `label` column a picture folder or array file
    implies (implied_target). The named one is what images.refuse_target_without_labels judges: a folder's
    implied `label` is never refused, a target the user named that the data cannot give is."""
    named = target or config.data.target
    return config.with_overrides(target=named or implied_target(data)), named


def implied_target(data) -> str | None:
    """Image folders and array files name their classes in the `label` column they are read into."""
    if isinstance(data, (str, Path)) and is_image_source(Path(data)):
        return LABEL_COLUMN
    return None


def resume_run(run_dir, progress: bool = True, start: str = "last") -> Model:
    """Continue an interrupted run from its last checkpoint(s); ends where an uninterrupted run would.
    A missing or damaged last checkpoint stops with a LaminaError naming it, unless `start="best"`: then each
    such network continues from its best checkpoint (that epoch's weights, a fresh optimiser state).
    A complete run (see `is_complete`) is not trained again: its model is returned as it is."""
    if start not in ("last", "best"):
        raise LaminaError(f"start={start!r}: a run resumes from its 'last' checkpoint, or from its 'best' one where "
                          "the last is missing or damaged.")
    run = RunFolder(run_dir)
    config = run.read_config()
    if is_complete(run.path):
        return load(run.path)
    if not (config.data.path or config.data.source_file):
        raise LaminaError(f"{run.path} was trained on an in-memory table; only runs trained from a file can resume.")
    return train(config, *tables_of(config), run, resume=True, progress=progress, fall_back_to_best=start == "best")


def is_complete(run_dir) -> bool:
    """Whether a run folder holds everything a finished run writes, its report last."""
    from lamina.run import FINISHED, REPORT

    run = RunFolder(run_dir)
    return all(run.exists(name) for name in (*FINISHED, REPORT))


def tables_of(config: Config, data=None, test=None,
              what: str = "training data") -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The training table and the optional test table: given, or else the files a run's config names (two
    aligned files of sentence pairs read as a table of two columns); `what` names the training table in errors."""
    from lamina.data.pairs import read_pair_files

    frame = training_table(config, data, what)
    test = test if test is not None else config.data.test
    if test is None and config.data.test_source_file:
        return frame, read_pair_files(config.data.test_source_file, config.data.test_target_file, *_pair_names(config))
    # The test file's columns read as text where the training file's were (a test file of codes 2020 and 2021
    # alone would read them as numbers), so both are read alike.
    texts = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    test_frame = read_table(test, TEST_DATA, texts, unlabelled=trains_unlabelled(config)) if test is not None else None
    return frame, test_frame


def training_table(config: Config, data=None, what: str = "training data") -> pd.DataFrame:
    """The training table: `data`, else the config's data.path, else its two aligned files of sentence pairs read as
    a table of two columns (named by data.source and data.target); `what` names it in read_table's errors."""
    from lamina.data.pairs import read_pair_files

    if data is None and config.data.source_file:
        return read_pair_files(config.data.source_file, config.data.target_file, *_pair_names(config))
    source = data if data is not None else config.data.path
    frame = read_table(source, what, unlabelled=trains_unlabelled(config))
    # ID-like columns read as floats are read again as the text the file holds (156E16, not 1.56e+18), as `lamina
    # predict` reads them (Schema.text_columns), so the held-out rows' keys join back to the file; rarely needed.
    target = config.data.target or ""
    keys = written_keys(frame, {target, *target.split(","), *config.data.columns})
    if keys and isinstance(source, (str, Path)):
        return read_table(source, what, keys, unlabelled=trains_unlabelled(config))
    return frame


def _pair_names(config: Config) -> tuple[str, str]:
    """The columns a table read from aligned files of sentence pairs has: the source's and the target's."""
    return config.data.source or "source", config.data.target or "target"


def trains_unlabelled(config: Config) -> bool:
    """Whether the config's task learns without labels, so a folder without class subfolders is its data."""
    return config.data.task != "auto" and task_named(config.data.task).trains_unlabelled


def prepare(config: Config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> Prepared:
    """The task's view of the data (schema or layout, findings, split); raises on unusable data."""
    return task_for(config, frame).prepare(config, frame, test_frame)


def prepare_to_train(config: Config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> tuple[Task, Prepared]:
    """The task and its view of the data, or the LaminaError that stops a training before it starts: a setting the
    task cannot train with, an unknown or missing column, data with error findings. Shared by `train` and a tuning
    study (tuning.create), so a study refuses before its folder exists what a run refuses, not in its first trial."""
    task, prepared = prepare_as_training(config, frame, test_frame)
    if has_errors(prepared.findings):
        problems = "\n".join(f"  - {f.message}" for f in prepared.findings if f.level == "error")
        raise LaminaError(f"The data has problems that stop training:\n{problems}")
    return task, prepared


def prepare_as_training(config: Config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> tuple[Task, Prepared]:
    """prepare_to_train's task and view of the data, its LaminaErrors raised, its error findings kept among the
    others: what `lamina check` reports, so that it says whatever stops `lamina train` on the same data and flags."""
    task = task_for(config, frame)
    if distributed.active() and task.reads != "table":
        raise LaminaError(f"Training on several processes works for the tasks that predict one row at a time "
                          f"(classification and regression of tables, images, texts); {task.name} trains in one "
                          "process: drop --nproc (or torchrun).")
    if config.train.privacy and task.reads != "table":
        raise LaminaError(f"--privacy trains table tasks (classification, regression); the {task.name} task trains "
                          "without it. Drop --privacy.")
    if config.train.privacy and distributed.active():  # Opacus' per-row gradients and DDP's hooks are not combined here
        raise LaminaError("--privacy trains in one process: drop --nproc (or torchrun), or drop --privacy.")
    return task, task.prepare(config, frame, test_frame)


def train(config: Config, frame: pd.DataFrame, test_frame: pd.DataFrame | None, run: RunFolder | None,
          resume: bool = False, progress: bool = True, fall_back_to_best: bool = False, score: bool = True,
          observers: list | None = None, tracking_parent: str | None = None) -> Model:
    """The whole flow; a run folder is locked while it is written (a second training into it is refused).
    `score=False` (a tuning trial) stops after training: the test split is not scored, and the run holds the
    model, its validation score (model.training["validation"]) and history, but no metrics or report; resuming
    it later scores it. `observers` are called as observer(trainer, record) after every epoch;
    `tracking_parent` nests the run's MLflow run (config.track) under that run id.
    Under torchrun every process runs it inside one process group (training/distributed.py): rank 0 alone
    holds the lock, writes the run folder and tracks."""
    from lamina.tracking import tracked

    name = run.path.name if run is not None else "in memory"
    if config.track == "mlflow" and distributed.is_writer():  # an unreachable server is refused before the folder
        from lamina.tracking import client

        client()
    with distributed.processes(config.train.device):
        writer = distributed.is_writer()
        with run.lock() if run is not None and writer else contextlib.nullcontext(), \
                tracked(config, name, tracking_parent) if writer else contextlib.nullcontext() as tracker:
            observers = [*(observers or []), *([tracker] if tracker else [])]
            model = _train(config, frame, test_frame, run, resume, progress, fall_back_to_best, score, observers)
            if tracker is not None:
                tracker.finish(model, run)
            return model


def _train(config: Config, frame: pd.DataFrame, test_frame: pd.DataFrame | None, run: RunFolder | None,
           resume: bool, progress: bool, fall_back_to_best: bool, score: bool, observers: list) -> Model:
    started = time.perf_counter()
    if run is not None and resume:  # before the data is read into a split that may no longer match the checkpoints
        _record_or_check_sources(run, config, resume)
    task, prepared = prepare_to_train(config, frame, test_frame)
    if run is not None and not resume:
        if distributed.is_writer():
            _record_or_check_sources(run, config, resume)
        distributed.barrier()  # every rank's checkpoint fingerprint reads the sources.json rank 0 wrote
    torch.manual_seed(config.seed)  # a task's networks start from the seed: the same config, the same run
    try:
        session = Session(config, run, resume, progress, fall_back_to_best, observers=observers)
        network, architecture, training = task.fit(config, prepared, session)
    except LaminaError:  # a setting the task refuses: the folder must not block the corrected command
        if run is not None and not resume and distributed.is_writer():
            run.discard_unstarted()
        raise
    model = Model(task, network, architecture, training=training)
    if distributed.active():  # batch_size is rows per process: a global batch is batch_size × processes
        model.training["processes"] = distributed.world_size()
    model.training["validation"] = session.validation()
    if not distributed.is_writer():  # rank 0 scores and writes; every rank holds the same network
        return model
    if not score:
        if run is not None:
            model.save(run.model_dir)
            run.write_json(CHECKS, [finding.to_dict() for finding in prepared.findings])
        return model
    held_out = task.score(model, prepared)
    model.training["total_seconds"] = round(time.perf_counter() - started, 2)
    if run is not None:
        from lamina.evaluation.report import write_report

        model.save(run.model_dir)
        run.write_json(METRICS, model.metrics)
        run.write_json(CHECKS, [finding.to_dict() for finding in prepared.findings])
        run.write_table(HELD_OUT, held_out)
        task.after_training(model, prepared, run, config)
        write_report(run.path)
    return model


def _record_or_check_sources(run: RunFolder, config: Config, resume: bool) -> None:
    """A new run records its config and its data files' fingerprints; a resumed one checks the files are the
    ones its checkpoints were made from (the config it reads is the run's own)."""
    from lamina.run import SOURCES, fingerprint

    files = (("data", config.data.path), ("test", config.data.test),
             *((key, getattr(config.data, key)) for key in PAIR_FILES))
    sources = {name: fingerprint(path) for name, path in files if path}
    if not resume:
        run.create().write_config(config)
        run.write_json(SOURCES, sources)
        return
    recorded = run.read_json(SOURCES)
    changed = [name for name in sources if recorded is not None and recorded.get(name) != sources[name]]
    if changed:
        path = getattr(config.data, "path" if changed[0] == "data" else changed[0])
        raise LaminaError(f"The {changed[0]} file {path} changed since run {run.path} began: resuming would train one "
                          "model on two datasets. Restore the file, or start a new run with another --out.")


def held_out_rows(run_dir) -> pd.DataFrame:
    """The run's test rows, re-made from its config.yaml (same files, same seed → same split)."""
    run = RunFolder(run_dir)
    config = run.read_config()
    if not config.data.path:
        raise LaminaError(f"{run.path} was trained on an in-memory table; give rows to check with --data FILE.")
    prepared = prepare(config, *tables_of(config))
    return prepared.split.test


# ---- using a run: what each command does; the CLI parses and prints ------------------------------------

EXPORT_CHECK_ROWS = 512  # held-out rows the ONNX export is compared on
EXPLAINED_BY_DEFAULT = 5  # rows `lamina explain` explains when none are named: a first look, read by a person
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check(data, target: str | None = None, config=None) -> tuple[pd.DataFrame, Prepared, Task]:
    """The table as read, the task's view of it (schema or layout, findings, split: Prepared.split_sizes counts the
    rows it uses) and the task training would pick for it (the config's data.task, or the one inferred), without
    training. Raises what training would raise before it starts (prepare_as_training). The config's test file
    (data.test) is read and prepared with the data, as training reads it: its findings and refusals are said too."""
    config, named = with_target(resolve_config(config), target, data)
    # `data` None: the config's aligned files of sentence pairs
    frame, test_frame = tables_of(config, data, what="data")
    refuse_target_without_labels(frame, named)
    task, prepared = prepare_as_training(config, frame, test_frame)
    return frame, prepared, task


def predict(run, data, engine: str = "torch", beam: int | None = None) -> pd.DataFrame:
    """The model's prediction frame for `data` (a table, or a folder of pictures or recordings, with or without
    class subfolders; for a translation model also a .txt file of one sentence a line); for a file or folder, each
    row's ID-like columns and the paths of its image or audio files lead it (which row each prediction is for:
    Model.predict).
    `beam`: a translation model's beams (1 greedy; default 5), or the prefixes a speech-to-text model's beam search
    keeps (default: greedy)."""
    model = load(run)
    reads_its_own = getattr(model.task, "read_prediction_data", None)  # e.g. sentences, one a line
    searches = "beam" in inspect.signature(model.task.predict).parameters  # translation, speech to text
    if beam is not None and not searches:
        raise LaminaError(f"--beam sets the beams of a translation or speech-to-text model's search; this is "
                          f"{model.task.described} model. Drop --beam.")
    options = {"beam": beam} if beam is not None else {}
    if model.task.row_model:
        return model.predict(data, engine=engine)
    if engine != "torch":  # e.g. a forecast: the next horizon after the history in `data`
        raise LaminaError(f"--engine {engine} runs models that predict one row at a time; {model.task.described} "
                          "model predicts with torch. Drop --engine.")
    frame = reads_its_own(data) if reads_its_own else model.read(data, "prediction data")
    frame.attrs["source"] = f"the file {data}" if isinstance(data, (str, Path)) else None  # errors name it
    return model.predict(frame, **options)


def prints_transcript(run, data) -> bool:
    """Whether `lamina predict RUN DATA` prints the text heard in `data`: one recording (by its suffix) given to a
    speech-to-text model (its model.json read, not its weights). Any other model predicts from the recording as
    from a folder holding it alone."""
    from lamina.data.media import AUDIO, is_media_file, kind_by_suffix
    from lamina.tasks.transcribe import TranscribeTask

    if not (is_media_file(data) and kind_by_suffix(data) == AUDIO):
        return False
    return read_model_document(run)[1]["task"]["name"] == TranscribeTask.name


def transcribe(run, audio, beam: int | None = None) -> str:
    """The text a speech-to-text model (--task transcribe) hears in one recording (a path)."""
    return load(run).transcribe(str(audio), beam)


def recommend(run, users=None, data=None, top: int = 10, exclude_seen: bool = True,
              similar_to=None) -> pd.DataFrame:
    """A recommender's lists: the `top` items most like `similar_to`; else each user's top items, the users
    given as ids (`users`) or as a table (`data`: a user column, or user and item pairs to score)."""
    model = load(run)
    if similar_to is not None:
        return model.similar(similar_to, top)
    if users:
        return model.recommend(users, top, exclude_seen)
    if data is None:
        raise LaminaError("Name the users to recommend to: --user ID (repeatable) or a table of users as DATA.")
    frame = read_table(data, "users")
    frame.attrs["source"] = f"the users file {data}" if isinstance(data, (str, Path)) else "the users table"
    return model.recommender("recommend").predict(model, frame, top, exclude_seen)


def evaluate(run, data) -> tuple[dict, str]:
    """{'rows', 'metrics', 'baseline'} of the run's model on labelled `data`, and the same as text."""
    from lamina.tasks.table import metrics_text

    model = load(run)
    frame = model.read(data, "evaluation data")  # read here, once: its rows are counted below
    result = model.task.evaluate(model, frame)  # Model.evaluate's; a task that cannot be evaluated (a forecast) says so
    source = str(data) if isinstance(data, (str, Path)) else "the given table"
    text = metrics_text(result["metrics"], result["baseline"], result["rows"], source)
    if result["rows"] < len(frame):  # rows without a label (a target value) score nothing
        text += (f"\n{len(frame) - result['rows']} of the {len(frame)} rows were left out: they hold no label "
                 "(an empty target cell).")
    if "targets" in result:  # several targets: the means above, each target's scores below
        from lamina.tasks.targets import per_target_text

        text += "\n" + per_target_text(result["targets"])
    return result, text


def explain(run, data, rows: list[int] | None = None, repeats: int = 5) -> tuple[dict, str]:
    """Attributions of `rows` (0-based; None: the first EXPLAINED_BY_DEFAULT, or every row of a shorter table)
    and, with labelled data, permutation importance (without, why there is none); saved as explain.json in the run
    (its report refreshed). Returns (result, text)."""
    from lamina.insight.explain import explanation_text
    from lamina.run import EXPLAIN

    model = load(run).rows("explain")
    frame = model.read(data, "data to explain")
    rows = list(range(min(EXPLAINED_BY_DEFAULT, len(frame)))) if rows is None else rows
    result = model.explain(frame, rows=rows, repeats=repeats)
    return result, explanation_text(result) + _save_beside(model, EXPLAIN, result)


def audit(run, data, sensitive: list[str], mitigate: str | None = None,
          constraint: str = "demographic_parity") -> tuple[dict, str]:
    """Bias audit per sensitive column and robustness audit; saved as audit.json. Returns (result, text)."""
    from lamina.insight.fairness import audit_text
    from lamina.insight.robustness import robustness_text
    from lamina.run import AUDIT

    model = load(run).rows("audit")
    result = model.audit(data, sensitive, mitigate=mitigate, constraint=constraint)
    text = (audit_text(result) + "\n\n" if sensitive else "") + robustness_text(result["robustness"])
    return result, text + _save_beside(model, AUDIT, result)


def _save_beside(model: Model, name: str, result: dict) -> str:
    """Writes a result into the model's run folder and refreshes its report when the run has one; says where."""
    from lamina.evaluation.report import write_report
    from lamina.run import run_of

    run = run_of(model)
    path = run.write_json(name, result)
    return f"\n\nwrote {path}" + (f"\nreport: {write_report(run.path)}" if run.is_run() else "")


def card(run, out=None) -> tuple[str, Path]:
    """The model card (Markdown) of a run, written to `out` (default RUN/model_card.md)."""
    from lamina.insight.card import model_card
    from lamina.run import CARD

    text = model_card(Path(run))
    path = Path(out) if out else RunFolder(run) / CARD
    path.write_text(text, encoding="utf-8")
    return text, path


def report(run) -> Path:
    from lamina.evaluation.report import write_report

    return write_report(Path(run))


def export(run, data=None) -> tuple[Path, float, int]:
    """model.onnx beside the model, checked against PyTorch on held-out rows: (path, max |difference|, rows)."""
    from lamina.serving.export import export_onnx

    model = load(run).rows("export")
    rows = (model.read(data, "check data") if data else held_out_rows(run)).head(EXPORT_CHECK_ROWS)
    path, difference = export_onnx(model, model.directory, rows)
    return path, difference, len(rows)


def monitor(run, window: str | None = None, reference=None, current=None, out=None) -> tuple[str, Path]:
    """Drift of served requests (or, offline, of `current` against `reference`) from the training profile:
    (text table, drift page) with the numbers in the page's .json beside it."""
    from lamina.config import parse_duration
    from lamina.run import DRIFT_PAGE
    from lamina.serving import monitor as drift

    model = load(run).rows("monitor")
    run = RunFolder(model.run_folder)
    if reference or current:
        if not (reference and current):
            raise LaminaError("Offline drift needs both --reference FILE and --current FILE.")
        table, profile, counts = drift.offline_drift(model, model.read(reference, "reference data"),
                                                     model.read(current, "current data"))
    else:
        if model.profile is None:
            raise LaminaError(f"{run.path} has no training profile (trained by an older lamina); retrain to monitor it.")
        database = drift.database_of(model)
        if not database.exists():
            raise LaminaError(f"No requests recorded yet ({database} is missing). Serve the model with "
                              f"`lamina serve {run.path}` first, or compare two files with --reference and --current.")
        counts = drift.recorded_counts(database, since_seconds=parse_duration(window, "--window"))
        if not counts["rows"]:
            raise LaminaError(f"No requests recorded in {database} within the window.")
        profile = model.profile
        table = drift.drift_table(profile, counts)
    page = Path(out) if out else run / DRIFT_PAGE
    page.write_text(drift.drift_page(table, profile, counts, f"Drift: {run.path.name}"), encoding="utf-8")
    numbers = page.with_suffix(".json")  # drift.json beside drift.html
    numbers.write_text(json.dumps(drift.to_json(table), indent=2), encoding="utf-8")
    return drift.drift_text(table), page


def serving_app(run, host: str = "127.0.0.1", token: str | None = None, insecure: bool = False,
                monitor: bool = True):
    """(FastAPI app, names of the models served, names of those whose requests are recorded for `lamina monitor`)
    for a run, a model folder or a folder of runs. Refuses an address beyond this machine without a token unless
    `insecure`."""
    from lamina.serving.server import create_app, watched
    from lamina.serving.sources import find_models

    if host not in LOOPBACK and not token and not insecure:
        raise LaminaError(
            f"Refusing to serve on {host} without a token: anyone who can reach it could use the model. "
            "Add --token SECRET (clients send 'Authorization: Bearer SECRET'), or --insecure if you mean it."
        )
    models = find_models(Path(run))
    recorded = sorted(name for name, model in models.items() if monitor and watched(model))
    return create_app(models, token=token, monitor=monitor), sorted(models), recorded
