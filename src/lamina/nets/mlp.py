"""A multi-layer perceptron over a table: embeddings for categories and text, then dense blocks."""

from __future__ import annotations

import torch
from torch import nn

TEXT_EMBEDDING = 32  # dimensions of the mean word embedding of a text column
# PLR numeric embeddings (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular Deep Learning"):
PLR_FREQUENCIES = 16  # learnt frequencies per input float (each gives a cosine and a sine)
PLR_DIMENSIONS = 8  # floats each input float becomes after the shared linear layer and ReLU
PLR_SCALE = 0.1  # standard deviation of the initial frequencies, in cycles per normal-score unit


def embedding_size(cardinality: int) -> int:
    """fastai's rule of thumb: grows like cardinality^0.56, capped so rare columns stay cheap."""
    return int(min(64, round(1.6 * cardinality**0.56)))


class TableInputs(nn.Module):
    """Numbers, category embeddings and mean text embeddings → one continuous vector per row.

    `numbers`: "plain" passes the numeric floats as they are; "plr" gives each float a periodic embedding
    (PLR-lite: learnt-frequency cosines and sines, one linear layer shared by every float, ReLU), which lets the
    MLP after it fit sharp, non-monotonic responses to a number (rtdl-num-embeddings' PeriodicEmbeddings).
    """

    def __init__(self, spec: dict, numbers: str = "plain"):
        super().__init__()
        self.periodic = None
        if numbers == "plr" and spec["numbers"]:
            from rtdl_num_embeddings import PeriodicEmbeddings

            self.periodic = PeriodicEmbeddings(spec["numbers"], PLR_DIMENSIONS, n_frequencies=PLR_FREQUENCIES,
                                               frequency_init_scale=PLR_SCALE, lite=True)
        self.number_width = PLR_DIMENSIONS if self.periodic is not None else 1  # floats per numeric input float
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_size(n)) for n in spec["categories"])
        self.texts = nn.ModuleDict({
            module_key(name): nn.EmbeddingBag(text["vocabulary"], TEXT_EMBEDDING, mode="mean", padding_idx=text["pad"])
            for name, text in spec["texts"].items()
        })
        self.encoded_width = spec["numbers"] * self.number_width + sum(e.embedding_dim for e in self.embeddings) \
            + TEXT_EMBEDDING * len(self.texts)

    def encode(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inputs → one continuous vector per row: numbers, then category embeddings, then text means."""
        numbers = inputs["numbers"]
        parts = [numbers if self.periodic is None else self.periodic(numbers).flatten(1)]
        categories = inputs["categories"]
        parts += [embedding(categories[:, i]) for i, embedding in enumerate(self.embeddings)]
        parts += [bag(inputs[f"text:{column_of(key)}"]) for key, bag in self.texts.items()]
        return torch.cat(parts, dim=1)

    def encoding_widths(self, numbers: list[int]) -> list[int]:
        """Width of each input column's part of the encoded vector, in input order, given the widths of
        the numeric columns (which the feature pipeline knows)."""
        return [*(width * self.number_width for width in numbers), *(e.embedding_dim for e in self.embeddings), *(TEXT_EMBEDDING for _ in self.texts)]


class TabularMLP(TableInputs):
    def __init__(self, spec: dict, outputs: int, width: int, depth: int, dropout: float, norm: str,
                 numbers: str = "plain"):
        super().__init__(spec, numbers)
        features = self.encoded_width
        layers: list[nn.Module] = []
        for _ in range(depth):
            dense = nn.Linear(features, width)
            if norm == "batch":
                # The norm subtracts the batch mean, so a bias before it gets only rounding noise as gradient, which
                # Adam scales up to learning-rate-sized steps that move the eval-mode outputs: a run then depended
                # on the thread count its sums were taken with. Held at its initial value instead (kept, not
                # removed, so saved models keep their tensors and the random initialisation stays the same).
                dense.bias.requires_grad_(False)
            layers += [dense, _norm(norm, width), nn.ReLU(), nn.Dropout(dropout)]
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
