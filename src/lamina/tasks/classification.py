"""Classification: predict one of the target's classes, with a probability for each (binary or multiclass).

Loss: cross-entropy with optional label smoothing (Szegedy et al. 2016); metrics: accuracy, balanced
accuracy, macro F1, ROC AUC and log loss (scikit-learn) beside the majority-class baseline, which predicts
the training class frequencies for every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.data.split import Split
from lamina.evaluation.metrics import class_prior, classification_metrics
from lamina.features.target import TargetEncoder
from lamina.tasks.base import register_task
from lamina.tasks.table import TableTask


@register_task
class ClassificationTask(TableTask):
    name = "classification"
    aliases = ("binary", "multiclass")
    problems = ("binary", "multiclass")
    label_smoothing = 0.0  # share of each target's probability mass spread over all classes (set by fit)

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
        return {"prior": class_prior(encoded_targets, self.target_.outputs)}

    # ---- the training step -------------------------------------------------------------------------------

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """outputs: logits [rows, classes]; targets: class indices [rows]."""
        return torch.nn.functional.cross_entropy(outputs, targets, label_smoothing=self.label_smoothing)

    # ---- outputs, metrics, prediction frame --------------------------------------------------------------

    def finish_outputs(self, raw: torch.Tensor) -> np.ndarray:
        return torch.softmax(raw, dim=1).numpy()

    def decoded(self, outputs: np.ndarray) -> np.ndarray:
        return self.target_.decode(outputs)

    def metrics(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        return classification_metrics(truth, outputs)

    def baseline_metrics(self, truth: np.ndarray) -> dict[str, float]:
        prior = np.asarray(self.baseline_["prior"], dtype=float)
        return classification_metrics(truth, np.tile(prior, (len(truth), 1)))

    def prediction_frame(self, outputs: np.ndarray, index) -> pd.DataFrame:
        """`prediction` and `proba_<class>` per class, one row per input row."""
        result = pd.DataFrame({"prediction": self.decoded(outputs)}, index=index)
        for i, name in enumerate(self.classes):
            result[f"proba_{name}"] = outputs[:, i]
        return result

    def held_out_table(self, truth_values: pd.Series, outputs: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
        table = pd.DataFrame({"truth": truth_values.to_numpy(), "truth_index": truth})
        return pd.concat([table, self.prediction_frame(outputs, table.index)], axis=1)

    def response(self, predictions: pd.DataFrame) -> list[dict]:
        """The server's answer per row: the class and every class's probability."""
        from lamina.plain import json_safe

        names = [str(c) for c in self.classes]
        probabilities = predictions[[f"proba_{c}" for c in self.classes]].to_numpy().tolist()
        return [{"prediction": json_safe(p), "probabilities": dict(zip(names, row, strict=True))}
                for p, row in zip(predictions["prediction"].tolist(), probabilities, strict=True)]

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.evaluation.task_sections import classification_sections

        return classification_sections(run, document)
