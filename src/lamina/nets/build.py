"""Architectures registered by name: schema spec + hyperparameters → nn.Module.

A later kind of data adds an entry here; `tests/test_nets.py` runs forward and backward over all.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lamina.errors import LaminaError, did_you_mean

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def decorate(builder):
        ARCHITECTURES[name] = builder
        return builder

    return decorate


@register("mlp")
def _build_mlp(spec: dict, outputs: int, width: int, depth: int, dropout: float, norm: str) -> nn.Module:
    from lamina.nets.mlp import TabularMLP

    return TabularMLP(spec, outputs, width, depth, dropout, norm)


@register("resnet")
def _build_resnet(spec: dict, outputs: int, width: int, depth: int, dropout: float, crop_padding: int,
                  flip: bool, cutout: int) -> nn.Module:
    from lamina.nets.cnn import ImageNetwork, ResidualCNN

    def backbone(image: dict) -> nn.Module:
        return ResidualCNN(image["channels"], image["size"], image["mean"], image["std"], width, depth)

    return ImageNetwork(spec, outputs, backbone, dropout, crop_padding, flip, cutout)


@register("resnet18")
def _build_resnet18(spec: dict, outputs: int, dropout: float, crop_padding: int, flip: bool,
                    cutout: int) -> nn.Module:
    """torchvision's ResNet-18 layout and names, to start from a ResNet-18 state dict on disk."""
    from lamina.nets.cnn import ImageNetwork
    from lamina.nets.resnet18 import ResNet18

    def backbone(image: dict) -> nn.Module:
        return ResNet18(image["channels"], image["mean"], image["std"])

    return ImageNetwork(spec, outputs, backbone, dropout, crop_padding, flip, cutout)


def build_network(name: str, spec: dict, outputs: int, **hyperparameters) -> nn.Module:
    if name not in ARCHITECTURES:
        raise LaminaError(
            f"Unknown architecture {name!r}.{did_you_mean(name, ARCHITECTURES)} "
            f"Registered: {', '.join(sorted(ARCHITECTURES))}."
        )
    return ARCHITECTURES[name](spec, outputs, **hyperparameters)
