"""How good a GAN's images are, measured on held-out images (the generate task's `score`).

- lamina-FD: the Fréchet distance (Heusel et al. 2017; torchmetrics' FrechetInceptionDistance with a custom
  feature module) between the test images and generated ones, on the features of a small residual CNN trained
  to classify the training split (without classes: the same CNN untrained). It is NOT Inception-FID and not
  comparable with papers' numbers. Beside it, the floor of real against real (training images against test
  images: what a perfect generator would score) and a baseline: a Gaussian per class in pixel space (its mean and
  its covariance's top principal components), which any useful GAN beats.
- With classes, the classifier's accuracy on generated images of each class, beside its accuracy on real test
  images of that class.
- Memorisation: each image's distance to its nearest training image, for generated images and for real test
  images (which were never trained on); a generated image nearer than almost every test image is a likely copy.
- Diversity: the mean distance between images of a class in the classifier's features, generated against real;
  far lower means mode collapse (the generator draws a few images over and over).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from torch import nn

EVAL_IMAGES = 2000  # test images (and as many generated) each Fréchet distance compares, at most
# The feature classifier is kept small so that scoring costs a fraction of training on a CPU (about 87% test
# accuracy on Fashion-MNIST is enough to tell classes and measure distances in its features).
CLASSIFIER_IMAGES = 5000  # training images the feature classifier learns from, at most
CLASSIFIER_STEPS = 240  # optimiser steps (batches of 128) the classifier trains for, whatever the data size
CLASSIFIER_WIDTH = 8  # channels of the classifier's first stage (ResidualCNN; 8× at its features)
CLASSIFIER_LR = 2e-3  # AdamW peak learning rate
PER_CLASS = 200  # generated images per class for the accuracy and diversity
NEAREST_IMAGES = 500  # generated and test images whose nearest training image is looked up
COPY_PERCENTILE = 1.0  # a generated image nearer its nearest training image than this percentile of test images'
GAUSSIAN_RANK = 50  # principal components of each class's pixel covariance the baseline keeps
GAUSSIAN_IMAGES = 2000  # training images per class the baseline is fitted on, at most
COLLAPSE_RATIO = 0.5  # generated diversity below this share of the real one is reported as mode collapse
CHUNK = 500  # images per forward pass
NOTE = ("lamina-FD is the Fréchet distance on the features of a small CNN classifier trained on this run's training "
        "split: not Inception-FID, not comparable with papers' FID values; compare it with the real-vs-real floor and "
        "the Gaussian baseline beside it.")


def quality(task, model, prepared) -> tuple[dict, pd.DataFrame]:
    """(model.metrics, a table with a row per class) for a trained generate model; see the module's docstring."""
    source = torch.Generator().manual_seed(prepared.seed)
    train, test = prepared.images["train"], prepared.images["test"]
    train_labels, test_labels = prepared.labels["train"], prepared.labels["test"]
    classifier = train_classifier(task, prepared, source)
    features = classifier[0] if task.conditional else classifier
    picked = torch.randperm(len(test), generator=source)[:EVAL_IMAGES]
    real, real_labels = test[picked], test_labels[picked]
    generated = torch.from_numpy(task.draw(model, real_labels, prepared.seed))
    fd = {"generated": frechet(features, real, generated),
          "real": frechet(features, real, train[torch.randperm(len(train), generator=source)[:len(real)]]),
          "gaussian": frechet(features, real, gaussian_baseline(train, train_labels, real_labels, source))}
    classes = task.classes_ or ["all images"]
    wanted = torch.arange(len(classes)).repeat_interleave(PER_CLASS)
    drawn = torch.from_numpy(task.draw(model, wanted, prepared.seed + 1))
    per_class = pd.DataFrame({"class": classes})
    per_class["generated_diversity"], per_class["real_diversity"] = (
        _diversity(features, images, labels, len(classes)) for images, labels in ((drawn, wanted), (test, test_labels)))
    per_class["diversity_ratio"] = per_class["generated_diversity"] / per_class["real_diversity"]
    metrics = {"note": NOTE, "fd": fd, "fd_images": len(real),
               "feature_extractor": (f"ResidualCNN width {CLASSIFIER_WIDTH}, trained to classify the training split"
                                     if task.conditional else f"ResidualCNN width {CLASSIFIER_WIDTH}, untrained "
                                     "(random weights: the data has no classes to train it on)")}
    if task.conditional:
        per_class["generated_accuracy"] = _per_class_accuracy(classifier, drawn, wanted, len(classes))
        per_class["real_accuracy"] = _per_class_accuracy(classifier, test, test_labels, len(classes))
        metrics["generated_accuracy"] = float(per_class["generated_accuracy"].mean())
        metrics["classifier_test_accuracy"] = float((_predict(classifier, test) == test_labels).float().mean())
    metrics["memorisation"] = memorisation(train, generated[:NEAREST_IMAGES], real[:NEAREST_IMAGES])
    collapsed = per_class.loc[per_class["diversity_ratio"] < COLLAPSE_RATIO, "class"].tolist()
    metrics["diversity"] = {"ratio": float(per_class["diversity_ratio"].mean()), "collapsed": collapsed,
                            "threshold": COLLAPSE_RATIO}
    metrics["per_class"] = per_class.to_dict(orient="records")
    return metrics, per_class


def train_classifier(task, prepared, source: torch.Generator) -> nn.Module:
    """A ResidualCNN with a linear head, trained for CLASSIFIER_STEPS on (at most CLASSIFIER_IMAGES) training
    images to tell the classes apart; without classes, the CNN alone with its random weights. On the CPU, in eval
    mode, with `num_features` set for torchmetrics."""
    from lamina.nets.cnn import ResidualCNN
    from lamina.training.batches import TensorBatches
    from lamina.training.trainer import Trainer

    images, labels = prepared.images["train"], prepared.labels["train"]
    pixels = images[:1000].float() / 255
    backbone = ResidualCNN(task.channels_, task.side_, pixels.mean(dim=(0, 2, 3)).tolist(),
                           pixels.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist(), CLASSIFIER_WIDTH, 1)
    backbone.num_features = backbone.features
    if not task.conditional:
        return backbone.eval()
    network = nn.Sequential(backbone, nn.Linear(backbone.features, len(task.classes_)))
    chosen = torch.randperm(len(images), generator=source)[:CLASSIFIER_IMAGES]
    batches = TensorBatches(images[chosen], labels[chosen], min(128, len(chosen)), shuffle=True, seed=prepared.seed)
    Trainer(network, nn.functional.cross_entropy, epochs=math.ceil(CLASSIFIER_STEPS / len(batches)), lr=CLASSIFIER_LR, warmup_epochs=0.5,
            device=prepared.device, precision=prepared.precision, seed=prepared.seed, progress=False).fit(batches)
    return network.cpu().eval()


@torch.no_grad()
def _outputs(network: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([network(chunk).float() for chunk in images.split(CHUNK)])


def _predict(classifier: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return _outputs(classifier, images).argmax(dim=1)


def _per_class_accuracy(classifier, images, labels, classes: int) -> list[float]:
    right = (_predict(classifier, images) == labels).float()
    return [float(right[labels == c].mean()) if (labels == c).any() else math.nan for c in range(classes)]


def _diversity(features: nn.Module, images, labels, classes: int) -> list[float]:
    """Per class: the mean distance between two images' features (at most PER_CLASS images a class)."""
    values = []
    for c in range(classes):
        chosen = images[labels == c][:PER_CLASS] if classes > 1 else images[:PER_CLASS]
        values.append(float(torch.pdist(_outputs(features, chosen)).mean()) if len(chosen) > 1 else math.nan)
    return values


@torch.no_grad()
def frechet(features: nn.Module, real: torch.Tensor, other: torch.Tensor) -> float:
    """The Fréchet distance between the feature distributions of two sets of uint8 images (torchmetrics)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=features, input_img_size=tuple(real.shape[1:]))
    for images, is_real in ((real, True), (other, False)):
        for chunk in images.split(CHUNK):
            metric.update(chunk, real=is_real)
    return float(metric.compute())


def gaussian_baseline(train: torch.Tensor, train_labels: torch.Tensor, labels: torch.Tensor,
                      source: torch.Generator) -> torch.Tensor:
    """uint8 images like `train`, one of each class in `labels`, drawn from a Gaussian fitted to that class's
    training pixels: its mean and the top GAUSSIAN_RANK principal components of its covariance."""
    drawn = torch.empty((len(labels), *train.shape[1:]), dtype=torch.uint8)
    for c in labels.unique().tolist():
        pixels = train[train_labels == c][:GAUSSIAN_IMAGES].flatten(1).float() / 255
        mean = pixels.mean(dim=0)
        rank = max(1, min(GAUSSIAN_RANK, len(pixels) - 1))
        _, spread, directions = torch.svd_lowrank(pixels - mean, q=rank, niter=4)
        wanted = labels == c
        noise = torch.randn(int(wanted.sum()), rank, generator=source)
        sample = mean + (noise * spread / math.sqrt(max(1, len(pixels) - 1))) @ directions.T
        drawn[wanted] = (sample.clamp(0, 1) * 255).round().to(torch.uint8).view(-1, *train.shape[1:])
    return drawn


def memorisation(train: torch.Tensor, generated: torch.Tensor, test: torch.Tensor) -> dict:
    """Nearest-training-image distances (root mean squared pixel difference, pixels in [0, 1]) of generated and of
    real test images: their medians, and the share of generated images nearer than COPY_PERCENTILE % of the test
    images are (about that share for a generator that copies nothing)."""
    nearest_generated, nearest_test = (_nearest(train, images) for images in (generated, test))
    threshold = float(np.percentile(nearest_test, COPY_PERCENTILE))
    return {"generated_median": float(np.median(nearest_generated)), "test_median": float(np.median(nearest_test)),
            "copy_threshold": threshold, "copies": float((nearest_generated < threshold).mean()),
            "expected_copies": COPY_PERCENTILE / 100, "images": len(generated)}


@torch.no_grad()
def _nearest(train: torch.Tensor, images: torch.Tensor) -> np.ndarray:
    queries = images.flatten(1).float() / 255
    best = torch.full((len(queries),), math.inf)
    for chunk in train.split(5000):
        best = torch.minimum(best, torch.cdist(queries, chunk.flatten(1).float() / 255).min(dim=1).values)
    return (best / math.sqrt(queries.shape[1])).numpy()
