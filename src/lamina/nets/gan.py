"""A DCGAN-style generator and discriminator (Radford et al. 2016), sized from the image side and channels,
with the stabilisers that made GANs train without tuning: spectral normalisation of every discriminator layer
(Miyato et al. 2018), the hinge loss (its training step is the task's: tasks/generate.py), a projection
discriminator for classes (Miyato & Koyama 2018) beside a class embedding concatenated to the generator's
noise, and an exponential moving average of the generator's weights that samples are drawn from (Yazıcı et
al. 2019).

Images enter and leave the networks as floats in [-1, 1]; `GAN.sample` turns them into uint8 pixels.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

MAX_STAGES = 4  # up- and downsamplings; channels double at each (from `width`)
MIN_START = 4  # pixels: the generator's first map is at least this wide


def stages_for(side: int) -> tuple[int, int]:
    """(stages, start): `stages` doublings from a `start`-pixel map reach at least `side` pixels; the side itself
    when it halves evenly (28 = 7·2², 64 = 4·2⁴), else the next size up, cropped."""
    stages = 0
    while stages < MAX_STAGES and side % 2 ** (stages + 1) == 0 and side // 2 ** (stages + 1) >= MIN_START:
        stages += 1
    if stages == 0:  # an odd side: upsample from a small map and crop the centre
        stages = max(1, min(MAX_STAGES, (side // MIN_START).bit_length() - 1))
    return stages, -(-side // 2**stages)


class Generator(nn.Module):
    """noise [rows, latent] (and class indices [rows]) → images [rows, channels, side, side] in [-1, 1]."""

    def __init__(self, latent: int, channels: int, side: int, width: int, classes: int):
        super().__init__()
        self.side = side
        stages, self.start = stages_for(side)
        widths = [width * 2 ** (stages - i) for i in range(stages + 1)]  # e.g. 128, 64, 32 for width 32, 2 stages
        # Conditioning: a class embedding as wide as the noise, concatenated to it.
        self.embed = nn.Embedding(classes, latent) if classes else None
        inputs = latent * (2 if classes else 1)
        self.project = nn.Sequential(nn.Linear(inputs, widths[0] * self.start**2, bias=False),
                                     nn.Unflatten(1, (widths[0], self.start, self.start)),
                                     nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers: list[nn.Module] = []
        for before, after in zip(widths, widths[1:], strict=False):
            layers += [nn.ConvTranspose2d(before, after, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(after),
                       nn.ReLU()]
        layers += [nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            noise = torch.cat([noise, self.embed(labels)], dim=1)
        images = self.body(self.project(noise))
        cut = (images.shape[-1] - self.side) // 2
        return images[..., cut:cut + self.side, cut:cut + self.side]


class Discriminator(nn.Module):
    """images [rows, channels, side, side] in [-1, 1] (and class indices [rows]) → a realness score [rows]."""

    def __init__(self, channels: int, side: int, width: int, classes: int):
        super().__init__()
        stages, _ = stages_for(side)
        end = side // 2**stages  # the side of the last map (each stride-2 convolution halves, rounding down)
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, width, 3, padding=1)), nn.LeakyReLU(0.2)]
        current = width
        for stage in range(stages):
            after = width * 2 ** (stage + 1)
            layers += [spectral_norm(nn.Conv2d(current, after, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            current = after
        self.body = nn.Sequential(*layers, nn.Flatten())
        features = current * end**2 + 1
        self.score = spectral_norm(nn.Linear(features, 1))
        self.embed = spectral_norm(nn.Embedding(classes, features)) if classes else None  # the projection

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # The last map whole, as DCGAN reads it, not pooled: pooling makes the score blind to where things are,
        # and a generator could then draw every image at one place (mode collapse the score does not see).
        features = self.body(images)
        # Minibatch standard deviation (Karras et al. 2018): how much the batch's images differ, as one more
        # feature, so that a generator drawing one image over and over (mode collapse) is told apart from data.
        spread = features.std(dim=0, unbiased=False).mean() if len(features) > 1 else features.new_zeros(())
        features = torch.cat([features, spread.expand(len(features), 1)], dim=1)
        score = self.score(features).squeeze(1)
        if self.embed is not None:  # projection: the inner product of the class's vector and the features
            score = score + (self.embed(labels) * features).sum(dim=1)
        return score


class GAN(nn.Module):
    """Both players and the moving average of the generator, in one module so that one state dict (one
    checkpoint, one weights file) holds them all.

    `forward(inputs)` scores generated images with the discriminator ({"noise": [rows, latent], "labels": [rows]}
    → [rows]): the generator's training signal, through both players. `sample` draws images from the average."""

    def __init__(self, latent: int, channels: int, side: int, width: int, classes: int, ema_decay: float):
        super().__init__()
        self.latent, self.classes, self.ema_decay = latent, classes, ema_decay
        self.generator = Generator(latent, channels, side, width, classes)
        self.discriminator = Discriminator(channels, side, width, classes)
        self.average = copy.deepcopy(self.generator).requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.int64))  # generator steps averaged so far
        # (discriminator loss, generator loss, steps) summed over the epoch so far: kept in the state dict, so a
        # run resumed mid-epoch reports the same epoch means as one never stopped.
        self.register_buffer("losses", torch.zeros(3))

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        labels = inputs.get("labels") if self.classes else None
        return self.discriminator(self.generator(inputs["noise"], labels), labels)

    @torch.no_grad()
    def update_average(self) -> None:
        """After a generator step: average ← d·average + (1 − d)·generator, with d = min(ema_decay,
        (1 + t) / (10 + t)) at update t, so that the average follows closely while the generator changes fast
        early on (TensorFlow's ExponentialMovingAverage with num_updates). Batch-norm statistics are copied."""
        self.updates += 1
        t = float(self.updates)
        decay = min(self.ema_decay, (1 + t) / (10 + t))
        for average, current in zip(self.average.parameters(), self.generator.parameters(), strict=True):
            average.lerp_(current.detach(), 1 - decay)
        for average, current in zip(self.average.buffers(), self.generator.buffers(), strict=True):
            average.copy_(current)

    @torch.no_grad()
    def sample(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 images [rows, channels, side, side] from the averaged generator (in eval mode: batch norm uses
        its running statistics, so an image does not depend on the others drawn with it)."""
        self.average.eval()
        images = self.average(noise, labels if self.classes else None).float()
        return ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
