"""Transfer learning: start a network's backbone from weights trained before.

The source is a lamina run or model folder, a `.safetensors` state dict on disk (for example a
backbone saved from torchvision or timm), or a pretrained Hugging Face text model (a folder, or `minilm`). Weights are read with safetensors only: nothing is unpickled,
and nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lamina.errors import LaminaError

BACKBONE_PREFIX = "backbones."
FITTED_FLAG = ".fitted"  # the buffer a layer fitted to data once keeps to say so (nets.whiten.PatchWhitening)
# The buffers a network normalises its input by (a picture network's pixel mean and spread, a speech network's
# frame mean and spread): fitted on the data it trains on and recorded in its model.json, so never the source's.
INPUT_STATISTICS = (".mean", ".std")


def load_backbone(network: nn.Module, source: str) -> list[nn.Parameter]:
    """Copies every backbone tensor of `source` whose name and shape match into `network`; the head and
    anything that differs keep their fresh initialisation (a whitening layer whose filters differ fits itself again
    on the first batch it trains on). Returns the parameters that were filled."""
    from lamina.nets.pretrained import pretrained_folder

    weights = _read_weights(pretrained_folder(source) or Path(source))
    own = network.state_dict()
    backbones = getattr(network, "backbones", {})
    if not backbones:
        raise LaminaError(f"--init-from {source}: this network has no backbone to start from weights.")
    prefixes = {key: getattr(backbone, "bare_prefix", "") for key, backbone in backbones.items()}
    learnt = {name for name, _ in network.named_parameters()}
    matched = {}
    for name, tensor in weights.items():
        for candidate in _names_in(name, prefixes):
            if candidate in own:
                adapted = _fitted(tensor, own[candidate].shape, candidate in learnt)
                if adapted is not None:
                    matched[candidate] = adapted
    # A layer fitted to data (nets.whiten.PatchWhitening: its `fitted` flag beside its `weight` filters) comes whole or
    # not at all: a flag without its filters, which differ in shape, would keep zero filters as if they were fitted.
    matched = {name: tensor for name, tensor in matched.items()
               if not name.endswith(FITTED_FLAG) or name.removesuffix(FITTED_FLAG) + ".weight" in matched}
    matched = {name: tensor for name, tensor in matched.items() if not name.endswith(INPUT_STATISTICS)}
    if not any(".weight" in name for name in matched):
        shapes = ", ".join(f"{n} {tuple(t.shape)}" for n, t in list(weights.items())[:3])
        raise LaminaError(
            f"--init-from {source}: none of its weights fit this network's backbone (first ones: {shapes}). "
            "Train with the same architecture, width, depth, image channels as the source model."
        )
    network.load_state_dict(matched, strict=False)
    filled = {name for name in matched}
    return [p for name, p in network.named_parameters() if name in filled]


def _fitted(tensor: torch.Tensor, shape: torch.Size, learnt: bool) -> torch.Tensor | None:
    """The tensor if it fits; a colour stem's learnt filters summed over their 3 input channels for grey images
    (what timm does: a grey pixel is the same value in R, G and B); None when it does not fit. A buffer is never
    summed: it holds statistics of colour, not of a grey pixel."""
    if tensor.shape == shape:
        return tensor
    if learnt and tensor.dim() == 4 and tensor.shape[1] == 3 and shape[1] == 1 and tensor.shape[2:] == shape[2:] \
            and tensor.shape[0] == shape[0]:
        return tensor.sum(dim=1, keepdim=True)
    return None


def _names_in(name: str, prefixes: dict[str, str]) -> list[str]:
    """Where a source tensor may land: the same name (a lamina model), or, for a bare backbone state
    dict, the same name under each of this network's backbones (below the backbone's `bare_prefix`,
    where it wraps a foreign module such as a Hugging Face encoder)."""
    if name.startswith(BACKBONE_PREFIX):
        rest = name.split(".", 2)[2]
        return [f"{BACKBONE_PREFIX}{column}.{rest}" for column in prefixes]
    return [f"{BACKBONE_PREFIX}{column}.{prefix}{name}" for column, prefix in prefixes.items()]


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if path.is_dir():
        candidates = [path / "model" / "weights.safetensors", path / "weights.safetensors", path / "model.safetensors"]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise LaminaError(f"--init-from {path}: no lamina model (weights.safetensors) or Hugging Face model "
                              "(model.safetensors) in this folder.")
        path = found
    elif not path.exists():
        raise LaminaError(f"--init-from {path}: no such file or folder.")
    elif path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        raise LaminaError(
            f"--init-from {path}: {path.suffix} files are Python pickles, which lamina never loads (a pickle "
            "can run code). Convert it once where you trust the file: python -c \"import torch; "
            "from safetensors.torch import save_file; "
            f"save_file(torch.load('{path.name}', weights_only=True), '{path.stem}.safetensors')\""
        )
    try:
        return load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for a bad header
        raise LaminaError(f"--init-from {path}: not a readable safetensors file ({error}).") from None
