"""Autoencoders for anomaly detection: a row is squeezed through a narrow code and rebuilt; what the code cannot
rebuild is unusual. The network's output is each column's reconstruction error [rows, columns], in the order
dense columns, category columns, image columns (the feature pipeline's order; text is not reconstructed):

- a dense column (numbers, dates, flags: normal scores and piecewise ranks): the mean squared error over its floats;
- a category column: the cross-entropy of its value (nats), predicted from the code;
- an image column: the mean squared error over its normalised pixels, rebuilt by a convolutional autoencoder.

The training loss is the sum over columns, averaged over rows (tasks/anomaly.py). A denoising autoencoder
(Vincent et al., 2008) for the table part: its inputs are dropped out in training, so the code cannot copy them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

from lamina.nets.mlp import TableInputs, module_key


class TableAutoencoder(nn.Module):
    """`spec`: the feature pipeline's (numbers, categories, images; texts ignored); `dense_widths`: the floats
    of each dense column, in order; `width`: hidden units (and convolution channels); `code`: dimensions of
    the bottleneck; `dropout`: probability of zeroing an input float in training."""

    def __init__(self, spec: dict, outputs: int, dense_widths: list[int], width: int, code: int, dropout: float):
        super().__init__()
        if sum(dense_widths) != spec["numbers"]:
            raise ValueError(f"dense_widths {dense_widths} add up to {sum(dense_widths)}, not numbers {spec['numbers']}")
        columns = len(dense_widths) + len(spec["categories"]) + len(spec["images"])
        if outputs != columns:
            raise ValueError(f"an autoencoder of {columns} columns gives {columns} errors a row, not {outputs}")
        self.dense_widths = list(dense_widths)
        self.cardinalities = list(spec["categories"])
        self.inputs = TableInputs({**spec, "texts": {}})
        tabular = self.inputs.encoded_width
        self.table = None
        if tabular:
            self.table = nn.ModuleDict({
                "encoder": nn.Sequential(nn.Dropout(dropout), nn.Linear(tabular, width), nn.ReLU(),
                                         nn.Linear(width, code)),
                "decoder": nn.Sequential(nn.ReLU(), nn.Linear(code, width), nn.ReLU(),
                                         nn.Linear(width, spec["numbers"] + sum(self.cardinalities))),
            })
        self.images = nn.ModuleDict({module_key(name): ConvAutoencoder(image, width, code)
                                     for name, image in spec["images"].items()})
        self.image_names = list(spec["images"])

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        errors = []
        if self.table is not None:
            encoded = self.inputs.encode(inputs)
            rebuilt = self.table["decoder"](self.table["encoder"](encoded))
            numbers = inputs["numbers"]
            start = 0
            for width in self.dense_widths:
                part = slice(start, start + width)
                errors.append(((rebuilt[:, part].float() - numbers[:, part]) ** 2).mean(dim=1))
                start += width
            for index, cardinality in enumerate(self.cardinalities):
                logits = rebuilt[:, start:start + cardinality].float()
                errors.append(functional.cross_entropy(logits, inputs["categories"][:, index], reduction="none"))
                start += cardinality
        for name in self.image_names:
            errors.append(self.images[module_key(name)](inputs[f"image:{name}"]))
        return torch.stack(errors, dim=1)


class ConvAutoencoder(nn.Module):
    """uint8 images [rows, channels, size, size] → each image's mean squared error over its normalised pixels
    [rows]. Two stride-2 convolutions (`width`, 2·`width` channels), a linear `code`, and their mirror."""

    def __init__(self, image: dict, width: int, code: int):
        super().__init__()
        channels, self.size = image["channels"], image["size"]
        self.register_buffer("mean", torch.tensor(image["mean"], dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(image["std"], dtype=torch.float32).view(1, -1, 1, 1))
        self.inner = (self.size + 3) // 4  # side after two stride-2 convolutions (padding 1, kernel 3)
        flat = 2 * width * self.inner ** 2
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(flat, code))
        self.expand = nn.Sequential(nn.ReLU(), nn.Linear(code, flat), nn.ReLU())
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1))
        self.width = width

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        normalised = (pixels.float() / 255.0 - self.mean) / self.std
        grid = self.expand(self.encoder(normalised)).view(-1, 2 * self.width, self.inner, self.inner)
        rebuilt = self.decoder(grid)[:, :, :self.size, :self.size]  # 4·inner ≥ size: crop the overhang
        return ((rebuilt.float() - normalised) ** 2).mean(dim=(1, 2, 3))
