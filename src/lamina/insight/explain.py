"""Per-row explanations: integrated gradients (captum) over the network's encoded inputs, summed back
to the user's columns, with the completeness check that makes them trustworthy.

Image models are explained per pixel (heat-map overlays), text models per token (subword piece). Integrated gradients attribute F(x) − F(baseline)
to the inputs; the attributions of a row sum to that
difference up to the integral's discretisation error, which is reported as `completeness_gap`.
The baseline is the row with every value missing: the model's view of "no information".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.data.schema import PICTURE_KINDS
from lamina.errors import LaminaError
from lamina.features.pipeline import DENSE_KINDS

STEPS = 128  # integration steps; the completeness gap shrinks as they grow (ReLU kinks need many)
PIXEL_BATCH = 256  # images per forward pass while integrating (bounds memory: rows × steps images in all)
TOKEN_BATCH = 512  # texts per forward pass while integrating
OVERLAY_SIDE = 112  # pixels; attribution overlays are scaled up to about this side


def explain_rows(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    from captum.attr import IntegratedGradients

    network = model.network.eval()
    if getattr(network, "reads", None) == "image":
        return explain_pixels(model, frame, steps)
    if getattr(network, "reads", None) == "text":
        return explain_tokens(model, frame, steps)
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


def explain_pixels(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    """Integrated gradients over the pixels of an image model's (first) image column. The baseline is the
    image with every pixel the training mean colour (the network's zero after normalising); other columns
    keep their values, so the attributions explain what the picture adds."""
    from captum.attr import IntegratedGradients

    network = model.network.eval()
    column = next(c.name for c in model.schema.features if c.kind in PICTURE_KINDS)
    key = f"image:{column}"
    inputs = model.features.transform(frame)
    others = [name for name in inputs if name != key]
    pixels = inputs[key].float()
    mean = torch.tensor(model.features.encoders[column].mean_).view(1, -1, 1, 1) * 255
    baseline = mean.expand_as(pixels).contiguous()

    def forward(images, *rest):
        return network({key: images, **dict(zip(others, rest, strict=True))})

    extra = tuple(inputs[name] for name in others)
    with torch.no_grad():
        outputs, baseline_outputs = forward(pixels, *extra), forward(baseline, *extra)
    classification = model.target.is_classification
    targets = outputs.argmax(dim=1) if classification else torch.zeros(len(frame), dtype=torch.long)
    attributions = IntegratedGradients(forward).attribute(
        pixels, baselines=baseline, target=targets, additional_forward_args=extra, n_steps=steps,
        internal_batch_size=PIXEL_BATCH)
    chosen = outputs.gather(1, targets[:, None])[:, 0]
    chosen_baseline = baseline_outputs.gather(1, targets[:, None])[:, 0]
    per_row = attributions.sum(dim=(1, 2, 3))
    maps = attributions.sum(dim=1)  # rows × height × width, the channels added up
    explained = [model.classes[i] for i in targets.tolist()] if classification else ["value"] * len(frame)
    return {
        "columns": [column],
        "attributions": per_row[:, None].detach().numpy().round(6).tolist(),
        "pixels": maps.detach().numpy().round(6).tolist(),
        "overlays": [heat_overlay(image, heat) for image, heat in zip(inputs[key], maps.detach(), strict=True)],
        "explained_output": [str(e) for e in explained],
        "output": chosen.detach().numpy().tolist(),
        "baseline_output": chosen_baseline.detach().numpy().tolist(),
        "completeness_gap": float((per_row - (chosen - chosen_baseline)).abs().max()),
        "output_unit": "logit of the predicted class" if classification else "standardised prediction",
    }


def explain_tokens(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    """Integrated gradients over the token embeddings of a text model's (first) text column. The baseline
    is the zero vector at every real token's place ("no word"), with the same length, so the attributions
    of a row's tokens add up to what its words add to the output; other columns keep their values."""
    from captum.attr import IntegratedGradients

    from lamina.nets.mlp import column_of, module_key
    from lamina.nets.sequence import trimmed

    network = model.network.eval()
    column = next(c.name for c in model.schema.features if c.kind == "text")
    backbone = network.backbones[module_key(column)]
    inputs = model.features.transform(frame)
    ids, mask = trimmed(inputs[f"text:{column}"], backbone.pad)
    with torch.no_grad():
        parts = [network.table.encode(inputs)] if network.table.encoded_width else []
        parts += [other(inputs[f"text:{column_of(key)}"]) if other is not backbone else None
                  for key, other in network.backbones.items()]
        embedded = backbone.embed(ids)
    position = next(i for i, part in enumerate(parts) if part is None)
    before, after = parts[:position], parts[position + 1:]

    def forward(tokens, token_mask, *fixed):
        features = backbone.read(tokens, token_mask)
        return network.head(torch.cat([*fixed[:len(before)], features, *fixed[len(before):]], dim=1).float())

    extra = (mask, *before, *after)
    baseline = torch.zeros_like(embedded)
    with torch.no_grad():
        outputs, baseline_outputs = forward(embedded, *extra), forward(baseline, *extra)
    classification = model.target.is_classification
    targets = outputs.argmax(dim=1) if classification else torch.zeros(len(frame), dtype=torch.long)
    attributions = IntegratedGradients(forward).attribute(
        embedded, baselines=baseline, target=targets, additional_forward_args=extra, n_steps=steps,
        internal_batch_size=TOKEN_BATCH)
    per_token = (attributions.sum(dim=2) * mask).detach()
    chosen = outputs.gather(1, targets[:, None])[:, 0]
    chosen_baseline = baseline_outputs.gather(1, targets[:, None])[:, 0]
    per_row = per_token.sum(dim=1)
    encoder = model.features.encoders[column]
    explained = [model.classes[i] for i in targets.tolist()] if classification else ["value"] * len(frame)
    return {
        "columns": [column],
        "attributions": per_row[:, None].numpy().round(6).tolist(),
        "tokens": [list(zip(encoder.pieces(row_ids.numpy()), values[:int(row_mask.sum())].numpy().round(6).tolist(),
                            strict=True))
                   for row_ids, row_mask, values in zip(ids, mask, per_token, strict=True)],
        "explained_output": [str(e) for e in explained],
        "output": chosen.detach().numpy().tolist(),
        "baseline_output": chosen_baseline.detach().numpy().tolist(),
        "completeness_gap": float((per_row - (chosen - chosen_baseline)).abs().max()),
        "output_unit": "logit of the predicted class" if classification else "standardised prediction",
    }


def heat_overlay(image: torch.Tensor, heat: torch.Tensor) -> str:
    """The picture in grey with attributions on top (red: pushed towards the explained output; blue: away),
    as base64 PNG, scaled up so a 28-pixel image can be seen."""
    from lamina.evaluation.plots import png_base64

    grey = image.float().mean(dim=0) / 255
    strength = heat / heat.abs().max().clamp_min(1e-12)
    red = (0.6 * grey + strength.clamp(min=0)).clamp(0, 1)
    blue = (0.6 * grey + (-strength).clamp(min=0)).clamp(0, 1)
    rgb = torch.stack([red, 0.6 * grey, blue], dim=2)
    return png_base64((rgb.numpy() * 255).astype(np.uint8), OVERLAY_SIDE)


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
