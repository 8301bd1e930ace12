"""Generation: images (class folders, idx/.npz/.npy arrays, or a table with a column of image paths) → a GAN
that draws new images like them, of a chosen class when the images have labels.

The networks are nets/gan.py's DCGAN pair; this task owns their training step: the hinge loss (Lim & Ye 2017;
Miyato et al. 2018), one discriminator step then one generator step per batch, each player with its own Adam
through the Trainer's verbs (so precision, schedules, checkpoints of both players and both optimisers, SIGTERM
and resume are the Trainer's), then the generator's moving average is updated. Every epoch a grid of images
drawn from fixed noise is kept (checkpoints/samples/), which the report shows as training went.

Quality is measured, not claimed (tasks.generate_quality): a Fréchet distance on the features of a small
classifier trained on the training split, beside the real-vs-real floor and a per-class Gaussian baseline; the
classifier's accuracy on generated images of each class; a memorisation check; sample diversity.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.data.checks import Finding
from lamina.data.images import LABEL_COLUMN, drop_unreadable, looks_like_arrays, looks_like_image_paths
from lamina.errors import LaminaError, did_you_mean
from lamina.nets.build import build_network, names
from lamina.tasks.base import FRACTIONS, Prepared, Task, register_task

MIN_IMAGES = 100  # fewer and a GAN can only memorise (and the held-out scores would rest on a handful of images)
MIN_PER_CLASS = 10  # images of each class, for a conditional model
DEFAULTS = {"width": 32,  # channels of the discriminator's first layer and the generator's last; doubled per halving
            "latent": 64,  # dimensions of the generator's noise
            "ema_decay": 0.999}  # per generator step, of the averaged generator samples are drawn from
LEARNING_RATE = 2e-4  # Adam, both players (DCGAN's setting)
BETAS = (0.0, 0.9)  # Adam's moment decays: no momentum, as SNGAN trains its hinge-loss GANs
BATCH_SIZE = 64  # images per step (DCGAN's setting)
STEPS_PER_RUN = 3000  # generator steps a default run aims at; epochs follow (1 to 200)
MAX_REQUEST = 64  # images one request to the server may ask for
GRID_COLUMNS = 8  # images per row of a grid (per class in a conditional model's grid)
MAX_IMAGES = 10_000  # per generate call: uint8 images held at once, and a grid PIL can still write
GRID_SEED = 1234  # the fixed noise each epoch's grid is drawn from, so grids compare across epochs
SAMPLES = "samples"  # the folder under checkpoints/ that keeps each epoch's grid
DRAW_BATCH = 256  # images generated at once


@dataclass
class ImagesPrepared(Prepared):
    images: dict[str, torch.Tensor] | None = None  # part → uint8 [rows, channels, side, side]
    labels: dict[str, torch.Tensor] | None = None  # part → int64 [rows] (zeros without classes)
    description: str = ""  # how the split was made
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"

    def split_sizes(self) -> dict[str, int]:
        return {part: len(images) for part, images in self.images.items()}


@register_task
class GenerateTask(Task):
    name = "generate"
    aliases = ("generation", "gan")
    settings = (*FRACTIONS, "image_size")
    reads = "latent"
    route = "generate"
    playground = "generate"  # a grid of generated images and a class picker
    # A GAN's losses say little about its images, so no validation score picks an epoch: the last weights are kept.
    monitor = "no validation score"
    _samples: Path | None = None  # where each epoch's grid goes (the run's checkpoints/samples/), while training

    @property
    def conditional(self) -> bool:
        return bool(self.classes_)

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> ImagesPrepared:
        from lamina.data.split import split_rows
        from lamina.features.image import ImageEncoder

        if config.model.arch not in ("auto", *names(self.reads)):
            build_network(config.model.arch, {}, 1, reads=self.reads)  # raises the error naming the registered ones
        self.image_column_ = _image_column(frame, config)
        label = config.data.target
        if label is not None and label not in frame.columns and label != LABEL_COLUMN:  # "label" is only implied
            raise LaminaError(f"--target {label!r} is not a column of the training data (columns: "
                              f"{', '.join(map(str, frame.columns))}). Name the column of classes, or leave --target "
                              "out to generate without classes.")
        self.label_column_ = label if label in frame.columns and label != self.image_column_ else None
        findings: list[Finding] = []
        frames = {"train": frame, **({"test": test_frame} if test_frame is not None else {})}
        for part, table in frames.items():
            table, skipped, _ = drop_unreadable(table, self.image_column_, "image", config.model.image_size)
            if skipped:
                findings.append(Finding("warning", "unreadable_images", f"{len(skipped)} unreadable image(s) of the "
                                        f"{part} data were left out; first: {skipped[0]}", self.image_column_))
            if self.label_column_:
                missing = table[self.label_column_].isna()
                if missing.any():
                    findings.append(Finding("warning", "missing_labels", f"{int(missing.sum())} image(s) of the "
                                            f"{part} data have no class and were left out.", self.label_column_))
                table = table[~missing]
            frames[part] = table.reset_index(drop=True)
        frame = frames["train"]
        self.classes_ = (sorted(frame[self.label_column_].astype(str).unique()) if self.label_column_ else [])
        _require_enough(frame, self.label_column_, self.classes_)
        encoder = ImageEncoder(self.image_column_, config.model.image_size).fit(frame[self.image_column_])
        self.side_, self.channels_ = encoder.size_, encoder.channels_
        target = self.label_column_ or "_row"
        rows = pd.DataFrame({"_row": np.arange(len(frame)),
                             **({target: frame[target].astype(str)} if self.label_column_ else {})})
        test_rows = None
        if "test" in frames:
            test_rows = pd.DataFrame({"_row": np.arange(len(frames["test"])) + len(frame)})
            if self.label_column_:
                test_rows[target] = frames["test"][self.label_column_].astype(str)
                unknown = sorted(set(test_rows[target]) - set(self.classes_))
                if unknown:
                    raise LaminaError(f"The test data has classes the training data lacks: {', '.join(unknown[:5])}. "
                                      "A generator cannot be judged on classes it never saw; remove them.")
        split = split_rows(rows, target, "classification" if self.label_column_ else "regression",
                           config.data.valid_fraction, config.data.test_fraction, config.seed, test_rows)
        everything = pd.concat([frame, frames["test"]], ignore_index=True) if "test" in frames else frame
        images, labels = {}, {}
        for part in ("train", "valid", "test"):
            chosen = everything.iloc[getattr(split, part)["_row"].to_numpy()]
            images[part] = encoder.transform(chosen[self.image_column_])
            labels[part] = torch.tensor(self.class_indices(chosen[self.label_column_]) if self.label_column_
                                        else np.zeros(len(chosen), dtype=np.int64))
        return ImagesPrepared(findings, images, labels, split.description, config.seed, config.train.device,
                              config.train.precision)

    def class_indices(self, values: pd.Series) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.classes_)}
        return values.astype(str).map(index).to_numpy(dtype=np.int64)

    def fit(self, config, prepared: ImagesPrepared, session):
        from lamina.training.batches import TensorBatches

        model, train = config.model, config.train
        hyperparameters = {**DEFAULTS, **({"width": model.width} if model.width != "auto" else {})}
        architecture = {"arch": "dcgan", "hyperparameters": hyperparameters, "outputs": 1,
                        "inputs": {"side": self.side_, "channels": self.channels_, "classes": len(self.classes_)}}
        network = self.build_network(architecture)
        batch_size = min(BATCH_SIZE, len(prepared.images["train"])) if train.batch_size == "auto" else train.batch_size
        batches = TensorBatches(prepared.images["train"], prepared.labels["train"], batch_size, shuffle=True,
                                seed=config.seed)
        epochs = min(200, max(1, math.ceil(STEPS_PER_RUN / len(batches)))) if train.epochs == "auto" else train.epochs
        self._samples = session.run.checkpoints / SAMPLES if session.run is not None else None
        trainer = session.trainer(network, self, epochs=epochs, lr=LEARNING_RATE if train.lr == "auto" else train.lr,
                                  weight_decay=0.0, warmup_epochs=0.0, clip_norm=None, patience=None)
        # The validation images only feed the discriminator's held-out score; the batches are never shuffled.
        history = trainer.fit(batches, TensorBatches(prepared.images["valid"], prepared.labels["valid"], 512),
                              resume=session.resume)
        training = {"seed": config.seed, "epochs_run": len(history), "stop_reason": trainer.stop_reason_,
                    "generator_steps": int(network.updates), "seconds": round(trainer.elapsed_, 2),
                    "batch_size": batch_size, "split": prepared.description,
                    "sizes": prepared.split_sizes(),
                    "classes": self.classes_}
        return network.eval(), architecture, training

    def build_network(self, architecture: dict) -> torch.nn.Module:
        spec = architecture["inputs"]
        if (spec["side"], spec["channels"], spec["classes"]) != (self.side_, self.channels_, len(self.classes_)):
            raise ValueError("the architecture's image side, channels or classes differ from the task's")
        return build_network(architecture["arch"], spec, 1, reads=self.reads, **architecture["hyperparameters"])

    # The Trainer's step: hinge loss, one discriminator step then one generator step.
    def optimizers(self, module, lr: float, weight_decay: float) -> dict[str, torch.optim.Optimizer]:
        return {"discriminator": torch.optim.Adam(module.discriminator.parameters(), lr, betas=BETAS),
                "generator": torch.optim.Adam(module.generator.parameters(), lr, betas=BETAS)}

    def training_step(self, module, batch, trainer) -> torch.Tensor:
        images, labels = batch
        real = images.float() / 127.5 - 1
        labels = labels if self.conditional else None
        noise = torch.randn(len(real), module.latent, device=real.device)
        with trainer.autocast():
            fake = module.generator(noise, labels).detach()
            critic = (torch.relu(1 - module.discriminator(real, labels)).mean()
                      + torch.relu(1 + module.discriminator(fake, labels)).mean())
        trainer.backward(critic.float())
        trainer.optimizer_step("discriminator")
        noise = torch.randn(len(real), module.latent, device=real.device)
        with trainer.autocast():
            fooling = -module.discriminator(module.generator(noise, labels), labels).mean()
        trainer.backward(fooling.float())
        trainer.optimizer_step("generator")
        module.update_average()
        module.losses += torch.stack([critic.detach().float(), fooling.detach().float(), critic.new_ones(())])
        return critic.detach()

    def validate(self, module, batches, trainer) -> dict[str, float]:
        """The epoch's mean loss of each player, and the discriminator's mean score of held-out real images
        beside that of training-like ones: a held-out score falling far below hints the discriminator memorises.
        Keeps the epoch's grid of samples."""
        discriminator, generator, steps = module.losses.tolist()
        module.losses.zero_()
        scores = []
        with trainer.autocast():
            for images, labels in batches:
                scores.append(module.discriminator(images.float() / 127.5 - 1,
                                                   labels if self.conditional else None).float())
        if self._samples is not None:
            self._samples.mkdir(parents=True, exist_ok=True)
            grid = self.sample_grid(module, next(module.parameters()).device)
            (self._samples / f"epoch_{trainer.epoch_ + 1:04d}.png").write_bytes(png_bytes(grid))
        return {"discriminator_loss": discriminator / max(steps, 1), "generator_loss": generator / max(steps, 1),
                "valid_real_score": float(torch.cat(scores).mean())}

    def sample_grid(self, network, device) -> np.ndarray:
        """uint8 [channels, height, width]: a row of GRID_COLUMNS images per class (8 rows without classes), all
        from the fixed noise GRID_SEED gives."""
        rows = len(self.classes_) or GRID_COLUMNS
        noise = torch.randn(rows * GRID_COLUMNS, network.latent, generator=torch.Generator().manual_seed(GRID_SEED))
        labels = torch.arange(rows).repeat_interleave(GRID_COLUMNS)
        images = network.sample(noise.to(device), labels.to(device) if self.conditional else None)
        return tile(images.cpu().numpy(), GRID_COLUMNS)

    # ---- scores ------------------------------------------------------------------------------------------

    def score(self, model, prepared: ImagesPrepared) -> pd.DataFrame:
        from lamina.tasks.generate_quality import quality

        model.metrics, per_class = quality(self, model, prepared)
        return per_class

    def summary(self, model) -> str:
        fd = model.metrics["fd"]
        accuracy = model.metrics.get("generated_accuracy")
        what = f"; the classifier names the requested class of {accuracy:.1%} of generated images" if accuracy else ""
        return (f"lamina-FD generated vs test {fd['generated']:.2f} (real-vs-real floor {fd['real']:.2f}, per-class "
                f"Gaussian {fd['gaussian']:.2f}){what}. Not Inception-FID: not comparable with papers.")

    # ---- use ---------------------------------------------------------------------------------------------

    def generate(self, model, n: int, label=None, seed: int | None = None) -> np.ndarray:
        """uint8 images [n, channels, side, side] from the averaged generator: all of class `label` (a class
        name), or without it the classes in turn; the same `seed` gives the same images (None: fresh ones).
        Raises LaminaError for an unknown class, a class asked of a model without classes, or a bad n or seed."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_IMAGES:
            raise LaminaError(f"n (images to generate) must be a whole number from 1 to {MAX_IMAGES:,}; got {n!r}. "
                              "For more, call it several times with different seeds.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or not 0 <= seed < 2**63):
            raise LaminaError(f"seed must be a whole number from 0 to 2**63 - 1; got {seed!r}.")
        labels = torch.arange(n) % max(1, len(self.classes_))
        if label is not None:
            labels = torch.full((n,), self.class_of(label))
        return self.draw(model, labels, seed)

    def draw(self, model, labels: torch.Tensor, seed: int | None) -> np.ndarray:
        """uint8 images [rows, channels, side, side], one per class index of `labels` [rows] (ignored without
        classes), from noise the seed gives (None: fresh)."""
        noise_source = torch.Generator()
        if seed is None:
            noise_source.seed()
        else:
            noise_source.manual_seed(int(seed))
        noise = torch.randn(len(labels), model.network.latent, generator=noise_source)
        device = model.inference_device()
        drawn = [model.network.sample(noise[i:i + DRAW_BATCH].to(device),
                                      labels[i:i + DRAW_BATCH].to(device) if self.conditional else None).cpu()
                 for i in range(0, len(labels), DRAW_BATCH)]
        return torch.cat(drawn).numpy()

    def class_of(self, label) -> int:
        if not self.conditional:
            raise LaminaError("This model was trained without classes, so it cannot draw a class; leave the class "
                              "out.")
        name = str(label)
        if name not in self.classes_:
            listed = ", ".join(self.classes_[:50]) + (" ..." if len(self.classes_) > 50 else "")
            raise LaminaError(f"Unknown class {name!r}.{did_you_mean(name, self.classes_)} The model's classes: "
                              f"{listed}.")
        return self.classes_.index(name)

    def labels_of(self, n: int, label=None) -> list[str | None]:
        """The class name of each of `generate`'s n images (None without classes)."""
        if not self.conditional:
            return [None] * n
        return [self.classes_[self.class_of(label)]] * n if label is not None else \
            [self.classes_[i % len(self.classes_)] for i in range(n)]

    def predict(self, model, frame: pd.DataFrame) -> pd.DataFrame:
        raise LaminaError("A generate model draws images rather than predicting rows: use `lamina generate RUN --n 64 "
                          "--out grid.png` (Python: model.generate(64)).")

    # ---- files -------------------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"image_column": self.image_column_, "label_column": self.label_column_, "classes": self.classes_,
                "side": self.side_, "channels": self.channels_}

    @classmethod
    def from_state(cls, state: dict) -> GenerateTask:
        task = cls(cls.name)
        task.image_column_, task.label_column_ = str(state["image_column"]), state["label_column"]
        task.classes_ = list(state["classes"])
        if not all(isinstance(c, str) for c in task.classes_) or len(set(task.classes_)) != len(task.classes_):
            raise ValueError("the classes must be distinct names")
        task.side_, task.channels_ = int(state["side"]), int(state["channels"])
        if task.channels_ not in (1, 3) or task.side_ < 4:
            raise ValueError("an image has 1 or 3 channels and a side of 4 pixels or more")
        return task

    @classmethod
    def title(cls, document: dict) -> str:
        state = document["task"]["state"]
        classes = f"{len(state['classes'])} classes" if state["classes"] else "no classes"
        return f"generating {state['side']}×{state['side']} images ({classes})"

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.tasks.generate_report import generate_sections

        return generate_sections(run, document)

    # ---- serving -----------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """{"n": 16, "class": "name", "seed": 0}: n from 1 to MAX_REQUEST, class and seed optional."""
        from typing import Literal

        from pydantic import ConfigDict, Field, StrictInt, create_model

        # Only the model's classes are accepted (the 422 lists them); a model without classes takes none.
        klass = Literal[tuple(self.classes_)] | None if self.conditional else None  # type: ignore[valid-type]
        return create_model(f"{name}GenerateRequest", __config__=ConfigDict(extra="forbid", populate_by_name=True),
                            n=(StrictInt, Field(16, ge=1, le=MAX_REQUEST)),
                            label=(klass, Field(None, alias="class")),
                            seed=(StrictInt | None, Field(None, ge=0, lt=2**63)))

    def request_example(self, model) -> dict:
        return {"n": 16, **({"class": self.classes_[0]} if self.conditional else {}), "seed": 0}

    def respond(self, model, body) -> dict:
        import base64

        images = self.generate(model, body.n, body.label, body.seed)
        return {"seed": body.seed, "images": [{"class": label, "png": base64.b64encode(png_bytes(image)).decode()}
                                              for image, label in zip(images, self.labels_of(body.n, body.label),
                                                                      strict=True)]}


def _image_column(frame: pd.DataFrame, config) -> str:
    """The one column of images (arrays or picture paths); a clear refusal for a table or text without one."""
    found = [c for c in frame.columns if c != config.data.target
             and (looks_like_arrays(frame[c]) or looks_like_image_paths(frame[c]))]
    if len(found) == 1:
        return found[0]
    if not found:
        raise LaminaError(f"--task generate learns to draw images, and this data has none (its columns are "
                          f"{', '.join(map(str, frame.columns[:10]))}{' ...' if len(frame.columns) > 10 else ''}: a "
                          "table or text). Give a folder of class folders of images, idx/.npz/.npy image arrays, or a "
                          "CSV with a column of image paths (and optionally a column of classes, named by --target).")
    raise LaminaError(f"The data has {len(found)} image columns ({', '.join(found)}); --task generate learns from one. "
                      "Drop the others, or mark them --column NAME=ignore.")


def _require_enough(frame: pd.DataFrame, label: str | None, classes: list[str]) -> None:
    if len(frame) < MIN_IMAGES:
        raise LaminaError(f"The data holds {len(frame)} usable image(s); --task generate needs at least {MIN_IMAGES} "
                          "(a GAN trained on fewer can only copy them). Add images.")
    if label:
        counts = frame[label].astype(str).value_counts()
        few = counts[counts < MIN_PER_CLASS]
        if len(few):
            named = ", ".join(f"{name!r} ({count})" for name, count in few.items())
            raise LaminaError(f"Some classes have fewer than {MIN_PER_CLASS} images: {named}. Add images to them, or "
                              f"remove those classes (or leave --target out to generate without classes).")


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """uint8 images [n, channels, h, w] → one grid [channels, rows·(h+2)+2, columns·(w+2)+2], 2-pixel white gaps."""
    n, channels, height, width = images.shape
    rows = -(-n // columns)
    grid = np.full((channels, rows * (height + 2) + 2, columns * (width + 2) + 2), 255, np.uint8)
    for i, image in enumerate(images):
        top, left = 2 + (i // columns) * (height + 2), 2 + (i % columns) * (width + 2)
        grid[:, top:top + height, left:left + width] = image
    return grid


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 [channels, height, width] (1 or 3 channels) → a PNG file's bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def check_out(out: Path) -> None:
    """Raises LaminaError for an --out write_images cannot honour: an image name not ending in .png (it would be
    taken for a folder)."""
    from PIL import Image

    if out.suffix.lower() != ".png" and out.suffix.lower() in Image.registered_extensions():
        raise LaminaError(f"--out {out}: a grid is written as PNG only; end the name in .png, or give a folder name "
                          "without an image suffix for one PNG per image.")


def write_images(images: np.ndarray, labels: list[str | None], out: Path) -> list[Path]:
    """One grid PNG when `out` ends in .png (a row of GRID_COLUMNS images), else a PNG per image in the folder
    `out` (0000_CLASS.png...). Refuses to write over any existing file."""
    if out.suffix.lower() == ".png":
        targets = {out: tile(images, GRID_COLUMNS)}
    else:
        if out.exists() and not out.is_dir():
            raise LaminaError(f"--out {out} is a file; give a folder for the images, or a name ending in .png for "
                              "one grid.")
        targets = {out / f"{i:04d}{'_' + _safe(label) if label is not None else ''}.png": image
                   for i, (image, label) in enumerate(zip(images, labels, strict=True))}
    taken = [str(path) for path in targets if path.exists()]
    if taken:
        raise LaminaError(f"{taken[0]} already exists{f' (and {len(taken) - 1} more)' if len(taken) > 1 else ''}; "
                          "generated images are never written over files. Give another --out.")
    for path, image in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(image))
    return list(targets)


def _safe(name: str) -> str:
    """A class name as a file-name part: letters, digits, - and _ (others as _)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:40]
