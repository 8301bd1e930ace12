"""Per-row explanations: integrated gradients (captum) over the network's encoded inputs, summed back
to the user's columns, with the completeness check that makes them trustworthy.

Image models are explained per pixel (heat-map overlays), text models per token (subword piece), molecule
models per atom and bond (insight.molecule_explain). Integrated gradients attribute F(x) − F(baseline)
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

STEPS = 128  # integration steps to start with; the completeness gap shrinks as they grow (ReLU kinks need many)
MAX_STEPS = 1024  # steps are doubled up to this many while a row's completeness gap is too wide
GAP_SHARE = 0.01  # the widest gap accepted: this share of the row's output change...
GAP_FLOOR = 1e-3  # ...plus this, in output units, for rows whose output hardly changes
PIXEL_BATCH = 256  # images per forward pass while integrating (bounds memory: rows × steps images in all)
TOKEN_BATCH = 512  # texts per forward pass while integrating
OVERLAY_SIDE = 112  # pixels; attribution overlays are scaled up to about this side


def explain_rows(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    model.task.require_one_target("explain")
    network = model.network.eval()
    if getattr(network, "reads", None) == "image":
        return explain_pixels(model, frame, steps)
    if getattr(network, "reads", None) == "text":
        return explain_tokens(model, frame, steps)
    if getattr(network, "reads", None) == "molecule":
        from lamina.insight.molecule_explain import explain_molecules

        return explain_molecules(model, frame, steps, _integrate, _explanation)
    if not hasattr(network, "encode"):
        raise LaminaError(f"Architecture {model.architecture['arch']!r} does not support explanations yet.")
    columns = model.features.encoded_order()
    widths = network.encoding_widths(model.features.dense_widths())
    missing_row = pd.DataFrame([{c.name: None for c in model.schema.features}])
    with torch.no_grad():
        encoded = network.encode(model.features.transform(frame))
        baseline = network.encode(model.features.transform(missing_row)).expand_as(encoded)
    attributions, *outcome = _integrate(model, network.decide, encoded, baseline, steps)
    per_column = torch.stack([part.sum(dim=1) for part in attributions.split(widths, dim=1)], dim=1)
    return _explanation(model, columns, per_column, *outcome)


def _integrate(model, forward, inputs: torch.Tensor, baseline: torch.Tensor, steps: int, extra: tuple = (),
               batch: int | None = None):
    """Integrated gradients of the predicted class's logit (regression: the output) along the straight path
    from `baseline` to `inputs`; `extra` are further arguments of `forward`, held fixed, and `batch` bounds
    the rows per forward pass. `steps` doubles (up to MAX_STEPS) until every row's attributions add up to
    its output change within GAP_SHARE of it. Returns (attributions, explained output index, that output at
    the inputs, at the baseline)."""
    from captum.attr import IntegratedGradients

    with torch.no_grad():
        outputs, baseline_outputs = forward(inputs, *extra), forward(baseline, *extra)
    targets = outputs.argmax(dim=1) if model.target.is_classification else torch.zeros(len(outputs), dtype=torch.long)
    chosen, start = outputs.gather(1, targets[:, None])[:, 0], baseline_outputs.gather(1, targets[:, None])[:, 0]
    while True:  # the integral's error is measurable (completeness): refine until it is small
        attributions = IntegratedGradients(forward).attribute(
            inputs, baselines=baseline, target=targets, additional_forward_args=extra or None, n_steps=steps,
            internal_batch_size=batch).detach()
        gap = (attributions.flatten(1).sum(dim=1) - (chosen - start)).abs()
        if steps >= MAX_STEPS or bool((gap <= GAP_SHARE * (chosen - start).abs() + GAP_FLOOR).all()):
            return attributions, targets, chosen, start
        steps *= 2


def _explanation(model, columns: list[str], per_column: torch.Tensor, targets: torch.Tensor, chosen: torch.Tensor,
                 chosen_baseline: torch.Tensor) -> dict:
    """What every explanation reports: per-column attributions [rows, columns], what was explained, and the
    completeness gap (how far each row's attributions miss output − baseline output)."""
    classification = model.target.is_classification
    explained = [model.classes[i] for i in targets.tolist()] if classification else ["value"] * len(targets)
    return {
        "columns": columns,
        "attributions": per_column.numpy().round(6).tolist(),
        "explained_output": [str(e) for e in explained],
        "output": chosen.numpy().tolist(),
        "baseline_output": chosen_baseline.numpy().tolist(),
        "completeness_gap": float((per_column.sum(dim=1) - (chosen - chosen_baseline)).abs().max()),
        "output_unit": "logit of the predicted class" if classification else "standardised prediction",
    }


def explain_pixels(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    """Integrated gradients over the pixels of an image model's (first) image column. The baseline is the
    image with every pixel the training mean colour (the network's zero after normalising); other columns
    keep their values, so the attributions explain what the picture adds."""
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
    attributions, *outcome = _integrate(model, forward, pixels, baseline, steps, extra, PIXEL_BATCH)
    maps = attributions.sum(dim=1)  # rows × height × width, the channels added up
    return {
        **_explanation(model, [column], maps.sum(dim=(1, 2))[:, None], *outcome),
        "pixels": maps.numpy().round(6).tolist(),
        "overlays": [heat_overlay(image, heat) for image, heat in zip(inputs[key], maps, strict=True)],
    }


def explain_tokens(model, frame: pd.DataFrame, steps: int = STEPS) -> dict:
    """Integrated gradients over the token embeddings of a text model's (first) text column. The baseline
    is the zero vector at every real token's place ("no word"), with the same length, so the attributions
    of a row's tokens add up to what its words add to the output; other columns keep their values."""
    from lamina.insight.embedded_text import embedded_text

    column = next(c.name for c in model.schema.features if c.kind == "text")
    text = embedded_text(model.network.eval(), model.features.transform(frame), column)
    ids, mask = text.ids, text.mask
    attributions, *outcome = _integrate(model, text.forward, text.embedded, torch.zeros_like(text.embedded), steps,
                                        (mask, *text.fixed), TOKEN_BATCH)
    per_token = attributions.sum(dim=2) * mask
    encoder = model.features.encoders[column]
    return {
        **_explanation(model, [column], per_token.sum(dim=1)[:, None], *outcome),
        "tokens": [list(zip(encoder.pieces(row_ids.numpy()), values[:int(row_mask.sum())].numpy().round(6).tolist(),
                            strict=True))
                   for row_ids, row_mask, values in zip(ids, mask, per_token, strict=True)],
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


def explanation_text(result: dict) -> str:
    """The terminal's view of Model.explain's result: each row's strongest attributions (and tokens), then
    permutation importance when the data was labelled, or why there is none."""
    explanation, rows = result["attributions"], result["rows"]
    lines = [f"Integrated gradients ({explanation['output_unit']}; completeness gap "
             f"{explanation['completeness_gap']:.4f}: attributions sum to output − baseline within it)"]
    for position, row in enumerate(rows):
        parts = ", ".join(f"{c} {v:+.3f}" for c, v in top_attributions(explanation, position))
        lines.append(f"  row {row} → {explanation['explained_output'][position]}: {parts}")
        if "tokens" in explanation:
            strongest = sorted(explanation["tokens"][position], key=lambda pair: -abs(pair[1]))[:8]
            lines.append("    tokens: " + ", ".join(f"{piece} {value:+.3f}" for piece, value in strongest))
    importance = result.get("importance")
    if "importance_missing" in result:
        lines.append(f"\nPermutation importance: none; {result['importance_missing']}")
    if importance:
        on = f", on {result['importance_rows']}" if "importance_rows" in result else ""
        lines.append(f"\nPermutation importance ({importance[0]['metric']} lost when a column is shuffled, "
                     f"mean ± std over {importance[0]['repeats']}{on})")
        lines += [f"  {entry['column']:<28} {entry['drop']:+.4f} ± {entry['std']:.4f}" for entry in importance]
    return "\n".join(lines)
