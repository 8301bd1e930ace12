"""`lamina tune`: a hyperparameter search over the flow with Optuna (TPE sampler, median or Hyperband pruning).

A study folder holds:
  study.json     what the study searches: the data, the base config, the search space, the objective
  study.sqlite   Optuna's storage (unless --storage names another SQLAlchemy URL: workers on many machines)
  trials/NNNN/   each trial, a normal run folder trained by api.train with score=False: its test split is never
                 scored, so nothing a trial records can leak test data into the choice
  best/          the winning trial's run, scored on the test split once, after the search (report.html...)
  config.yaml    the winner's config: `lamina train DATA --config STUDY/config.yaml` trains the same model
  study.html     the study report (tuning_report.py)

Trials are chosen on the validation score the flow records (model.training["validation"]: the monitored
validation value of the selected epoch), reported to Optuna after every epoch, so the pruner stops a trial that
lags the median of earlier trials at the same epoch. The search space is the architecture's (nets/build.py
`search_space`) less the settings the user gave (--width 64 holds the width), with the config's `tune.space` over
it. Tuning works for any task trained through the flow
whose architecture is named or, for row tasks (classification, regression; images and text included), chosen
from the columns; forecasting and recommendation need --arch (their "auto" compares several architectures).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lamina.config import Config, Dimension, parse_duration
from lamina.errors import LaminaError

SETTINGS = "study.json"
STORAGE = "study.sqlite"
TRIALS = "trials"
BEST = "best"
BEST_CONFIG = "config.yaml"
REPORT = "study.html"
STUDY_FILES = (SETTINGS, STORAGE, TRIALS)  # what a study writes before its first trial finishes
LEFT_OUT_OF_BEST = ("checkpoints", "cache", ".lock")  # the winner's run is copied without what only training needs
HEARTBEAT_SECONDS = 30  # a trial whose worker went silent this long, twice over, is marked failed (Optuna)


@dataclass
class StudySettings:
    """study.json: everything a worker needs to run trials of the study, on this machine or another."""

    name: str
    data: str
    test: str | None
    config: dict  # the base config every trial starts from (its architecture named)
    space: dict  # setting name → Dimension as a dict
    trials: int  # finished trials the study aims at, over all workers
    direction: str  # "minimize" or "maximize" the validation score
    metric: str  # the validation record's key the score is, e.g. valid_loss
    storage: str | None = None  # None: study.sqlite in the study folder
    tracking_parent: str | None = None  # the study's MLflow run, when config.track is mlflow
    created: float = field(default_factory=time.time)

    def base_config(self) -> Config:
        return Config.from_dict(self.config, "study.json")

    def dimensions(self) -> dict[str, Dimension]:
        return {name: Dimension(**value) for name, value in self.space.items()}


def create(data, target: str | None, out, config=None, test=None, storage: str | None = None, **overrides) -> Path:
    """A new study folder at `out` and its Optuna study, created once here, before any worker starts (concurrent
    creation of one SQLite study races). `overrides` are config settings by name (trials=..., budget=...)."""
    from lamina import api
    from lamina.data.images import refuse_target_without_labels
    from lamina.nets.build import search_space

    optuna = _optuna()
    folder = Path(out)
    if any((folder / name).exists() for name in STUDY_FILES):
        raise LaminaError(f"{folder} already holds a study (or part of one). Continue it with `lamina tune --resume "
                          f"{folder}`, or give another --out.")
    if not isinstance(data, (str, Path)):
        raise LaminaError("Tuning reads the data from a file (each worker process reads it): give a path.")
    path = str(Path(data).resolve())
    test = str(Path(test).resolve()) if test else None
    config, named = api.with_target(api.resolve_config(config, path=path, test=test, **overrides), target, path)
    frame, test_frame = api.tables_of(config)  # as each trial reads them
    refuse_target_without_labels(frame, named)  # as lamina train: a target a flat folder cannot give, refused
    # What a run would refuse before training (a missing column, a setting its task cannot take, bad data) is
    # refused here, before the folder: not in the first trial, leaving a study a rerun is told to resume.
    task, prepared = api.prepare_to_train(config, frame, test_frame)
    arch = _architecture(config, prepared, task)
    config = config.with_overrides(arch=arch)
    space = {name: dimension for name, dimension in search_space(arch, task.reads).items() if not _given(config, name)}
    space = {name: dimension for name, dimension in {**space, **config.tune.space}.items() if dimension is not None}
    _check_space(config, space)
    parse_duration(config.tune.budget)  # a bad budget is refused before the folder exists, so a retry is not blocked
    if storage:
        _check_storage(storage)
    if config.track == "mlflow":
        from lamina.tracking import client

        client()  # an unreachable tracking server is refused here, before the folder
    folder.mkdir(parents=True, exist_ok=True)
    settings = StudySettings(name=folder.resolve().name, data=path, test=test, config=config.model_dump(mode="json"),
                             space={k: v.model_dump(exclude_none=True) for k, v in space.items()},
                             trials=config.tune.trials, direction="minimize" if task.mode == "min" else "maximize",
                             metric=task.monitor, storage=storage)
    if config.track == "mlflow":
        from lamina.tracking import Tracker

        tracker = Tracker.start(f"study {settings.name}", {"study": settings.name, **settings.config,
                                                           "space": settings.space})
        settings.tracking_parent = tracker.run_id
    (folder / SETTINGS).write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    optuna.create_study(study_name=settings.name, storage=_storage(folder, settings), direction=settings.direction,
                        load_if_exists=True)
    return folder


def optimize(folder, workers: int = 1, trials: int | None = None, budget: str | None = None,
             progress: bool = True) -> None:
    """Runs the study's remaining trials (up to `trials` finished ones in all, default the study's) in `workers`
    local processes, each taking its share, within `budget` (e.g. "30m": no trial starts after it; those running
    finish). Trials its workers were running when they were stopped are failed by Optuna's heartbeat later."""
    folder = Path(folder)
    settings = read_settings(folder)
    if trials is not None:
        settings.trials = trials
        (folder / SETTINGS).write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
    remaining = settings.trials - len(finished_trials(load_study(folder, settings)))
    timeout = parse_duration(budget or settings.base_config().tune.budget)
    if remaining <= 0:
        return
    workers = max(1, min(workers, remaining))
    shares = [remaining // workers + (i < remaining % workers) for i in range(workers)]
    if workers == 1:
        work(str(folder), shares[0], timeout, progress)
        return
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: torch and SQLite never cross a fork
    processes = [context.Process(target=work, args=(str(folder), share, timeout, progress, workers, index))
                 for index, share in enumerate(shares)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed:
        raise LaminaError(f"{len(failed)} of {workers} tuning workers stopped with an error (exit codes {failed}); "
                          f"their messages are above. Continue with `lamina tune --resume {folder}`.")


def work(folder: str, trials: int, timeout: float | None, progress: bool, workers: int = 1, index: int = 0) -> None:
    """Worker number `index` of `workers`: `trials` trials of the study in `folder`, or fewer when `timeout`
    seconds run out."""
    import torch

    from lamina.api import tables_of
    from lamina.training.trainer import TrainingDiverged

    _optuna()  # its log level, in this process too
    if workers > 1:
        torch.set_num_threads(worker_threads(workers))
    settings = read_settings(Path(folder))
    study = load_study(Path(folder), settings, index)
    frame, test_frame = tables_of(settings.base_config())
    objective = Objective(Path(folder), settings, frame, test_frame)
    callbacks = [TrialPrinter(settings)] if progress else []
    # A trial whose training diverged failed on its hyperparameters: the study goes on without it.
    study.optimize(objective, n_trials=trials, timeout=timeout, catch=(TrainingDiverged,), callbacks=callbacks,
                   gc_after_trial=True)


def worker_threads(workers: int) -> int:
    """The torch threads each of `workers` local worker processes computes with: the cores shared out, since K
    processes each with every core would thrash. A run retrained with another thread count sums in another order,
    so its numbers agree with the trial's only to float noise."""
    return max(1, (os.cpu_count() or 1) // workers)


class Objective:
    """One trial: settings suggested from the space, a run trained by the flow without scoring its test split,
    its validation score returned; each epoch's score reported, so the pruner can stop it (optuna.TrialPruned)."""

    def __init__(self, folder: Path, settings: StudySettings, frame, test_frame):
        self.folder, self.settings, self.frame, self.test_frame = folder, settings, frame, test_frame

    def __call__(self, trial) -> float:
        from lamina import api
        from lamina.run import RunFolder

        values = {name: suggest(trial, name, dimension) for name, dimension in self.settings.dimensions().items()}
        config = self.settings.base_config().with_overrides(**values)
        run = RunFolder(self.folder / TRIALS / f"{trial.number:04d}")
        trial.set_user_attr("run", str(Path(TRIALS) / run.path.name))
        model = api.train(config, self.frame, self.test_frame, run, progress=False, score=False,
                          observers=[Reporter(trial)], tracking_parent=self.settings.tracking_parent)
        validation = model.training.get("validation")
        if validation is None:
            raise LaminaError("The trial trained without validation data, so it has no score to be chosen on: raise "
                              "--valid-fraction.")
        trial.set_user_attr("epochs", model.training.get("epochs_run"))
        trial.set_user_attr("best_epoch", validation["epoch"])
        return validation["score"]


class Reporter:
    """A Session observer: reports each epoch's validation score to the trial, and stops the trial (raising
    optuna.TrialPruned after the epoch's checkpoint is written) when the pruner says so."""

    def __init__(self, trial):
        self.trial, self.step = trial, 0

    def __call__(self, trainer, record: dict) -> None:
        import optuna

        score = trainer.monitored(record)
        if score is None:
            return
        self.step += 1  # epochs over every network the trial trains, so steps always rise
        self.trial.report(score, self.step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {self.step}: {trainer.step_.monitor} {score:.4f} lags earlier trials")


def suggest(trial, name: str, dimension: Dimension):
    if dimension.choices is not None:
        return trial.suggest_categorical(name, dimension.choices)
    if isinstance(dimension.low, int) and isinstance(dimension.high, int):
        return trial.suggest_int(name, dimension.low, dimension.high, log=dimension.log)
    return trial.suggest_float(name, dimension.low, dimension.high, log=dimension.log)


def finish(folder) -> dict:
    """After the search: the winning trial (best validation score) scored on the test split, once, by resuming
    its run (its training finished, so only the scoring runs); copied to best/, its config to config.yaml, the
    study report written. Returns the summary the CLI prints."""
    from lamina import api
    from lamina.run import CONFIG, RunFolder
    from lamina.tuning_report import write_study_report

    folder = Path(folder)
    settings = read_settings(folder)
    study = load_study(folder, settings)
    try:
        winner = study.best_trial
    except ValueError:
        raise LaminaError(f"No trial of {folder} completed, so there is no model to keep. Look at the trials' "
                          f"messages above; widen the search space or give the study more --trials.") from None
    run = RunFolder(folder / winner.user_attrs["run"])
    config = settings.base_config()
    if api.is_complete(run.path):  # scored when the study finished before: never scored twice
        model = api.load(run.path)
    else:
        model = api.train(run.read_config(), *api.tables_of(config), run, resume=True, progress=False,
                          tracking_parent=settings.tracking_parent)
    best = folder / BEST
    if best.exists():
        shutil.rmtree(best)
    shutil.copytree(run.path, best, ignore=shutil.ignore_patterns(*LEFT_OUT_OF_BEST))
    shutil.copyfile(run / CONFIG, folder / BEST_CONFIG)
    summary = {"best_trial": winner.number, "params": winner.params, "validation": model.training["validation"],
               "test": model.metrics, "trials": len(study.trials)}
    write_study_report(folder, study, settings, summary)
    if settings.tracking_parent:
        from lamina.tracking import Tracker, client

        parent = Tracker(client(), settings.tracking_parent)
        parent.log_metrics({f"best_{settings.metric}": winner.value, **model.metrics})
        parent.client.log_artifact(parent.run_id, str(folder / REPORT))
        parent.client.log_artifact(parent.run_id, str(folder / BEST_CONFIG))
        parent.end()
    return summary


def best_model(folder):
    """The winning model of a finished study."""
    from lamina import api

    return api.load(Path(folder) / BEST)


def tune(data, target: str | None = None, *, out, config=None, test=None, workers: int = 1,
         storage: str | None = None, progress: bool = True, **overrides) -> dict:
    """Creates a study in `out`, runs its trials in `workers` processes and keeps the winner (see `finish`).
    A LaminaError that stops the trials before any finished training (a setting refused only when a network is
    built: --init-from, --device, an architecture the columns cannot feed) removes the study (`discard_unstarted`)."""
    folder = create(data, target, out, config=config, test=test, storage=storage, **overrides)
    try:
        optimize(folder, workers, progress=progress)
    except LaminaError:
        discard_unstarted(folder)
        raise
    return finish(folder)


def discard_unstarted(folder) -> None:
    """Removes a new study none of whose trials finished training (completed or pruned), so the corrected command
    can be given again with the same --out instead of being told to resume a study that never trained (as a run's
    RunFolder.discard_unstarted). Only the study's own files go (`create` refuses a folder holding any of them)
    and, under --storage, its record in that database; a folder left empty goes too."""
    from optuna.trial import TrialState

    folder = Path(folder)
    settings = read_settings(folder)
    study = load_study(folder, settings)
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        return
    if settings.storage:
        _optuna().delete_study(study_name=settings.name, storage=_storage(folder, settings))
    for name in STUDY_FILES:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def resume(folder, workers: int = 1, trials: int | None = None, budget: str | None = None,
           progress: bool = True) -> dict:
    """Continues a study: its remaining trials (or up to `trials` in all), then the winner as `finish` keeps it."""
    optimize(folder, workers, trials, budget, progress)
    return finish(folder)


# ---- the study's files and storage ------------------------------------------------------------------------


def read_settings(folder: Path) -> StudySettings:
    path = Path(folder) / SETTINGS
    if not path.is_file():
        raise LaminaError(f"{folder} is not a study folder ({SETTINGS} not found). Give the --out folder of "
                          "`lamina tune`.")
    return StudySettings(**json.loads(path.read_text(encoding="utf-8")))


def load_study(folder: Path, settings: StudySettings, worker: int = 0):
    """The Optuna study. Its TPE sampler is seeded by the config's seed, the trials the study holds and the
    worker's number: a single worker's study is reproducible, and two workers never draw the same settings."""
    optuna = _optuna()
    storage = _storage(folder, settings)
    held = len(optuna.load_study(study_name=settings.name, storage=storage).trials)
    seed = (settings.base_config().seed + 1000 * held + worker) % 2**32
    return optuna.load_study(study_name=settings.name, storage=storage, sampler=optuna.samplers.TPESampler(seed=seed),
                             pruner=_pruner(settings.base_config().tune))


def finished_trials(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))


def _storage(folder: Path, settings: StudySettings):
    optuna = _optuna()
    url = settings.storage or f"sqlite:///{(Path(folder) / STORAGE).resolve()}"
    # SQLite: wait up to 60 s for another worker's write instead of failing at once with "database is locked".
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.9
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS)


def _check_storage(url: str) -> None:
    """Refuses a --storage URL SQLAlchemy cannot parse or whose database driver is not installed (no connection
    is made: that is tried when the workers start)."""
    import sqlalchemy

    try:
        sqlalchemy.create_engine(url).dispose()
    except sqlalchemy.exc.ArgumentError as error:  # also an unknown dialect or driver name
        raise LaminaError(f"--storage {url!r} is not an SQLAlchemy database URL ({error}). Write it like "
                          "postgresql://user:password@host/database or sqlite:///study.sqlite.") from None
    except ImportError as error:
        raise LaminaError(f"--storage {url!r} needs a database driver that is not installed ({error}). Install "
                          "that module, or leave --storage out.") from None


def _pruner(tune):
    """The pruner config.tune names (Optuna keeps none in its storage: every worker makes its own)."""
    optuna = _optuna()
    if tune.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=tune.prune_after_trials, n_warmup_steps=tune.prune_after_epochs)
    if tune.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, tune.prune_after_epochs))
    return optuna.pruners.NopPruner()


def _optuna():
    try:
        import optuna
    except ImportError:
        raise LaminaError("Tuning needs optuna: pip install 'lamina[tune]'.") from None
    optuna.logging.set_verbosity(logging.WARNING)  # lamina prints a line per trial itself
    for handler in logging.getLogger("optuna").handlers:  # optuna's own handler, which its modules' records reach
        if not any(isinstance(each, _NoTracebackForLaminaErrors) for each in handler.filters):
            handler.addFilter(_NoTracebackForLaminaErrors())
    return optuna


class _NoTracebackForLaminaErrors(logging.Filter):
    """Optuna logs a failed trial's exception with its traceback. A LaminaError's message is the whole story (why a
    trial diverged; a refused setting, which the CLI prints again), so its record keeps the message and loses the
    traceback; `--debug` still raises it with one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], LaminaError):
            record.exc_info = record.exc_text = None
        return True


class TrialPrinter:
    """An Optuna callback printing a line per finished trial, naming the score it is chosen on."""

    def __init__(self, settings: StudySettings):
        better = "lower" if settings.direction == "minimize" else "higher"
        self.score = f"validation {settings.metric} ({better} is better)"

    def __call__(self, study, trial) -> None:
        value = "" if trial.value is None else f", {self.score} {trial.value:.4f}"
        try:
            best = f"; best {study.best_value:.4f}, trial {study.best_trial.number}"
        except ValueError:
            best = ""
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        print(f"trial {trial.number} {trial.state.name.lower()}{value}{best}: {params}", flush=True)


# ---- the search space -----------------------------------------------------------------------------------


def _architecture(config: Config, prepared, task) -> str:
    """The architecture the trials train: the config's, or what the flow would pick for a row task's columns
    (`prepared`: the task's view of the data, api.prepare_to_train's)."""
    from lamina.data.schema import PICTURE_KINDS

    if config.model.arch != "auto":
        return config.model.arch
    if task.reads != "table":
        from lamina.nets.build import names

        raise LaminaError(f"Tuning searches one architecture's settings, and the {task.name} task's arch auto compares "
                          f"several: give --arch ({', '.join(names(task.reads))}).")
    if config.train.init_from:
        raise LaminaError("With --init-from, name the architecture to tune: --arch (e.g. pretrained, or the "
                          "architecture of the run it starts from).")
    kinds = {column.kind for column in prepared.schema.features}
    if kinds & set(PICTURE_KINDS):
        return "resnet"
    return "gru" if kinds == {"text"} else "mlp"  # as nets/recipe.py picks for the same columns


def _given(config: Config, name: str) -> bool:
    """Whether the user set the setting `name` (it differs from its default): it is then held, not searched."""
    defaults = Config()
    for section in ("data", "model", "train"):
        if name in type(getattr(config, section)).model_fields:
            return getattr(getattr(config, section), name) != getattr(getattr(defaults, section), name)
    return False


def _check_space(config: Config, space: dict[str, Dimension]) -> None:
    """Every end of every range must be a valid value of its setting, so no trial fails on a bad setting."""
    if not space:
        raise LaminaError("The search space is empty: nothing to tune. Declare settings under tune: space: in the "
                          "config (e.g. lr: {low: 0.0001, high: 0.01, log: true}).")
    for name, dimension in space.items():
        for value in dimension.choices or (dimension.low, dimension.high):
            try:
                config.with_overrides(**{name: value})
            except LaminaError as error:
                raise LaminaError(f"The search space's {name!r} cannot take {value!r}: {error}") from None
