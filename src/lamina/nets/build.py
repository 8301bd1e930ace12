"""The one registry of architectures: (input family, name) → builder(spec, outputs, **hyperparameters).

An input family is what a task feeds its networks: "table" (a dict of encoded columns: numbers, categories,
texts, images) or "series" (history windows [rows, lookback, channels]). Each entry registers an example
(spec and small hyperparameters) beside its definition, so `tests/test_nets.py` runs forward and backward over
every entry, a new one included, without a hand-kept table. Each entry also declares its search space for
`lamina tune`: the config settings of its own size (width, depth, dropout) beside the training ones every entry
shares (TRAINING_SPACE), as config.Dimension ranges keyed by setting name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from lamina.config import Dimension
from lamina.errors import LaminaError, did_you_mean

TABLE_EXAMPLE = {"numbers": 5, "categories": [4, 7], "images": {},
                 "texts": {"review.text": {"vocabulary": 50, "pad": 0, "length": 9}}}
IMAGE_EXAMPLE = {**TABLE_EXAMPLE,
                 "images": {"photo.file": {"channels": 3, "size": 12, "mean": [0.5, 0.4, 0.3], "std": [0.2] * 3}}}
MOLECULE_EXAMPLE = {**TABLE_EXAMPLE, "molecules": {"smiles": {"atom_codes": [5, 4, 3], "bond_codes": [4, 3],
                                                               "fingerprint_bits": 32}}}
SERIES_EXAMPLE = {"lookback": 10, "channels": 3, "horizon": 4}  # outputs: targets forecast at each step
INTERACTIONS_EXAMPLE = {"users": 7, "items": 11}  # vocabulary sizes; outputs: one score per (user, item) pair
LATENT_EXAMPLE = {"side": 12, "channels": 3, "classes": 4}  # generated images; classes 0: unconditional
# translation: token vocabularies (outputs: the target vocabulary) and the longest sentences, in tokens
PAIRS_EXAMPLE = {"source_vocabulary": 3, "target_vocabulary": 3, "shared": True, "max_source": 7, "max_target": 5}
FRAMES_EXAMPLE = {"mels": 8, "frames": 20, "mean": 0.4, "std": 0.2}  # log-mel frames; outputs: characters + blank


# What every architecture's training searches in `lamina tune`: peak AdamW learning rate (per step), rows per
# step, decoupled L2 strength. An architecture's own space adds its sizes and may narrow these.
TRAINING_SPACE = {"lr": Dimension(low=1e-4, high=1e-2, log=True), "batch_size": Dimension(choices=[64, 128, 256, 512]),
                  "weight_decay": Dimension(low=1e-6, high=1e-2, log=True)}
DROPOUT = Dimension(low=0.0, high=0.5)  # probability of zeroing a unit in training


@dataclass
class Architecture:
    builder: Callable[..., nn.Module]
    reads: str  # the input family
    example: tuple[dict, dict]  # (spec, hyperparameters) of a small instance, for the registry's test
    space: dict[str, Dimension]  # its own settings' search ranges for `lamina tune`, beside TRAINING_SPACE


ARCHITECTURES: dict[tuple[str, str], Architecture] = {}


def register(name: str, example: tuple[dict, dict], reads: str = "table", space: dict[str, Dimension] | None = None):
    def decorate(builder):
        ARCHITECTURES[(reads, name)] = Architecture(builder, reads, example, space or {})
        return builder

    return decorate


def search_space(name: str, reads: str = "table") -> dict[str, Dimension]:
    """The settings `lamina tune` searches for the registered architecture `name`, by config setting name."""
    if (reads, name) not in ARCHITECTURES:
        registered = names(reads)
        raise LaminaError(f"Unknown architecture {name!r}.{did_you_mean(name, registered)} "
                          f"Registered: {', '.join(registered)}.")
    return {**TRAINING_SPACE, **ARCHITECTURES[(reads, name)].space}


def names(reads: str) -> list[str]:
    return sorted(name for family, name in ARCHITECTURES if family == reads)


def example_batch(reads: str, spec: dict, outputs: int, rows: int = 6) -> tuple[object, tuple[int, ...]]:
    """Random inputs of the family for `spec`, and the output shape a network must give for them."""
    if reads == "series":
        return torch.randn(rows, spec["lookback"], spec["channels"]), (rows, spec["horizon"], outputs)
    if reads == "latent":  # a GAN: noise and class indices → the discriminator's score of its images
        noise = {"noise": torch.randn(rows, 8), "labels": torch.randint(0, max(1, spec["classes"]), (rows,))}
        return noise, (rows,)
    if reads == "pairs":  # right-padded source ids, and target_in (BOS first) in the `outputs` target ids
        lengths = torch.arange(rows) % spec["max_source"] + 1
        source = torch.randint(1, spec["source_vocabulary"], (rows, spec["max_source"]))
        source = source * (torch.arange(spec["max_source"]) < lengths.unsqueeze(1))
        target_in = torch.randint(1, outputs, (rows, spec["max_target"]))
        target_in[:, 0] = 1  # BOS
        return {"source": source, "target_in": target_in}, (rows, spec["max_target"], outputs)
    if reads == "frames":  # speech: uint8 log-mel frames, rows right-padded → per-frame log-probabilities
        from lamina.nets.ctc import subsampled

        lengths = torch.arange(rows) % 3 * 3 + spec["frames"] - 6  # rows of different lengths, the longest full
        lengths[0] = spec["frames"]
        frames = torch.randint(0, 256, (rows, spec["frames"], spec["mels"]), dtype=torch.uint8)
        return {"frames": frames, "lengths": lengths}, (rows, int(subsampled(torch.tensor(spec["frames"]))), outputs)
    if reads == "interactions":
        pairs = {"users": torch.randint(0, spec["users"], (rows,)), "items": torch.randint(0, spec["items"], (rows,))}
        return pairs, (rows,)
    length = spec["texts"]["review.text"]["length"]
    inputs = {
        "numbers": torch.randn(rows, spec["numbers"]),
        "categories": torch.stack([torch.randint(0, n, (rows,)) for n in spec["categories"]], dim=1),
        # Right-padded like the tokenizer's output: rows of 1 to `length` tokens.
        "text:review.text": torch.randint(1, 50, (rows, length))
        * (torch.arange(length) < torch.arange(1, rows + 1).view(-1, 1) % (length + 1)),
    }
    for name, image in spec["images"].items():
        inputs[f"image:{name}"] = torch.randint(0, 256, (rows, image["channels"], image["size"], image["size"]),
                                                dtype=torch.uint8)
    for name, molecule in spec.get("molecules", {}).items():
        from lamina.nets.graph import example_inputs

        inputs.update(example_inputs(name, molecule, rows))
    return inputs, (rows, outputs)


@register("mlp", (TABLE_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1, "norm": "batch", "numbers": "plr",
                                 "members": 3, "plr_scores": [0, 3], "plr_unread": [1], "wide": True,
                                 "linear_share": 0.25}),
          space={"width": Dimension(low=32, high=512, log=True), "depth": Dimension(low=1, high=4), "dropout": DROPOUT})
def _build_mlp(spec: dict, outputs: int, width: int, depth: int, dropout: float,
               norm: Literal["batch", "layer", "none"], numbers: Literal["plain", "plr"] = "plain",
               members: int = 1, plr_scores: list[int] | None = None, plr_unread: list[int] = (),
               wide: bool = False, linear_share: float = 0.0) -> nn.Module:
    """`numbers`: "plr" embeds the numeric floats at `plr_scores` (the columns' normal scores) periodically
    (nets.mlp.TableInputs); `plr_scores` None, what models saved with "plr" before it existed hold, embeds every
    numeric float; `plr_unread`: floats the network does not read (the scores' rank pieces); "plain", what models
    saved before the embeddings still hold, reads them as they are.
    `members` > 1: a TabM-mini ensemble of that many members (nets.mlp.TabularMLP); 1, what models saved before
    it hold, one network. `wide`: a linear path beside the dense blocks (wide and deep); False, what models saved
    before it hold, none. `linear_share` > 0: a frozen linear model blended into the outputs with that share
    (training.linear_share); 0, what models saved before it hold, none."""
    from lamina.nets.mlp import TabularMLP

    return TabularMLP(spec, outputs, width, depth, dropout, norm, numbers, members, plr_scores, plr_unread, wide,
                      linear_share)


@register("resnet", (IMAGE_EXAMPLE, {"width": 4, "depth": 2, "dropout": 0.1, "crop_padding": 2, "flip": True,
                                    "cutout": 4, "pool_first": True, "whiten": 2,
                                    "whiten_directions": 12}),
          space={"width": Dimension(choices=[8, 16, 32]), "depth": Dimension(low=1, high=2),
                 "dropout": Dimension(low=0.0, high=0.3), "batch_size": Dimension(choices=[64, 128, 256])})
def _build_resnet(spec: dict, outputs: int, width: int, depth: int, dropout: float, crop_padding: int,
                  flip: bool, cutout: int, pool_first: bool = False, whiten: int = 0,
                  whiten_directions: int = 0) -> nn.Module:
    """`pool_first`, `whiten`, `whiten_directions` (nets.cnn.ResidualCNN): models saved before them have none,
    pooled after the ReLU, learnt their first convolution, or whitened every direction of a patch."""
    from lamina.nets.cnn import ResidualCNN

    def backbone(image: dict) -> nn.Module:
        return ResidualCNN(image["channels"], image["size"], image["mean"], image["std"], width, depth,
                           mirror_views=flip, pool_first=pool_first, whiten=whiten,
                           whiten_directions=whiten_directions)

    return _image_network(spec, outputs, backbone, dropout, crop_padding, flip, cutout)


@register("resnet18", (IMAGE_EXAMPLE, {"dropout": 0.1, "crop_padding": 2, "flip": True, "cutout": 4}),
          space={"dropout": Dimension(low=0.0, high=0.3), "batch_size": Dimension(choices=[64, 128, 256])})
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


# width is also the tokens' embedding size; text trains in small batches (recipe.TEXT_BATCH)
TEXT_SPACE = {"width": Dimension(low=32, high=256, log=True), "depth": Dimension(low=1, high=2), "dropout": DROPOUT,
              "batch_size": Dimension(choices=[32, 64, 128])}
register("gru", (TABLE_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1}), space=TEXT_SPACE)(_recurrent("gru"))
register("lstm", (TABLE_EXAMPLE, {"width": 8, "depth": 1, "dropout": 0.1}), space=TEXT_SPACE)(_recurrent("lstm"))


@register("transformer", (TABLE_EXAMPLE, {"width": 16, "depth": 2, "dropout": 0.1}),
          space={**TEXT_SPACE, "width": Dimension(choices=[64, 128, 256]), "depth": Dimension(low=1, high=4)})
def _build_transformer(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    """A small Transformer encoder per text column: `width` model dimensions, `depth` layers."""
    from lamina.nets.columns import ColumnNetwork
    from lamina.nets.transformer import TransformerText

    return ColumnNetwork(spec, outputs, "text", lambda text: TransformerText(text, width, depth, dropout), dropout)


@register("pretrained", (TABLE_EXAMPLE, {"dropout": 0.1, "config": {
    "model_type": "bert", "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 32, "max_position_embeddings": 16, "pad_token_id": 0}}),
          # fine-tuning: BERT's recommended rates and batches (Devlin et al. 2019)
          space={"lr": Dimension(low=2e-5, high=1e-4, log=True), "batch_size": Dimension(choices=[16, 32]),
                 "dropout": Dimension(low=0.0, high=0.3)})
def _build_pretrained(spec: dict, outputs: int, config: dict, dropout: float) -> nn.Module:
    """A Hugging Face encoder described by `config` (its config.json) per text column; the weights come
    from --init-from or from the saved model."""
    from lamina.nets.columns import ColumnNetwork
    from lamina.nets.pretrained import PretrainedText

    return ColumnNetwork(spec, outputs, "text", lambda text: PretrainedText(text, config), dropout)


# ---- autoencoders: a table's encoded columns → each column's reconstruction error [rows, columns] ----

@register("autoencoder", ({**IMAGE_EXAMPLE, "numbers": 3, "categories": [4]},
                          {"dense_widths": [3], "width": 8, "code": 2, "dropout": 0.1}), reads="reconstruct")
def _build_autoencoder(spec: dict, outputs: int, dense_widths: list[int], width: int, code: int,
                       dropout: float) -> nn.Module:
    """`outputs`: the columns it reconstructs; `width` hidden units (and convolution channels), `code`
    bottleneck dimensions, `dropout` the share of input floats zeroed in training (nets/autoencoder.py)."""
    from lamina.nets.autoencoder import TableAutoencoder

    return TableAutoencoder(spec, outputs, dense_widths, width, code, dropout)


# ---- molecules: a network per molecule column (nets/graph.py), beside the table encoder ----

def _graph(layout: str):
    def build(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
        """`width` dimensions per atom, bond and hidden vector, `depth` message-passing layers."""
        from lamina.nets.columns import ColumnNetwork
        from lamina.nets.graph import GraphEncoder

        return ColumnNetwork(spec, outputs, "molecule", lambda m: GraphEncoder(m, layout, width, depth, dropout),
                             dropout)

    return build


# width: dimensions per atom/bond/hidden vector; depth: message-passing layers (fingerprint: dense layers)
GRAPH_SPACE = {"width": Dimension(low=32, high=256, log=True), "depth": Dimension(low=2, high=5), "dropout": DROPOUT}
register("gine", (MOLECULE_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1}), space=GRAPH_SPACE)(_graph("gine"))
register("attentivefp", (MOLECULE_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1}),
         space=GRAPH_SPACE)(_graph("attentivefp"))


@register("fingerprint", (MOLECULE_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1}),
          space={**GRAPH_SPACE, "depth": Dimension(low=1, high=3)})
def _build_fingerprint(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    """An MLP over each molecule's Morgan fingerprint bits: `width` units in each of `depth` layers."""
    from lamina.nets.columns import ColumnNetwork
    from lamina.nets.graph import FingerprintMLP

    return ColumnNetwork(spec, outputs, "molecule",
                         lambda m: FingerprintMLP(m["fingerprint_bits"], width, depth, dropout), dropout,
                         part="fingerprint")


# ---- forecasters: windows [rows, lookback, channels] → [rows, horizon, targets], relative to the last step ----

@register("linear", (SERIES_EXAMPLE, {}), reads="series")
def _build_series_linear(spec: dict, outputs: int) -> nn.Module:
    from lamina.nets.forecasters import RelativeToLastStep, WindowLinear

    core = WindowLinear(spec["lookback"], spec["channels"], spec["horizon"] * outputs)
    return RelativeToLastStep(core, spec["horizon"], outputs)


SERIES_SPACE = {"width": Dimension(low=16, high=256, log=True), "depth": Dimension(low=1, high=3), "dropout": DROPOUT}


@register("mlp", (SERIES_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1}), reads="series", space=SERIES_SPACE)
def _build_series_mlp(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    """`width` hidden units in each of `depth` layers."""
    from lamina.nets.forecasters import RelativeToLastStep, WindowMLP

    core = WindowMLP(spec["lookback"], spec["channels"], spec["horizon"] * outputs, width, depth, dropout)
    return RelativeToLastStep(core, spec["horizon"], outputs)


def _recurrent_forecaster(cell: str):
    def build(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
        """`width` hidden units per layer, `depth` stacked layers."""
        from lamina.nets.forecasters import RecurrentEncoder, RelativeToLastStep

        core = RecurrentEncoder(cell, spec["channels"], spec["horizon"] * outputs, width, depth, dropout)
        return RelativeToLastStep(core, spec["horizon"], outputs)

    return build


register("gru", (SERIES_EXAMPLE, {"width": 8, "depth": 2, "dropout": 0.1}), reads="series",
         space=SERIES_SPACE)(_recurrent_forecaster("gru"))
register("lstm", (SERIES_EXAMPLE, {"width": 8, "depth": 1, "dropout": 0.1}), reads="series",
         space=SERIES_SPACE)(_recurrent_forecaster("lstm"))


# ---- recommenders: {"users", "items"} indices [rows] → a score per pair [rows] (nets/recommenders.py) ----

@register("mf", (INTERACTIONS_EXAMPLE, {"factors": 4}), reads="interactions",
          space={"width": Dimension(low=8, high=128, log=True)})  # --width sets the factors: the embedding size
def _build_matrix_factorisation(spec: dict, outputs: int, factors: int) -> nn.Module:
    """`factors` dimensions per user and item vector, with a bias per user and per item."""
    from lamina.nets.recommenders import MatrixFactorisation

    return MatrixFactorisation(spec["users"], spec["items"], factors)


@register("two-tower", (INTERACTIONS_EXAMPLE, {"width": 8, "depth": 1, "dropout": 0.1}), reads="interactions",
          space={"width": Dimension(low=16, high=256, log=True), "depth": Dimension(low=1, high=2), "dropout": DROPOUT})
def _build_two_tower(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    """User and item embeddings of `width` dimensions, beside their side features when the spec has
    `user_features` / `item_features`, each through `depth` hidden layers, scored by dot product."""
    from lamina.nets.recommenders import TwoTower

    return TwoTower(spec["users"], spec["items"], width, depth, dropout, spec.get("user_features"),
                    spec.get("item_features"))


# ---- generators: noise (and classes) → images (nets/gan.py) -------------------------------------------------

@register("dcgan", (LATENT_EXAMPLE, {"width": 4, "latent": 8, "ema_decay": 0.999}), reads="latent")
def _build_dcgan(spec: dict, outputs: int, width: int, latent: int, ema_decay: float) -> nn.Module:
    """A DCGAN generator and spectral-norm discriminator of `width` channels at full size (doubling at each
    halving), noise of `latent` dimensions, and the generator's moving average (`ema_decay` per step)."""
    from lamina.nets.gan import GAN

    return GAN(latent, spec["channels"], spec["side"], width, spec["classes"], ema_decay)


# ---- translation: {"source", "target_in"} ids → next-token logits [rows, target length, outputs] (nets/seq2seq.py) ----

def _seq2seq_vocabularies(spec: dict, outputs: int) -> tuple[int, int]:
    if outputs != spec["target_vocabulary"] or (spec["shared"] and spec["source_vocabulary"] != outputs):
        raise ValueError(f"A seq2seq network's outputs ({outputs}) are its target vocabulary "
                         f"({spec['target_vocabulary']}), the source's too when shared ({spec['source_vocabulary']}).")
    return spec["source_vocabulary"], outputs


SEQ2SEQ_SPACE = {"width": Dimension(choices=[128, 256, 512]), "depth": Dimension(low=1, high=4), "dropout": DROPOUT}


@register("transformer", (PAIRS_EXAMPLE, {"width": 16, "depth": 2, "dropout": 0.1, "heads": 2}), reads="pairs",
          space={**SEQ2SEQ_SPACE, "lr": Dimension(low=2e-4, high=2e-3, log=True)})
def _build_seq2seq_transformer(spec: dict, outputs: int, width: int, depth: int, dropout: float,
                               heads: int) -> nn.Module:
    """A pre-norm Transformer encoder-decoder: `width` model dimensions, `depth` layers on each side, `heads`
    attention heads; embeddings tied (all three when `spec["shared"]`)."""
    from lamina.nets.seq2seq import TransformerSeq2Seq

    return TransformerSeq2Seq(*_seq2seq_vocabularies(spec, outputs), spec["shared"], width, depth, heads, dropout)


@register("gru", ({**PAIRS_EXAMPLE, "source_vocabulary": 11, "shared": False},
                  {"width": 8, "depth": 2, "dropout": 0.1}), reads="pairs", space=SEQ2SEQ_SPACE)
def _build_seq2seq_gru(spec: dict, outputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    """A bidirectional GRU encoder and an attentive GRU decoder: `width` units per direction, `depth` layers."""
    from lamina.nets.seq2seq import GRUSeq2Seq

    return GRUSeq2Seq(*_seq2seq_vocabularies(spec, outputs), spec["shared"], width, depth, dropout)
# ---- speech: log-mel frames → per-frame character log-probabilities for CTC (nets/ctc.py) ----------------------

def _recognizer(layout: str):
    def build(spec: dict, outputs: int, channels: int, width: int, depth: int, dropout: float) -> nn.Module:
        """`channels` maps in the two subsampling convolutions, `width` units (a GRU direction, or the
        Transformer's dimensions), `depth` layers, `dropout` the share of units zeroed in training; `outputs`
        characters with the CTC blank."""
        from lamina.nets.ctc import GRURecognizer, TransformerRecognizer

        recognizer = GRURecognizer if layout == "gru" else TransformerRecognizer
        return recognizer(spec["mels"], spec["mean"], spec["std"], outputs, channels, width, depth, dropout)

    return build


SPEECH_SPACE = {"width": Dimension(low=64, high=256, log=True), "depth": Dimension(low=1, high=3), "dropout": DROPOUT,
                "batch_size": Dimension(choices=[16, 32, 64])}
register("ctc-gru", (FRAMES_EXAMPLE, {"channels": 4, "width": 8, "depth": 2, "dropout": 0.1}), reads="frames",
         space=SPEECH_SPACE)(_recognizer("gru"))
register("ctc-transformer", (FRAMES_EXAMPLE, {"channels": 4, "width": 8, "depth": 2, "dropout": 0.1}),
         reads="frames", space=SPEECH_SPACE)(_recognizer("transformer"))


def check_hyperparameters(name: str, reads: str, hyperparameters: dict) -> None:
    """Raises Fault (a ValueError) naming the first hyperparameter of the registered architecture `name` that is
    missing, unknown, or of another type or value than its builder declares (a width of "64" or 64.5, a dropout
    of "high", a norm it does not know); an architecture this registry does not hold is its task's to check."""
    import inspect
    import typing

    from pydantic import ConfigDict, create_model

    from lamina.checked import checked

    if (reads, name) not in ARCHITECTURES:
        return
    builder = ARCHITECTURES[(reads, name)].builder
    hints = typing.get_type_hints(builder)
    declared = list(inspect.signature(builder).parameters.values())[2:]  # after (spec, outputs)
    fields = {p.name: (hints[p.name], ... if p.default is p.empty else p.default) for p in declared}
    strict = create_model(f"{name}_hyperparameters", __config__=ConfigDict(strict=True, extra="forbid"), **fields)
    checked(strict, hyperparameters, "architecture.hyperparameters")


def build_network(name: str, spec: dict, outputs: int, reads: str = "table", **hyperparameters) -> nn.Module:
    """The network `name` of the input family `reads` for inputs described by `spec`, with `outputs` outputs
    (classes, 1 for a number, or targets per step for a forecaster)."""
    if (reads, name) not in ARCHITECTURES:
        registered = names(reads)
        raise LaminaError(f"Unknown architecture {name!r}.{did_you_mean(name, registered)} "
                          f"Registered: {', '.join(registered)}.")
    return ARCHITECTURES[(reads, name)].builder(spec, outputs, **hyperparameters)
