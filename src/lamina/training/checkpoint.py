"""Checkpoints as safetensors + JSON metadata, written atomically; nothing is ever pickled.

A checkpoint is one file: tensors under prefixed names (`model.`, `optim.<name>.` for each named
optimiser, `best.`, `rng.`) and a JSON document in the safetensors metadata for everything that is not
a tensor (each optimiser's scalars and parameter groups under "optimizers", its schedule under
"schedules"). Checkpoints from before named optimisers hold one under `optim.`, "optimizer" and "schedule".
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lamina.errors import LaminaError

META_KEY = "lamina"


class DamagedCheckpoint(LaminaError):
    """A checkpoint file that is missing, truncated, emptied or not a lamina checkpoint at all."""


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
    """(tensors, JSON metadata) of a checkpoint. A file that cannot be read whole (missing, truncated, emptied,
    random bytes, metadata that is not JSON) raises DamagedCheckpoint naming it."""
    if not Path(path).is_file():
        raise DamagedCheckpoint(f"The checkpoint {path} is missing.")
    try:
        with safe_open(str(path), framework="pt") as stream:
            meta = json.loads((stream.metadata() or {}).get(META_KEY, "{}"))
            tensors = {name: stream.get_tensor(name) for name in stream.keys()}
    except (SafetensorError, OSError, ValueError) as error:  # ValueError: JSONDecodeError is one
        raise DamagedCheckpoint(f"The checkpoint {path} is damaged ({type(error).__name__}: {str(error)[:200]}).") \
            from None
    if not isinstance(meta, dict):
        raise DamagedCheckpoint(f"The checkpoint {path} is damaged (its metadata is not a JSON object).")
    return tensors, meta


def metadata(path: Path) -> dict:
    """A checkpoint's JSON metadata, read from its header alone (no tensor is loaded). Raises DamagedCheckpoint
    as `read` does."""
    if not Path(path).is_file():
        raise DamagedCheckpoint(f"The checkpoint {path} is missing.")
    try:
        with safe_open(str(path), framework="pt") as stream:
            meta = json.loads((stream.metadata() or {}).get(META_KEY, "{}"))
    except (SafetensorError, OSError, ValueError) as error:
        raise DamagedCheckpoint(f"The checkpoint {path} is damaged ({type(error).__name__}: {str(error)[:200]}).") \
            from None
    if not isinstance(meta, dict):
        raise DamagedCheckpoint(f"The checkpoint {path} is damaged (its metadata is not a JSON object).")
    return meta


def changes(recorded, current, where: str = "") -> list[str]:
    """'key: recorded → current' for each leaf that differs between two JSON values (dicts compared key by key),
    so a refused resume can say what changed."""
    if isinstance(recorded, dict) and isinstance(current, dict):
        return [change for key in sorted(set(recorded) | set(current), key=str)
                for change in changes(recorded.get(key), current.get(key), f"{where}.{key}" if where else str(key))]
    return [] if recorded == current else [f"{where}: {recorded!r} → {current!r}"]


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


def flatten_optimizers(optimizers: dict, schedules: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Named optimisers and their schedules (or None) → tensors under `optim.<name>.` + JSON meta entries."""
    tensors, meta = {}, {"optimizers": {}, "schedules": {}}
    for name, optimizer in optimizers.items():
        optim_tensors, meta["optimizers"][name] = flatten_optimizer(optimizer.state_dict())
        tensors.update(with_prefix(f"optim.{name}", optim_tensors))
        schedule = schedules[name]
        meta["schedules"][name] = schedule.state_dict() if schedule is not None else None
    return tensors, meta


def optimizer_states(tensors: dict[str, torch.Tensor], meta: dict,
                     single: str) -> dict[str, tuple[dict, dict | None]]:
    """name → (optimiser state_dict, schedule state_dict or None). A checkpoint written before optimisers
    had names (a run interrupted before an upgrade) holds one, read as the optimiser named `single`."""
    if "optimizers" not in meta:
        return {single: (unflatten_optimizer(under_prefix("optim", tensors), meta["optimizer"]), meta["schedule"])}
    return {
        name: (unflatten_optimizer(under_prefix(f"optim.{name}", tensors), optim_meta), meta["schedules"][name])
        for name, optim_meta in meta["optimizers"].items()
    }
