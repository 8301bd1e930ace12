"""A first layer that whitens image patches: a fixed convolution fitted to the data instead of learnt.

airbench (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU") starts its network with a 2 × 2
convolution whose filters are the eigenvectors of the covariance of the training images' 2 × 2 patches, each
divided by the square root of its eigenvalue (and each also negated, so a ReLU after it drops nothing). The layer
decorrelates neighbouring pixels and gives every direction of patch space unit variance, which lets the layers
after it learn at a high rate from the first step (Coates & Ng 2011 found the same for k-means features). The
layer may keep only the strongest directions: the faintest hold little of the images but pixel noise, which
whitening amplifies most, and each direction left out saves two maps the next convolution reads at full resolution.
"""

from __future__ import annotations

import torch
from torch import nn

# Added to each eigenvalue before its inverse square root, in the input's squared units (the inputs are
# normalised to unit variance): it caps the gain of the faintest patch directions, mostly noise (airbench's 5e-4).
WHITENING_EPS = 5e-4


class PatchWhitening(nn.Module):
    """[rows, channels, side, side] floats → [rows, 2 · directions, side − patch + 1, side − patch + 1].

    `directions`: how many directions of patch space are kept, the strongest (largest eigenvalue) first; 0 keeps
    all channels · patch² of them, as models saved before it hold. The filters are fitted once, on the first batch
    the layer sees in training mode (`fit`), and stay fixed: they are buffers, saved with the model and in
    checkpoints, never stepped by the optimiser. A learnt bias per output channel follows them."""

    def __init__(self, channels: int, patch: int, directions: int = 0):
        super().__init__()
        self.patch = patch  # side of the whitened patch, in pixels
        values = channels * patch * patch
        if not 0 <= directions <= values:
            raise ValueError(f"A {channels}-channel {patch} × {patch} patch has {values} directions; got {directions}.")
        self.directions = directions or values
        outputs = 2 * self.directions
        self.register_buffer("weight", torch.zeros(outputs, channels, patch, patch))
        self.register_buffer("fitted", torch.tensor(False))
        self.bias = nn.Parameter(torch.zeros(outputs))

    @property
    def outputs(self) -> int:
        return self.weight.shape[0]

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> None:
        """Sets the filters from the patches of `images` [rows, channels, side, side] (floats, normalised)."""
        with torch.autocast(images.device.type, enabled=False):
            channels, patch = images.shape[1], self.patch
            patches = images.float().unfold(2, patch, 1).unfold(3, patch, 1)  # [rows, c, h, w, patch, patch]
            patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, channels * patch * patch).double()
            covariance = torch.cov(patches.T)
            eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending; columns are the vectors
            filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + WHITENING_EPS).unsqueeze(1))
            filters = filters.flip(0)[:self.directions].reshape(-1, channels, patch, patch)  # strongest first
            self.weight.copy_(torch.cat([filters, -filters]).to(self.weight.dtype))
            self.fitted.fill_(True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.training and not bool(self.fitted):
            self.fit(images)
        return nn.functional.conv2d(images, self.weight, self.bias)


def whitening_biases(module: nn.Module) -> list[nn.Parameter]:
    """The learnt biases of every PatchWhitening layer in `module`, in module order."""
    return [layer.bias for layer in module.modules() if isinstance(layer, PatchWhitening)]
