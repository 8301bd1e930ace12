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
    from lamina.nets.cnn import ResidualCNN

    def backbone(image: dict) -> nn.Module:
        return ResidualCNN(image["channels"], image["size"], image["mean"], image["std"], width, depth)

    return _image_network(spec, outputs, backbone, dropout, crop_padding, flip, cutout)


@register("resnet18")
def _build_resnet18(spec: dict, outputs: int, dropout: float, crop_padding: int, flip: bool,
                    cutout: int) -> nn.Module:
    """torchvision's ResNet-18 layout and names, to start from a ResNet-18 state dict on disk."""
    from lamina.nets.resnet18 import ResNet18

    def backbone(image: dict) -> nn.Module:
        return ResNet18(image["channels"], image["mean"], image["std"])

    return _image_network(spec, outputs, backbone, dropout, crop_padding, flip, cutout)


def _image_network(spec, outputs, backbone, dropout, crop_padding, flip, cutout) -> nn.Module:
    from lamina.nets.cnn import Augment
    from lamina.nets.columns import ColumnNetwork

    # Convolutions run about twice as fast in bf16 on CPUs with AMX or AVX-512 BF16.
    return ColumnNetwork(spec, outputs, "image", backbone, dropout, Augment(crop_padding, flip, cutout),
                         bf16_on_cpu=True)


def _recurrent(cell: str):
    def build(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
        """A bidirectional GRU or LSTM over each text column: `width` hidden units per direction (and
        embedding dimensions), `depth` stacked layers, attention pooling."""
        from lamina.nets.columns import ColumnNetwork
        from lamina.nets.rnn import RecurrentText

        def backbone(text: dict) -> nn.Module:
            return RecurrentText(text, cell, width, width, depth, dropout)

        return ColumnNetwork(spec, outputs, "text", backbone, dropout)

    return build


register("gru")(_recurrent("gru"))
register("lstm")(_recurrent("lstm"))


@register("transformer")
def _build_transformer(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    """A small Transformer encoder per text column: `width` model dimensions, `depth` layers."""
    from lamina.nets.columns import ColumnNetwork
    from lamina.nets.transformer import TransformerText

    return ColumnNetwork(spec, outputs, "text", lambda text: TransformerText(text, width, depth, dropout), dropout)


@register("pretrained")
def _build_pretrained(spec: dict, outputs: int, config: dict, dropout: float) -> nn.Module:
    """A Hugging Face encoder described by `config` (its config.json) per text column; the weights come
    from --init-from or from the saved model."""
    from lamina.nets.columns import ColumnNetwork
    from lamina.nets.pretrained import PretrainedText

    return ColumnNetwork(spec, outputs, "text", lambda text: PretrainedText(text, config), dropout)


def build_network(name: str, spec: dict, outputs: int, **hyperparameters) -> nn.Module:
    if name not in ARCHITECTURES:
        raise LaminaError(
            f"Unknown architecture {name!r}.{did_you_mean(name, ARCHITECTURES)} "
            f"Registered: {', '.join(sorted(ARCHITECTURES))}."
        )
    return ARCHITECTURES[name](spec, outputs, **hyperparameters)
