"""A multi-layer perceptron over a table: embeddings for categories and text, then dense blocks."""

from __future__ import annotations

import torch
from torch import nn

TEXT_EMBEDDING = 32  # dimensions of the mean word embedding of a text column


def embedding_size(cardinality: int) -> int:
    """fastai's rule of thumb: grows like cardinality^0.56, capped so rare columns stay cheap."""
    return int(min(64, round(1.6 * cardinality**0.56)))


class TableInputs(nn.Module):
    """Numbers, category embeddings and mean text embeddings → one continuous vector per row."""

    def __init__(self, spec: dict):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_size(n)) for n in spec["categories"])
        self.texts = nn.ModuleDict({
            module_key(name): nn.EmbeddingBag(text["vocabulary"], TEXT_EMBEDDING, mode="mean", padding_idx=text["pad"])
            for name, text in spec["texts"].items()
        })
        self.encoded_width = spec["numbers"] + sum(e.embedding_dim for e in self.embeddings) \
            + TEXT_EMBEDDING * len(self.texts)

    def encode(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inputs → one continuous vector per row: numbers, then category embeddings, then text means."""
        parts = [inputs["numbers"]]
        categories = inputs["categories"]
        parts += [embedding(categories[:, i]) for i, embedding in enumerate(self.embeddings)]
        parts += [bag(inputs[f"text:{column_of(key)}"]) for key, bag in self.texts.items()]
        return torch.cat(parts, dim=1)

    def encoding_widths(self, numbers: list[int]) -> list[int]:
        """Width of each input column's part of the encoded vector, in input order, given the widths of
        the numeric columns (which the feature pipeline knows)."""
        return [*numbers, *(e.embedding_dim for e in self.embeddings), *(TEXT_EMBEDDING for _ in self.texts)]


class TabularMLP(TableInputs):
    def __init__(self, spec: dict, outputs: int, width: int, depth: int, dropout: float, norm: str):
        super().__init__(spec)
        features = self.encoded_width
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(features, width), _norm(norm, width), nn.ReLU(), nn.Dropout(dropout)]
            features = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(features, outputs)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decide(self.encode(inputs))

    def decide(self, encoded: torch.Tensor) -> torch.Tensor:
        """Encoded vector → outputs (logits, or a standardised value). Explanations differentiate this."""
        return self.head(self.body(encoded))


def _norm(kind: str, width: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(width), "layer": lambda: nn.LayerNorm(width), "none": nn.Identity}[kind]()


# ModuleDict keys may not contain dots; column names may.
def module_key(column: str) -> str:
    return column.replace(".", "\u2024")


def column_of(key: str) -> str:
    return key.replace("\u2024", ".")
