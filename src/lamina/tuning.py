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
import re
import shutil
import sys
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
OWNED = (*STUDY_FILES, BEST, BEST_CONFIG, REPORT)  # every name a study writes: a new study refuses a folder holding one
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
    _refuse_taken(folder)
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
    name = folder.resolve().name
    if storage:
        _check_storage(storage, name)
    if config.track == "mlflow":
        from lamina.tracking import client

        client()  # an unreachable tracking server is refused here, before the folder
    made = _missing_root(folder)
    folder.mkdir(parents=True, exist_ok=True)
    settings = StudySettings(name=name, data=path, test=test, config=config.model_dump(mode="json"),
                             space={k: v.model_dump(exclude_none=True) for k, v in space.items()},
                             trials=config.tune.trials, direction="minimize" if task.mode == "min" else "maximize",
                             metric=task.monitor, storage=storage)
    if config.track == "mlflow":
        from lamina.tracking import Tracker

        tracker = Tracker.start(f"study {settings.name}", {"study": settings.name, **settings.config,
                                                           "space": settings.space})
        settings.tracking_parent = tracker.run_id
    try:
        (folder / SETTINGS).write_text(json.dumps(asdict(settings), indent=2), encoding="utf-8")
        # Never load_if_exists: a study of the same name in a shared --storage is another folder's (checked above;
        # here only a study created between that check and this line), and its trials are not this one's.
        optuna.create_study(study_name=settings.name, storage=_storage(folder, settings, new=True),
                            direction=settings.direction)
    except BaseException as error:
        _remove_study_files(folder, made)  # its files only: a clashing record in --storage is another study's
        if isinstance(error, optuna.exceptions.DuplicatedStudyError):
            raise LaminaError(_clash(settings.storage, name)) from None
        raise
    return folder


def _refuse_taken(folder: Path) -> None:
    """Refuses an --out that is a file, or a folder holding any file a study writes (a study's, or the user's own
    named like one: best/, config.yaml...): the search would overwrite it, as `lamina train` refuses a run folder's
    names."""
    if folder.exists() and not folder.is_dir():
        raise LaminaError(f"{folder} is a file, not a folder. Give --out a folder for the study.")
    taken = [name for name in OWNED if os.path.lexists(folder / name)]
    if not taken:
        return
    advice = (f"Continue the study there with `lamina tune --resume {folder}`, or give" if (folder / SETTINGS).is_file()
              else "Give")
    raise LaminaError(f"{folder} already holds {', '.join(taken)}: a study there would overwrite them. {advice} "
                      "another --out.")


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
    refusals = context.SimpleQueue()
    processes = [context.Process(target=_worker, args=(refusals, str(folder), share, timeout, progress, workers, index))
                 for index, share in enumerate(shares)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    messages = []
    while not refusals.empty():
        message = refusals.get()
        messages += [message] if message not in messages else []  # each worker's first trial: often the same
    if messages:
        raise LaminaError("\n".join(messages))
    failed = [p.exitcode for p in processes if p.exitcode]
    if failed:
        raise WorkersStopped(f"{len(failed)} of {workers} tuning workers stopped with an error (exit codes {failed}); "
                             "their messages are above.")


class WorkersStopped(LaminaError):
    """Worker processes ended by an error of their own (a traceback they printed), not by a LaminaError."""


def _worker(refusals, *args) -> None:
    """A worker process: `work(*args)`, whose LaminaError (bad input met in a trial: a refused setting) is sent to the
    parent on `refusals`, which raises it once for all workers, instead of being printed as this process's
    traceback. Library warnings are kept off the terminal as in the CLI's own process (lamina's own still show)."""
    from lamina.library_warnings import logged_to_run

    try:
        with logged_to_run(lambda: None):  # the study folder is no run folder: the CLI's process drops them too
            work(*args)
    except LaminaError as error:
        refusals.put(str(error))
        sys.exit(2)  # the exit status of bad input, as the CLI's


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
            raise LaminaError("The trial's network has no validation score to be chosen on: it had no validation "
                              "data (raise --valid-fraction; for a forecast, --valid-steps), or was fitted in one step "
                              "without epochs (a forecast's --arch linear: tune another architecture).")
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
    built: --init-from, --device, an architecture the columns cannot feed) removes the study (`discard_unstarted`)
    and is raised as it was: a failure of that clean-up is told after it, never instead of it."""
    made = _missing_root(out)  # what the user made before the run is theirs: it stays
    folder = create(data, target, out, config=config, test=test, storage=storage, **overrides)
    try:
        optimize(folder, workers, progress=progress)
    except LaminaError as error:
        try:
            discarded = discard_unstarted(folder, made)
        except Exception as failure:  # whatever it is, the error that stopped the study comes first
            raise LaminaError(f"{error}\n(The study's files in {folder} could not be removed ({failure}); delete "
                              f"{', '.join(STUDY_FILES)} there before giving the same --out again.)") from error
        if isinstance(error, WorkersStopped) and not discarded:
            raise _resumable(error, folder) from error
        raise
    return finish(folder)


def discard_unstarted(folder, made: Path | None = None) -> bool:
    """Removes a new study none of whose trials finished training (completed or pruned), so the corrected command
    can be given again with the same --out instead of being told to resume a study that never trained (as a run's
    RunFolder.discard_unstarted). Only the study's own files go (`create` refuses a folder holding any of them)
    and, under --storage, its record in that database (`create` made it: it refuses a name already there); the
    folders the run made too (`made`: `_missing_root(out)` before `create`), those left empty. Returns whether the
    study was removed."""
    from optuna.trial import TrialState

    folder = Path(folder)
    settings = read_settings(folder)
    study = load_study(folder, settings)
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        return False
    if settings.storage:
        _optuna().delete_study(study_name=settings.name, storage=_storage(folder, settings))
    _remove_study_files(folder, made)
    return True


def _missing_root(out) -> Path | None:
    """The topmost folder of the path `out` that does not exist yet (made by `create`, with those under it), or
    None when `out` exists."""
    root = None
    for path in (Path(out), *Path(out).parents):
        if os.path.lexists(path):
            break
        root = path
    return root


def _remove_study_files(folder: Path, made: Path | None) -> None:
    """Removes the files a study writes before its first trial finishes, then, up to `made` (see `_missing_root`),
    the folders the run made that are left empty."""
    for name in STUDY_FILES:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()
    for path in (folder, *folder.parents) if made is not None else ():
        if path.is_symlink() or not path.is_dir() or any(path.iterdir()):
            break
        path.rmdir()
        if path == made:
            break


def _resumable(error: LaminaError, folder: Path) -> LaminaError:
    return LaminaError(f"{error} Continue with `lamina tune --resume {folder}`.")


def resume(folder, workers: int = 1, trials: int | None = None, budget: str | None = None,
           progress: bool = True) -> dict:
    """Continues a study: its remaining trials (or up to `trials` in all), then the winner as `finish` keeps it."""
    try:
        optimize(folder, workers, trials, budget, progress)
    except WorkersStopped as error:
        raise _resumable(error, folder) from error
    return finish(folder)


# ---- the study's files and storage ------------------------------------------------------------------------


def read_settings(folder: Path) -> StudySettings:
    """The study's study.json, its fields' types checked: a damaged one is refused naming it."""
    import pydantic

    path = Path(folder) / SETTINGS
    if not path.is_file():
        raise LaminaError(f"{folder} is not a study folder ({SETTINGS} not found). Give the --out folder of "
                          "`lamina tune`.")
    try:
        return pydantic.TypeAdapter(StudySettings).validate_json(path.read_bytes(), strict=True)
    except pydantic.ValidationError as error:
        problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the file'}: {e['msg']}" for e in error.errors()[:3])
        raise LaminaError(f"{path} is damaged ({problem}): it is not the {SETTINGS} lamina tune wrote. Restore it "
                          "from a copy, or start a new study with another --out.") from None


def load_study(folder: Path, settings: StudySettings, worker: int = 0):
    """The Optuna study. Its TPE sampler is seeded by the config's seed, the trials the study holds and the
    worker's number: a single worker's study is reproducible, and two workers never draw the same settings."""
    optuna = _optuna()
    storage = _storage(folder, settings)
    try:
        held = len(optuna.load_study(study_name=settings.name, storage=storage).trials)
    except KeyError:
        where = f"--storage {settings.storage}" if settings.storage else Path(folder) / STORAGE
        raise LaminaError(f"{where} holds no study named {settings.name!r} (its record was deleted), so {folder} "
                          "cannot be continued. Start a new study with another --out.") from None
    seed = (settings.base_config().seed + 1000 * held + worker) % 2**32
    return optuna.load_study(study_name=settings.name, storage=storage, sampler=optuna.samplers.TPESampler(seed=seed),
                             pruner=_pruner(settings.base_config().tune))


def finished_trials(study) -> list:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))


def _storage(folder: Path, settings: StudySettings, new: bool = False):
    """The study's Optuna storage: --storage's database, or study.sqlite in the folder (which only a `new` study
    may lack: opening a missing one would make an empty one)."""
    if settings.storage:
        return _open_storage(settings.storage, f"--storage {settings.storage}", "Check the URL and that the database "
                             "is reachable.")
    path = Path(folder) / STORAGE
    if not new and not path.is_file():
        raise LaminaError(f"{path} is missing: it held the study's trials, so {folder} cannot be continued. Restore it "
                          "from a copy, or start a new study with another --out.")
    return _open_storage(f"sqlite:///{path.resolve()}", str(path), "It is damaged: restore it from a copy, or start a "
                         "new study with another --out.")


def _open_storage(url: str, where: str, advice: str):
    """Optuna's RDBStorage of `url` (its tables made if new); a database that cannot be opened is refused as
    `where`, with `advice`."""
    import sqlalchemy

    optuna = _optuna()
    # SQLite: wait up to 60 s for another worker's write instead of failing at once with "database is locked".
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable since 2.9
            return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS)
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise LaminaError(f"{where} cannot be opened as the study's storage ({getattr(error, 'orig', None) or error})."
                          f" {advice}") from None


def _clash(storage: str, name: str) -> str:
    return (f"--storage {storage} already holds a study named {name!r} (Optuna names a study after the last folder "
            f"of --out): it belongs to another study folder named {name}. Give an --out whose last folder is another "
            f"name, or continue that study with `lamina tune --resume` of its folder.")


def _check_storage(url: str, name: str) -> None:
    """Refuses a --storage URL SQLAlchemy cannot parse, whose database driver is not installed or that cannot be
    opened (a missing folder, an unreachable server), and one already holding a study named `name`: two study
    folders would share its trials, and discarding one would delete the other's."""
    import sqlalchemy

    try:
        sqlalchemy.create_engine(url).dispose()
    except sqlalchemy.exc.ArgumentError as error:  # also an unknown dialect or driver name
        raise LaminaError(f"--storage {url!r} is not an SQLAlchemy database URL ({error}). Write it like "
                          "postgresql://user:password@host/database or sqlite:///study.sqlite.") from None
    except ImportError as error:
        raise LaminaError(f"--storage {url!r} needs a database driver that is not installed ({error}). Install "
                          "that module, or leave --storage out.") from None
    storage = _open_storage(url, f"--storage {url}", "Check the URL, that its folder exists and that the database "
                            "is reachable.")
    if name in _optuna().get_all_study_names(storage):
        raise LaminaError(_clash(url, name))


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
    failures = logging.getLogger("optuna.study._optimize")  # the logger of Optuna's "Trial N failed" lines
    if not any(isinstance(each, _LaminaErrorsToldOnce) for each in failures.filters):
        failures.addFilter(_LaminaErrorsToldOnce())
    return optuna


class _LaminaErrorsToldOnce(logging.Filter):
    """Optuna logs a failed trial's exception with its traceback, and a second line with its value. A LaminaError's
    message is the whole story: one that stops the study (a refused setting) is printed by the CLI, so Optuna's lines
    of that trial go; one the study goes on after (TrainingDiverged, caught) keeps its line without the traceback.
    `--debug` still raises it with one."""

    def __init__(self):
        super().__init__()
        self.told: str | None = None  # the number of the trial whose "failed with value" line goes next

    def filter(self, record: logging.LogRecord) -> bool:
        from lamina.training.trainer import TrainingDiverged

        number = re.match(r"Trial (\d+) failed", record.getMessage())
        number = number.group(1) if number else None
        if record.exc_info:  # the trial's first line: the second follows at once
            error = record.exc_info[1]
            refused = isinstance(error, LaminaError) and not isinstance(error, TrainingDiverged)
            self.told = number if refused else None
            if isinstance(error, LaminaError):
                record.exc_info = record.exc_text = None
            return not refused
        if number is not None and number == self.told:
            self.told = None
            return False
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
