"""The test images a classifier got wrong with the most confidence: where to look first for label noise,
look-alike classes and blind spots. Stored as small PNGs in the run folder for the report."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from lamina.data.schema import PICTURE_KINDS
from lamina.evaluation.plots import png_base64

MAX_SHOWN = 16  # images in the report's grid
THUMBNAIL_SIDE = 96  # pixels; small images are scaled up (nearest neighbour) so they can be seen


def confident_mistakes(model, test: pd.DataFrame, outputs: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Up to MAX_SHOWN wrong test predictions, most confident first, each with its image as a PNG."""
    columns = [c.name for c in model.schema.features if c.kind in PICTURE_KINDS]
    if not columns or not model.target.is_classification:
        return []
    predicted = outputs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    chosen = wrong[np.argsort(-outputs[wrong, predicted[wrong]], kind="stable")][:MAX_SHOWN]
    images = model.features.encoders[columns[0]].transform(test[columns[0]].iloc[chosen])
    classes = model.classes
    return [{
        "row": int(row), "truth": str(classes[truth[row]]), "predicted": str(classes[predicted[row]]),
        "confidence": float(outputs[row, predicted[row]]),
        "png": png_base64(image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy(), THUMBNAIL_SIDE),
    } for row, image in zip(chosen, images, strict=True)]


def mistakes_html(mistakes: list[dict]) -> str:
    if not mistakes:
        return "<h2>Most confidently wrong test images</h2><p>No test image was misclassified.</p>"
    cells = "".join(
        f"<figure><img src='data:image/png;base64,{m['png']}' alt='test row {m['row']}'>"
        f"<figcaption>true <b>{escape(m['truth'])}</b><br>predicted {escape(m['predicted'])} "
        f"({m['confidence']:.0%})</figcaption></figure>"
        for m in mistakes
    )
    return ("<h2>Most confidently wrong test images</h2><p>The test images the model misclassified with the "
            "highest confidence: look here for mislabelled images and classes that look alike.</p>"
            f"<div class='mistakes'>{cells}</div>")
