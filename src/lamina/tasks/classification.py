"""Classification: predict one of the target's classes, with a probability for each (binary or multiclass).

Loss: cross-entropy with optional label smoothing (Szegedy et al. 2016), class-weighted under heavy imbalance
(training.imbalance); metrics: accuracy, balanced accuracy, macro F1, ROC AUC and log loss (scikit-learn), and
for two classes PR-AUC, precision and recall, beside the majority-class baseline, which predicts the training
class frequencies for every row. Two classes with heavy imbalance or a `--cost` get a decision threshold on the
second class's probability, chosen on the validation rows (evaluation.threshold); predictions use it.
Probabilities are temperature-scaled (evaluation.calibration, Guo et al. 2017): T is fitted on the validation
rows (with cross-fitted members, training.crossfit, on the out-of-fold predictions of every row) after training,
before the threshold is chosen on the scaled probabilities; metrics add the expected calibration error after
(`ece`) and before (`ece_uncalibrated`) scaling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.checked import Fault
from lamina.data.split import Split
from lamina.evaluation.calibration import (
    calibration_metrics,
    fit_temperature,
    scaled_softmax,
    temperature_text,
)
from lamina.evaluation.metrics import class_prior, classification_metrics
from lamina.features.target import TargetEncoder
from lamina.tasks.base import register_task
from lamina.tasks.decision import (
    ARGMAX,
    binary_decision,
    checked_cost,
    checked_decision,
    decision_sections,
    decision_text,
)
from lamina.tasks.table import TableTask
from lamina.training.crossfit import cross_fit_text
from lamina.training.imbalance import class_weights, validation_pr_auc


@register_task
class ClassificationTask(TableTask):
    name = "classification"
    aliases = ("binary", "multiclass")
    problems = ("binary", "multiclass")
    judged_on = "log_loss"  # the loss early stopping follows (the baseline: the training classes' shares)
    settings = (*TableTask.settings, "cost")  # cost: binary only, checked_cost refuses it for several classes
    label_smoothing = 0.0  # share of each target's probability mass spread over all classes (set by fit)
    class_weights: list[float] | None = None  # per-class loss weights under heavy imbalance (set by fit_baseline)
    decision_ = ARGMAX  # the binary decision threshold (set by fit)
    temperature_ = 1.0  # logits are divided by it before the softmax (set by fit; older models: 1)

    def problem(self, target: pd.Series, name: str) -> str:
        problem = super().problem(target, name)
        # Asked for classification, a many-valued number target is still classes, not a quantity.
        return "multiclass" if problem == "regression" else problem

    @property
    def classes(self) -> list:
        return self.target_.classes_

    def fit_target(self, labelled: pd.DataFrame, split: Split) -> TargetEncoder:
        # Every labelled row names its class, so classes seen only in validation or test still get an index.
        return TargetEncoder(self.schema_.task, self.schema_.target).fit(labelled[self.schema_.target])

    def fit_baseline(self, encoded_targets: np.ndarray) -> dict:
        # The training targets, seen before training starts: also where the loss learns whether to weight classes.
        self.class_weights = class_weights(encoded_targets, self.target_.outputs)
        if self.class_weights is not None and self.target_.outputs == 2:  # LossStep: early stopping follows PR-AUC
            self.metric, self.metric_name, self.mode = validation_pr_auc, "pr_auc", "max"
        return {"prior": class_prior(encoded_targets, self.target_.outputs)}

    def fit(self, config, prepared, session):
        cost = checked_cost(config.data.cost, prepared.schema.task)  # a wrong --cost stops before training
        network, architecture, training = super().fit(config, prepared, session)
        logits, truth = self.selection_outputs(network, prepared)
        self.temperature_ = fit_temperature(logits, truth)
        self.decision_ = binary_decision(self, self.finish_outputs(logits), truth.numpy(), cost, config.data.cost,
                                         cross_fit_text(training))
        return network, architecture, training

    row_loss_name = "log loss (nats) after temperature scaling"

    def row_losses(self, outputs: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Each row's cross-entropy [rows] once a temperature is fitted to the logits [rows, classes], as they would
        be calibrated (a blend's logits may be on a smaller scale than either model's)."""
        outputs = outputs.double()
        return torch.nn.functional.cross_entropy(outputs / fit_temperature(outputs, truth), truth.long(),
                                                 reduction="none")

    # ---- the training step -------------------------------------------------------------------------------

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """outputs: logits [rows, classes]; targets: class indices [rows]."""
        weight = None if self.class_weights is None else torch.tensor(self.class_weights, device=outputs.device)
        return torch.nn.functional.cross_entropy(outputs, targets, weight=weight, label_smoothing=self.label_smoothing)

    # ---- outputs, metrics, prediction frame --------------------------------------------------------------

    def finish_outputs(self, raw: torch.Tensor) -> np.ndarray:
        return scaled_softmax(raw, self.temperature_).numpy()

    def decoded(self, outputs: np.ndarray) -> np.ndarray:
        return self.target_.decode(np.eye(outputs.shape[1])[self.predicted_indices(outputs)])

    def predicted_indices(self, outputs: np.ndarray) -> np.ndarray:
        """The predicted class of each row: the second class at or above the decision threshold, else the likeliest."""
        if self.decision_["rule"] == "argmax":
            return outputs.argmax(axis=1)
        return (outputs[:, 1] >= self.decision_["threshold"]).astype(int)

    def metrics(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        return {**classification_metrics(truth, outputs, self.predicted_indices(outputs)),
                **calibration_metrics(truth, outputs, self.temperature_)}

    def baseline_metrics(self, truth: np.ndarray) -> dict[str, float]:
        prior = np.tile(np.asarray(self.baseline_["prior"], dtype=float), (len(truth), 1))
        return {**classification_metrics(truth, prior), **calibration_metrics(truth, prior, 1.0)}

    def prediction_frame(self, outputs: np.ndarray, index) -> pd.DataFrame:
        """`prediction` and `proba_<class>` per class, one row per input row."""
        # One constructor call: a column added at a time cost a one-row model.predict a seventh of its time.
        return pd.DataFrame({"prediction": self.decoded(outputs),
                             **{f"proba_{name}": outputs[:, i] for i, name in enumerate(self.classes)}}, index=index)

    def held_out_table(self, truth_values: pd.Series, outputs: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
        table = pd.DataFrame({"truth": truth_values.to_numpy(), "truth_index": truth})
        return pd.concat([table, self.prediction_frame(outputs, table.index)], axis=1)

    def response(self, predictions: pd.DataFrame) -> list[dict]:
        """The server's answer per row: the class and every class's probability."""
        probabilities = predictions[[f"proba_{c}" for c in self.classes]].to_numpy()
        return self._answer_rows(predictions["prediction"].tolist(), probabilities)

    def answers(self, outputs: np.ndarray) -> tuple[list[dict], np.ndarray]:
        predictions = self.decoded(outputs)  # the decision threshold applies here, as in prediction_frame
        return self._answer_rows(predictions.tolist(), outputs), predictions

    def _answer_rows(self, predictions: list, probabilities: np.ndarray) -> list[dict]:
        from lamina.plain import json_safe

        names = [str(c) for c in self.classes]
        return [{"prediction": json_safe(p), "probabilities": dict(zip(names, row, strict=True))}
                for p, row in zip(predictions, probabilities.tolist(), strict=True)]

    def summary(self, model) -> str:
        return (super().summary(model) + decision_text(self.decision_) + "\n"
                + temperature_text(self.temperature_, model.training, test=(model.metrics or {}).get("test")))

    def state(self) -> dict:
        return {**super().state(), "decision": self.decision_, "temperature": self.temperature_}

    @classmethod
    def from_state(cls, state: dict) -> ClassificationTask:
        task = super().from_state(state)
        task.decision_ = checked_decision(state.get("decision", ARGMAX), task.target_.outputs)
        task.temperature_ = checked_temperature(state.get("temperature", 1.0))  # absent before calibration: 1
        return task

    def report_sections(self, run, document: dict) -> list[str]:
        """The decision rule, then the test plots (calibration is the model card's: facts.calibration)."""
        from lamina.evaluation.task_sections import classification_sections

        state = document["task"]["state"]  # this task is the registry's, not fitted
        return decision_sections(state.get("decision", ARGMAX)) + classification_sections(run, document)


def checked_temperature(raw, key: str = "task.state.temperature") -> float:
    """A stored temperature, or Fault naming what is wrong with it (at `key`)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not np.isfinite(raw) or raw <= 0:
        raise Fault(key, f"{raw!r} is no finite number > 0")
    return float(raw)
