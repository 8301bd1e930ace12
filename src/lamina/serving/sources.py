"""Find the models to serve: a run folder, a model folder, or a folder holding several runs."""

from __future__ import annotations

from pathlib import Path

from lamina.errors import LaminaError
from lamina.model import MODEL_FILE, Model


def find_models(path: Path) -> dict:
    """name → Model. A single run or model is named after its folder; a folder of runs serves each."""
    if not path.is_dir():
        raise LaminaError(f"{path} is not a folder. Give a run folder, a model folder or a folder of runs.")
    if (path / MODEL_FILE).exists() or (path / "model" / MODEL_FILE).exists():
        return {_name(path): Model.load(path)}
    runs = sorted(p for p in path.iterdir() if (p / "model" / MODEL_FILE).exists() or (p / MODEL_FILE).exists())
    if not runs:
        raise LaminaError(f"No model under {path}: expected model.json in it, in its model/ folder, or in subfolders.")
    return {_name(run): Model.load(run) for run in runs}


def _name(folder: Path) -> str:
    name = folder.resolve().name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "model"
