"""A network with a backbone per image, text or molecule column: the table encoder reads every other column, the
backbones' feature vectors join its output, and a linear head decides.

`backbones` (one per column of the kind the architecture reads) is what transfer learning carries from
one model to the next; `backbone` builds one from that column's spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn

from lamina.nets.mlp import TableInputs, column_of, module_key


class ColumnNetwork(nn.Module):
    def __init__(self, spec: dict, outputs: int, reads: Literal["image", "text", "molecule"],
                 backbone: Callable[[dict], nn.Module], dropout: float, augment: nn.Module | None = None,
                 bf16_on_cpu: bool = False, part: str | None = None):
        """`part`: the inputs' prefix when it is not `reads` (a molecule column's "fingerprint")."""
        super().__init__()
        self.reads = reads
        self.part = part or reads
        self.bf16_on_cpu = bf16_on_cpu  # whether bf16 autocast pays on CPUs with bf16 units
        # Text columns read by text backbones leave the table encoder's mean embeddings out.
        self.table = TableInputs({**spec, "texts": {}} if reads == "text" else spec)
        self.augment = augment or nn.Identity()  # training-time changes to the backbones' inputs
        self.backbones = nn.ModuleDict({module_key(name): backbone(s) for name, s in spec[f"{reads}s"].items()})
        features = self.table.encoded_width + sum(b.features for b in self.backbones.values())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, outputs))

    def forward(self, inputs: dict[str, torch.Tensor], given: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """`given`: some backbones' outputs [rows, features] by module key, computed outside (explanations
        integrate along a backbone's embeddings and finish its pass themselves)."""
        given = given or {}
        parts = [self.table.encode(inputs)] if self.table.encoded_width else []
        for key, backbone in self.backbones.items():
            parts.append(given[key] if key in given else backbone(self.augment(inputs[f"{self.part}:{column_of(key)}"])))
        return self.head(torch.cat(parts, dim=1).float())
