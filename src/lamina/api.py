"""fit() and load(): the flow read → schema → checks → split → features → network → training → Model,
and the run folder that records it (config.yaml, model/, checkpoints/, history.csv, metrics.json,
checks.json, test_predictions.csv, report.html)."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.config import Config, parse_duration
from lamina.data.checks import Finding, has_errors, require_enough_rows, run_checks
from lamina.data.images import LABEL_COLUMN, drop_unreadable, is_image_source, test_images_beside
from lamina.data.read import read_table
from lamina.data.schema import PICTURE_KINDS, Schema, infer_schema
from lamina.data.split import split_rows
from lamina.errors import LaminaError
from lamina.evaluation.metrics import class_prior
from lamina.features.pipeline import DENSE_KINDS, FeaturePipeline
from lamina.features.target import TargetEncoder
from lamina.model import Model, read_model_document
from lamina.nets.build import build_network
from lamina.nets.pretrained import hugging_face_config, pretrained_folder
from lamina.nets.recipe import (
    TEXT_ARCHITECTURES,
    choose_architecture,
    epochs_and_batch_size,
    label_smoothing,
    learning_rate,
)
from lamina.nets.transfer import load_backbone
from lamina.plain import json_safe
from lamina.serving.profile import build_profile
from lamina.training.batches import TensorBatches
from lamina.training.trainer import Trainer, cpu_has_bf16, resolve_device

CONFIG_FILE = "config.yaml"
TABLE_ADVERSARIAL_BUDGET = 0.2  # L∞, normal-score units: about a fifth of a standard deviation
IMAGE_ADVERSARIAL_BUDGET = 8 / 255  # L∞, fraction of the pixel range: the usual CIFAR/MNIST-scale radius


def load(directory):
    """The model in a run or model folder: a Model from `lamina train`, a ForecastModel from `lamina forecast`."""
    from lamina.forecast.model import FORECAST_KIND, ForecastModel

    folder, document = read_model_document(directory)
    if document.get("kind") == FORECAST_KIND:
        return ForecastModel.from_document(folder, document)
    return Model.from_document(folder, document)


def resolve_config(config=None, **overrides) -> Config:
    if config is None:
        base = Config()
    elif isinstance(config, Config):
        base = config
    elif isinstance(config, dict):
        base = Config.from_dict(config)
    else:
        base = Config.from_file(config)
    return base.with_overrides(**overrides)


def fit(data, target: str | None = None, *, test=None, config=None, out=None, progress: bool = True,
        **overrides) -> Model:
    """Train a model on a table (path or DataFrame) to predict `target`.

    `overrides` are config settings by name (epochs=5, width=128, ...). With `out`, a run folder is
    written there (checkpoints included, so `resume_run(out)` can continue after an interruption).
    """
    path = str(Path(data).resolve()) if isinstance(data, (str, Path)) else None
    if test is None and path is not None:
        test = test_images_beside(Path(path))  # a folder of idx files brings its official test split
    test_path = str(Path(test).resolve()) if isinstance(test, (str, Path)) else None
    config = resolve_config(config, target=target or implied_target(data), path=path, test=test_path, **overrides)
    frame, test_frame = _tables_of(config, data, test)
    return _train(config, frame, test_frame, Path(out) if out else None, resume=False, progress=progress)


def implied_target(data) -> str | None:
    """Image folders and array files name their classes in the `label` column they are read into."""
    if isinstance(data, (str, Path)) and is_image_source(Path(data)):
        return LABEL_COLUMN
    return None


def resume_run(run_dir, progress: bool = True) -> Model:
    """Continue an interrupted run from its last checkpoint; ends where an uninterrupted run would."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).exists():
        raise LaminaError(f"{run_dir} is not a run folder ({CONFIG_FILE} not found). Give the --out folder of a run.")
    config = Config.from_file(run_dir / CONFIG_FILE)
    if not config.data.path:
        raise LaminaError(f"{run_dir} was trained on an in-memory table; only runs trained from a file can resume.")
    frame, test_frame = _tables_of(config)
    return _train(config, frame, test_frame, run_dir, resume=True, progress=progress)


def _tables_of(config: Config, data=None, test=None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The training table and the optional test table: given, or else the files a run's config names."""
    frame = read_table(data if data is not None else config.data.path, "training data")
    test = test if test is not None else config.data.test
    test_frame = read_table(test, "test data") if test is not None else None
    return frame, test_frame


@dataclass
class Prepared:
    schema: Schema
    findings: list[Finding]
    frame: pd.DataFrame  # without rows whose image cannot be read (each listed in the findings)
    test_frame: pd.DataFrame | None


def prepare(config: Config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> Prepared:
    """Schema and data-quality findings; raises on unusable data. Shared by `train` and `check`."""
    require_enough_rows(frame, config.data.target)
    overrides = dict(config.data.columns)
    if config.data.exclude_sensitive:
        overrides.update({column: "ignore" for column in config.data.sensitive if column not in overrides})
    schema = infer_schema(frame, config.data.target, config.data.task, overrides)
    findings = []
    for column, kind in ((c.name, c.kind) for c in schema.features if c.kind in PICTURE_KINDS):
        frame, skipped, notes = drop_unreadable(frame, column, kind)
        findings += [Finding("warning", f"{kind}_skipped", f"Skipped {line}.", column) for line in skipped]
        findings += [Finding("warning", f"{kind}_flawed", f"{note}.", column) for note in notes]
        if test_frame is not None and column in test_frame.columns:
            test_frame, skipped, _ = drop_unreadable(test_frame, column, kind)
            findings += [Finding("warning", f"{kind}_skipped", f"Skipped (test) {line}.", column) for line in skipped]
    findings += run_checks(frame, schema)
    if test_frame is not None and schema.target not in test_frame.columns:
        findings.append(Finding("error", "test_target_missing",
                                f"The test file has no target column {schema.target!r}; add it.", schema.target))
    return Prepared(schema, findings, frame, test_frame)


def split_labelled(config: Config, schema, frame: pd.DataFrame, test_frame: pd.DataFrame | None):
    """Rows without a target are left out (the checks report them), then split as the config says."""
    labelled = frame[frame[schema.target].notna()]
    if test_frame is not None:
        test_frame = test_frame[test_frame[schema.target].notna()]
    return split_rows(labelled, schema.target, schema.task, config.data.valid_fraction,
                      config.data.test_fraction, config.seed, test=test_frame)


def _train(config: Config, frame, test_frame, out: Path | None, resume: bool, progress: bool) -> Model:
    started = time.perf_counter()
    prepared = prepare(config, frame, test_frame)
    schema, findings, frame, test_frame = prepared.schema, prepared.findings, prepared.frame, prepared.test_frame
    if has_errors(findings):
        problems = "\n".join(f"  - {f.message}" for f in findings if f.level == "error")
        raise LaminaError(f"The data has problems that stop training:\n{problems}")
    adversary = _adversary(config, schema)  # before any fitting: a request it cannot honour fails at once
    labelled = frame[frame[schema.target].notna()]
    split = split_labelled(config, schema, frame, test_frame)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(config.to_yaml(), encoding="utf-8")

    pretrained = pretrained_folder(config.train.init_from) if any(c.kind == "text" for c in schema.features) else None
    features = FeaturePipeline(schema, config.model.image_size, pretrained_text=pretrained)
    if out is not None:
        features.set_cache_dir(out / "cache")
    features.fit(split.train)
    target = TargetEncoder(schema.task, schema.target)
    target.fit(labelled[schema.target] if target.is_classification else split.train[schema.target])
    # Test rows of a class absent from training cannot be scored honestly; say so rather than guess.
    target.encode(split.test[schema.target])
    train_inputs, train_targets = _encoded(features, target, split.train)

    torch.manual_seed(config.seed)
    arch, hyperparameters = choose_architecture(config.model, config.train, features.spec(), train_inputs,
                                                train_targets, target.is_classification,
                                                hugging_face_config(pretrained) if pretrained else None)
    architecture = {"arch": arch, "hyperparameters": hyperparameters, "inputs": features.spec(),
                    "outputs": target.outputs}
    network = build_network(arch, architecture["inputs"], architecture["outputs"], **hyperparameters)
    freeze = None
    if config.train.init_from:
        transferred = load_backbone(network, config.train.init_from)
        freeze = (transferred, config.train.freeze_backbone) if config.train.freeze_backbone else None
    epochs, batch_size = epochs_and_batch_size(config.train, arch, len(split.train))
    device = resolve_device(config.train.device)
    lengths = _token_counts(train_inputs, architecture["inputs"]) if arch in TEXT_ARCHITECTURES else None
    train_batches = TensorBatches(train_inputs, train_targets, batch_size, shuffle=True, seed=config.seed,
                                  device=device, lengths=lengths)
    valid_batches = TensorBatches(*_encoded(features, target, split.valid), 4 * batch_size, device=device)
    precision = config.train.precision
    if precision == "auto" and device.type == "cpu" and getattr(network, "bf16_on_cpu", False) and cpu_has_bf16():
        precision = "bf16"

    trainer = Trainer(
        network, loss_for(schema.task, label_smoothing(config.train, architecture["inputs"])),
        epochs=epochs, lr=learning_rate(config.train, arch), weight_decay=config.train.weight_decay,
        warmup_epochs=config.train.warmup_epochs, clip_norm=config.train.clip_norm,
        patience=config.train.patience, time_budget=parse_duration(config.train.time_budget),
        device=config.train.device, precision=precision,
        checkpoint_dir=out / "checkpoints" if out else None, seed=config.seed, progress=progress,
        callbacks=[lambda _record: write_history(out / "history.csv", trainer.history_)] if out else [],
        adversary=adversary, freeze=freeze,
    )
    history = trainer.fit(train_batches, valid_batches, resume=resume)

    model = Model(schema, features, target, network.cpu(), architecture, baseline=_baseline(target, split.train))
    # The training rows are encoded already; predicting from them spares a second decode of every image.
    train_outputs = model.outputs_of(train_inputs)
    train_predictions = model.target.decode(train_outputs) if target.is_classification else train_outputs
    model.profile = build_profile(split.train, {c.name: c.kind for c in schema.features},
                                  pd.Series(train_predictions), schema.task)
    outputs, truth, _ = model.outputs_and_truth(split.test)
    model.metrics = {"test": model.score(outputs, truth), "baseline": model.score_baseline(truth)}
    model.training = {
        "seed": config.seed, "split": split.description, "sizes": split.sizes(),
        "epochs_run": len(history), "best_epoch": trainer.best_epoch_, "stop_reason": trainer.stop_reason_,
        "batch_size": batch_size, "device": str(device), "precision": precision,
        "init_from": config.train.init_from, "train_seconds": round(trainer.elapsed_, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
    }
    if out is not None:
        _write_run(out, model, findings, split.test, outputs, truth, config.data.sensitive)
    return model


def _adversary(config: Config, schema: Schema):
    if config.train.adversarial == "none":
        return None
    from lamina.insight.robustness import TABLE_SPACE, PGDAdversary, image_space

    images = [c.name for c in schema.features if c.kind in PICTURE_KINDS]
    if not images and not any(c.kind in DENSE_KINDS for c in schema.features):
        raise LaminaError("adversarial training perturbs numeric columns or image pixels, and this data has "
                          "neither (text and categories are discrete). Train without --adversarial; "
                          "`lamina audit` still attacks a text model on its token embeddings.")
    space = image_space(images[0]) if images else TABLE_SPACE
    budget = config.train.adversarial_budget
    if budget == "auto":
        budget = IMAGE_ADVERSARIAL_BUDGET if images else TABLE_ADVERSARIAL_BUDGET
    return PGDAdversary(budget, space, seed=config.seed)


def loss_for(task: str, label_smoothing: float = 0.0):
    """The training loss; `label_smoothing` is the share of each target's mass spread over all classes."""
    if task == "regression":
        return lambda outputs, targets: torch.nn.functional.mse_loss(outputs.squeeze(1).float(), targets)
    return partial(torch.nn.functional.cross_entropy, label_smoothing=label_smoothing)


def _encoded(features: FeaturePipeline, target: TargetEncoder, frame: pd.DataFrame):
    return features.transform(frame), torch.from_numpy(np.array(target.encode(frame[target.column])))


def _token_counts(inputs: dict, spec: dict) -> torch.Tensor:
    """Tokens per row over the text columns (padding excluded), for length-bucketed batches."""
    return sum((inputs[f"text:{name}"] != text["pad"]).sum(dim=1) for name, text in spec["texts"].items())


def _baseline(target: TargetEncoder, train: pd.DataFrame) -> dict:
    encoded = target.encode(train[target.column])
    if target.is_classification:
        return {"prior": class_prior(encoded, target.outputs)}
    return {"mean": float(target.decode(np.array([encoded.mean()]))[0])}


def write_history(path: Path, history: list[dict]) -> None:
    names = list(dict.fromkeys(k for record in history for k in record))
    temporary = path.with_suffix(".tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=names)
        writer.writeheader()
        writer.writerows(history)
    temporary.replace(path)


def _write_run(out: Path, model: Model, findings: list[Finding], test: pd.DataFrame, outputs, truth,
               sensitive: list[str]) -> None:
    from lamina.evaluation.mistakes import confident_mistakes, shows_mistakes
    from lamina.evaluation.report import write_report

    model.save(out / "model")
    if sensitive:  # declared in the config: audited on the held-out rows as part of the run
        result = model.audit(test, sensitive)
        (out / "audit.json").write_text(json.dumps(json_safe(result), indent=2), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(json_safe(model.metrics), indent=2), encoding="utf-8")
    (out / "checks.json").write_text(json.dumps([f.to_dict() for f in findings], indent=2), encoding="utf-8")
    held_out_predictions(model, test, outputs, truth).to_csv(out / "test_predictions.csv", index=False)
    if shows_mistakes(model):
        mistakes = confident_mistakes(model, test, outputs, truth)
        (out / "mistakes.json").write_text(json.dumps(mistakes), encoding="utf-8")
    write_report(out)


def held_out_predictions(model: Model, test: pd.DataFrame, outputs: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
    """The held-out rows' truth and outputs: everything the report's plots need, with no data re-read."""
    table = pd.DataFrame({"truth": test[model.schema.target].to_numpy()})
    if model.target.is_classification:
        table["truth_index"] = truth
        table["prediction"] = model.target.decode(outputs)
        for i, name in enumerate(model.classes):
            table[f"proba_{name}"] = outputs[:, i]
    else:
        table["prediction"] = outputs
    return table


def held_out_rows(run_dir: Path) -> pd.DataFrame:
    """The run's test rows, re-made from its config.yaml (same files, same seed → same split)."""
    config = Config.from_file(Path(run_dir) / CONFIG_FILE)
    if not config.data.path:
        raise LaminaError(f"{run_dir} was trained on an in-memory table; give rows to check with --data FILE.")
    prepared = prepare(config, *_tables_of(config))
    return split_labelled(config, prepared.schema, prepared.frame, prepared.test_frame).test
