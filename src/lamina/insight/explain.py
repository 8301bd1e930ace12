"""Per-row explanations: integrated gradients (captum) over the network's encoded inputs, summed back
to the user's columns, with the completeness check that makes them trustworthy.

Integrated gradients attribute F(x) − F(baseline) to the inputs; the attributions of a row sum to that
difference up to the integral's discretisation error, which is reported as `completeness_gap`.
The baseline is the row with every value missing: the model's view of "no information".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.errors import LaminaError
from lamina.features.pipeline import DENSE_KINDS

STEPS = 128  # integration steps; the completeness gap shrinks as they grow (ReLU kinks need many)


def explain_rows(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    from captum.attr import IntegratedGradients

    network = model.network.eval()
    if not hasattr(network, "encode"):
        raise LaminaError(f"Architecture {model.architecture['arch']!r} does not support explanations yet.")
    columns = model.features.encoded_order()
    dense_widths = [model.features.encoders[n].width for n in columns
                    if model.features.encoders[n].kind in DENSE_KINDS]
    widths = network.encoding_widths(dense_widths)
    missing_row = pd.DataFrame([{c.name: None for c in model.schema.features}])
    with torch.no_grad():
        encoded = network.encode(model.features.transform(frame))
        baseline = network.encode(model.features.transform(missing_row)).expand_as(encoded)
        outputs = network.decide(encoded)
        baseline_outputs = network.decide(baseline)
    classification = model.target.is_classification
    targets = outputs.argmax(dim=1) if classification else torch.zeros(len(frame), dtype=torch.long)
    integrated = IntegratedGradients(network.decide)
    attributions = integrated.attribute(encoded, baselines=baseline, target=targets, n_steps=steps)
    per_column = torch.stack([part.sum(dim=1) for part in attributions.split(widths, dim=1)], dim=1)
    chosen = outputs.gather(1, targets[:, None])[:, 0]
    chosen_baseline = baseline_outputs.gather(1, targets[:, None])[:, 0]
    gap = (per_column.sum(dim=1) - (chosen - chosen_baseline)).abs()
    explained = [model.classes[i] for i in targets.tolist()] if classification else ["value"] * len(frame)
    return {
        "columns": columns,
        "attributions": per_column.detach().numpy().round(6).tolist(),
        "explained_output": [str(e) for e in explained],
        "output": chosen.detach().numpy().tolist(),
        "baseline_output": chosen_baseline.detach().numpy().tolist(),
        "completeness_gap": float(gap.max()),
        "output_unit": "logit of the predicted class" if classification else "standardised prediction",
    }


def top_attributions(explanation: dict, row: int, count: int = 5) -> list[tuple[str, float]]:
    values = np.asarray(explanation["attributions"][row])
    order = np.argsort(-np.abs(values))[:count]
    return [(explanation["columns"][i], float(values[i])) for i in order]


def permutation_importance(model, frame: pd.DataFrame, repeats: int = 5, seed: int = 0) -> list[dict]:
    """Per input column: how much the test score worsens when the column's values are shuffled
    (mean and standard deviation over `repeats` shuffles). The score is accuracy for classification
    and RMSE for regression, so 'drop' is in that metric's unit."""
    outputs, truth, frame = model.outputs_and_truth(frame)
    metric = "accuracy" if model.target.is_classification else "rmse"
    sign = 1.0 if metric == "accuracy" else -1.0  # a positive drop always means the column mattered
    reference = model.score(outputs, truth)[metric]
    generator = np.random.default_rng(seed)
    result = []
    for column in (c.name for c in model.schema.features):
        drops = []
        for _ in range(repeats):
            shuffled = frame.copy()
            shuffled[column] = frame[column].to_numpy()[generator.permutation(len(frame))]
            score = model.score(model.predict_array(shuffled), truth)[metric]
            drops.append(sign * (reference - score))
        result.append({"column": column, "metric": metric, "drop": float(np.mean(drops)),
                       "std": float(np.std(drops)), "repeats": repeats})
    return sorted(result, key=lambda r: -r["drop"])
