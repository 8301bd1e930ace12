"""Task: what differs between learning problems, and the registry of tasks by name.

The flow (api.train) is the same for every task: read → task.prepare (schema or layout, checks, split)
→ task.fit (fitted encoders, networks from the one architecture registry, trained by the shared Trainer)
→ Model → task.score (held-out metrics beside the task's trivial baseline) → the run folder and its report.
A task owns the rest: how the target is encoded (or that there is none), the network's outputs, the training
step and the validation score early stopping follows (it is the Trainer's TrainingStep), the metrics and their
baseline, the prediction frame, its report sections, its CLI summary and its request/response in the server.

A new task is one file: subclass Task and register it (@register_task, or the `lamina.tasks` entry point of
an installed package); `--task NAME` picks it. ARCHITECTURE.md walks through one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import pandas as pd
import torch

from lamina.errors import LaminaError, did_you_mean
from lamina.training.step import LossStep

if TYPE_CHECKING:
    from lamina.data.schema import Schema
    from lamina.data.split import Split

TASKS: dict[str, type[Task]] = {}
BUILT_IN = ("lamina.tasks.recommend", "lamina.tasks.anomaly", "lamina.tasks.classification", "lamina.tasks.regression",
            "lamina.tasks.forecast", "lamina.tasks.generate", "lamina.tasks.translate", "lamina.tasks.transcribe")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: the task answers to its `name` and its `aliases` (e.g. "binary" → classification)."""
    for name in (cls.name, *cls.aliases):
        TASKS[name] = cls
    return cls


ENTRY_POINTS = "lamina.tasks"  # the entry-point group through which an installed package adds its tasks


def registered_tasks() -> dict[str, type[Task]]:
    """Every task: the built-in ones, and those installed packages declare under the `lamina.tasks` entry
    points (`[project.entry-points."lamina.tasks"] line = "my_package.line:LineTask"` in their pyproject),
    so the CLI, `lamina.load` and the server know them without a change to lamina."""
    import importlib
    from importlib.metadata import entry_points

    for module in BUILT_IN:  # each registers itself on import
        importlib.import_module(module)
    for point in entry_points(group=ENTRY_POINTS):
        try:
            loaded = point.load()
        except Exception as error:  # a broken plug-in must not stop the tasks that work
            warnings.warn(f"The task entry point {point.name!r} ({point.value}) could not be loaded and is left "
                          f"out: {type(error).__name__}: {error}", stacklevel=2)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Task) and loaded.name not in TASKS:
            register_task(loaded)
    return TASKS


def task_named(name: str) -> type[Task]:
    tasks = registered_tasks()
    if name not in tasks:
        raise LaminaError(f"Unknown task {name!r}.{did_you_mean(name, tasks)} "
                          f"Registered: {', '.join(sorted({cls.name for cls in tasks.values()}))}.")
    return tasks[name]


def task_for(config, frame: pd.DataFrame) -> Task:
    """The task the config names (data.task), or for "auto" the one that claims the data first:
    forecasting when a horizon is set, else classification or regression from the target's values."""
    if config.data.task != "auto":
        return reads_its_settings(task_named(config.data.task).made_for(config, frame, config.data.task), config)
    if not config.data.target:  # before the table tasks ask for one: the data may be another task's
        for cls in dict.fromkeys(registered_tasks().values()):
            if suggestion := cls.suggestion(config, frame):
                raise LaminaError(f"No target column given. {suggestion} To predict a column instead, name it with "
                                  f"--target COL (columns: {', '.join(map(str, frame.columns[:12]))}).")
    for cls in dict.fromkeys(registered_tasks().values()):
        if cls.claims(config, frame):
            return reads_its_settings(cls.made_for(config, frame, "auto"), config)
    raise LaminaError("No task fits this data and config; name one with --task.")


def _listed(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def reads_its_settings(task: Task, config, reads: tuple[str, ...] | None = None, reader: str = "") -> Task:
    """`task`, or a LaminaError naming the first of TASK_SETTINGS set away from its default that the task does not
    read (Task.settings): given to another task (--season to a classifier, --norm to a forecaster) it would be
    ignored while the user believes it took effect. Said before any data is prepared, to `lamina train` and
    `lamina check` alike. `reads` and `reader`: a way of training the task that reads fewer of its settings
    (federated training), which a refusal then names as what would ignore the setting."""
    reads = task.settings if reads is None else reads
    for key, (section, _) in TASK_SETTINGS.items():
        part = getattr(config, section)
        if key in reads or getattr(part, key) == type(part).model_fields[key].get_default(call_default_factory=True):
            continue
        named = setting_named(key)
        if reader:
            raise LaminaError(f"{named} is not read by {reader}: it would be ignored. Drop {named}.")
        reading = {cls.name: key in cls.settings for cls in registered_tasks().values()}
        if reading.get(task.name):  # the task's kind reads it, and this variant of it does not (several targets)
            raise LaminaError(f"{named} is not read by {task.described} model {task.variant}: it would be ignored. "
                              f"Drop {named}{task.variant_fix}.")
        readers = sorted(name for name, reads_it in reading.items() if reads_it)
        others = sorted(name for name, reads_it in reading.items() if not reads_it)
        if len(others) < len(readers):  # a setting of most tasks: named by the few that do not read it
            tasks, pick = f"every task but {_listed(others)}", ""
        else:
            tasks = f"the {readers[0]} task" if len(readers) == 1 else f"the tasks {_listed(readers)}"
            pick = f", or give --task {readers[0]}" if len(readers) == 1 else ", or give --task naming one of them"
        raise LaminaError(f"{named} is a setting of {tasks}, and this run's task is {task.name}: it would be ignored. "
                          f"Drop {named}{pick}.")
    return task


def setting_named(key: str) -> str:
    """A setting of TASK_SETTINGS as messages name it: its flag and its config key ("--season (data.season)"), so a
    user who set it in a config file finds it as readily as one who gave the flag."""
    section, flag = TASK_SETTINGS[key]
    written = f"{section}.{key}"
    return written if flag == written else f"{flag} ({written})"


# The settings only some tasks read: config key → (config section, what the user wrote). Each task names those it
# reads in Task.settings; set for any other task they stop the run (task_for), so none is ignored silently. The
# settings every task reads (seed, epochs, lr...) are not here.
TASK_SETTINGS = {
    # splitting rows by shares (a forecast splits by time steps instead)
    "valid_fraction": ("data", "--valid-fraction"), "test_fraction": ("data", "--test-fraction"),
    # forecasting
    "time": ("data", "--time"), "horizon": ("data", "--horizon"), "id": ("data", "--id"),
    "covariates": ("data", "--covariates"), "season": ("data", "--season"), "valid_steps": ("data", "--valid-steps"),
    "test_steps": ("data", "--test-steps"), "lookback": ("model", "--lookback"),
    # recommending (--time orders each user's interactions)
    "user": ("data", "--user"), "item": ("data", "--item"), "rating": ("data", "--rating"),
    "implicit": ("data", "--implicit"), "users": ("data", "--users"), "items": ("data", "--items"),
    # translating
    "source": ("data", "--source"), "source_file": ("data", "--source-file"), "target_file": ("data", "--target-file"),
    "test_source_file": ("data", "--test-source-file"), "test_target_file": ("data", "--test-target-file"),
    "valid_source_file": ("data", "--valid-source-file"), "valid_target_file": ("data", "--valid-target-file"),
    # decisions: thresholds of anomalies and of a binary classifier's rare class
    "cost": ("data", "--cost"), "contamination": ("data", "--contamination"), "normal_only": ("data", "--normal-only"),
    # learning from table rows or images
    "split": ("data", "--split"), "sensitive": ("data", "data.sensitive"),
    "exclude_sensitive": ("data", "data.exclude_sensitive"), "norm": ("model", "--norm"),
    "numbers": ("model", "--numbers"), "members": ("model", "--members"), "wide": ("model", "model.wide"),
    "linear_share": ("model", "--linear-share"), "image_size": ("model", "--image-size"),
    "adversarial": ("train", "--adversarial"), "adversarial_budget": ("train", "--adversarial-budget"),
    "crop_padding": ("train", "--crop-padding"), "flip": ("train", "--flip"), "cutout": ("train", "--cutout"),
    "init_from": ("train", "--init-from"), "freeze_backbone": ("train", "--freeze-backbone"),
    "label_smoothing": ("train", "--label-smoothing"), "folds": ("train", "--folds"),
    # reading a table's columns: declared kinds, and the order of dates written day and month before the year
    "columns": ("data", "--column"), "date_order": ("data", "--date-order"),
}
FRACTIONS = ("valid_fraction", "test_fraction")  # the Task.settings of every task that splits by shares
# read by the tasks that predict from rows
ROW_SETTINGS = ("split", "sensitive", "exclude_sensitive", "norm", "numbers", "members", "wide", "linear_share",
                "image_size", "adversarial", "adversarial_budget", "crop_padding", "flip", "cutout", "init_from",
                "freeze_backbone", "label_smoothing", "folds", "columns", "date_order")


@dataclass
class Prepared:
    """What a task's `prepare` hands to its `fit` and `score`; each task subclasses it with its own parts
    (a split of rows, series windows...). The flow itself reads only the findings (for checks.json)."""
    findings: list = field(default_factory=list)

    def split_sizes(self) -> dict[str, int] | None:
        """{"train", "valid", "test"}: the rows (files, clips, pairs, interactions) each part holds, after what the
        task left out (unreadable files, rows without a target...), so `lamina check` counts the rows training
        uses; None where the findings stopped the split, or the task cuts its data otherwise (a forecast's windows)."""
        return None


@dataclass
class RowsPrepared(Prepared):
    """The view of a task that learns from rows split three ways (a table's, or a folder's files as rows)."""
    schema: Schema | None = None
    split: Split | None = None  # None while the findings hold errors

    def split_sizes(self) -> dict[str, int] | None:
        return None if self.split is None else self.split.sizes()


class Task(LossStep):
    """A learning problem. Constructors store arguments only; what `prepare` learns from the training data
    ends in `_` and is what `state()` saves into model.json. Subclasses set the class attributes below and
    implement the methods that raise NotImplementedError.

    As the Trainer's step, a task whose batches are (inputs, targets) only defines `loss`: LossStep's one
    forward, one loss step and whole-set validation then apply. A task with another step (several optimisers,
    a decoder fed its targets) overrides `training_step`, `validate` and `optimizers` (training.step)."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[str] = "table"  # the input family of its architectures (nets.build.ARCHITECTURES)
    route: ClassVar[str] = "predict"  # POST /<route> in the server
    playground: ClassVar[str] = "json"  # the served page of a task with its own request (serving.page.PAGES)
    # The settings of TASK_SETTINGS the task reads; given to it, any other of them stops the run (task_for).
    settings: ClassVar[tuple[str, ...]] = ()
    # A variant of a task that reads fewer settings than its kind (several targets): what it is, after the task's
    # name ("of several targets"), and the fix a refusal of such a setting adds (", or train one model per target").
    variant: ClassVar[str] = ""
    variant_fix: ClassVar[str] = ""
    row_model: ClassVar[bool] = False  # one row in, one prediction out: explain, audit, export, monitor apply
    # Learns without labels, so a folder of pictures or recordings without class subfolders is training data too.
    trains_unlabelled: ClassVar[bool] = False

    # The test metric (a key of metrics["test"] and metrics["baseline"]) the model must beat its trivial baseline on,
    # else the run warns that it learnt nothing (evaluation.baseline); None: the task has no such comparison.
    judged_on: ClassVar[str | None] = None
    metric = None  # LossStep's settings: early stopping follows the validation loss
    adversary = None  # (module, inputs, targets) → inputs to train on instead; set by a fit that trains on attacks

    def __init__(self, requested: str = "auto"):
        self.requested = requested  # what the config asked for ("auto", the name, or an alias)

    def data_lines(self, prepared: Prepared) -> list[str]:
        """What `lamina check` says of the data as this task reads it, beyond a table's columns (which the schema
        lists): a forecast's series and split by time, a recommender's users and items. `prepared` is this task's
        own `prepare` result. None by default."""
        return []

    @property
    def described(self) -> str:
        """The task's name after its article, as messages say it: "a classification", "an anomaly"."""
        return f"{'an' if self.name[:1] in 'aeiou' else 'a'} {self.name}"

    @property
    def loss_fn(self):
        return self.loss

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch's outputs and targets (a scalar)."""
        raise NotImplementedError

    @classmethod
    def claims(cls, config, frame: pd.DataFrame) -> bool:
        """Whether `--task auto` picks this task for this config and data."""
        return False

    @classmethod
    def suggestion(cls, config, frame: pd.DataFrame) -> str | None:
        """Where neither a target nor a task is given: a sentence saying how to train `frame` as this task when it
        looks like this task's data (a recommender's user and item columns) and the config does not make the task
        claim it already, else None."""
        return None

    @classmethod
    def made_for(cls, config, frame: pd.DataFrame, requested: str) -> Task:
        """The task object for this config and data (a table task of several targets is its variant)."""
        return cls(requested)

    # ---- training: api.train calls these in order ------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> Prepared:
        """Schema or layout, data-quality findings and the split (and what needs no network: a forecast's scaler).
        Raises LaminaError on data it cannot use; findings of level "error" stop training after this."""
        raise NotImplementedError

    def fit(self, config, prepared: Prepared, session) -> tuple[torch.nn.Module, dict, dict]:
        """Trains (through session.trainer(...), the shared Trainer) and returns (network, architecture, training):
        `architecture` = {"arch", "hyperparameters", ...} rebuilds the network with `build_network`; `training`
        is what model.json records of the run (epochs, split, sizes...)."""
        raise NotImplementedError

    def build_network(self, architecture: dict) -> torch.nn.Module:
        """The untrained network an `architecture` record describes (also used when a model is loaded)."""
        raise NotImplementedError

    def score(self, model, prepared: Prepared) -> pd.DataFrame:
        """Sets model.metrics from the held-out part (beside the task's baseline) and returns the held-out table
        (truth and predictions) the report draws."""
        raise NotImplementedError

    def after_training(self, model, prepared: Prepared, run, config) -> None:
        """Anything else the run folder gets (audits declared in the config, confidently wrong examples...)."""

    # ---- use -------------------------------------------------------------------------------------------

    def predict(self, model, frame: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError

    def evaluate(self, model, frame: pd.DataFrame) -> dict:
        raise LaminaError(f"`evaluate` does not apply to a {self.name} model; its report holds its scores.")

    def summary(self, model) -> str:
        """What the CLI prints after training, and `lamina info` under the model's description."""
        raise NotImplementedError

    # ---- files -----------------------------------------------------------------------------------------

    def state(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict) -> Task:
        raise NotImplementedError

    @classmethod
    def for_document(cls, document: dict) -> Task:
        """An unfitted task of the kind model.json describes, whose report sections and facts apply to it (a
        variant of the class where the state asks for one: several targets)."""
        return cls(document["task"]["name"])

    @classmethod
    def title(cls, document: dict) -> str:
        """What the report page is about, from model.json."""
        return cls.name

    def report_sections(self, run, document: dict) -> list[str]:
        """HTML sections of report.html that only this task has, from the run's files."""
        return []

    # ---- serving ---------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """The pydantic model of a request body to POST /<route>."""
        raise NotImplementedError

    def respond(self, model, body) -> dict:
        """The JSON answer to a validated request body."""
        raise NotImplementedError

    def request_example(self, model) -> dict | None:
        """A request body the playground starts from (None: an empty one)."""
        return None

    def body_limit(self) -> tuple[int, str] | None:
        """(bytes, what to send instead) when this task's requests need a larger body than the server's default
        (a clip sent in base64), else None."""
        return None
