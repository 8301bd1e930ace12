"""Images: reading every source, bad files, the uint8 cache, augmentation, training, transfer, report."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

import lamina
from lamina.data.images import read_idx
from lamina.data.read import read_table
from lamina.errors import LaminaError
from lamina.features.image import ImageEncoder
from lamina.nets.cnn import Augment, ResidualCNN
from lamina.nets.recipe import mirror_keeps_class

IMAGE_FAST = {"epochs": 15, "width": 8, "patience": 15}
FORMATS = ["png", "jpg", "bmp", "gif", "tiff", "webp"]


def stripes(orientation: str, rng, size: int = 16) -> np.ndarray:
    """Grey stripes across or down the picture, with noise: a class a small CNN learns in a few epochs."""
    wave = (np.arange(size) // 2 % 2) * 160 + 40
    image = np.tile(wave, (size, 1)) if orientation == "vertical" else np.tile(wave[:, None], (1, size))
    return np.clip(image + rng.normal(0, 25, (size, size)), 0, 255).astype(np.uint8)


def make_image_folder(root, per_class: int = 30, formats=("png",), colour: bool = False):
    rng = np.random.default_rng(0)
    for orientation in ("horizontal", "vertical"):
        (root / orientation).mkdir(parents=True)
        for i in range(per_class):
            pixels = stripes(orientation, rng)
            image = Image.fromarray(np.stack([pixels] * 3, axis=2) if colour else pixels)
            image.save(root / orientation / f"{i}.{formats[i % len(formats)]}")
    return root


# ---- reading --------------------------------------------------------------------------------------

def test_a_class_folder_reads_every_format_into_paths_and_labels(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=12, formats=FORMATS)
    frame = read_table(folder)
    assert list(frame.columns) == ["image", "label"]
    assert sorted(frame["label"].unique()) == ["horizontal", "vertical"] and len(frame) == 24
    assert {p.rsplit(".", 1)[1] for p in frame["image"]} == set(FORMATS)
    encoder = ImageEncoder("image").fit(frame["image"])
    cache = encoder.transform(frame["image"])
    assert cache.dtype == torch.uint8 and cache.shape == (24, 3, 16, 16)  # WebP keeps grey pictures as RGB
    grey = frame[~frame["image"].str.endswith(".webp")]
    assert ImageEncoder("image").fit(grey["image"]).transform(grey["image"]).shape == (20, 1, 16, 16)


def test_an_empty_class_folder_is_named(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=3)
    (folder / "empty").mkdir()
    with pytest.raises(LaminaError, match="Class folder .*empty is empty"):
        read_table(folder)


def test_a_single_class_stops_with_a_clear_message(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=10)
    for path in (folder / "vertical").iterdir():
        path.unlink()
    (folder / "vertical").rmdir()
    with pytest.raises(LaminaError, match="single value"):
        lamina.fit(folder, progress=False, **IMAGE_FAST)


def test_a_few_bad_files_are_skipped_and_listed_many_stop_the_run(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=40)
    (folder / "vertical" / "notes.txt").write_text("not a picture")
    good = (folder / "vertical" / "0.png").read_bytes()
    (folder / "vertical" / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("L", (1, 1)).save(folder / "horizontal" / "dot.png")
    config = lamina.Config().with_overrides(target="label")
    prepared = lamina.api.prepare(config, read_table(folder), None)
    skipped = [f.message for f in prepared.findings if f.code == "image_skipped"]
    assert len(skipped) == 3 and len(prepared.frame) == 80
    assert any("notes.txt: not an image" in m for m in skipped)
    assert any("truncated.png: corrupt or truncated" in m for m in skipped)
    assert any("dot.png: 1×1 pixels" in m for m in skipped)
    for i in range(8):
        (folder / "horizontal" / f"{i}.png").write_bytes(b"garbage")
    with pytest.raises(LaminaError, match=r"11 of 83 image files .*cannot be used"):
        lamina.api.prepare(config, read_table(folder), None)


def test_mixed_modes_and_sizes_become_one_consistent_tensor(tmp_path):
    paths = []
    for i, (mode, size) in enumerate([("L", (20, 16)), ("RGB", (16, 16)), ("RGBA", (40, 30)), ("P", (16, 24))]):
        path = tmp_path / f"{i}.png"
        Image.new(mode, size, color=(0, 0, 0, 0) if mode == "RGBA" else 90).save(path)
        paths.append(str(path))
    encoder = ImageEncoder("image").fit(pd.Series(paths))
    cache = encoder.transform(pd.Series(paths))
    assert cache.shape == (4, 3, 16, 16)  # a colour image makes every image RGB; the median side is 16
    assert cache[2].min() == 255  # a fully transparent image is composited onto white, not black


def test_a_cache_too_large_for_memory_is_memory_mapped_in_the_cache_folder(tmp_path, monkeypatch):
    from lamina.features import image as image_module

    folder = make_image_folder(tmp_path / "photos", per_class=5)
    paths = read_table(folder)["image"]
    encoder = ImageEncoder("image").fit(paths)
    in_memory = encoder.transform(paths)
    monkeypatch.setattr(image_module, "_free_memory", lambda: 1000)  # bytes: less than 10 images of 16×16
    encoder.cache_dir = tmp_path / "run" / "cache"
    mapped = encoder.transform(paths)
    files = list(encoder.cache_dir.iterdir())
    assert len(files) == 1 and files[0].stat().st_size == in_memory.numel()
    assert torch.equal(mapped, in_memory)


def test_a_csv_column_of_paths_is_read_relative_to_the_csv_and_kept_inside_its_folder(tmp_path):
    folder = make_image_folder(tmp_path / "data" / "pics", per_class=10)
    rows = [{"file": f"pics/{o}/{i}.png", "weight": i % 3, "label": o}
            for o in ("horizontal", "vertical") for i in range(10)]
    pd.DataFrame(rows).to_csv(tmp_path / "data" / "images.csv", index=False)
    frame = read_table(tmp_path / "data" / "images.csv")
    assert frame["file"].iloc[0] == str(folder / "horizontal" / "0.png")
    rows[4]["file"] = "../secret.png"
    pd.DataFrame(rows).to_csv(tmp_path / "data" / "images.csv", index=False)
    with pytest.raises(LaminaError, match=r"images.csv, row 6, column 'file': path '../secret.png' points outside"):
        read_table(tmp_path / "data" / "images.csv")


def test_a_missing_file_in_a_path_column_is_skipped_and_named(tmp_path):
    make_image_folder(tmp_path / "pics", per_class=30)
    rows = [{"file": f"pics/{o}/{i}.png", "label": o} for o in ("horizontal", "vertical") for i in range(30)]
    rows[3]["file"] = "pics/horizontal/gone.png"
    pd.DataFrame(rows).to_csv(tmp_path / "images.csv", index=False)
    from lamina import api

    config = lamina.Config().with_overrides(target="label")
    prepared = api.prepare(config, read_table(tmp_path / "images.csv"), None)
    assert [c.kind for c in prepared.schema.features] == ["image"]
    assert any("gone.png: file not found" in f.message for f in prepared.findings)


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def test_idx_npz_and_npy_arrays_are_read(tmp_path):
    rng = np.random.default_rng(0)
    images = np.stack([stripes(o, rng) for o in ["horizontal", "vertical"] * 10])
    labels = np.array([0, 1] * 10)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    frame = read_table(tmp_path / "train-images-idx3-ubyte.gz")
    assert np.array_equal(frame["image"].iloc[3], images[3]) and list(frame["label"][:4]) == [0, 1, 0, 1]
    np.savez(tmp_path / "set.npz", x=images.astype(np.float32) / 255, y=labels)
    from_npz = read_table(tmp_path / "set.npz")
    assert np.abs(from_npz["image"].iloc[5].astype(int) - images[5]).max() <= 1
    np.save(tmp_path / "images.npy", images[:, None])  # channels-first arrays are accepted too
    assert read_table(tmp_path / "images.npy")["image"].iloc[0].shape == (16, 16, 1)
    raw = gzip.open(tmp_path / "train-images-idx3-ubyte.gz").read()
    with gzip.open(tmp_path / "cut-images-idx3-ubyte.gz", "wb") as stream:
        stream.write(raw[:-100])
    with pytest.raises(LaminaError, match="truncated"):
        read_idx(tmp_path / "cut-images-idx3-ubyte.gz")


# ---- augmentation and recipe ------------------------------------------------------------------

def test_augmentation_shifts_flips_and_cuts_in_training_only():
    torch.manual_seed(0)
    images = torch.arange(2 * 8 * 8, dtype=torch.uint8).view(2, 1, 8, 8) + 1
    crop = Augment(crop_padding=2, flip=False, cutout=0).train()
    shifted = crop(images)
    assert shifted.shape == images.shape
    # every crop is a shifted window: the pixels it kept are a contiguous block of the original
    assert all(((shifted[i] == 0) | torch.isin(shifted[i], images[i])).all() for i in range(2))
    flip = Augment(crop_padding=0, flip=True, cutout=0).train()
    outs = [flip(images) for _ in range(20)]
    assert any(torch.equal(o, images.flip(3)) or torch.equal(o[0], images[0].flip(2)) for o in outs)
    cut = Augment(crop_padding=0, flip=False, cutout=4).train()(images)
    assert 0 < (cut == 0).sum() <= 2 * 16
    assert torch.equal(Augment(2, True, 4).eval()(images), images)


@pytest.mark.parametrize("pool_first", [False, True])
def test_test_time_flip_averages_both_views_in_eval_only(pool_first):
    torch.manual_seed(0)
    images = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8)
    mirrored = ResidualCNN(1, 12, [0.5], [0.2], width=4, depth=1, mirror_views=True, pool_first=pool_first)
    single = ResidualCNN(1, 12, [0.5], [0.2], width=4, depth=1, pool_first=pool_first)
    single.load_state_dict(mirrored.state_dict())
    head = torch.nn.Linear(mirrored.features, 3)
    mirrored.eval(), single.eval()
    with torch.no_grad():
        both = head(mirrored(images))
        views = (head(single(images)) + head(single(images.flip(3)))) / 2  # the mean of both views' logits
        assert torch.allclose(both, views, atol=1e-5)
        assert not torch.allclose(both, head(single(images)), atol=1e-3)
        mirrored.train(), single.train()
        assert torch.allclose(mirrored(images), single(images))  # training sees one (augmented) view


@pytest.mark.parametrize("whiten", [0, 3])
def test_grey_images_run_channels_last_through_every_layer_in_training_and_eval(whiten):
    """A one-channel batch is contiguous in both layouts; the layers must still run channels-last (max-pooling
    channels-first costs ten times as much on a CPU), also after a state dict is loaded, as a saved model is."""
    network = ResidualCNN(1, 12, [0.5], [0.2], width=4, depth=1, mirror_views=True, pool_first=True, whiten=whiten)
    network.load_state_dict(ResidualCNN(1, 12, [0.5], [0.2], width=4, depth=1, mirror_views=True,
                                        pool_first=True, whiten=whiten).state_dict())
    layouts = []
    for layer in network.body.modules():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            layer.register_forward_hook(lambda _, __, out: layouts.append(
                out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()))
    images = torch.randint(0, 256, (3, 1, 12, 12), dtype=torch.uint8)  # as the image cache holds them
    for mode in (network.train, network.eval):
        mode()
        with torch.no_grad():
            network(images)
    assert layouts and all(layouts)


def test_pooling_before_batch_norm_computes_what_pooling_after_the_relu_did():
    torch.manual_seed(0)
    after = ResidualCNN(1, 16, [0.5], [0.2], width=4, depth=1).eval()
    first = ResidualCNN(1, 16, [0.5], [0.2], width=4, depth=1, pool_first=True).eval()
    for norm in after.modules():
        if isinstance(norm, nn.BatchNorm2d):  # trained statistics; a positive scale, as batch norm's starts at 1
            norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2)
    for kind in (nn.Conv2d, nn.BatchNorm2d):  # the same convolutions and batch norms, in the same order
        for old, new in zip([m for m in after.modules() if isinstance(m, kind)],
                            [m for m in first.modules() if isinstance(m, kind)], strict=True):
            new.load_state_dict(old.state_dict())
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.allclose(first(images), after(images), atol=1e-5)
        first.body[1][2].weight.data[0] = -1.0  # a negative scale turns max into min: then they differ
        assert not torch.allclose(first(images), after(images), atol=1e-3)


def test_the_whitening_layer_gives_its_patches_unit_covariance_and_then_stays_fixed():
    from lamina.nets.whiten import WHITENING_EPS, PatchWhitening

    torch.manual_seed(0)
    scales = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)  # neighbouring pixels correlated, channels of unequal spread
    images = nn.functional.avg_pool2d(torch.randn(32, 2, 20, 20), 3, 1, 1) * scales
    layer = PatchWhitening(2, 2)
    layer.eval()(images)
    assert not layer.fitted and not layer.weight.any()  # eval mode never fits
    outputs = layer.train()(images)
    assert outputs.shape == (32, 16, 19, 19)  # 2 · channels · patch² maps, one pixel fewer a side
    half = outputs[:, :8].permute(0, 2, 3, 1).reshape(-1, 8)  # the other 8 are the same maps negated
    assert torch.allclose(outputs[:, 8:], -half.reshape(32, 19, 19, 8).permute(0, 3, 1, 2), atol=1e-6)
    covariance = torch.cov(half.T.double())
    eigenvalues = torch.linalg.eigvalsh(torch.cov(images.unfold(2, 2, 1).unfold(3, 2, 1)
                                                 .permute(0, 2, 3, 1, 4, 5).reshape(-1, 8).T.double()))
    shrunk = eigenvalues / (eigenvalues + WHITENING_EPS)  # the eps added to each eigenvalue shrinks it a little
    assert torch.allclose(covariance, torch.diag(shrunk.flip(0)), atol=1e-3)
    fitted = layer.weight.clone()
    layer(images * 5 + 1)  # another batch: the filters stay what the first one set
    assert torch.equal(layer.weight, fitted)
    assert "weight" not in dict(layer.named_parameters())  # a buffer: no optimiser steps it,
    assert {"weight", "fitted"} <= set(layer.state_dict())  # yet saved with the model and in checkpoints (resume)
    strongest = PatchWhitening(2, 2, directions=5)
    assert strongest.train()(images).shape == (32, 10, 19, 19)  # 2 · 5 maps: the weakest 3 directions left out
    assert torch.allclose(strongest.weight, torch.cat([fitted[:5], -fitted[:5]]))  # the strongest, as all 8 give
    with pytest.raises(ValueError, match="has 8 directions"):
        PatchWhitening(2, 2, directions=9)


def test_the_recipe_pools_first_in_resnet_and_older_models_keep_pooling_after_the_relu():
    from lamina.config import ModelConfig, TrainConfig
    from lamina.nets.build import IMAGE_EXAMPLE, build_network
    from lamina.nets.recipe import choose_architecture

    images = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8)
    targets = torch.tensor([0, 1] * 20)
    spec = {"images": {"x": {}}, "texts": {}, "numbers": 0, "categories": []}
    arch, chosen = choose_architecture(ModelConfig(), TrainConfig(), spec, {"image:x": images}, targets, True)
    # 3 × 3 patches of grey pixels, the weakest of their 9 directions left out
    assert (arch, chosen["pool_first"], chosen["whiten"], chosen["whiten_directions"]) == ("resnet", True, 3, 8)
    colour = {"image:x": images.expand(-1, 3, -1, -1)}
    in_colour = choose_architecture(ModelConfig(), TrainConfig(), spec, colour, targets, True)[1]
    assert (in_colour["whiten"], in_colour["whiten_directions"]) == (2, 12)  # every direction of 2 × 2 × 3
    pgd = TrainConfig(adversarial="pgd")
    under_attack = choose_architecture(ModelConfig(), pgd, spec, {"image:x": images}, targets, True)[1]
    assert not under_attack["pool_first"] and under_attack["whiten"] == under_attack["whiten_directions"] == 0
    _, fixed = choose_architecture(ModelConfig(arch="resnet18"), TrainConfig(), spec, {"image:x": images}, targets, True)
    assert not {"pool_first", "whiten", "whiten_directions"} & set(fixed)  # a published layout has its own order
    older = {"width": 4, "depth": 1, "dropout": 0.1, "crop_padding": 1, "flip": False, "cutout": 0}  # neither
    backbone = next(iter(build_network("resnet", IMAGE_EXAMPLE, 2, **older).backbones.values()))
    assert isinstance(backbone.body[2], nn.MaxPool2d)  # stem, conv-bn-relu, then the pool: its weights' names kept
    assert isinstance(backbone.body[0][0], nn.Conv2d)  # a learnt first convolution, not a whitening layer
    whitened = next(iter(build_network("resnet", IMAGE_EXAMPLE, 2, **older, whiten=2).backbones.values()))
    assert whitened.body[0][0].outputs == 24  # airbench's stem on colour: 2 · 3 channels · 2 × 2, every direction
    own, old = whitened.state_dict(), backbone.state_dict()
    kept = {n for n in old if n in own and own[n].shape == old[n].shape}
    assert {n for n in old if not n.startswith(("body.0.", "body.1."))} <= kept  # what --init-from can carry over


@pytest.mark.parametrize("side, padding", [(8, 1), (28, 1), (41, 1), (42, 2), (64, 2)])
def test_the_recipe_shifts_training_crops_by_a_twenty_eighth_of_the_side_and_at_least_a_pixel(side, padding):
    from lamina.config import ModelConfig, TrainConfig
    from lamina.nets.recipe import choose_architecture

    images = torch.randint(0, 256, (40, 1, side, side), dtype=torch.uint8)
    targets = torch.tensor([0, 1] * 20)
    spec = {"images": {"x": {}}, "texts": {}, "numbers": 0, "categories": []}
    _, chosen = choose_architecture(ModelConfig(), TrainConfig(), spec, {"image:x": images}, targets, True)
    assert chosen["crop_padding"] == padding  # 1 px on Fashion-MNIST's 28 beat the 2 px of side/12 (BENCHMARKS.md)
    _, asked = choose_architecture(ModelConfig(), TrainConfig(crop_padding=0), spec, {"image:x": images}, targets, True)
    assert asked["crop_padding"] == 0  # a padding the config sets is kept


def test_large_image_sets_step_512_images_over_the_same_epochs_at_a_square_root_scaled_rate():
    from lamina.config import TrainConfig
    from lamina.nets.recipe import epochs_and_batch_size, learning_rate

    auto = TrainConfig()
    assert epochs_and_batch_size(auto, "resnet", 51_000) == (13, 512)  # 2400 steps of 256 images: 13 epochs
    assert learning_rate(auto, "resnet", 512) == pytest.approx(2e-3 * 2 ** 0.5)
    assert epochs_and_batch_size(auto, "resnet", 2_000) == (39, 32)  # small sets: as before
    assert learning_rate(auto, "resnet", 32) == learning_rate(auto, "mlp", 1024) == 2e-3
    assert learning_rate(TrainConfig(lr=1e-3), "resnet", 512) == 1e-3  # a rate the config sets is kept


def test_mirroring_is_judged_safe_for_clothes_like_pictures_and_not_for_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy((digits.images * 16).clip(0, 255).astype(np.uint8))[:, None]
    assert not mirror_keeps_class(images, torch.from_numpy(digits.target))
    rng = np.random.default_rng(0)
    blob = np.zeros((16, 16), np.uint8)
    blob[5:11, 5:11] = 200
    pictures = [stripes("horizontal", rng) if i % 2 else np.clip(blob + rng.normal(0, 25, blob.shape), 0, 255)
                for i in range(200)]  # both classes look the same in a mirror
    symmetric = torch.from_numpy(np.stack(pictures).astype(np.uint8))[:, None]
    assert mirror_keeps_class(symmetric, torch.tensor([0, 1] * 100))


# ---- training, using, transfer ----------------------------------------------------------------

@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    folder = make_image_folder(root / "photos", per_class=60)
    model = lamina.fit(folder, out=root / "run", progress=False, **IMAGE_FAST)
    return root, folder, model


def test_an_image_folder_trains_a_cnn_that_beats_the_baseline(image_run):
    root, folder, model = image_run
    assert model.architecture["arch"] == "resnet"
    hyperparameters = model.architecture["hyperparameters"]
    assert (hyperparameters["crop_padding"], hyperparameters["cutout"]) == (1, 4)  # 16 px images, few of them
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9 > metrics["baseline"]["accuracy"]
    predictions = lamina.load(root / "run").predict(folder)
    assert (predictions["prediction"] == read_table(folder)["label"]).mean() >= 0.9


def test_evaluating_on_pictures_without_labels_says_how_to_give_them(image_run):
    _, folder, model = image_run
    one = next((folder / "horizontal").iterdir())
    # It said only "no target column 'label'", where a file or a flat folder cannot hold one.
    with pytest.raises(LaminaError, match="no target column 'label'.* without labels .* a subfolder per class"):
        model.evaluate(one)


def test_the_report_names_classes_and_shows_the_most_confidently_wrong_images(image_run):
    root, folder, _ = image_run
    html = (root / "run" / "report.html").read_text()
    assert "Per-class accuracy" in html and "horizontal" in html and "vertical" in html
    # A test folder where the wrong answers are known: three images of each class filed under the other
    # class (the model is certainly wrong, and sure of itself), and one blend of both stripe patterns filed
    # under both classes (exactly one of the two is wrong, and the model cannot be sure of it).
    rng = np.random.default_rng(1)
    test = root / "flipped_test"
    for orientation, other in (("horizontal", "vertical"), ("vertical", "horizontal")):
        (test / orientation).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(stripes(orientation, rng)).save(test / orientation / f"{i}.png")
        for i in range(3):
            Image.fromarray(stripes(other, rng)).save(test / orientation / f"flipped{i}.png")
    blend = ((stripes("horizontal", rng).astype(int) + stripes("vertical", rng)) // 2).astype(np.uint8)
    for orientation in ("horizontal", "vertical"):
        Image.fromarray(blend).save(test / orientation / "blend.png")
    lamina.fit(folder, test=test, out=root / "flipped_run", progress=False, **IMAGE_FAST)
    files = read_table(test)["image"]  # the test rows, in the order the run numbers them
    mistakes = json.loads((root / "flipped_run" / "mistakes.json").read_text())
    named = [files.iloc[m["row"]].split("flipped_test/")[1] for m in mistakes]
    flipped = {f"{o}/flipped{i}.png" for o in ("horizontal", "vertical") for i in range(3)}
    assert set(named[:6]) == flipped, named  # the six flipped images, and nothing else, come first
    assert len(named) == 7 and named[6] in ("horizontal/blend.png", "vertical/blend.png"), named
    for mistake, name in zip(mistakes, named, strict=True):
        assert mistake["truth"] == name.split("/")[0] and mistake["predicted"] != mistake["truth"]
        assert mistake["file"] == files.iloc[mistake["row"]]
    confidence = [m["confidence"] for m in mistakes]
    assert confidence == sorted(confidence, reverse=True)
    assert min(confidence[:6]) > 0.8 and confidence[6] < min(confidence[:6])
    # the report shows those images, in that order, each with its true and predicted class
    html = (root / "flipped_run" / "report.html").read_text()
    places = [html.index(m["png"]) for m in mistakes]
    assert places == sorted(places)
    for mistake, start, end in zip(mistakes, places, [*places[1:], len(html)], strict=True):
        caption = " ".join(re.sub(r"<[^>]*>", " ", html[start:end].split("</figure>", 1)[0]).split())
        assert f"true {mistake['truth']}" in caption and f"predicted {mistake['predicted']}" in caption, caption
        assert mistake["file"].split("flipped_test/")[1] in caption, caption  # its class folder and file name


def test_a_shown_mistake_and_each_test_prediction_name_the_picture_file_and_the_row_of_the_data(image_run):
    from lamina.evaluation.mistakes import confident_mistakes

    root, folder, model = image_run
    data = read_table(folder)
    held_out = pd.read_csv(root / "run" / "test_predictions.csv")  # a split of the folder: rows are data rows
    assert len(held_out) > 0 and (data["image"].iloc[held_out["row"]].to_numpy() == held_out["image"]).all()
    test = data.iloc[[5, 70, 3]]  # rows as a split leaves them: labelled by their place in the data
    outputs, truth = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([1, 0, 0])
    mistakes = confident_mistakes(model, test, outputs, truth)
    assert [(m["row"], m["file"], m["confidence"]) for m in mistakes] == [(5, data["image"].iloc[5], 0.9),
                                                                         (70, data["image"].iloc[70], 0.8)]


def test_info_shows_the_picture_size_and_colour_the_model_reads_and_the_whitening_bias_epochs(image_run, capsys):
    from lamina.cli import main

    root, _, _ = image_run
    assert main(["info", str(root / "run")]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"^  image +image +feature  \(16 × 16 px, grey\)$", shown, re.MULTILINE)
    assert "whitening bias: trained in 4 epoch(s), then held fixed" in shown  # a quarter of 15


def test_the_whitening_bias_trains_in_the_first_quarter_of_the_epochs_only(tmp_path, monkeypatch):
    from lamina.nets.whiten import whitening_biases
    from lamina.training.trainer import Trainer

    folder = make_image_folder(tmp_path / "photos", per_class=20)
    seen = []
    run_epoch = Trainer._run_epoch

    def watched(self, *args):
        going = run_epoch(self, *args)
        seen.append(torch.cat(whitening_biases(self.module)).detach().clone())
        return going

    monkeypatch.setattr(Trainer, "_run_epoch", watched)
    model = lamina.fit(folder, progress=False, epochs=8, width=8, patience=8)
    assert model.architecture["hyperparameters"]["whiten"] and model.training["whitening_bias_epochs"] == 2
    assert len(seen) == 8 and not torch.equal(seen[0], seen[1])
    assert all(torch.equal(seen[1], later) for later in seen[2:])
    assert torch.equal(seen[-1], torch.cat(whitening_biases(model.network)))


def test_each_epoch_validates_pictures_in_one_view_and_the_trained_model_predicts_in_both(tmp_path, monkeypatch):
    from lamina.nets.cnn import one_view

    folder = make_image_folder(tmp_path / "photos", per_class=20)
    views = []  # whether each eval pass read both views
    forward = ResidualCNN.forward

    def watched(self, images):
        if not self.training:
            views.append(self.mirror_views)
        return forward(self, images)

    monkeypatch.setattr(ResidualCNN, "forward", watched)
    model = lamina.fit(folder, progress=False, epochs=3, width=8, flip=True)  # mirror views follow training's flips
    first_whole = views.index(True)  # each epoch's validation, then the trained model's predictions
    assert first_whole >= 3 and not any(views[:first_whole]) and all(views[first_whole:])
    network = next(m for m in model.network.modules() if isinstance(m, ResidualCNN))
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        both = network(images)
        with pytest.raises(RuntimeError), one_view(model.network):  # the views come back after an error too
            alone, mirrored = network(images), network(images.flip(3))
            raise RuntimeError
        assert torch.allclose(both, (alone + mirrored) / 2, atol=1e-5) and not torch.allclose(alone, both)
        assert network.mirror_views and torch.equal(network(images), both)


def test_init_from_reuses_the_backbone_and_can_freeze_it(image_run, tmp_path):
    root, folder, source = image_run
    frozen = lamina.fit(folder, progress=False, init_from=str(root / "run"), freeze_backbone=2,
                        **{**IMAGE_FAST, "epochs": 2})
    before, after = source.network.state_dict(), frozen.network.state_dict()
    convolutions = [name for name in before if name.startswith("backbones.") and name.endswith("0.weight")]
    assert convolutions and all(torch.equal(before[n], after[n]) for n in convolutions)
    assert not torch.equal(before["head.1.weight"], after["head.1.weight"])
    from safetensors.torch import save_file

    bare = {k.split(".", 2)[2]: v.contiguous() for k, v in before.items() if k.startswith("backbones.")}
    save_file(bare, tmp_path / "backbone.safetensors")  # a bare state dict, as torchvision or timm would hold
    from lamina.nets.build import build_network
    from lamina.nets.transfer import load_backbone

    fresh = build_network("resnet", source.architecture["inputs"], 2, **source.architecture["hyperparameters"])
    filled = load_backbone(fresh, str(tmp_path / "backbone.safetensors"))
    assert len(filled) == sum(1 for name, _ in fresh.named_parameters() if name.startswith("backbones."))
    (tmp_path / "weights.pth").write_bytes(b"\x80\x04pickle")
    with pytest.raises(LaminaError, match="pickles, which lamina never loads"):
        load_backbone(fresh, str(tmp_path / "weights.pth"))


def test_init_from_takes_a_whitening_flag_only_with_its_filters_and_never_the_source_s_input_statistics(tmp_path):
    from safetensors.torch import save_file

    from lamina.nets.build import IMAGE_EXAMPLE, build_network
    from lamina.nets.transfer import load_backbone
    from lamina.nets.whiten import PatchWhitening

    def whitening(network):
        return next(m for m in network.modules() if isinstance(m, PatchWhitening))

    settings = {"width": 4, "depth": 1, "dropout": 0.1, "crop_padding": 1, "flip": False, "cutout": 0,
                "pool_first": True, "whiten": 2}
    source = build_network("resnet", IMAGE_EXAMPLE, 2, **settings)  # every direction of a colour patch: 24 maps
    whitening(source).fit(torch.randn(8, 3, 12, 12))
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "source.safetensors")
    fewer = build_network("resnet", IMAGE_EXAMPLE, 2, **settings, whiten_directions=8)  # 16 maps: filters differ
    filled = load_backbone(fewer, str(tmp_path / "source.safetensors"))
    layer = whitening(fewer)
    assert filled and not layer.fitted  # not fitted with zero filters: it fits on the first batch it trains on
    layer.train()(torch.randn(8, 3, 12, 12))
    assert layer.fitted and layer.weight.any()
    alike = build_network("resnet", IMAGE_EXAMPLE, 2, **settings)
    load_backbone(alike, str(tmp_path / "source.safetensors"))
    assert whitening(alike).fitted and torch.equal(whitening(alike).weight, whitening(source).weight)  # whole
    grey_spec = {**IMAGE_EXAMPLE, "images": {"photo.file": {"channels": 1, "size": 12, "mean": [0.4], "std": [0.3]}}}
    grey = build_network("resnet", grey_spec, 2, **{**settings, "whiten": 0})  # a learnt first convolution
    own = {k: v.clone() for k, v in grey.state_dict().items()}
    filled = {id(p) for p in load_backbone(grey, str(tmp_path / "source.safetensors"))}
    backbone = next(iter(grey.backbones.values()))
    assert torch.equal(backbone.mean, own[next(k for k in own if k.endswith(".mean"))])  # its own pixel statistics,
    assert torch.equal(backbone.std, own[next(k for k in own if k.endswith(".std"))])  # not colour's summed
    assert id(backbone.body[2].first[0].weight) in filled  # the learnt layers that fit do carry over
    other_colour = {**IMAGE_EXAMPLE, "images": {"photo.file": {**IMAGE_EXAMPLE["images"]["photo.file"],
                                                               "mean": [0.1, 0.2, 0.3], "std": [0.4] * 3}}}
    colour = build_network("resnet", other_colour, 2, **settings)  # same shapes as the source, other pixels
    load_backbone(colour, str(tmp_path / "source.safetensors"))
    stem = next(iter(colour.backbones.values()))
    assert torch.allclose(stem.mean.flatten(), torch.tensor([0.1, 0.2, 0.3]) * 255)  # this data's, as recorded
    assert torch.allclose(stem.std.flatten(), torch.full((3,), 0.4) * 255) and torch.equal(
        whitening(colour).weight, whitening(source).weight)  # while the fitted filters carry over


def test_predict_on_a_folder_names_each_file(image_run, tmp_path):
    from lamina.cli import main

    root, folder, _ = image_run
    assert main(["predict", str(root / "run"), str(folder), "--out", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns[:2]) == ["image", "prediction"]
    truth = written["image"].str.contains("/vertical/").map({True: "vertical", False: "horizontal"})
    assert (written["prediction"] == truth).mean() >= 0.9


def test_a_flat_folder_predicts_the_same_from_python_the_cli_and_monitor_reads_it(image_run, tmp_path):
    import shutil

    from lamina.cli import main

    root, folder, model = image_run
    flat = tmp_path / "new"
    flat.mkdir()
    for picture in [*sorted((folder / "vertical").iterdir())[:3], *sorted((folder / "horizontal").iterdir())[:2]]:
        shutil.copy(picture, flat / f"{picture.parent.name}-{picture.name}")
    assert main(["predict", str(root / "run"), str(flat), "--out", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv")
    predicted = model.predict(str(flat))  # a folder without class subfolders, as `lamina predict` reads it
    assert len(predicted) == 5 and list(predicted["prediction"]) == list(written["prediction"])
    # each row names its file, from Python as in the CLI's file; a DataFrame's rows keep its index instead
    assert list(predicted.columns) == list(written.columns) and list(predicted["image"]) == list(written["image"])
    assert sorted(Path(p).name for p in predicted["image"]) == sorted(p.name for p in flat.iterdir())
    rows = pd.DataFrame({"image": list(predicted["image"])}, index=list("abcde"))
    assert list(model.predict(rows).index) == list("abcde") and "image" not in model.predict(rows).columns
    assert main(["monitor", str(root / "run"), "--reference", str(folder), "--current", str(flat),
                 "--out", str(tmp_path / "drift.html")]) == 0
    (tmp_path / "empty").mkdir()
    with pytest.raises(LaminaError, match="holds no files"):
        model.predict(str(tmp_path / "empty"))


def test_one_picture_as_the_test_set_is_refused_as_a_test_set(tmp_path, capsys):
    from lamina.cli import main

    folder = make_image_folder(tmp_path / "photos", per_class=12)
    picture = sorted((folder / "vertical").iterdir())[0]
    assert main(["train", str(folder), "--test", str(picture), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert f"The test data file {picture} is one picture: a test set needs many rows too" in error
    assert "Give --test a folder of pictures" in error and "CSV of their paths" in error
    assert "a model learns from many" not in error  # the training data's message, once
    import soundfile

    from lamina.data.images import TEST_DATA, read_media_file

    soundfile.write(tmp_path / "one.wav", np.zeros(800, np.float32), 8000)
    with pytest.raises(LaminaError, match=r"one recording: .* folder of recordings .*test/cat/1\.wav"):
        read_media_file(tmp_path / "one.wav", TEST_DATA)  # its example was a .png


def test_one_picture_file_predicts_as_it_does_inside_a_folder_and_does_not_train(image_run, tmp_path, capsys):
    from lamina.cli import main

    root, folder, model = image_run
    picture = sorted((folder / "vertical").iterdir())[4]
    position = read_table(folder)["image"].tolist().index(str(picture.resolve()))
    in_folder = model.predict(str(folder)).iloc[position]
    alone = model.predict(str(picture))
    assert len(alone) == 1 and alone["prediction"].iloc[0] == in_folder["prediction"]
    assert alone["proba_vertical"].iloc[0] == pytest.approx(in_folder["proba_vertical"], abs=1e-6)
    capsys.readouterr()
    assert main(["predict", str(root / "run"), str(picture)]) == 0
    printed = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(printed["image"]) == [str(picture.resolve())] and list(printed["prediction"]) == [in_folder["prediction"]]
    assert printed["proba_vertical"].iloc[0] == pytest.approx(in_folder["proba_vertical"], abs=1e-5)
    assert main(["train", str(picture), "--out", str(tmp_path / "run")]) == 2
    assert "is one picture" in capsys.readouterr().err and not (tmp_path / "run" / "model").exists()
    with pytest.raises(LaminaError, match="a subfolder per class"):
        lamina.fit(str(picture), progress=False)
    table = lamina.fit(pd.DataFrame({"x": np.random.default_rng(0).normal(size=40), "y": ["a", "b"] * 20}), "y",
                       progress=False, epochs=1)
    with pytest.raises(LaminaError, match=r"is image files, read as one column 'image', and this model reads the "
                                          r"column\(s\) 'x': 'x' missing\. Give files of the kind"):
        table.predict(str(picture))  # not 'Add them', which a picture cannot


def test_a_model_trained_on_a_table_of_paths_reads_one_picture_under_its_own_column(image_run):
    _, folder, _ = image_run
    rows = read_table(folder)
    table = pd.DataFrame({"picture": rows["image"], "kind": rows["label"]})
    model = lamina.fit(table, target="kind", progress=False, epochs=1, width=8)
    expected = model.predict(table.iloc[[7]])["proba_vertical"].tolist()
    assert model.predict(rows["image"].iloc[7])["proba_vertical"].tolist() == pytest.approx(expected, abs=1e-6)


def test_every_unreadable_picture_to_predict_is_named_in_one_error(image_run, tmp_path, capsys):
    import shutil

    from lamina.cli import main

    root, folder, model = image_run
    flat = tmp_path / "new"
    flat.mkdir()
    for picture in sorted((folder / "vertical").iterdir())[:4]:
        shutil.copy(picture, flat / picture.name)
    (flat / "noise.png").write_bytes(b"\x89PNG not really a picture")
    (flat / "half.png").write_bytes((folder / "vertical" / "0.png").read_bytes()[:40])
    (flat / "notes.jpg").write_text("a shopping list")
    bad = ["half.png", "noise.png", "notes.jpg"]
    with pytest.raises(LaminaError, match=r"3 picture\(s\) cannot be read") as refused:
        model.predict(str(flat))
    assert all(str((flat / name).resolve()) in str(refused.value) for name in bad), refused.value
    capsys.readouterr()
    assert main(["predict", str(root / "run"), str(flat)]) == 2
    said = capsys.readouterr().err
    assert all(name in said for name in bad) and "Replace each" in said and "Traceback" not in said, said


def test_a_cell_holding_no_picture_lamina_reads_is_named_with_what_to_give(image_run):
    _, folder, model = image_run
    picture = next((folder / "vertical").iterdir())
    with Image.open(picture) as opened:
        for value in (opened, [1, 2, 3]):
            with pytest.raises(LaminaError, match=r"record 0, field .image.: a .*(ImageFile|list), which is no picture"):
                model.predict(pd.DataFrame({"image": [value]}))
    assert len(model.predict(pd.DataFrame({"image": [picture, picture.read_bytes()]}))) == 2  # a Path, bytes


def test_an_image_model_round_trips_through_its_files(image_run, tmp_path):
    _, folder, model = image_run
    model.save(tmp_path / "saved")
    again = lamina.load(tmp_path / "saved")
    assert np.allclose(model.predict_proba(folder).to_numpy(), again.predict_proba(folder).to_numpy(), atol=1e-6)


def test_on_a_cpu_pictures_are_predicted_in_passes_of_a_bounded_number_of_pixels(image_run, monkeypatch):
    from lamina.training import batches
    from lamina.training.batches import INFERENCE_ROWS, rows_per_pass

    _, folder, model = image_run
    whole = model.predict_proba(folder).to_numpy()  # 120 pictures of 16 × 16: one pass under the default
    pictures = {"image:a": torch.zeros(3, 1, 28, 28, dtype=torch.uint8), "numbers": torch.zeros(3, 5)}
    assert rows_per_pass(pictures, "cpu") == 128 and rows_per_pass({"numbers": torch.zeros(3, 5)}, "cpu") == 4096
    assert rows_per_pass({**pictures, "image:b": torch.zeros(3, 3, 48, 48)}, "cpu") == 32  # 28² + 48² pixels a row
    assert rows_per_pass({"image:a": torch.zeros(3, 1, 128, 128)}, "cpu") == 32 == batches.MIN_PICTURE_ROWS
    assert rows_per_pass(pictures, "cpu", 64) == 64 and rows_per_pass(pictures, "cpu", 8) == 8
    assert rows_per_pass(pictures, "cuda") == INFERENCE_ROWS
    monkeypatch.setattr(batches, "CPU_PICTURE_PIXELS", 50 * 16 * 16)
    monkeypatch.setattr(batches, "MIN_PICTURE_ROWS", 1)
    passes = []
    hook = model.network.register_forward_hook(lambda module, args, output: passes.append(len(output)))
    try:
        parted = model.predict_proba(folder).to_numpy()
    finally:
        hook.remove()
    assert passes == [50, 50, 20]
    assert np.allclose(parted, whole, atol=1e-6)


def test_an_image_model_serving_both_mirror_views_exports_to_onnx_and_predicts_the_same(image_run, tmp_path):
    from lamina.cli import main

    _, folder, _ = image_run
    model = lamina.fit(folder, out=tmp_path / "run", progress=False, flip=True, **{**IMAGE_FAST, "epochs": 2})
    assert [m.mirror_views for m in model.network.modules() if isinstance(m, ResidualCNN)] == [True]
    assert main(["export", str(tmp_path / "run"), "--format", "onnx"]) == 0
    again = lamina.load(tmp_path / "run")
    eager, onnx = again.predict(folder), again.predict(folder, engine="onnx")
    assert (eager["prediction"] == onnx["prediction"]).all()
    probabilities = [column for column in eager.columns if column.startswith("proba_")]
    assert np.abs(eager[probabilities].to_numpy() - onnx[probabilities].to_numpy()).max() < 1e-4


def test_a_torchvision_named_resnet18_state_dict_starts_a_grey_image_model(tmp_path):
    from safetensors.torch import save_file

    from lamina.nets.build import build_network
    from lamina.nets.resnet18 import ResNet18
    from lamina.nets.transfer import load_backbone

    torch.manual_seed(0)
    colour = ResNet18(3, [0.5] * 3, [0.2] * 3)
    # a file as torchvision writes it: bare names, 3-channel stem, a 1000-class fc, no lamina buffers
    state = {k: v.contiguous() for k, v in colour.state_dict().items() if k not in ("mean", "std")}
    state |= {"fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    save_file(state, tmp_path / "resnet18.safetensors")
    spec = {"numbers": 0, "categories": [], "texts": {}, "images": {"image": {"channels": 1, "size": 32,
                                                                              "mean": [0.5], "std": [0.2]}}}
    network = build_network("resnet18", spec, 3, dropout=0.0, crop_padding=0, flip=False, cutout=0)
    load_backbone(network, str(tmp_path / "resnet18.safetensors"))
    loaded = network.state_dict()
    assert torch.equal(loaded["backbones.image.layer3.0.downsample.0.weight"], state["layer3.0.downsample.0.weight"])
    assert torch.allclose(loaded["backbones.image.conv1.weight"], state["conv1.weight"].sum(1, keepdim=True))
    assert network.eval()(
        {"numbers": torch.zeros(2, 0), "categories": torch.zeros(2, 0, dtype=torch.long),
         "image:image": torch.randint(0, 255, (2, 1, 32, 32), dtype=torch.uint8)}).shape == (2, 3)


def test_a_server_takes_images_as_base64_and_never_as_paths(image_run):
    import base64
    import io

    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app
    from lamina.serving.sources import find_models

    root, folder, model = image_run
    client = TestClient(create_app(find_models(root / "run")))
    paths = read_table(folder)["image"].iloc[[0, -1]].tolist()
    encoded = [base64.b64encode(open(p, "rb").read()).decode() for p in paths]
    answer = client.post("/predict", json={"records": [{"image": e} for e in encoded]})
    assert answer.status_code == 200, answer.text
    expected = model.predict(pd.DataFrame({"image": paths}))
    served = [r["prediction"] for r in answer.json()["predictions"]]
    assert served == expected["prediction"].tolist()
    refused = client.post("/predict", json={"records": [{"image": paths[0]}]})
    assert refused.status_code == 422 and "not base64" in refused.json()["error"]
    buffer = io.BytesIO()
    Image.new("L", (2, 2)).save(buffer, format="PNG")
    tiny = client.post("/predict", json={"records": [{"image": base64.b64encode(buffer.getvalue()).decode()}]})
    assert tiny.status_code == 422 and "2×2 pixels" in tiny.json()["error"]
    broken = base64.b64encode(b"no picture at all").decode()
    many = client.post("/predict", json={"records": [{"image": encoded[0]}] + [{"image": broken}] * 12})
    said = many.json()["error"]  # every bad one named, by its record, as a folder's files are: it named the first
    assert many.status_code == 422 and said.startswith("record 1, field 'image': not an image Pillow can read; ")
    assert "record 10, field 'image'" in said and said.endswith("; and 2 more.") and "record 0" not in said


# ---- insight on images ----------------------------------------------------------------------------

def test_pixel_attributions_sum_to_the_output_difference_and_light_up_the_stripes(image_run):
    from lamina.insight.explain import explain_rows

    _, folder, model = image_run
    frame = read_table(folder).iloc[[0, 1, -2, -1]]
    explanation = explain_rows(model, frame)
    difference = np.abs(np.array(explanation["output"]) - np.array(explanation["baseline_output"]))
    assert explanation["completeness_gap"] <= 0.05 * difference.max() + 1e-3
    maps = np.array(explanation["pixels"])
    assert maps.shape == (4, 16, 16) and np.abs(maps).sum() > 0
    assert len(explanation["overlays"]) == 4 and explanation["overlays"][0].startswith("iVBOR")  # PNG magic


def test_pgd_on_pixels_lowers_accuracy_and_adversarial_training_raises_robust_accuracy(image_run):
    from lamina.insight.robustness import attack_surface, image_space, pgd, robustness_curve

    root, folder, standard = image_run
    frame = read_table(folder)
    curve = robustness_curve(standard, frame, budgets=(0.0, 64 / 255))  # stripes of 160 grey levels need a lot
    assert curve["unit"] == "fraction of the pixel range" and not curve["masking_suspected_at"]
    assert curve["curve"][1]["pgd"] < curve["clean"] - 0.2
    assert curve["large_budget"]["pgd"] <= 0.1  # at half the pixel range no model should survive
    robust = lamina.fit(folder, progress=False, adversarial="pgd", adversarial_budget=48 / 255, **IMAGE_FAST)
    space = image_space("image")
    inputs = standard.features.transform(frame)
    targets = torch.from_numpy(standard.target.encode(frame["label"]).copy())

    def robust_accuracy(model):
        network = model.network.eval()
        attacked = pgd(attack_surface(network, inputs, space), targets, 48 / 255, space,
                       generator=torch.Generator().manual_seed(0))
        assert attacked.min() >= 0 and attacked.max() <= 255  # pixels stay pixels
        with torch.no_grad():
            return (network({**inputs, space.key: attacked}).argmax(1) == targets).float().mean().item()

    assert robust_accuracy(robust) >= robust_accuracy(standard) + 0.2


def test_the_robustness_audit_attacks_a_pass_of_rows_at_a_time(image_run, monkeypatch):
    from lamina.insight.robustness import robustness_curve
    from lamina.training import batches

    _, folder, model = image_run
    frame = read_table(folder)
    whole = robustness_curve(model, frame, budgets=(0.0, 64 / 255))  # 120 pictures of 16²: one pass
    seen = []
    forward = ResidualCNN.forward

    def watched(self, images):
        seen.append(len(images))
        return forward(self, images)

    monkeypatch.setattr(ResidualCNN, "forward", watched)
    monkeypatch.setattr(batches, "rows_per_pass", lambda inputs, device, most=batches.INFERENCE_ROWS: 7)
    passes = robustness_curve(model, frame, budgets=(0.0, 64 / 255))
    assert max(seen) == 7  # 120 rows: 17 passes of 7 and one of 1
    assert passes["curve"][0] == whole["curve"][0] == {"budget": 0.0, **dict.fromkeys(("fgsm", "pgd", "random"),
                                                                                      whole["clean"])}
    one_row = 1 / len(frame)
    assert all(abs(passes["curve"][1][name] - whole["curve"][1][name]) <= 2 * one_row for name in ("fgsm", "random"))
    assert passes["curve"][1]["pgd"] < passes["clean"] - 0.2 and passes["rows"] == whole["rows"] == len(frame)


def test_a_compressed_table_named_like_an_idx_file_is_read_as_a_table(tmp_path):
    import gzip

    with gzip.open(tmp_path / "my_idx.csv.gz", "wt") as stream:
        stream.write("x,y\n1,a\n2,b\n")
    assert read_table(tmp_path / "my_idx.csv.gz").to_dict("list") == {"x": [1, 2], "y": ["a", "b"]}
