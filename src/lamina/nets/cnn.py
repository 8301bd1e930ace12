"""Residual CNNs for image columns, and the augmentation they train with.

The backbone follows the ResNet-9 layout that trains CIFAR-10 fast (Myrtle.ai, airbench): a stem (a learnt
convolution, or airbench's fixed patch whitening: nets.whiten), then stages of conv → max-pool with residual blocks,
then global max pooling. Width and depth are parameters;
the number of stages follows the image size. With `pool_first` a stage pools right after its convolution,
before batch norm and ReLU (airbench's order, Jordan 2024): max-pooling commutes with ReLU and with batch
norm's per-channel affine map of positive scale, so the layer computes nearly the same function, while
normalising and activating a quarter of the positions. Augmentation is a module too, so it runs on whole batches
on the training device and is off whenever the network is in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from lamina.nets.whiten import PatchWhitening

MAX_STAGES = 4
MAX_WIDTH_FACTOR = 8  # channels stop doubling at this multiple of the width


def conv_bn_relu(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs),
                         nn.ReLU(inplace=True))


def downsampling(inputs: int, outputs: int, pool_first: bool) -> list[nn.Module]:
    """A stage's entry: conv, batch norm, ReLU and a 2 × 2 max-pool, the pool right after the conv if `pool_first`."""
    if pool_first:
        return [nn.Sequential(nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.MaxPool2d(2),
                              nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))]
    return [conv_bn_relu(inputs, outputs), nn.MaxPool2d(2)]


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.first = conv_bn_relu(channels, channels)
        self.second = conv_bn_relu(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x))


def stage_count(side: int) -> int:
    """Halvings that leave a map of about 4 pixels: 28 → 3 stages (28, 14, 7 → 3), 64 → 4."""
    return max(1, min(MAX_STAGES, round(math.log2(side / 3.5))))


class ResidualCNN(nn.Module):
    """uint8 images [rows, channels, side, side] → one feature vector per image [rows, features].

    `mirror_views`: in eval mode the features are the mean of the image's and its left-right mirror's
    (test-time flip augmentation, as in airbench: Jordan 2024); behind a linear head that is exactly the mean
    of both views' logits. Only for images that training mirrors too (recipe.mirror_keeps_class)."""

    def __init__(self, channels: int, side: int, mean: list[float], std: list[float], width: int, depth: int,
                 mirror_views: bool = False, pool_first: bool = False, whiten: int = 0, whiten_directions: int = 0):
        """`pool_first` (see the module's docstring): False in models saved before it existed. `whiten`: the
        side in pixels of the patches a fixed whitening layer (nets.whiten.PatchWhitening) decorrelates in
        place of the learnt first convolution; 0, what models saved before it hold, keeps the convolution.
        `whiten_directions`: the strongest directions of patch space that layer keeps; 0, what models saved
        before it hold, every one."""
        super().__init__()
        self.mirror_views = mirror_views
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 255)
        if whiten:  # one module, as the convolution's was: the later layers keep their names for --init-from
            whitening = PatchWhitening(channels, whiten, whiten_directions)
            layers: list[nn.Module] = [nn.Sequential(whitening, nn.ReLU(inplace=True))]
            previous = whitening.outputs
        else:
            layers = [conv_bn_relu(channels, width)]
            previous = width
        stages = stage_count(side)
        for stage in range(stages):
            current = width * min(MAX_WIDTH_FACTOR, 2 ** (stage + 1))
            layers += downsampling(previous, current, pool_first)
            # ResNet-9 puts residual blocks on the first and last stages only; deeper nets fill the middle.
            blocks = depth if stage in (0, stages - 1) else depth - 1
            layers += [Residual(current) for _ in range(blocks)]
            previous = current
        self.body = nn.Sequential(*layers)
        self.features = previous
        # Channels-last weights, not only inputs: a one-channel image is contiguous in both layouts, so the
        # convolutions followed the weights' layout, and every eval pass over grey images (validation, test,
        # serving) ran channels-first, where max-pooling costs ten times as much. On 2 CPU threads inference
        # with both mirror views is 2.2× faster for it (BENCHMARKS.md).
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = ((images.float() - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        mirrored = self.mirror_views and not self.training
        if mirrored:  # one pass over both views: eval-mode batch norm treats every image alone
            x = torch.cat([x, x.flip(3)])
        features = torch.amax(self.body(x), dim=(2, 3))
        # [2 · rows, features] → [2, rows, features]: -1 keeps the batch axis dynamic in an ONNX export
        return features.unflatten(0, (2, -1)).mean(0) if mirrored else features


@contextmanager
def one_view(module: nn.Module) -> Iterator[None]:
    """Within the block, `module`'s ResidualCNNs read each image alone in eval mode, without its mirror: half the
    cost of an eval pass. For the validation of each epoch, which only ranks the epochs (the best one is kept); the
    validation, test and served predictions of the trained model read both views."""
    networks = [layer for layer in module.modules() if isinstance(layer, ResidualCNN) and layer.mirror_views]
    for network in networks:
        network.mirror_views = False
    try:
        yield
    finally:
        for network in networks:
            network.mirror_views = True


class Augment(nn.Module):
    """Random crop after zero padding, horizontal flip and cutout, on a uint8 batch; identity in eval mode."""

    def __init__(self, crop_padding: int, flip: bool, cutout: int):
        super().__init__()
        self.crop_padding = crop_padding  # pixels of zero padding before the random crop
        self.flip = flip
        self.cutout = cutout  # side of the zeroed square, in pixels; 0 disables

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return images
        rows, _, height, width = images.shape
        device = images.device
        if self.crop_padding:
            images = self._crop(images, rows, height, width, device)
        if self.flip:
            flipped = torch.rand(rows, device=device) < 0.5
            images = torch.where(flipped.view(-1, 1, 1, 1), images.flip(3), images)
        if self.cutout:
            images = self._cut(images, rows, height, width, device)
        return images

    def _crop(self, images, rows, height, width, device):
        p = self.crop_padding
        padded = nn.functional.pad(images, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (rows, 1, 1), device=device)
        dx = torch.randint(0, 2 * p + 1, (rows, 1, 1), device=device)
        ys = dy + torch.arange(height, device=device).view(1, -1, 1)
        xs = dx + torch.arange(width, device=device).view(1, 1, -1)
        index = torch.arange(rows, device=device).view(-1, 1, 1)
        return padded.permute(0, 2, 3, 1)[index, ys, xs].permute(0, 3, 1, 2)  # one gather, no per-row loop

    def _cut(self, images, rows, height, width, device):
        top = torch.randint(-self.cutout // 2, height - self.cutout // 2, (rows, 1, 1), device=device)
        left = torch.randint(-self.cutout // 2, width - self.cutout // 2, (rows, 1, 1), device=device)
        ys = torch.arange(height, device=device).view(1, -1, 1)
        xs = torch.arange(width, device=device).view(1, 1, -1)
        inside = (ys >= top) & (ys < top + self.cutout) & (xs >= left) & (xs < left + self.cutout)
        return images.masked_fill(inside.unsqueeze(1), 0)
