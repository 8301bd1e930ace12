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
    named: dict[str, list[Path]] = {}
    for run in runs:
        named.setdefault(_name(run), []).append(run)
    clashes = [f"{', '.join(repr(r.name) for r in folders)} (all served as {name!r})"
               for name, folders in named.items() if len(folders) > 1]
    if clashes:
        raise LaminaError(f"Runs under {path} would share a URL name: {'; '.join(clashes)}. Rename all but one of "
                          "each, so every run is served (a name keeps letters, digits, '-' and '_').")
    return {name: Model.load(folders[0]) for name, folders in named.items()}


def _name(folder: Path) -> str:
    name = folder.resolve().name
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name) or "model"
