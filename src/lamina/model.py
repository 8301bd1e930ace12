"""Model: the trained artifact — schema, fitted encoders, network, metrics — and how to use it.

On disk a model is a folder: `model.json` (everything but the weights) and `weights.safetensors`.
Loading never runs code from the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import lamina
from lamina.data.read import read_table
from lamina.data.schema import Schema
from lamina.errors import LaminaError
from lamina.evaluation import metrics as metric_functions
from lamina.features.pipeline import FeaturePipeline
from lamina.features.target import TargetEncoder
from lamina.nets.build import build_network
from lamina.plain import json_safe
from lamina.training.batches import TensorBatches, batch_rows
from lamina.training.trainer import infer, resolve_device

FORMAT_VERSION = 1  # bump when model.json changes shape; older versions must keep loading
TABLE_KIND = "table"  # model.json's "kind": a row in, a prediction out (models without "kind" are these)
MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
INFERENCE_BATCH = 4096  # rows per forward pass when predicting


class Model:
    def __init__(self, schema: Schema, features: FeaturePipeline, target: TargetEncoder, network: torch.nn.Module,
                 architecture: dict, baseline: dict, metrics: dict | None = None, training: dict | None = None,
                 profile: dict | None = None):
        self.schema = schema
        self.features = features
        self.target = target
        self.network = network
        self.architecture = architecture  # {"arch", "hyperparameters", "inputs", "outputs"}
        self.baseline = baseline  # {"prior": [...]} for classes, {"mean": x} for regression
        self.metrics = metrics or {}
        self.training = training or {}
        self.profile = profile  # the training split's distributions, for drift monitoring
        self.directory: Path | None = None  # where the model was loaded from or saved to
        self._device: torch.device | None = None  # where the network was put for inference

    @property
    def task(self) -> str:
        return self.schema.task

    @property
    def run_folder(self) -> Path | None:
        """The run folder this model belongs to (its own folder when it was saved alone)."""
        if self.directory is None:
            return None
        return self.directory.parent if self.directory.name == "model" else self.directory

    @property
    def classes(self) -> list | None:
        return self.target.classes_ if self.target.is_classification else None

    # ---- use ------------------------------------------------------------------------------------

    def predict_array(self, frame: pd.DataFrame, engine: str = "torch") -> np.ndarray:
        """Class probabilities [rows, classes], or predictions on the target's scale [rows]."""
        return self.outputs_of(self.features.transform(frame), engine)

    def outputs_of(self, inputs: dict[str, torch.Tensor], engine: str = "torch") -> np.ndarray:
        """As predict_array, from inputs the feature pipeline has already encoded."""
        if engine == "onnx":
            raw = torch.from_numpy(self._run_onnx(inputs))
        elif engine == "torch":
            if self._device is None:  # moving the network costs a walk over every parameter; do it once
                self._device = resolve_device("auto")
                self.network.to(self._device)
            dummy = torch.zeros(batch_rows(inputs))
            batches = TensorBatches(inputs, dummy, INFERENCE_BATCH, device=self._device)
            raw = infer(self.network, batches, self._device)
        else:
            raise LaminaError(f"Unknown engine {engine!r}; use 'torch' or 'onnx'.")
        if self.target.is_classification:
            return torch.softmax(raw, dim=1).numpy()
        return self.target.decode(raw.numpy())

    def _run_onnx(self, inputs) -> np.ndarray:
        from lamina.serving.export import ONNX_FILE, run_onnx

        path = self.directory / ONNX_FILE if self.directory else None
        if path is None or not path.exists():
            raise LaminaError(f"No {ONNX_FILE} beside this model. Make one with: lamina export RUN --format onnx")
        return run_onnx(path, inputs)

    def predict(self, data, engine: str = "torch") -> pd.DataFrame:
        """One row per input row: `prediction`, and for classification `proba_<class>` per class.
        `engine="onnx"` runs the exported network in onnxruntime after the same preprocessing."""
        frame = read_table(data, "prediction data")
        outputs = self.predict_array(frame, engine)
        if not self.target.is_classification:
            return pd.DataFrame({"prediction": outputs}, index=frame.index)
        result = pd.DataFrame({"prediction": self.target.decode(outputs)}, index=frame.index)
        for i, name in enumerate(self.classes):
            result[f"proba_{name}"] = outputs[:, i]
        return result

    def predict_proba(self, data) -> pd.DataFrame:
        if not self.target.is_classification:
            raise LaminaError("predict_proba is for classification models; this one does regression. Use predict.")
        frame = read_table(data, "prediction data")
        return pd.DataFrame(self.predict_array(frame), columns=list(self.classes), index=frame.index)

    def evaluate(self, data) -> dict:
        """{'rows', 'metrics', 'baseline'} on labelled data; rows without a target are left out."""
        frame = read_table(data, "evaluation data")
        outputs, truth, frame = self.outputs_and_truth(frame)
        return {"rows": len(frame), "metrics": self.score(outputs, truth), "baseline": self.score_baseline(truth)}

    def explain(self, data, importance: bool = True) -> dict:
        """Integrated-gradients attributions per row and column; with labelled data and `importance`,
        also permutation importance per column."""
        from lamina.insight.explain import explain_rows, permutation_importance

        frame = read_table(data, "data to explain")
        result = {"attributions": explain_rows(self, frame)}
        if importance and self.schema.target in frame.columns:
            result["importance"] = permutation_importance(self, frame)
        return result

    def audit(self, data, sensitive: list[str] = (), mitigate: str | None = None) -> dict:
        """Bias audit on labelled data (per-group metrics and disparities for each sensitive column) and
        robustness audit (accuracy under attack over the budget)."""
        from lamina.insight.fairness import audit
        from lamina.insight.robustness import robustness_curve

        frame = read_table(data, "audit data")
        result = audit(self, frame, list(sensitive), mitigate=mitigate)
        result["robustness"] = robustness_curve(self, frame)
        return result

    def labelled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of `frame` that have a target value, and their encoded targets."""
        if self.schema.target not in frame.columns:
            raise LaminaError(
                f"The evaluation data has no target column {self.schema.target!r}; evaluating needs the true values."
            )
        frame = frame[frame[self.schema.target].notna()]
        if len(frame) == 0:
            raise LaminaError(f"Every row of the evaluation data lacks a value in {self.schema.target!r}.")
        return frame, self.target.encode(frame[self.schema.target])

    def outputs_and_truth(self, frame: pd.DataFrame):
        """Network outputs and encoded targets for the labelled rows of `frame` (also returned)."""
        frame, truth = self.labelled(frame)
        return self.predict_array(frame), truth, frame

    def score(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        if self.target.is_classification:
            return metric_functions.classification_metrics(truth, outputs)
        return metric_functions.regression_metrics(self.target.decode(truth), outputs)

    def score_baseline(self, truth: np.ndarray) -> dict[str, float]:
        if self.target.is_classification:
            prior = np.asarray(self.baseline["prior"], dtype=float)
            return metric_functions.classification_metrics(truth, np.tile(prior, (len(truth), 1)))
        constant = np.full(len(truth), self.baseline["mean"])
        return metric_functions.regression_metrics(self.target.decode(truth), constant)

    # ---- files ----------------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "lamina_version": lamina.__version__,
            "kind": TABLE_KIND,
            "task": self.task,
            "schema": self.schema.to_dict(),
            "features": self.features.state(),
            "target": self.target.state(),
            "architecture": self.architecture,
            "baseline": self.baseline,
            "metrics": self.metrics,
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
        from safetensors.torch import load_file

        if raw.get("kind", TABLE_KIND) != TABLE_KIND:
            raise LaminaError(f"{directory} holds a {raw['kind']} model; serving, export, evaluation, explanation and "
                              "audits take models from `lamina train`. Load it with lamina.load(), or run "
                              "`lamina predict` on its run folder.")
        schema = Schema.from_dict(raw["schema"])
        architecture = raw["architecture"]
        network = build_network(architecture["arch"], architecture["inputs"], architecture["outputs"],
                                **architecture["hyperparameters"])
        network.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
        network.eval()
        model = cls(
            schema=schema,
            features=FeaturePipeline.from_state(schema, raw["features"]),
            target=TargetEncoder.from_state(raw["target"]),
            network=network,
            architecture=architecture,
            baseline=raw["baseline"],
            metrics=raw.get("metrics", {}),
            training=raw.get("training", {}),
            profile=raw.get("profile"),
        )
        model.directory = directory
        return model

    def __repr__(self) -> str:
        inputs = ", ".join(f"{c.name}:{c.kind}" for c in self.schema.features[:6])
        more = "..." if len(self.schema.features) > 6 else ""
        return f"Model(task={self.task!r}, target={self.schema.target!r}, inputs=[{inputs}{more}])"


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
    """The model folder (a run folder's model/ or the folder itself) and its model.json, checked."""
    directory = Path(directory)
    if (directory / "model" / MODEL_FILE).exists():  # a run folder: its model lives in model/
        directory = directory / "model"
    if not (directory / MODEL_FILE).exists():
        raise LaminaError(
            f"{directory} holds no model ({MODEL_FILE} not found). Give a run folder made by "
            "`lamina train` or `lamina forecast`, or a folder written by model.save()."
        )
    try:
        raw = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LaminaError(f"{directory / MODEL_FILE} is not valid JSON: {error}") from None
    version = raw.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise LaminaError(
            f"{directory / MODEL_FILE} has format version {version!r}; this lamina "
            f"({lamina.__version__}) reads up to {FORMAT_VERSION}. Upgrade lamina."
        )
    return directory, raw
