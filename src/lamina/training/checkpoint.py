"""Checkpoints as safetensors + JSON metadata, written atomically; nothing is ever pickled.

A checkpoint is one file: tensors under prefixed names (`model.`, `optim.`, `best.`, `rng.`) and a
JSON document in the safetensors metadata for everything that is not a tensor.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

META_KEY = "lamina"


def write_atomically(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over `path`.

    A crash at any moment leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(plain, temporary, metadata={META_KEY: json.dumps(meta)})
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes files private; a model is meant to be shared
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(path), framework="pt") as stream:
        meta = json.loads((stream.metadata() or {}).get(META_KEY, "{}"))
        tensors = {name: stream.get_tensor(name) for name in stream.keys()}
    return tensors, meta


def with_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{name}": tensor for name, tensor in tensors.items()}


def under_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    start = f"{prefix}."
    return {name[len(start):]: t for name, t in tensors.items() if name.startswith(start)}


def flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """torch's optimizer state_dict → tensors + JSON (per-parameter scalars go to JSON)."""
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for flat, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = flat.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}
