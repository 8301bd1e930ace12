"""Model: the trained artifact of every task — the task with its fitted state, the network, metrics — and
how to use it. What a prediction, an evaluation or a served answer looks like is the task's.

On disk a model is a folder: `model.json` (everything but the weights) and `weights.safetensors`.
Loading never runs code from the files. Format 1 (lamina 0.1: table models, and forecast models with
"kind": "forecast") keeps loading: it is read into format 2's shape first.
"""

from __future__ import annotations

import json
import reprlib
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import StrictInt, StrictStr, model_validator

import lamina
from lamina.checked import Fault, Record, checked, under
from lamina.data.read import read_table
from lamina.errors import LaminaError
from lamina.plain import json_safe
from lamina.run import RunFolder
from lamina.tasks.base import Task, task_named
from lamina.training.linear_share import LinearShareRecord
from lamina.training.privacy import PrivacyRecord
from lamina.training.trainer import resolve_device

FORMAT_VERSION = 2  # bump when model.json changes shape; older versions must keep loading
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"


class Model:
    def __init__(self, task: Task, network: torch.nn.Module, architecture: dict, metrics: dict | None = None,
                 training: dict | None = None, profile: dict | None = None):
        self.task = task  # fitted: its state is what prepare/fit learnt (schema, encoders, layout...)
        self.network = network
        self.architecture = architecture  # {"arch", "hyperparameters", "inputs", "outputs"}
        self.metrics = metrics or {}
        self.training = training or {}
        self.profile = profile  # the training split's distributions, for drift monitoring (row models)
        self.directory: Path | None = None  # where the model was loaded from or saved to
        self._device: torch.device | None = None  # where the network was put for inference

    @property
    def run_folder(self) -> Path | None:
        """The run folder this model belongs to (its own folder when it was saved alone)."""
        if self.directory is None:
            return None
        return self.directory.parent if self.directory.name == "model" else self.directory

    def inference_device(self) -> torch.device:
        if self._device is None:  # moving the network costs a walk over every parameter; do it once
            self._device = resolve_device("auto")
            self.network.to(self._device)
        return self._device

    # ---- use ------------------------------------------------------------------------------------

    def read(self, data, what: str) -> pd.DataFrame:
        """data.read.read_table of `data` (`what` names it in errors), a table file's columns this model reads
        as text (Schema.text_columns) read as the text of each cell, as the server takes them: the same value
        then predicts the same from a file of one row, of many, and from a request."""
        schema = self.table_schema
        frame = read_table(data, what, schema.text_columns if schema is not None else (), unlabelled=True)
        return self._media_under_own_name(frame)

    def _media_under_own_name(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` read from picture or recording files (a folder, one file: its paths in `image` or `audio`) with
        that column named as the one column of that kind this model reads, when it was trained on a table that
        named it otherwise (`path`, `clip`): a folder or a file then predicts as a table of their paths would."""
        from lamina.data.images import MEDIA_COLUMN_ATTR

        given = frame.attrs.get(MEDIA_COLUMN_ATTR)
        schema = self.table_schema
        if schema is not None:
            own = [c.name for c in schema.features if c.kind == given]
        else:  # a speech-to-text model's one column of recordings
            own = [self.task.audio_column_] if given == "audio" and hasattr(self.task, "audio_column_") else []
        if given is None or given in own or len(own) != 1:
            return frame
        return frame.rename(columns={given: own[0]})

    def predict(self, data, **options) -> pd.DataFrame:
        """The task's prediction frame: for classification `prediction` and `proba_<class>` per class, for
        regression `prediction`, for forecasting the next horizon of each series with its interval.
        Row models take `engine="onnx"` to run the exported network in onnxruntime. Row models' predictions for a
        DataFrame carry its index; for a file or folder, the row's ID-like columns (what the server echoes) and the
        paths of the picture or recording files each row read lead it (which row each prediction is for)."""
        frame = self.read(data, "prediction data")
        predictions = self.task.predict(self, frame, **options)
        if not self.task.row_model:
            return predictions
        return _on_index_of(data, predictions) if isinstance(data, pd.DataFrame) else _keyed(predictions, frame, self.schema)

    def evaluate(self, data) -> dict:
        """{'rows', 'metrics', 'baseline'} on labelled data; rows without a target are left out."""
        return self.task.evaluate(self, self.read(data, "evaluation data"))

    def explain(self, data, rows: list[int] | None = None, importance: bool = True, repeats: int = 5) -> dict:
        """Integrated-gradients attributions of `rows` (0-based positions; default every row); with labelled
        data and `importance`, also permutation importance per column (`repeats` shuffles each); asked for on rows
        without target values, `importance_missing` says so instead.
        Returns {"rows", "attributions", "importance"? and "importance_rows"? (the labelled rows it was measured on,
        in words) | "importance_missing"?}."""
        frame = self.read(data, "data to explain")
        return self.rows("explain").task.explain(self, frame, rows, importance, repeats)

    def audit(self, data, sensitive: list[str] = (), mitigate: str | None = None,
              constraint: str = "demographic_parity") -> dict:
        """Bias audit on labelled data (per-group metrics and disparities for each sensitive column, optionally
        mitigated by per-group thresholds equalising `constraint`) and robustness audit (accuracy under attack
        over the budget)."""
        frame = self.read(data, "audit data")
        return self.rows("audit").task.audit(self, frame, list(sensitive), mitigate, constraint)

    def recommend(self, users, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Recommendation models: each user's top `k` items, one row per user and rank (user, rank, item, score,
        known_user); a user the model has not seen gets the most popular items and known_user False."""
        return self.recommender("recommend").recommend(self, users, k, exclude_seen)

    def similar(self, item, k: int = 10) -> pd.DataFrame:
        """Recommendation models: the `k` items most like `item` (cosine similarity of the item vectors)."""
        return self.recommender("similar").similar(self, item, k)

    def generate(self, n: int, label=None, seed: int | None = None) -> np.ndarray:
        """Generation models: `n` new images as uint8 [n, channels, height, width], all of the class `label` (a
        class name) or, without it, of each class in turn; the same `seed` gives the same images (None: new ones)."""
        if not hasattr(self.task, "generate"):
            raise LaminaError(f"`generate` is for generation models (--task generate); this is {self.task.described} "
                              "model. Use predict.")
        return self.task.generate(self, n, label, seed)

    def translate(self, texts: list[str], beam: int = 5) -> list[str]:
        """Translation models: the translation of each sentence of `texts` (beam search with `beam` beams, 1:
        greedy); an empty sentence translates to ""."""
        if not hasattr(self.task, "translate"):
            raise LaminaError(f"`translate` is for translation models (--task translate); this is {self.task.described} "
                              "model. Use predict.")
        return self.task.translate(self, texts, beam)
    def transcribe(self, audio, beam: int | None = None):
        """Speech-to-text models: the text of a clip (a file path, or a wav/flac/ogg/mp3 file's bytes), or a list of
        texts for a list of clips; greedy CTC decoding, or prefix beam search keeping `beam` prefixes."""
        if not hasattr(self.task, "transcribe"):
            raise LaminaError(f"`transcribe` is for speech-to-text models (--task transcribe); this is "
                              f"{self.task.described} model. Use predict.")
        return self.task.transcribe(self, audio, beam)

    def recommender(self, purpose: str):
        if not hasattr(self.task, "recommend"):
            raise LaminaError(f"`{purpose}` is for recommendation models; this is {self.task.described} model. "
                              "Use predict.")
        return self.task

    # ---- row models: one row in, one prediction out (explain, audit, export and monitor use these) ------

    def rows(self, purpose: str) -> Model:
        """This model, when `purpose` (explain, audit, export, monitor...) applies to its task; else a clear error."""
        if not self.task.row_model:
            raise LaminaError(f"`{purpose}` works on classification and regression models; this is "
                              f"{self.task.described} model. Its report holds its scores, and "
                              "`lamina predict RUN DATA` uses it.")
        return self

    @property
    def schema(self):
        return self.rows("schema").task.schema_

    @property
    def table_schema(self):
        """The Schema of the table columns the task reads (its inputs, kinds and roles), for every task that reads a
        table's rows: classification and regression, and anomaly detection; None for a task with a layout of its
        own (a forecast's series, a recommender's interactions, a transcriber's clips)."""
        return getattr(self.task, "schema_", None)

    @property
    def features(self):
        return self.rows("features").task.features_

    @property
    def target(self):
        return self.rows("target").task.target_

    @property
    def baseline(self) -> dict:
        return self.rows("baseline").task.baseline_

    @property
    def classes(self) -> list | None:
        return getattr(self.task, "classes", None)

    def predict_array(self, frame: pd.DataFrame, engine: str = "torch") -> np.ndarray:
        """Class probabilities [rows, classes], or predictions on the target's scale [rows]."""
        return self.rows("predict_array").task.predict_array(self, frame, engine)

    def outputs_of(self, inputs: dict[str, torch.Tensor], engine: str = "torch") -> np.ndarray:
        """As predict_array, from inputs the feature pipeline has already encoded."""
        return self.rows("outputs_of").task.outputs_of(self, inputs, engine)

    def predict_proba(self, data) -> pd.DataFrame:
        if self.classes is None:
            raise LaminaError(f"predict_proba is for classification models of one target; this is {self.task.described} "
                              "model. Use predict (with several targets, its <target>:proba_<class> columns).")
        frame = self.read(data, "prediction data")
        return _on_index_of(data, pd.DataFrame(self.predict_array(frame), columns=list(self.classes)))

    def labelled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of `frame` that have a target value, and their encoded targets."""
        return self.rows("labelled").task.labelled(frame)

    def outputs_and_truth(self, frame: pd.DataFrame):
        """Network outputs and encoded targets for the labelled rows of `frame` (also returned)."""
        return self.rows("outputs_and_truth").task.outputs_and_truth(self, frame)

    def score(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        return self.rows("score").task.metrics(outputs, truth)

    def score_baseline(self, truth: np.ndarray) -> dict[str, float]:
        return self.rows("score_baseline").task.baseline_metrics(truth)

    # ---- files ----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "lamina_version": lamina.__version__,
            "task": {"name": self.task.name, "state": self.task.state()},
            "architecture": self.architecture,
            "metrics": self.metrics or None,  # None: not scored (a tuning trial)
            "training": self.training,
            "profile": self.profile,
        }

    def save(self, directory) -> Path:
        self.directory = write_model(directory, self.network.state_dict(), self.to_json())
        return self.directory

    @classmethod
    def load(cls, directory) -> Model:
        return cls.from_document(*read_model_document(directory))

    @classmethod
    def from_document(cls, directory: Path, raw: dict) -> Model:
        """The model a format-2 document (as read_model_document checked it) and its weights describe. Anything
        wrong in the files (a key missing, a value of the wrong type, weights that do not fit the architecture, a
        truncated weights file) is the files' fault: it stops with a LaminaError naming the folder, never with a
        traceback."""
        from safetensors.torch import load_file

        from lamina.nets.build import check_hyperparameters

        try:
            with under("task.state"):
                task = task_named(raw["task"]["name"]).from_state(raw["task"]["state"])
            architecture = raw["architecture"]
            check_hyperparameters(architecture["arch"], task.reads, architecture["hyperparameters"])
            weights = directory / WEIGHTS_FILE
            _require_fitting_weights(task, architecture, weights)
            network = task.build_network(architecture)
            state = load_file(str(weights))
            _require_sound_tensors(network.state_dict(), state)
            network.load_state_dict(state)
            model = cls(task, network, architecture, dict(raw.get("metrics") or {}), dict(raw.get("training") or {}),
                        raw.get("profile"))
        except LaminaError:
            raise
        except Exception as error:  # the files' content, not lamina's code: see the docstring
            what = (f"{MODEL_FILE} lacks the key {error.args[0]!r}" if isinstance(error, KeyError)
                    else str(error)[:300] if type(error) in (ValueError, Fault)  # lamina's own checks name what is wrong
                    else f"{type(error).__name__}: {str(error)[:300]}")
            raise _damaged(directory, what) from None
        network.eval()
        model.directory = directory
        return model

    def __repr__(self) -> str:
        if not self.task.row_model:
            return f"Model(task={self.task.name!r}, arch={self.architecture['arch']!r})"
        inputs = ", ".join(f"{c.name}:{c.kind}" for c in self.schema.features[:6])
        more = "..." if len(self.schema.features) > 6 else ""
        targets = [c.name for c in self.schema.columns if c.role == "target"]
        target = f"target={targets[0]!r}" if len(targets) == 1 else f"targets={targets!r}"
        return f"Model(task={self.task.name!r}, {target}, inputs=[{inputs}{more}])"


class _TaskPart(Record):
    name: StrictStr
    state: dict


class _ArchitecturePart(Record):  # what else an architecture record holds is its task's
    arch: StrictStr
    hyperparameters: dict = {}
    inputs: dict | None = None
    outputs: StrictInt | None = None


class _Document(Record):
    """The keys every format-2 model.json holds, with their types."""
    task: _TaskPart
    architecture: _ArchitecturePart
    metrics: dict | None = None
    training: dict | None = None
    profile: dict | None = None


Score = float | None  # a metric's value; null where it is undefined (ROC AUC of one class)


class _TargetMetrics(Record):
    """One target's scores in a model of several targets, on its labelled test rows (none: null scores)."""
    rows: StrictInt
    test: dict[StrictStr, Score] | None
    baseline: dict[StrictStr, Score] | None


class _RowMetrics(Record):
    """A row model's scores on its test split, beside its baseline's: {split: {metric: number or null}}; with
    several targets these are the means over them, and `targets` holds each one's (tasks.targets)."""
    test: dict[StrictStr, Score]
    baseline: dict[StrictStr, Score]
    targets: dict[StrictStr, _TargetMetrics] | None = None


class _Sizes(Record):  # rows in each part of the split
    train: StrictInt
    valid: StrictInt
    test: StrictInt


class _Validation(Record):
    """The validation score the model was selected on (training.session.Session.validation)."""
    metric: StrictStr  # the validation record's key, e.g. valid_loss
    mode: Literal["min", "max"]  # whether lower or higher is better
    score: float
    epoch: StrictInt


class _RowTraining(Record):
    """What a row model's run records (task.fit); later keys are optional, as format 1 lacks some."""
    seed: StrictInt | None = None
    split: StrictStr | None = None
    sizes: _Sizes
    epochs_run: StrictInt | None = None
    best_epoch: StrictInt | None = None
    stop_reason: StrictStr | None = None
    batch_size: StrictInt | None = None
    device: StrictStr | None = None
    precision: StrictStr | None = None
    init_from: StrictStr | None = None
    train_seconds: float | None = None
    total_seconds: float | None = None
    selection_smoothing: float | None = None  # the weight of the past in the moving average epochs were judged on
    privacy: PrivacyRecord | None = None  # trained with differential privacy: the (ε, δ) spent
    linear_share: LinearShareRecord | None = None  # a linear model blended into the outputs (training.linear_share)
    validation: _Validation | None = None


class _ProfileEntry(Record):
    """One column's (or the predictions') training bins: `edges` for a Bins summary, `categories` for a Counts
    one (features.drift), and the training share of rows in each bin, the last two "other"/missing ones included."""
    kind: StrictStr
    edges: list[float] | None = None
    categories: list[StrictStr] | None = None
    reading: dict[StrictStr, StrictStr] | None = None  # how a Bins summary reads the values: {"date_order": ...}
    expected: list[float]

    @model_validator(mode="after")
    def _bins_of_its_kind(self) -> _ProfileEntry:
        from lamina.features.drift import Bins
        from lamina.features.kinds import registered_kinds

        summary = getattr(registered_kinds().get(self.kind), "drift", None)
        if summary is None:
            raise ValueError(f"kind {self.kind!r} is no kind with drift bins")
        bins = self.edges if isinstance(summary, Bins) else self.categories
        if bins is None:
            raise ValueError(f"a {self.kind} entry needs {'edges' if isinstance(summary, Bins) else 'categories'}")
        if self.edges is not None and self.edges != sorted(self.edges):
            raise ValueError(f"edges must rise (they are {reprlib.repr(self.edges)})")
        if len(self.expected) != len(bins) + 2:
            raise ValueError(f"expected holds {len(self.expected)} shares for {len(bins) + 2} bins")
        return self


class _Profile(Record):
    rows: StrictInt
    columns: dict[StrictStr, _ProfileEntry]
    prediction: _ProfileEntry


def _check_document(raw: dict) -> None:
    """Raises Fault naming the first key of a format-2 model.json that is missing or of the wrong type or shape
    (the task's state is checked by the task, the architecture's sizes by the weights' shapes). A row model's
    metrics, training record and profile have a known shape; other tasks' are theirs."""
    checked(_Document, raw)
    if task_named(raw["task"]["name"]).row_model:
        for key, shape in (("metrics", _RowMetrics), ("training", _RowTraining), ("profile", _Profile)):
            if raw.get(key) is not None:
                checked(shape, raw[key], key)


def _require_fitting_weights(task: Task, architecture: dict, weights: Path) -> None:
    """Compares the tensors the architecture would have (built on the meta device: no memory) with those the
    weights file holds (read from its header), so a model.json describing a different or enormous network is
    refused before anything is allocated."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as stream:
        stored = {name: tuple(stream.get_slice(name).get_shape()) for name in stream.keys()}
    try:
        with torch.device("meta"):
            skeleton = task.build_network(architecture)
    except (RuntimeError, NotImplementedError):  # a network that cannot be built without data: load_state_dict checks
        return
    expected = {name: tuple(tensor.shape) for name, tensor in skeleton.state_dict().items()}
    if expected != stored:
        differing = sorted(set(expected) ^ set(stored)) or [n for n in expected if expected[n] != stored[n]]
        name = differing[0]
        raise ValueError(f"the weights do not fit the architecture {MODEL_FILE} describes: {name!r} is "
                         f"{list(expected[name]) if name in expected else 'absent'} in the architecture, "
                         f"{list(stored[name]) if name in stored else 'absent'} in {WEIGHTS_FILE}")


def _require_sound_tensors(expected: dict, stored: dict) -> None:
    """Each stored tensor of the dtype the network holds it in (load_state_dict would cast an int64 weight silently,
    rounding it to whole numbers) and, if it holds floats, finite (one NaN weight makes every prediction NaN):
    a weights file that lamina did not write as it is stops at load."""
    for name, tensor in stored.items():
        held = expected.get(name)
        if held is not None and tensor.dtype != held.dtype:
            raise ValueError(f"{name!r} is {str(tensor.dtype).removeprefix('torch.')} in {WEIGHTS_FILE}, and the "
                             f"network holds it as {str(held.dtype).removeprefix('torch.')}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"{name!r} in {WEIGHTS_FILE} holds values that are not finite numbers (NaN or infinite)")


def write_model(directory, state_dict: dict, document: dict) -> Path:
    """weights.safetensors and model.json into `directory`, each written atomically."""
    from lamina.training.checkpoint import write_atomically

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write_atomically(directory / WEIGHTS_FILE, state_dict, {"format_version": FORMAT_VERSION})
    temporary = directory / f".{MODEL_FILE}.tmp"
    temporary.write_text(json.dumps(json_safe(document), indent=2), encoding="utf-8")
    temporary.replace(directory / MODEL_FILE)
    return directory


def read_model_document(directory) -> tuple[Path, dict]:
    """The model folder (a run folder's model/ or the folder itself) and its model.json in format 2's shape."""
    directory = Path(directory)
    if (directory / "model" / MODEL_FILE).exists():  # a run folder: its model lives in model/
        directory = directory / "model"
    if not (directory / MODEL_FILE).exists() and RunFolder(directory).is_run():
        raise LaminaError(f"{directory} is an interrupted run: its training stopped before the model was written. "
                          f"Continue it with: lamina train --resume {directory}  (Python: lamina.resume_run(...)).")
    if not (directory / MODEL_FILE).exists():
        raise LaminaError(
            f"{directory} holds no model ({MODEL_FILE} not found). Give a run folder made by "
            "`lamina train`, or a folder written by model.save()."
        )
    try:
        raw = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LaminaError(f"{directory / MODEL_FILE} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise LaminaError(f"{directory / MODEL_FILE} holds a {type(raw).__name__}, not a model's JSON object. "
                          "Restore the folder, or train the model again.")
    version = raw.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LaminaError(f"{directory / MODEL_FILE} is damaged: its key 'format_version' is {version!r}, where a "
                          f"whole number from 1 to {FORMAT_VERSION} belongs. Restore the folder, or train the model "
                          "again.")
    if version > FORMAT_VERSION:
        raise LaminaError(
            f"{directory / MODEL_FILE} has format version {version!r}; this lamina "
            f"({lamina.__version__}) reads up to {FORMAT_VERSION}. Upgrade lamina."
        )
    if version == 1:
        try:
            raw = upgraded(raw)
        except (KeyError, TypeError) as error:
            raise LaminaError(f"{directory / MODEL_FILE} (format 1) is damaged: {type(error).__name__} {error}. "
                              "Restore the folder, or train the model again.") from None
    try:
        _check_document(raw)
    except Fault as fault:  # read by load and by the report and card alike: its shape is checked here, once
        raise _damaged(directory, str(fault)) from None
    return directory, raw


def _damaged(directory: Path, what: str) -> LaminaError:
    return LaminaError(f"{directory} holds a damaged or incompatible model ({what}). Restore the folder, or train "
                       "the model again.")


def upgraded(raw: dict) -> dict:
    """A format-1 model.json in format 2's shape: the task and its state under "task"."""
    if raw.get("kind") == "forecast":
        old = raw["architecture"]
        layout = raw["layout"]
        state = {"layout": layout, "scaler": raw["scaler"], "interval": raw["interval"],
                 "lookback": old["lookback"], "horizon": old["horizon"]}
        architecture = {"arch": old["arch"], "hyperparameters": old["hyperparameters"],
                        "inputs": {"lookback": old["lookback"], "horizon": old["horizon"],
                                   "channels": len(layout["targets"]) + len(layout["covariates"])},
                        "outputs": len(layout["targets"])}
        return {**raw, "task": {"name": "forecast", "state": state}, "architecture": architecture}
    state = {key: raw[key] for key in ("schema", "features", "target", "baseline")}
    return {**raw, "task": {"name": raw["task"], "state": state}}


def _on_index_of(data, predictions: pd.DataFrame) -> pd.DataFrame:
    """Predictions for a DataFrame carry its index, so they join back: read_table numbered its rows by position,
    which the predictions' index holds."""
    return predictions.set_axis(data.index[predictions.index]) if isinstance(data, pd.DataFrame) else predictions


def _keyed(predictions: pd.DataFrame, frame: pd.DataFrame, schema) -> pd.DataFrame:
    """`predictions` of the rows of `frame` (read from a file or folder) led by the keys `frame` holds
    (Schema.row_keys: each ID-like column, as the server echoes it with each answer, and each picture or recording
    column read from files, as its paths), so they join back to the rows; a key whose name a prediction column takes
    is left out, as the server leaves it out."""
    keys = [name for name in schema.row_keys(frame) if name not in predictions.columns]
    return pd.concat([frame.loc[predictions.index, keys], predictions], axis=1)
