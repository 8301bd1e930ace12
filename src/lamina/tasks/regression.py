"""Regression: predict a number. The network learns the standardised target with a mean squared error;
metrics: RMSE, MAE and R² (scikit-learn) beside the baseline that predicts the training mean for every row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.data.split import Split
from lamina.evaluation.metrics import regression_metrics
from lamina.features.target import TargetEncoder
from lamina.tasks.base import register_task
from lamina.tasks.table import TableTask


@register_task
class RegressionTask(TableTask):
    name = "regression"
    problems = ("regression",)
    judged_on = "r2"  # the squared error early stopping follows, over the baseline's (the training mean): R² ≤ 0

    def fit_target(self, labelled: pd.DataFrame, split: Split) -> TargetEncoder:
        # The scale comes from the training rows only: validation and test values stay unseen.
        return TargetEncoder("regression", self.schema_.target).fit(split.train[self.schema_.target])

    def fit_baseline(self, encoded_targets: np.ndarray) -> dict:
        return {"mean": float(self.target_.decode(np.array([encoded_targets.mean()]))[0])}

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """outputs: [rows, 1] standardised predictions; targets: [rows] standardised values."""
        return torch.nn.functional.mse_loss(outputs.squeeze(1).float(), targets)

    row_loss_name = "squared error of the standardised target"

    def row_losses(self, outputs: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Each row's squared error [rows] of standardised predictions [rows, 1] (training.linear_share)."""
        return (outputs.squeeze(1).double() - truth.double()) ** 2

    def finish_outputs(self, raw: torch.Tensor) -> np.ndarray:
        return self.target_.decode(raw.numpy())

    def decoded(self, outputs: np.ndarray) -> np.ndarray:
        return outputs

    def metrics(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        return regression_metrics(self.target_.decode(truth), outputs)

    def baseline_metrics(self, truth: np.ndarray) -> dict[str, float]:
        return regression_metrics(self.target_.decode(truth), np.full(len(truth), self.baseline_["mean"]))

    def prediction_frame(self, outputs: np.ndarray, index) -> pd.DataFrame:
        return pd.DataFrame({"prediction": outputs}, index=index)

    def held_out_table(self, truth_values: pd.Series, outputs: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"truth": truth_values.to_numpy(), "prediction": outputs})

    def response(self, predictions: pd.DataFrame) -> list[dict]:
        return _answer_rows(predictions["prediction"].tolist())

    def answers(self, outputs: np.ndarray) -> tuple[list[dict], np.ndarray]:
        predictions = self.decoded(outputs)
        return _answer_rows(predictions.tolist()), predictions

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.evaluation.task_sections import regression_sections

        return regression_sections(run, document)


def _answer_rows(predictions: list) -> list[dict]:
    from lamina.plain import json_safe

    return [{"prediction": json_safe(p)} for p in predictions]
