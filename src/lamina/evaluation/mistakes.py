"""The test rows a classifier got wrong with the most confidence: where to look first for label noise,
look-alike classes and blind spots. Each is kept with what a reader needs to judge it: its image (a small
PNG) for image and audio models, its text for text models. Stored in the run folder for the report."""

from __future__ import annotations

from html import escape
from pathlib import PurePath

import numpy as np
import pandas as pd

from lamina.data.schema import PICTURE_KINDS
from lamina.evaluation.document import Table, block_html, number
from lamina.evaluation.plots import png_base64

MAX_SHOWN = 16  # rows in the report
THUMBNAIL_SIDE = 96  # pixels; small images are scaled up (nearest neighbour) so they can be seen
TEXT_SHOWN = 400  # characters of a text kept; the rest is cut with an ellipsis
SHOWN_KINDS = (*PICTURE_KINDS, "text")


def shows_mistakes(model) -> bool:
    """Whether the model's mistakes can be shown: a classifier reading an image, a sound or a text."""
    return model.target.is_classification and any(c.kind in SHOWN_KINDS for c in model.schema.features)


def confident_mistakes(model, test: pd.DataFrame, outputs: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Up to MAX_SHOWN wrong test predictions, most confident first, each with its image or text. `outputs`
    [rows, classes] and `truth` [rows] follow `test`'s rows; a mistake's `row` is the test row's label, as
    test_predictions.csv's `row` names it (tasks.table.with_row_keys), and `file` the picture's path where it
    was read from one."""
    if not shows_mistakes(model):
        return []
    column = next(c for c in model.schema.features if c.kind in SHOWN_KINDS)
    predicted = outputs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != truth)
    chosen = wrong[np.argsort(-outputs[wrong, predicted[wrong]], kind="stable")][:MAX_SHOWN]
    classes = model.classes
    mistakes = [{"row": _row_key(test.index[row]), "truth": str(classes[truth[row]]),
                 "predicted": str(classes[predicted[row]]), "confidence": float(outputs[row, predicted[row]])}
                for row in chosen]
    values = test[column.name].iloc[chosen]
    if column.kind in PICTURE_KINDS:  # where the picture came from a file, its path (test_predictions.csv has it too)
        for mistake, value in zip(mistakes, values, strict=True):
            if isinstance(value, str):
                mistake["file"] = value
    if column.kind == "text":
        for mistake, text in zip(mistakes, values, strict=True):
            text = "" if pd.isna(text) else str(text)
            mistake["text"] = text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + "…"
        return mistakes
    for mistake, image in zip(mistakes, model.features.encoders[column.name].transform(values), strict=True):
        mistake["png"] = png_base64(image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy(),
                                    THUMBNAIL_SIDE)
    return mistakes


def _row_key(label):
    """A row label as JSON holds it: an integer position as a number, any other label as its text."""
    return int(label) if isinstance(label, (int, np.integer)) else str(label)


def mistakes_html(mistakes: list[dict]) -> str:
    """The report's section on the rows in mistakes.json (a file, so every value is escaped)."""
    if mistakes and "text" in mistakes[0]:
        return _texts_html(mistakes)
    if not mistakes:
        return "<h2>Most confidently wrong test rows</h2><p>No test row was misclassified.</p>"
    cells = "".join(
        f"<figure><img src='data:image/png;base64,{escape(str(m['png']))}' alt='test row {escape(str(m['row']))}'>"
        f"<figcaption>true <b>{escape(str(m['truth']))}</b><br>predicted {escape(str(m['predicted']))} "
        f"({escape(_confidence(m))})<br>{_place(m)}</figcaption></figure>"
        for m in mistakes
    )
    return ("<h2>Most confidently wrong test images</h2><p>The test images the model misclassified with the "
            "highest confidence: look here for mislabelled images and classes that look alike.</p>"
            f"<div class='mistakes'>{cells}</div>")


def _place(mistake: dict) -> str:
    """Where a shown picture is: its file's folder and name (the whole path on hover), or its test row."""
    if "file" not in mistake:
        return f"test row {escape(str(mistake['row']))}"
    path = PurePath(str(mistake["file"]))
    return f"<span title='{escape(str(path))}'>{escape(str(PurePath(path.parent.name, path.name)))}</span>"


def _texts_html(mistakes: list[dict]) -> str:
    rows = [[m["row"], m["text"], m["truth"], m["predicted"], _confidence(m)] for m in mistakes]
    return ("<h2>Most confidently wrong test texts</h2><p>The test texts the model misclassified with the highest "
            "confidence: look here for mislabelled rows, sarcasm, negation and topics the training data lacked.</p>"
            + block_html(Table(["test row", "text", "true", "predicted", "confidence"], rows)))


def _confidence(mistake: dict) -> str:
    return number(mistake["confidence"], digits=0, percent=True)
