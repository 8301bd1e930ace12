"""Export a model's network to ONNX (dynamic batch) and run it with onnxruntime.

Preprocessing stays in lamina (the same fitted encoders); only the network runs in ONNX Runtime.
An export is checked against PyTorch on held-out rows and refused past MAX_DIFFERENCE.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.errors import LaminaError

ONNX_FILE = "model.onnx"
MAX_DIFFERENCE = 1e-4  # largest |onnx − torch| output accepted, in the network's output unit (logits)


class _Positional(torch.nn.Module):
    """ONNX takes tensors by position; the network takes a dict. Keys keep the pipeline's order."""

    def __init__(self, network: torch.nn.Module, keys: list[str]):
        super().__init__()
        self.network, self.keys = network, keys

    def forward(self, *tensors):
        return self.network(dict(zip(self.keys, tensors, strict=True)))


def export_onnx(model, directory: Path, rows: pd.DataFrame) -> tuple[Path, float]:
    """Writes directory/model.onnx and returns it with the max |difference| from PyTorch on `rows`."""
    if getattr(model.network, "reads", None) == "text":
        # Sequence models cut each batch to its longest row and pack it: shapes that depend on the data.
        raise LaminaError(
            f"ONNX export of text sequence models ({model.architecture['arch']}) is not supported yet. Serve the "
            "model with `lamina serve`, or train with --arch mlp (mean subword embeddings) to export it."
        )
    inputs = model.features.transform(rows)
    keys = list(inputs)
    network = model.network.eval()
    wrapper = _Positional(network, keys).eval()
    batch = torch.export.Dim("batch")
    path = Path(directory) / ONNX_FILE
    example = tuple(inputs.values())
    # The exporter warns about torchvision operators it cannot register; lamina uses none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        torch.onnx.export(wrapper, example, str(path), input_names=[_name(k) for k in keys],
                          output_names=["outputs"], dynamic_shapes=(tuple({0: batch} for _ in keys),), dynamo=True,
                          verbose=False)
    except Exception as error:  # the exporter raises many types; the user needs the message
        raise LaminaError(f"ONNX export of architecture {model.architecture['arch']!r} failed: {error}") from None
    with torch.no_grad():
        expected = network(inputs).numpy()
    difference = float(np.abs(run_onnx(path, inputs) - expected).max())
    if difference > MAX_DIFFERENCE:
        path.unlink()
        raise LaminaError(f"The ONNX export differs from PyTorch by {difference:.2e} (over {MAX_DIFFERENCE}); not kept.")
    return path, difference


def run_onnx(path: Path, inputs: dict[str, torch.Tensor]) -> np.ndarray:

    session = _session(str(path))
    feeds = {_name(k): v.numpy() for k, v in inputs.items()}
    return session.run(["outputs"], feeds)[0]


_SESSIONS: dict[str, object] = {}  # "path@mtime" → onnxruntime session


def _session(path: str):
    """One onnxruntime session per file per process: creating one costs far more than a prediction."""
    import onnxruntime

    key = f"{path}@{Path(path).stat().st_mtime_ns}"  # a re-export gets a fresh session
    if key not in _SESSIONS:
        _SESSIONS[key] = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return _SESSIONS[key]


def _name(key: str) -> str:
    return key.replace(":", "__")
