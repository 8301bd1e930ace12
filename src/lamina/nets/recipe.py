"""The recipe: which architecture and which hyperparameters a dataset gets when the config says "auto".

Every choice here is a default a user can override in the config; the resolved values are stored in
the model's architecture, so a model file always says exactly what was trained.
"""

from __future__ import annotations

import math

import torch

from lamina.config import ModelConfig, TrainConfig
from lamina.errors import LaminaError

IMAGE_ARCHITECTURES = ("resnet", "resnet18")
SIZED_ARCHITECTURES = ("resnet",)  # image architectures whose width and depth are parameters
TEXT_ARCHITECTURES = ("gru", "lstm", "transformer", "pretrained")
MOLECULE_ARCHITECTURES = ("attentivefp", "gine", "fingerprint")
FINGERPRINT_ROWS = 200  # training molecules below which auto picks the fingerprint MLP over a graph network
MOLECULE_DEFAULTS = {  # width and depth as ModelConfig describes them
    "attentivefp": {"width": 200, "depth": 2, "dropout": 0.2},  # Xiong et al. 2020's ESOL setting
    "gine": {"width": 128, "depth": 4, "dropout": 0.1},
    "fingerprint": {"width": 512, "depth": 2, "dropout": 0.3},
}
MLP_DEFAULTS = {"width": 256, "depth": 3, "dropout": 0.3}
# Under SMALL_TABLE_ROWS training rows the mlp drops more units: on scikit-learn's diabetes (300 training rows)
# dropout 0.5 took test R² from 0.28 to 0.38 (ridge regression 0.42), breast cancer's accuracy from 0.965 to 0.977
# and wine's from 0.983 to 0.994 (means of 5 seeds, bench/small_tables.py).
SMALL_TABLE_ROWS = 1000
SMALL_TABLE_MLP = {"dropout": 0.5}
# How the mlp reads numeric floats (nets.mlp.TableInputs): "plain", or "plr" (a periodic embedding of each column's
# normal score, Gorishniy et al. 2022), which the recipe gives tables of PLR_ROWS training rows or more. Measured
# (BENCHMARKS.md): UCI Adult (27,000 training rows) 0.8656 against 0.8579 accuracy (3 seeds, the same CPU); the fraud
# claims (10,500) PR-AUC 0.231 / 0.229 against 0.183 / 0.214 (2 seeds); but scikit-learn's small tables (150–1,300)
# lost 0.03–0.06 accuracy and 0.26 R² with it: the embeddings overfit a few hundred rows.
PLR_ROWS = 10_000
# TabM-mini ensemble members of the mlp (nets.mlp.TabularMLP), `members` in the config, and its linear ("wide") path
# beside the dense blocks (`wide`), both given to tables under ENSEMBLE_TABLE_ROWS training rows. Members not under DP-SGD
# (its per-row clipping knows no adapters), in federated clients or several processes (they train one network:
# federated, tasks.table); the wide path not under DP-SGD or in federated clients (unmeasured there). On scikit-learn's
# small tables over 5 seeds (bench/small_tables.py, BENCHMARKS.md) 8 members with the wide path took diabetes' test R²
# from 0.375 to 0.410 and the demo's split (one thread) from 0.9298 to 0.9737, wine 0.9944 both, breast cancer 0.9807
# to 0.9772 (2 test rows over the 5 seeds); the wide path alone did little (0.376, 0.9474), 16 members no more than 8.
# Larger tables keep one network: on UCI Adult 8 members (width 64) gave 0.8598 against 0.8582 at 1.5× the CPU.
TABLE_MEMBERS = 1
SMALL_TABLE_MEMBERS = 8
SMALL_TABLE_WIDE = True
# Training rows below which a table gets the members, the wide path and cross-fitting (CROSS_FIT_FOLDS), measured
# against one network on the same rows (bench/table_sizes.py, 3 seeds, 1 thread, BENCHMARKS.md): UCI Adult sampled to
# 1,275 training rows 0.8223 → 0.8439 accuracy (12 s against 2 s), to 4,250 0.8439 → 0.8523 (34 s against 8), to
# 8,500 only 0.8536 → 0.8562 (58 s against 10: the line is drawn below it); Adult's `age` as a regression target at
# 2,550 rows R² 0.422 → 0.466; scikit-learn's digits (1,221 rows, 10 seeds) 0.9739 → 0.9767.
ENSEMBLE_TABLE_ROWS = 5000
# Folds of cross-fitted members (training.crossfit) where the recipe gives members (under ENSEMBLE_TABLE_ROWS training
# rows): the validation rows join the training rows, member m leaves out fold m mod CROSS_FIT_FOLDS, and the epoch and
# the calibration are judged on the out-of-fold predictions of every row. On scikit-learn's small tables over 20 seeds
# (bench/small_tables.py and BENCHMARKS.md) 4 folds took breast cancer's test accuracy from 0.9755 to 0.9785, wine's
# from 0.9764 to 0.9819 and diabetes' R² from 0.458 to 0.462, with a lower log loss; over seeds 0-4, 2 folds and 8 (one
# member each) did worse than 4 on breast cancer (0.9737, 0.9772 against 0.9807).
CROSS_FIT_FOLDS = 4
# Where a regressor's members are cross-fitted (out-of-fold predictions of every row to judge it on), a ridge
# regression on the number, date and category columns is blended into the outputs, an even blend unless another share is
# clearly better out of fold (training.linear_share.choose_share; `linear_share` auto, a number in [0, 1] fixes it).
# On scikit-learn's diabetes (bench/small_tables.py, BENCHMARKS.md) it took test R² from 0.406 to 0.419 over seeds 0-4
# (ridge 0.419) and from 0.480 to 0.487 over seeds 5-19 (ridge 0.480). Classifiers get no share by default: a logistic
# regression blended into the logits the same way lowered the test log loss but cost accuracy over seeds 0-19 (breast
# cancer 0.9785 → 0.9776, log loss 0.069 → 0.066; wine 0.9819 → 0.9792, 0.054 → 0.049; logistic alone 0.980, 0.983).
TEXT_DEFAULTS = {  # per text architecture; width and depth as ModelConfig describes them
    "gru": {"width": 128, "depth": 1, "dropout": 0.3},
    "lstm": {"width": 128, "depth": 1, "dropout": 0.3},
    "transformer": {"width": 128, "depth": 2, "dropout": 0.1},
    "pretrained": {"dropout": 0.1},
}
LEARNING_RATE = 2e-3  # AdamW peak, per step
FINE_TUNING_RATE = 5e-5  # pretrained encoders: within BERT's recommended 2e-5…5e-5, higher forgets pretraining
# ResNet-9 layout at a quarter of its CIFAR width: 93% on Fashion-MNIST in minutes on a laptop CPU.
CNN_DEFAULTS = {"width": 16, "depth": 1, "dropout": 0.1}
WIDE_CNN_ROWS = 100_000  # from this many training images, twice the channels pay for themselves
SMALL_DATA_ROWS = 10_000  # below this many training images, cutout joins the augmentation
# Pixels of zero padding before the random crop, per pixel of image side (at least 1 px). The network underfits in
# the recipe's epochs, so a smaller shift pays: on Fashion-MNIST (28 px, default run, 3 seeds) 1 px scored 0.9412
# against 0.9385 for 2 px (the former side/12), and no shift 0.9390 on seed 0 (BENCHMARKS.md).
CROP_SHARE = 1 / 28
TABLE_EPOCHS = 60
# Validation sets below SMOOTHED_VALID_ROWS rows pick the best epoch on a moving average of the validation score
# (training.trainer.Trainer's smoothing: the weight of the past in it), not on the noisy score of one epoch.
SMOOTHED_VALID_ROWS = 1000
SELECTION_SMOOTHING = 0.6
TEXT_EPOCHS, PRETRAINED_EPOCHS = 10, 3  # text overfits after a few passes; early stopping keeps the best
TEXT_BATCH, PRETRAINED_BATCH = 64, 32  # rows per step (the BERT paper fine-tunes with 32)
IMAGE_STEPS = 2400  # steps of REFERENCE_IMAGE_BATCH images in an image run: 12 epochs of Fashion-MNIST
MIN_IMAGE_EPOCHS = 12
REFERENCE_IMAGE_BATCH = 256  # images per step that IMAGE_STEPS and LEARNING_RATE are set for
# Images per step at most. On 2 CPU threads a step of 512 images cost 25-30% less CPU per image than one of 256
# (fewer optimiser steps and better-filled threads), and 4 epochs of 20,000 Fashion-MNIST images reached 0.903
# test accuracy at 512 (learning rate 3e-3) against 0.901 at 256 (2e-3).
MAX_IMAGE_BATCH = 512
MIN_BATCH, MAX_BATCH = 32, 1024  # bounds of the automatic batch size (rows)
ROWS_PER_BATCH_STEP = 100  # auto batch size ≈ training rows / this, rounded to a power of two
IMAGE_LABEL_SMOOTHING = 0.1  # share of each target's probability mass spread over all classes
# Values per whitened patch at least: on 20,000 Fashion-MNIST images 3 × 3 grey patches (9 values) scored 0.904 and
# 2 × 2 ones (4 values) 0.897 against 0.903 for a learnt first convolution (4 epochs, one seed).
WHITENED_VALUES = 9
# Directions of a grey patch's 9 the whitening layer keeps, the strongest first. The weakest, a checkerboard holding
# 0.25% of Fashion-MNIST's patch variance that whitening amplifies 6.5×, is left out: the convolution after the layer
# then reads 16 maps at full resolution, not 18, and a training step costs 8% less (1 thread). Test accuracy of the
# default run (3 seeds, 2 threads) 0.9413 ± 0.0010 against 0.9417 ± 0.0017 with all 9; on 1 thread 0.9424 ± 0.0007,
# and 0.9412 ± 0.0005 with 6 kept, 3% less CPU again (BENCHMARKS.md). Colour patches keep all their directions
# (airbench's 12 of 2 × 2 × 3): not measured here.
GREY_WHITENED_DIRECTIONS = 8
# Share of an image run's epochs (at least one; of the epochs a time budget plans) in which the whitening layer's bias
# trains; it is held fixed after them, as airbench does (its whiten_bias_epochs, 3 of 10). Nothing before the first
# convolution then needs a gradient, which skips that convolution's input gradient: a Fashion-MNIST training step 5%
# cheaper on 2 CPU threads (BENCHMARKS.md).
WHITENING_BIAS_SHARE = 1 / 4
MIRROR_SAMPLE = 4000  # images used to judge whether mirroring keeps their class
# Mirrored images must keep this share of a nearest-centroid classifier's accuracy. Measured ratios:
# Fashion-MNIST 0.84 (shoes all face left, yet flipping helps), scikit-learn's digits 0.40.
MIRROR_KEEP = 0.7


MLP_ONLY = ("members", "numbers", "wide", "linear_share")  # model settings that only the mlp reads


def choose_architecture(model: ModelConfig, train: TrainConfig, spec: dict, inputs: dict,
                        targets: torch.Tensor, classification: bool,
                        pretrained: dict | None = None, number_layout: dict | None = None,
                        several_processes: bool = False) -> tuple[str, dict]:
    """(architecture name, hyperparameters) for this data; `inputs` are the encoded training rows;
    `pretrained` the config of the pretrained text encoder `--init-from` names, if it names one;
    `number_layout` where the numeric columns' normal scores and rank pieces lie in `numbers`
    (features.pipeline.FeaturePipeline.number_layout): PLR embeddings read the scores, and not the pieces.
    `several_processes` (torchrun): an mlp gets one member unless the config asks for more, as DDP calls the wrapped
    network's forward, the members' mean, so they would train as one network, not as an ensemble."""
    arch = model.arch if model.arch != "auto" else _automatic(spec, pretrained, len(targets))
    given = [name for name in MLP_ONLY if getattr(model, name) != "auto"]
    if arch != "mlp" and given:  # set and silently dropped, a user would believe the network has them
        settings = "is a setting" if len(given) == 1 else "are settings"
        raise LaminaError(f"{', '.join(f'{name}: {getattr(model, name)}' for name in given)} {settings} of the mlp, and "
                          f"this run's network is {arch!r}: drop {' and '.join(given)}, or use arch mlp.")
    if arch in TEXT_ARCHITECTURES:
        return arch, _text_hyperparameters(arch, model, spec, pretrained)
    if arch in MOLECULE_ARCHITECTURES:
        return arch, _molecule_hyperparameters(arch, model, spec)
    if spec.get("molecules"):
        raise LaminaError(f"Architecture {arch!r} cannot read the molecule column(s) {', '.join(spec['molecules'])}. "
                          f"Use one of {', '.join(MOLECULE_ARCHITECTURES)} (or arch: auto).")
    if arch in IMAGE_ARCHITECTURES:
        if not spec["images"]:
            raise LaminaError(f"Architecture {arch!r} reads images, and the data has no image column. Use mlp.")
        chosen = _cnn_hyperparameters(model, train, inputs, targets, classification)
        if arch not in SIZED_ARCHITECTURES:  # a fixed published layout
            chosen = {k: v for k, v in chosen.items() if k not in ("width", "depth", "pool_first", "whiten",
                                                                 "whiten_directions")}
        return arch, chosen
    if spec["images"]:
        raise LaminaError(
            f"Architecture {arch!r} cannot read the image column(s) {', '.join(spec['images'])}. "
            f"Use one of {', '.join(IMAGE_ARCHITECTURES)} (or arch: auto)."
        )
    small = len(targets) < SMALL_TABLE_ROWS
    defaults = {**MLP_DEFAULTS, **(SMALL_TABLE_MLP if small else {})}
    hyperparameters = {key: resolved(getattr(model, key), default) for key, default in defaults.items()}
    if arch != "mlp":
        return arch, {**hyperparameters, "norm": model.norm}
    private = bool(train.privacy)
    ensemble = len(targets) < ENSEMBLE_TABLE_ROWS and not private
    members = resolved(model.members, SMALL_TABLE_MEMBERS if ensemble and not several_processes else TABLE_MEMBERS)
    if members > 1 and train.privacy:  # opacus clips each row's gradient through layers it knows: adapters are none
        raise LaminaError(f"members: {members} cannot train under --privacy (DP-SGD clips each row's gradient through "
                          "layers it knows, and the members' adapters and heads are none). Drop members or --privacy.")
    # DP-SGD keeps plain floats: its accuracy with PLR (more weights to clip and noise) is unmeasured.
    numbers = resolved(model.numbers, "plr" if len(targets) >= PLR_ROWS and not private else "plain")
    return arch, {**hyperparameters, "norm": model.norm, "numbers": numbers, "members": members,
                  "wide": resolved(model.wide, ensemble and SMALL_TABLE_WIDE),
                  **(plr_inputs(number_layout) if numbers == "plr" else {})}


def cross_fit_folds(train: TrainConfig, hyperparameters: dict, rows: int, several_processes: bool) -> int:
    """Folds of cross-fitted members (training.crossfit) for a network of these resolved `hyperparameters` trained on
    `rows` training rows; 0: none (a validation split judges the epoch). Auto: CROSS_FIT_FOLDS where the ensemble is
    the small tables' (members > 1, under ENSEMBLE_TABLE_ROWS rows), not under DP-SGD, adversarial training (its step
    trains the members' mean) or several processes (DDP's forward is the members' mean). Raises LaminaError where
    folds are asked for and cannot apply (a network without members: one member)."""
    members = hyperparameters.get("members")  # None: not the mlp
    refusal = ("this run's network is not the mlp, whose members folds deal rows to" if members is None else
               "--privacy trains one network" if train.privacy else
               "adversarial training trains the members' mean" if train.adversarial != "none" else
               "several processes train the members' mean" if several_processes else
               f"the mlp has {members} member(s), and each of the {train.folds} folds needs one that leaves it out; "
               f"give --members {train.folds} or more" + (f", or --folds {members} or fewer" if members > 1 else "")
               if isinstance(train.folds, int) and train.folds > members else None)
    if train.folds == "auto":
        return CROSS_FIT_FOLDS if refusal is None and members >= CROSS_FIT_FOLDS and rows < ENSEMBLE_TABLE_ROWS else 0
    if train.folds and refusal is not None:
        raise LaminaError(f"folds: {train.folds} cannot apply here: {refusal}. Or drop folds (--folds 0).")
    return train.folds


def linear_share_setting(model: ModelConfig, train: TrainConfig, hyperparameters: dict, folds: int,
                         numeric_floats: int, one_target: bool, classification: bool,
                         several_processes: bool = False) -> float | str:
    """The linear model's share (training.linear_share) for a network of these resolved `hyperparameters`: "auto"
    (chosen on out-of-fold predictions) for a regressor whose members `folds` cross-fit, where the linear model can
    read the table (plain numbers, a numeric float, one target); else 0, or the number the config gives. Raises
    LaminaError where a share is given and cannot apply."""
    given = model.linear_share
    refusal = ("this run's network is not the mlp" if hyperparameters.get("numbers") is None else
               "--numbers plr embeds the normal scores and leaves out the rank pieces the linear model reads values "
               "from" if hyperparameters["numbers"] != "plain" else
               "--privacy: a linear model fitted outside DP-SGD would spend privacy it does not account for"
               if train.privacy else
               "the table has no numeric column for the linear model to read" if not numeric_floats else
               "it reads one target, and this run has several" if not one_target else
               "several processes would each fit one on their own rows" if several_processes else None)
    if given == "auto":
        return "auto" if folds and refusal is None and not classification else 0.0
    if given and refusal is not None:
        raise LaminaError(f"linear_share: {given} cannot apply here: {refusal}. Drop linear_share (or give 0).")
    return float(given)


def plr_inputs(number_layout: dict | None) -> dict:
    """The mlp's PLR hyperparameters: embed each numeric column's normal score, leave its rank pieces unread
    (on UCI Adult the pieces beside the embeddings cost accuracy: BENCHMARKS.md)."""
    layout = number_layout or {"scores": [], "pieces": []}
    return {"plr_scores": layout["scores"], "plr_unread": layout["pieces"]}


def _automatic(spec: dict, pretrained: dict | None, rows: int) -> str:
    """Molecules go to AttentiveFP, the strongest published graph network on ESOL and Tox21 (Xiong et al. 2020;
    Jiang et al. 2021), and under FINGERPRINT_ROWS training molecules to the fingerprint MLP: message passing
    learns its own substructures, which a few hundred molecules cannot teach it, where Morgan bits give them.
    Data whose only inputs are text go to the bidirectional GRU, even a few hundred rows: on 300
    synthetic reviews with negations it scored 0.96 where mean subword embeddings (mlp) scored 0.67–0.76.
    A table with text beside other columns stays with the mlp (text as mean subword embeddings), which
    every explanation, attack and export supports."""
    if spec["images"]:
        return "resnet"
    if spec.get("molecules"):
        return "fingerprint" if rows < FINGERPRINT_ROWS else "attentivefp"
    if pretrained is not None:
        return "pretrained"
    text_only = spec["texts"] and not spec["numbers"] and not spec["categories"]
    return "gru" if text_only else "mlp"


def _text_hyperparameters(arch: str, model: ModelConfig, spec: dict, pretrained: dict | None) -> dict:
    if not spec["texts"]:
        raise LaminaError(f"Architecture {arch!r} reads text, and the data has no text column. Use mlp.")
    if spec["images"]:
        raise LaminaError(f"Architecture {arch!r} cannot read the image column(s) {', '.join(spec['images'])}.")
    if (arch == "pretrained") != (pretrained is not None):
        raise LaminaError(
            "A pretrained text encoder needs arch pretrained (or auto) and --init-from naming it: minilm, or a "
            "Hugging Face model folder (config.json, tokenizer.json, model.safetensors)."
        )
    chosen = {key: resolved(getattr(model, key), default) for key, default in TEXT_DEFAULTS[arch].items()}
    return {**chosen, "config": pretrained} if arch == "pretrained" else chosen


def _molecule_hyperparameters(arch: str, model: ModelConfig, spec: dict) -> dict:
    if not spec.get("molecules"):
        raise LaminaError(f"Architecture {arch!r} reads molecules, and the data has no molecule column. Declare one "
                          "(--column NAME=molecule) or use mlp.")
    others = [block for block in ("images", "texts") if spec[block]]
    if others:
        raise LaminaError(f"Architecture {arch!r} reads molecules and tables, not {' or '.join(others)} besides.")
    return {key: resolved(getattr(model, key), default) for key, default in MOLECULE_DEFAULTS[arch].items()}


def learning_rate(train: TrainConfig, arch: str, batch_size: int | None = None) -> float:
    """The peak learning rate; image batches above REFERENCE_IMAGE_BATCH scale it by √(batch / reference), the
    square-root rule for adaptive optimisers (Malladi et al. 2022): 2.8e-3 at 512 images a step."""
    if arch == "pretrained":
        return resolved(train.lr, FINE_TUNING_RATE)
    larger = batch_size / REFERENCE_IMAGE_BATCH if arch in IMAGE_ARCHITECTURES and batch_size else 1.0
    return resolved(train.lr, LEARNING_RATE * math.sqrt(max(1.0, larger)))


def _cnn_hyperparameters(model: ModelConfig, train: TrainConfig, inputs: dict, targets: torch.Tensor,
                         classification: bool) -> dict:
    images = [tensor for name, tensor in inputs.items() if name.startswith("image:")]
    rows, side, channels = len(targets), images[0].shape[-1], images[0].shape[1]
    chosen = {key: resolved(getattr(model, key), default) for key, default in CNN_DEFAULTS.items()}
    if model.width == "auto" and rows >= WIDE_CNN_ROWS:
        chosen["width"] = 2 * CNN_DEFAULTS["width"]
    flip = train.flip
    if flip == "auto":
        flip = classification and all(mirror_keeps_class(tensor, targets) for tensor in images)
    return {
        **chosen,
        # nets.cnn.ResidualCNN: the same accuracy at 18% less CPU; but PGD training of a small model (100 images
        # of stripes, 48/255) stayed at chance under attack with it, and reached the test's robustness without.
        "pool_first": train.adversarial == "none",
        # nets.whiten.PatchWhitening in place of the learnt first convolution: on 20,000 Fashion-MNIST images
        # (BENCHMARKS.md) as accurate at less CPU. Not under PGD training, where it was not measured: whitening
        # multiplies the faintest patch directions, where small perturbations live, by up to 1/√WHITENING_EPS.
        "whiten": whiten_patch(channels) if train.adversarial == "none" else 0,
        "whiten_directions": whitened_directions(channels) if train.adversarial == "none" else 0,
        "crop_padding": resolved(train.crop_padding, max(1, round(side * CROP_SHARE))),  # 1 px up to 41 px, 2 on 64
        "flip": bool(flip),
        "cutout": resolved(train.cutout, side // 4 if rows < SMALL_DATA_ROWS else 0),
    }


def whiten_patch(channels: int) -> int:
    """Side in pixels of the patches the whitening layer decorrelates: the smallest whose patches hold at least
    WHITENED_VALUES values, 2 for colour (airbench's 2 × 2 on CIFAR-10) and 3 for grey."""
    return math.ceil(math.sqrt(WHITENED_VALUES / channels))


def whitened_directions(channels: int) -> int:
    """Directions of patch space the whitening layer keeps: GREY_WHITENED_DIRECTIONS of a grey patch, every one of a
    colour patch (channels · whiten_patch²)."""
    return GREY_WHITENED_DIRECTIONS if channels == 1 else channels * whiten_patch(channels) ** 2


def mirror_keeps_class(images: torch.Tensor, targets: torch.Tensor) -> bool:
    """Whether left-right mirroring leaves images recognisable as their class: a nearest-class-mean
    classifier fitted on half the images must score nearly as well on the other half mirrored as
    unmirrored. Clothes and photos pass; digits and letters (a mirrored 3 is no 3) fail."""
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(targets), generator=generator)[:MIRROR_SAMPLE]
    pixels = images[order].float().flatten(1)
    labels = targets[order].long()
    half = len(order) // 2
    classes = labels[:half].unique()
    centroids = torch.stack([pixels[:half][labels[:half] == c].mean(0) for c in classes])
    held_out = images[order][half:].float()

    def accuracy(batch: torch.Tensor) -> float:
        nearest = torch.cdist(batch.flatten(1), centroids).argmin(1)
        return (classes[nearest] == labels[half:]).float().mean().item()

    return accuracy(held_out.flip(-1)) >= MIRROR_KEEP * accuracy(held_out)


def epochs_and_batch_size(train: TrainConfig, arch: str, rows: int) -> tuple[int, int]:
    """Tables: up to 60 epochs (early stopping ends most runs sooner), batches growing with the data.
    Images: batches of at most MAX_IMAGE_BATCH, and the epochs that IMAGE_STEPS steps of REFERENCE_IMAGE_BATCH
    images take (at least MIN_IMAGE_EPOCHS) for the cosine schedule, whatever the batch: a larger batch makes
    fewer, cheaper-per-image steps over the same epochs (learning_rate scales with it).
    Text: small batches and few epochs (sequence models overfit sentences within a few passes)."""
    if arch in TEXT_ARCHITECTURES:
        pretrained = arch == "pretrained"
        return (resolved(train.epochs, PRETRAINED_EPOCHS if pretrained else TEXT_EPOCHS),
                resolved(train.batch_size, PRETRAINED_BATCH if pretrained else TEXT_BATCH))
    images = arch in IMAGE_ARCHITECTURES
    batch_size = train.batch_size
    if batch_size == "auto":
        batch_size = choose_batch_size(rows)
        if images:
            batch_size = min(MAX_IMAGE_BATCH, batch_size)
    if train.epochs != "auto":
        return train.epochs, batch_size
    if not images:
        return TABLE_EPOCHS, batch_size
    steps_per_epoch = max(1, rows // min(batch_size, REFERENCE_IMAGE_BATCH))
    return min(TABLE_EPOCHS, max(MIN_IMAGE_EPOCHS, math.ceil(IMAGE_STEPS / steps_per_epoch))), batch_size


def selection_smoothing(valid_rows: int) -> float:
    """The Trainer's smoothing for a validation set of `valid_rows` rows: on 68 rows (the demo's breast-cancer
    table) the validation loss jumped between 0.006 and 0.23 from one epoch to the next."""
    return SELECTION_SMOOTHING if valid_rows < SMOOTHED_VALID_ROWS else 0.0


def choose_batch_size(rows: int) -> int:
    wanted = 2 ** round(math.log2(max(rows, 1) / ROWS_PER_BATCH_STEP)) if rows > ROWS_PER_BATCH_STEP else MIN_BATCH
    return int(min(MAX_BATCH, max(MIN_BATCH, wanted)))


def label_smoothing(train: TrainConfig, spec: dict) -> float:
    """Soft targets curb over-confident CNNs (Szegedy et al. 2016); tables gain nothing measurable."""
    return resolved(train.label_smoothing, IMAGE_LABEL_SMOOTHING if spec["images"] else 0.0)


def resolved(value, default):
    return default if value == "auto" else value
