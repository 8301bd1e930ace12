"""TableTask: the shared part of the tasks whose model reads one row (a table row, an image, a text, a clip)
and predicts its target: schema and checks, the split, the feature pipeline, the architecture recipe and
training. Classification and regression subclass it with their target, loss, metrics and outputs."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from lamina.checked import Fault
from lamina.data.checks import Finding, date_order_findings, has_errors, require_enough_rows, run_checks
from lamina.data.images import MEDIA_COLUMN_ATTR, TEST_DATA, drop_unreadable, ignored_files_note
from lamina.data.read import source_name
from lamina.data.scaffold import scaffold_column
from lamina.data.schema import PICTURE_KINDS, Schema, infer_schema, infer_task, record_date_orders
from lamina.data.split import Split, split_rows
from lamina.errors import LaminaError, capitalised, closest, column_kind_fix, quoted
from lamina.features.blocks import DENSE, EMBEDDING
from lamina.features.kinds import kind_named
from lamina.features.molecule import screen_molecule_files
from lamina.features.pipeline import FeaturePipeline
from lamina.features.target import TargetEncoder, canonical_labels
from lamina.nets.build import build_network
from lamina.tasks.base import FRACTIONS, ROW_SETTINGS, RowsPrepared, Task
from lamina.training import distributed
from lamina.training.batches import TensorBatches, batch_rows, rows_per_pass, take_rows
from lamina.training.budget import budget_record, epoch_bounds
from lamina.training.crossfit import FOLD_KEY, OutOfFold, assign_folds, held_in
from lamina.training.trainer import cpu_has_bf16, infer, resolve_device

# Training rows whose predictions make the drift profile's prediction distribution: a seeded sample of larger sets
# (its bins need no more; predicting all 51,000 Fashion-MNIST training images, both mirror views, cost about two
# thirds of a training epoch). The input columns' profiles read every training row: they cost no network pass.
PROFILE_ROWS = 10_000


@dataclass
class TablePrepared(RowsPrepared):
    frame: pd.DataFrame | None = None  # without rows whose image or audio cannot be read (listed in findings)
    train_inputs: dict | None = None  # the encoded training rows (fit): the drift profile predicts from them
    test_outputs: tuple | None = None  # (outputs, encoded truth) of the test rows (score)
    # With cross-fitted members (training.crossfit): the encoded training and validation rows, each with its fold
    # under FOLD_KEY, and their targets, whose out-of-fold outputs judged the epoch (fit) and calibrate (selection)
    cross_fit: tuple | None = None
    # (outputs [rows, outputs], targets) the calibration reads where they are not the network's on those rows: with
    # a linear model's share chosen on out-of-fold outputs (training.linear_share), the blend of both models' outputs
    selection: tuple | None = None


class TableTask(Task):
    reads = "table"
    settings = (*FRACTIONS, *ROW_SETTINGS)
    row_model = True
    folds = 0  # folds of cross-fitted members (training.crossfit) in this fit; 0: none (set by fit)
    problems: ClassVar[tuple[str, ...]]  # the schema's task values this task covers ("binary", "regression"...)

    @classmethod
    def claims(cls, config, frame: pd.DataFrame) -> bool:
        from lamina.tasks.targets import family_claims, target_names

        if config.data.horizon is not None:
            return False
        names = target_names(config.data, frame)
        if len(names) > 1 or is_all(config.data.target):
            return family_claims(cls, frame, names)
        require_enough_rows(frame, config.data.target)  # before the target's values are judged: a clearer fix
        return infer_task(frame[config.data.target], config.data.target) in cls.problems

    @classmethod
    def made_for(cls, config, frame: pd.DataFrame, requested: str) -> Task:
        """Several targets (`--target a,b` or `all`): the task's several-targets variant (tasks.targets)."""
        from lamina.tasks.targets import several, target_names

        if config.data.horizon is None and (is_all(config.data.target) or len(target_names(config.data, frame)) > 1):
            return several(cls)(requested)
        return cls(requested)

    @classmethod
    def for_document(cls, document: dict) -> Task:
        from lamina.tasks.targets import several

        name = document["task"]["name"]
        return several(cls)(name) if "targets" in document["task"]["state"] else cls(name)

    def problem(self, target: pd.Series, name: str) -> str:
        """The schema's task value: binary, multiclass or regression."""
        return infer_task(target, name, self.requested if self.requested in self.problems else "auto")

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> TablePrepared:
        data = config.data
        frame, test_frame = (with_canonical_labels(f, data.target) for f in (frame, test_frame))
        require_enough_rows(frame, data.target)  # names a missing target column too
        schema = infer_schema(frame, data.target, self.problem(frame[data.target], data.target), input_kinds(data))
        require_inputs(schema, repr(data.target))
        refuse_what_cannot_apply(config, schema, test_frame)
        if config.train.privacy:
            from lamina.training.privacy import require_private_kinds

            require_private_kinds(schema)
        tested = test_source(config)
        if test_frame is not None and data.target in test_frame and test_frame[data.target].notna().sum() == 0:
            raise LaminaError(f"{capitalised(tested)} has no value in target {data.target!r} (every row is empty): "
                              "test metrics need the true values. Label its rows, or leave --test out to split the "
                              "data.")
        frame, test_frame, findings = read_pictures(frame, test_frame, schema, config)
        findings += date_order_findings(record_date_orders(schema, frame, test_frame, data.date_order))
        findings += run_checks(frame, schema)
        findings += missing_test_columns(schema, test_frame, tested)
        split = None
        if not has_errors(findings):  # rows without a target are left out (the checks report them)
            labelled = frame[frame[schema.target].notna()]
            if test_frame is not None:
                test_frame = test_frame[test_frame[schema.target].notna()]
            refuse_unreadable_values(schema, labelled, test_frame, tested)
            split = split_rows(labelled, schema.target, schema.task, data.valid_fraction, data.test_fraction,
                               config.seed, test=test_frame, by=scaffold_column(data.split, schema))
        return TablePrepared(findings, schema, split, frame)

    def fit(self, config, prepared: TablePrepared, session):
        from lamina.insight.robustness import adversary_for
        from lamina.nets.pretrained import hugging_face_config, pretrained_folder
        from lamina.nets.recipe import (
            IMAGE_ARCHITECTURES,
            MIN_IMAGE_EPOCHS,
            TEXT_ARCHITECTURES,
            WHITENING_BIAS_SHARE,
            choose_architecture,
            cross_fit_folds,
            epochs_and_batch_size,
            label_smoothing,
            learning_rate,
            linear_share_setting,
            selection_smoothing,
        )
        from lamina.nets.transfer import load_backbone
        from lamina.nets.whiten import whitening_biases

        schema, split = prepared.schema, prepared.split
        adversary = adversary_for(config, schema)
        text = any(c.kind == "text" for c in schema.features)
        pretrained = pretrained_folder(config.train.init_from) if text else None
        self.schema_ = schema
        self.features_ = FeaturePipeline(schema, config.model.image_size, pretrained_text=pretrained)
        if session.run is not None:
            self.features_.set_cache_dir(session.run.cache)
        self.features_.fit(split.train)
        prepared.findings += _unread_text_findings(self.features_, split.train)
        self.target_ = self.fit_target(self.labelled_rows(prepared.frame), split)
        self.target_.encode(split.test[self.target_.column])  # a test class unseen in training stops here, named
        train_inputs, train_targets = self.encoded(split.train)

        torch.manual_seed(config.seed)
        spec = self.features_.spec()
        # Class-dependent choices (mirror flips keep the class?) read one class index per row: one target only.
        one_class_per_row = self.target_.is_classification and train_targets.dim() == 1
        arch, hyperparameters = choose_architecture(config.model, config.train, spec, train_inputs, train_targets,
                                                    one_class_per_row,
                                                    hugging_face_config(pretrained) if pretrained else None,
                                                    self.features_.number_layout(), distributed.launched())
        architecture = {"arch": arch, "hyperparameters": hyperparameters, "inputs": spec,
                        "outputs": self.target_.outputs, **({"private": True} if config.train.privacy else {})}
        network = self.build_network(architecture)
        freeze = None
        if config.train.init_from:
            transferred = load_backbone(network, config.train.init_from)
            freeze = (transferred, config.train.freeze_backbone) if config.train.freeze_backbone else None
        epochs, batch_size = epochs_and_batch_size(config.train, arch, len(split.train))
        device = resolve_device(config.train.device)
        lengths = _token_counts(train_inputs, spec) if arch in TEXT_ARCHITECTURES else None
        self.folds = cross_fit_folds(config.train, hyperparameters, len(split.train), distributed.launched())
        share = linear_share_setting(config.model, config.train, hyperparameters, self.folds, spec["numbers"],
                                     train_targets.dim() == 1, self.target_.is_classification,
                                     distributed.launched())
        if self.folds:  # every labelled non-test row trains, each member without its fold (training.crossfit)
            fitted_inputs, fitted_targets = self.encoded(pd.concat([split.train, split.valid]))
            fitted_inputs[FOLD_KEY] = assign_folds(fitted_targets, self.folds, config.seed)
            valid_rows = prepared.cross_fit = (fitted_inputs, fitted_targets)
        else:
            fitted_inputs, fitted_targets = train_inputs, train_targets
            valid_rows = self.encoded(split.valid)
        # The rows the network trains on: class weights (and whether early stopping follows PR-AUC) and the baseline
        # come from them, with cross-fitting the validation rows too.
        self.baseline_ = self.fit_baseline(fitted_targets.numpy())
        train_batches = TensorBatches(fitted_inputs, fitted_targets, batch_size, shuffle=True, seed=config.seed,
                                      device=device, lengths=lengths)
        valid_batches = TensorBatches(*valid_rows, rows_per_pass(valid_rows[0], device, 4 * batch_size), device=device)
        precision = config.train.precision
        if precision == "auto" and device.type == "cpu" and getattr(network, "bf16_on_cpu", False) and cpu_has_bf16():
            precision = "bf16"
        self.label_smoothing = label_smoothing(config.train, spec)
        self.adversary = adversary
        # Epochs left to the recipe: a time budget plans them (training.budget); set in the config, it is a cap.
        fewest = MIN_IMAGE_EPOCHS if arch in IMAGE_ARCHITECTURES else 1
        planned = epoch_bounds(epochs, fewest) if config.train.epochs == "auto" else None
        # A whitening layer's bias trains in the first epochs only (recipe.WHITENING_BIAS_SHARE); under several
        # processes it trains throughout, as DDP cannot change which parameters train part-way.
        biases = [] if distributed.launched() else whitening_biases(network)
        settle = (biases, WHITENING_BIAS_SHARE) if biases else None
        trainer = session.trainer(network, self, epochs=epochs, lr=learning_rate(config.train, arch, batch_size),
                                  label=_network_label(arch, hyperparameters, self.folds), precision=precision,
                                  freeze=freeze, settle=settle,
                                  # Out-of-fold scores of every row judged the epoch better unsmoothed (BENCHMARKS.md)
                                  smoothing=0.0 if self.folds else selection_smoothing(len(split.valid)),
                                  budget_epochs=planned)
        history = trainer.fit(train_batches, valid_batches, resume=session.resume)
        prepared.train_inputs = train_inputs  # score() predicts from them: no second decode of every image
        training = {"seed": config.seed, "split": split.description, "sizes": split.sizes(),
                    "epochs_run": len(history), "best_epoch": trainer.best_epoch_,
                    "stop_reason": trainer.stop_reason_, "batch_size": batch_size, "device": str(device),
                    "precision": precision, "init_from": config.train.init_from,
                    "train_seconds": round(trainer.elapsed_, 2)}
        if trainer.smoothing:
            training["selection_smoothing"] = trainer.smoothing
        if self.folds:
            training["cross_fit"] = {"folds": self.folds, "rows": len(fitted_targets)}
        if settle:
            training["whitening_bias_epochs"] = trainer.settled_epochs_
        if trainer.privacy is not None:
            training["privacy"] = trainer.privacy.record()
        if trainer.time_budget is not None:
            training["time_budget"] = budget_record(trainer)
        network = network.cpu()
        if share:
            training["linear_share"] = self.blend_linear_model(network, architecture, (fitted_inputs, fitted_targets),
                                                               share, prepared)
        return network, architecture, training

    def blend_linear_model(self, network: torch.nn.Module, architecture: dict, rows: tuple, share: float | str,
                           prepared: TablePrepared) -> dict:
        """Fit the linear model of training.linear_share on `rows` (the encoded rows the network trained on, and
        their targets) and blend it into the network with `share`, or with "auto" the share that choose_share picks
        from both models' out-of-fold `row_losses` (the rows carry their folds). Returns the training record's
        `linear_share`: the share, the linear model and, when chosen, the out-of-fold losses it was chosen on."""
        from lamina.training.linear_share import (
            blend_losses,
            choose_share,
            fit_linear,
            out_of_fold_linear,
            value_projection,
        )

        inputs, targets = rows
        network.eval()
        with torch.no_grad():
            encoded = network.encode(inputs).double().numpy()  # [rows, encoded width]
        truth = targets.numpy()
        projection = value_projection(self.features_.dense_encoders(), inputs["numbers"].shape[1],
                                      sum(e.embedding_dim for e in network.embeddings), network.encoded_width)
        values = encoded @ projection
        classification, outputs = self.target_.is_classification, self.target_.outputs
        model = fit_linear(values, truth, outputs, classification)
        out_of_fold = None if model is None or not self.folds else \
            out_of_fold_linear(values, truth, inputs[FOLD_KEY].numpy(), outputs, classification)
        if model is None or (self.folds and out_of_fold is None):
            return {"share": 0.0, "note": "a class has no row to fit the linear model on"
                                          + (" in some fold" if self.folds else "")}
        unfit = {"share": 0.0, "note": "the linear model's outputs were not finite numbers"}
        fitted = [*model.weight.flat, *model.bias, *(() if out_of_fold is None else out_of_fold.flat)]
        if not np.isfinite(fitted).all():  # a fit gone wrong must not stop a run whose network has trained
            return unfit
        record = {"share": share, "model": f"{model.name} on the number, date and category columns"}
        if self.folds:  # the rows the calibration reads: each model's out-of-fold outputs, blended
            network_outputs, encoded_truth = self.selection_outputs(network, prepared)
            linear_outputs = torch.from_numpy(out_of_fold).to(network_outputs.dtype)
            compared = (network_outputs, linear_outputs, encoded_truth, self.row_losses)
            if share == "auto":
                share, losses = choose_share(*compared)
            else:
                losses = blend_losses(*compared, share)
            if not np.isfinite(list(losses.values())).all():
                return {**unfit, "note": "its out-of-fold losses were not finite numbers"}
            record.update(share=share, loss=self.row_loss_name, out_of_fold_loss=losses)
            prepared.selection = ((1 - share) * network_outputs + share * linear_outputs, encoded_truth)
        if share:
            weight = torch.from_numpy((projection @ model.weight).T).float()  # [outputs, encoded width]
            network.install_linear_model(weight, torch.from_numpy(model.bias).float(), share)
            architecture["hyperparameters"]["linear_share"] = share
        return record

    row_loss_name: ClassVar[str]  # what row_losses measures, for the report

    def row_losses(self, outputs: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Each row's loss [rows] that a linear model's share is chosen by (training.linear_share), from raw outputs
        [rows, outputs] and encoded targets [rows]."""
        raise NotImplementedError

    def training_step(self, module: torch.nn.Module, batch, trainer) -> torch.Tensor:
        """LossStep's step, except that an ensemble (nets.mlp.TabularMLP with members) fits each member to the
        targets on its own loss, the mean over members, as TabM does: a loss on the members' mean would train them
        as one network, not as an ensemble. Cross-fitted members (training.crossfit) leave out the pairs of a row
        and a member whose fold holds it. A wrapped network (distributed, DP-SGD) trains on the mean."""
        if getattr(module, "members_count", 1) == 1 or not module.training or self.adversary is not None:
            return super().training_step(module, batch, trainer)
        inputs, targets = batch
        with trainer.autocast():
            outputs = module.members(inputs)  # [rows, members, outputs]
            outputs, targets = outputs.flatten(0, 1), targets.repeat_interleave(outputs.shape[1], dim=0)
            if self.folds:
                kept = held_in(inputs[FOLD_KEY], module.members_count, self.folds).flatten()  # [rows × members]
                outputs, targets = outputs[kept], targets[kept]
            return self.loss(outputs, targets)

    def validate(self, module: torch.nn.Module, batches, trainer) -> dict[str, float]:
        """LossStep's validation record; with cross-fitted members, of the out-of-fold outputs of every row. Images
        are read without their mirror view (nets.cnn.one_view), which saves about 7 s of a Fashion-MNIST run."""
        from lamina.nets.cnn import one_view

        with one_view(module):
            return super().validate(OutOfFold(module, self.folds) if self.folds else module, batches, trainer)

    def selection_outputs(self, network: torch.nn.Module, prepared: TablePrepared) -> tuple[torch.Tensor,
                                                                                            torch.Tensor]:
        """(raw outputs [rows, outputs], encoded targets [rows]) of the rows the best epoch was judged on, which a
        temperature and a decision threshold are fitted on: the validation rows, or with cross-fitted members the
        out-of-fold outputs of every training and validation row (blended with a linear model's where one was
        blended in: training.linear_share)."""
        if prepared.selection is not None:
            return prepared.selection
        if prepared.cross_fit is None:
            return self.raw_outputs(network, prepared.split.valid)
        inputs, truth = prepared.cross_fit
        device = next(network.parameters()).device
        batches = TensorBatches(inputs, truth, rows_per_pass(inputs, device), device=device)
        return infer(OutOfFold(network, self.folds), batches, device), truth

    def predict(self, model, frame: pd.DataFrame, engine: str = "torch") -> pd.DataFrame:
        """One row per input row: `prediction` (and what the task adds, e.g. `proba_<class>`). An infinite number
        (inf, -Infinity, 1e400) in a number column is a LaminaError naming column and row, as POST /predict
        answers it 422: read as missing (as training does, with a finding) it would predict silently."""
        self._refuse_infinite(frame)
        return self.prediction_frame(self.predict_array(model, frame, engine), frame.index)

    def _refuse_infinite(self, frame: pd.DataFrame) -> None:
        from lamina.errors import row_name
        from lamina.features.numeric import NumberEncoder

        for name, encoder in self.features_.encoders.items():
            if type(encoder) is not NumberEncoder or name not in frame:  # a kind of one's own reads its own text
                continue
            values = frame[name]
            try:
                numbers = values if pd.api.types.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
                infinite = np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan))
            except (TypeError, ValueError):  # lists, booleans...: the encoder refuses them, naming the value
                continue
            if infinite.any():
                position = int(np.argmax(infinite))
                raise LaminaError(f"Column {name!r}, {row_name(frame.index[position])}: {quoted(values.iloc[position])} is "
                                  "an infinite number. Give a finite number, or leave the cell empty where it is "
                                  "unknown.")

    def build_network(self, architecture: dict) -> torch.nn.Module:
        """Raises Fault where the architecture's inputs or outputs differ from what the encoders give and the target
        needs (a damaged model.json), so weights that fit the architecture fit the encoders too."""
        stored, needed = architecture["inputs"] or {}, self.features_.spec()
        # A block older files lack (format 1 has no images) is an empty one: {} or [] or 0.
        for key, stored_part, needed_part in [*((f"inputs.{k}", stored.get(k, type(needed[k])()), needed[k])
                                                for k in needed),
                                              ("outputs", architecture["outputs"], self.target_.outputs)]:
            if stored_part != needed_part:
                raise Fault(f"architecture.{key}", f"{reprlib.repr(stored_part)} differs from what the task's "
                                                   f"encoders and target give ({reprlib.repr(needed_part)})")
        network = build_network(architecture["arch"], architecture["inputs"], architecture["outputs"],
                                **architecture["hyperparameters"])
        if architecture.get("private"):  # trained with DP-SGD: its BatchNorm layers were replaced by GroupNorm
            from lamina.training.privacy import private_network

            network = private_network(network)
        return network

    def raw_outputs(self, network: torch.nn.Module, rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's raw outputs [rows, outputs] (logits, before finish_outputs) and the encoded targets of
        these labelled rows, e.g. the validation rows a calibration is fitted on."""
        inputs, truth = self.encoded(rows)
        device = next(network.parameters()).device
        return infer(network, TensorBatches(inputs, truth, rows_per_pass(inputs, device), device=device), device), truth

    def labelled_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows with a target value (the rest cannot be learnt from)."""
        return frame[frame[self.schema_.target].notna()]

    def encoded(self, frame: pd.DataFrame):
        return self.features_.transform(frame), torch.from_numpy(np.array(self.target_.encode(frame[self.target_.column])))

    def score(self, model, prepared: TablePrepared) -> pd.DataFrame:
        from lamina.serving.profile import build_profile, date_orders_of

        split, schema = prepared.split, prepared.schema
        rows = len(split.train)
        sample = slice(None) if rows <= PROFILE_ROWS else \
            torch.randperm(rows, generator=torch.Generator().manual_seed(0))[:PROFILE_ROWS].sort().values
        train_outputs = self.outputs_of(model, take_rows(prepared.train_inputs, sample))
        model.profile = build_profile(split.train, {c.name: c.kind for c in schema.features},
                                      pd.Series(self.decoded(train_outputs)), schema.task, date_orders_of(schema))
        outputs, truth, _ = self.outputs_and_truth(model, split.test)
        model.metrics = {"test": self.metrics(outputs, truth), "baseline": self.baseline_metrics(truth)}
        prepared.test_outputs = (outputs, truth)
        return with_row_keys(self.held_out_table(split.test[self.target_.column], outputs, truth), split.test, schema)

    def after_training(self, model, prepared: TablePrepared, run, config) -> None:
        from lamina.evaluation.mistakes import confident_mistakes, shows_mistakes
        from lamina.run import AUDIT, MISTAKES

        test = prepared.split.test
        if config.data.sensitive:  # declared in the config: audited on the held-out rows as part of the run
            run.write_json(AUDIT, model.audit(test, config.data.sensitive))
        if shows_mistakes(model):
            run.write_json(MISTAKES, confident_mistakes(model, test, *prepared.test_outputs))

    # ---- what subclasses define --------------------------------------------------------------------------

    def fit_target(self, labelled: pd.DataFrame, split: Split) -> TargetEncoder:
        raise NotImplementedError

    def fit_baseline(self, encoded_targets: np.ndarray) -> dict:
        raise NotImplementedError

    def finish_outputs(self, raw: torch.Tensor) -> np.ndarray:
        """Raw network outputs [rows, outputs] → what predict_array returns."""
        raise NotImplementedError

    def decoded(self, outputs: np.ndarray) -> np.ndarray:
        """predict_array's outputs → the prediction column [rows]."""
        raise NotImplementedError

    def metrics(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def baseline_metrics(self, truth: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def held_out_table(self, truth_values: pd.Series, outputs: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
        raise NotImplementedError

    def prediction_frame(self, outputs: np.ndarray, index) -> pd.DataFrame:
        raise NotImplementedError

    def response(self, predictions: pd.DataFrame) -> list[dict]:
        """The server's answer per predicted row (plain JSON types)."""
        raise NotImplementedError

    def watched(self, predictions: pd.DataFrame) -> pd.Series:
        """The predictions that monitoring (drift, served counts) follows, from the prediction frame."""
        return predictions["prediction"]

    def answers(self, outputs: np.ndarray) -> tuple[list[dict], np.ndarray]:
        """predict_array's outputs → the server's answer per row (as `response`) and the watched predictions
        [rows]. A task may answer without building the prediction frame (the one-row serving path)."""
        predictions = self.prediction_frame(outputs, pd.RangeIndex(len(outputs)))
        return self.response(predictions), self.watched(predictions).to_numpy()

    # ---- use ---------------------------------------------------------------------------------------------

    def outputs_of(self, model, inputs: dict[str, torch.Tensor], engine: str = "torch") -> np.ndarray:
        """Class probabilities [rows, classes], or predictions on the target's scale [rows], from inputs the
        feature pipeline has encoded. `engine="onnx"` runs the exported network in onnxruntime."""
        if engine == "onnx":
            raw = torch.from_numpy(_run_onnx(model, inputs))
        elif engine == "torch":
            device, rows = model.inference_device(), batch_rows(inputs)
            per_pass = rows_per_pass(inputs, device)
            # Rows that fit one forward pass skip the batching (a tenth of a millisecond, much of a served row).
            batches = [inputs] if rows <= per_pass else TensorBatches(inputs, torch.zeros(rows), per_pass, device=device)
            raw = infer(model.network, batches, device)
        else:
            raise LaminaError(f"Unknown engine {engine!r}; use 'torch' or 'onnx'.")
        return self.finish_outputs(raw)

    def predict_array(self, model, frame: pd.DataFrame, engine: str = "torch") -> np.ndarray:
        return self.outputs_of(model, self.features_.transform(frame), engine)

    def labelled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of `frame` that have a target value, and their encoded targets."""
        target = self.schema_.target
        if target not in frame.columns:
            files = ("It was read from pictures or recordings without labels (one file, or a folder without class "
                     "subfolders): give a folder with a subfolder per class, or a CSV of their paths and "
                     f"{target!r}. " if frame.attrs.get(MEDIA_COLUMN_ATTR) else "")
            raise LaminaError(f"The evaluation data has no target column {target!r}; evaluating needs the true values. "
                              f"{files}".rstrip())
        frame = with_canonical_labels(frame, target)
        frame = frame[frame[target].notna()]
        if len(frame) == 0:
            raise LaminaError(f"Every row of the evaluation data lacks a value in {target!r}.")
        return frame, self.target_.encode(frame[target])

    def outputs_and_truth(self, model, frame: pd.DataFrame):
        frame, truth = self.labelled(frame)
        return self.predict_array(model, frame), truth, frame

    def evaluate(self, model, frame: pd.DataFrame) -> dict:
        """{'rows', 'metrics', 'baseline'} on labelled data; rows without a target are left out."""
        outputs, truth, frame = self.outputs_and_truth(model, frame)
        return {"rows": len(frame), "metrics": self.metrics(outputs, truth), "baseline": self.baseline_metrics(truth)}

    def explain(self, model, frame: pd.DataFrame, rows: list[int] | None, importance: bool, repeats: int) -> dict:
        """Model.explain: integrated gradients per row (captum), permutation importance with labelled data (without
        it, `importance_missing` says why there is none)."""
        from lamina.insight.explain import explain_rows, permutation_importance

        self.require_one_target("explain")
        rows = list(range(len(frame))) if rows is None else list(rows)
        outside = [r for r in rows if not 0 <= r < len(frame)]
        if outside:
            raise LaminaError(f"Row {outside[0]} is outside the data: its {len(frame)} rows are numbered from 0, "
                              f"the last is row {len(frame) - 1}. Give rows from 0 to {len(frame) - 1}.")
        result = {"rows": rows, "attributions": explain_rows(model, frame.iloc[rows])}
        if importance:
            # said where the importance would be (terminal, explain.json, report), never left out quietly
            labelled = self.labelled_count(frame)
            if labelled:
                result["importance"] = permutation_importance(model, frame, repeats=repeats)
                left = len(frame) - labelled
                result["importance_rows"] = f"the {labelled} row(s) with a {self.schema_.target!r} value" + (
                    f"; {left} row(s) without one left out" if left else "")
            else:
                result["importance_missing"] = self.importance_missing(labelled, len(frame))
        return result

    def labelled_count(self, frame: pd.DataFrame) -> int | None:
        """The rows of `frame` with a target value, the labels read as evaluating reads them: those permutation
        importance is measured on (it scores predictions against the target; on a file of mostly unlabelled rows
        its figures move in steps of 1/rows); None where the target column is absent."""
        target = self.schema_.target
        if target not in frame.columns:
            return None
        return int(with_canonical_labels(frame, target)[target].notna().sum())

    def importance_missing(self, labelled: int | None, rows: int) -> str:
        """Why permutation importance cannot be measured on rows of which `labelled` (labelled_count) have a target
        value: the target column is absent (None), or has no value in any of the `rows`."""
        target = self.schema_.target
        where = ("it is not there" if labelled is None else
                 f"it is there but has no value in any of the {rows} rows")
        return (f"permutation importance needs the target column {target!r} in the rows; {where}. Give rows with "
                f"their {target!r} values to measure it.")

    def audit(self, model, frame: pd.DataFrame, sensitive: list[str], mitigate: str | None, constraint: str) -> dict:
        """Model.audit: per-group metrics and disparities (fairlearn), accuracy under attack (FGSM, PGD)."""
        from lamina.insight.fairness import audit
        from lamina.insight.robustness import robustness_curve

        self.require_one_target("audit")
        result = audit(model, frame, sensitive, mitigate=mitigate, constraint=constraint)
        result["robustness"] = robustness_curve(model, frame)
        return result

    def require_one_target(self, purpose: str) -> None:
        """Raises where `purpose` (explain, audit) reads one target and this model has several (tasks.targets)."""

    def summary(self, model) -> str:
        from lamina.training.linear_share import linear_share_text

        blended = (model.training or {}).get("linear_share")
        return metrics_text(model.metrics["test"], model.metrics["baseline"], model.training["sizes"]["test"]) \
            + (f"\n{linear_share_text(blended)}" if blended else "")

    # ---- files -------------------------------------------------------------------------------------------

    @classmethod
    def title(cls, document: dict) -> str:
        schema = document["task"]["state"]["schema"]
        return f"predicting {schema['target']} ({schema['task']})"

    def state(self) -> dict:
        return {"schema": self.schema_.to_dict(), "features": self.features_.state(), "target": self.target_.state(),
                "baseline": self.baseline_}

    @classmethod
    def from_state(cls, state: dict) -> TableTask:
        if "targets" in state:  # a model of several targets (tasks.targets)
            from lamina.tasks.targets import several

            return several(cls).from_state(state)
        task = cls(state["schema"]["task"])
        task.schema_ = Schema.from_dict(state["schema"])
        task.features_ = FeaturePipeline.from_state(task.schema_, state["features"])
        task.target_ = TargetEncoder.from_state(state["target"])
        if task.target_.task not in cls.problems or task.schema_.task != task.target_.task:
            raise Fault("target.task", f"a {task.schema_.task} schema's {task.target_.task} target is no "
                                       f"{cls.name} task's (task.name is {cls.name!r})")
        task.baseline_ = state["baseline"]
        return task


def metrics_text(metrics: dict, baseline: dict, rows: int, source: str | None = None) -> str:
    """Test metrics beside the baseline's, one line each, with the direction that is better; `source` names the
    data they were measured on where it is not the run's test split (`lamina evaluate RUN FILE`)."""
    from lamina.evaluation.metrics import HIGHER_IS_BETTER, NEITHER_BETTER

    title = f"metrics on {rows} rows of {source}" if source else f"test metrics on {rows} rows"
    width = max([20, len(title) - 2, *map(len, metrics)])  # the names' column: log_loss_uncalibrated is 21 long
    lines = [f"\n{title:<{width + 2}} {'model':>10} {'baseline':>10}"]
    for name, value in metrics.items():
        direction = "" if name in NEITHER_BETTER else \
            "   (higher is better)" if name in HIGHER_IS_BETTER else "   (lower is better)"
        lines.append(f"  {name:<{width}} {number(value):>10} {number(baseline.get(name)):>10}{direction}")
    return "\n".join(lines)


def is_all(target: str | None) -> bool:
    """`--target all`: every column but the inputs (tasks.targets.target_names)."""
    return isinstance(target, str) and target.strip().lower() == "all"


def input_kinds(data) -> dict[str, str]:
    """The kinds the config declares (data.columns), with the sensitive columns ignored when it excludes them."""
    overrides = dict(data.columns)
    if data.exclude_sensitive:
        overrides.update({column: "ignore" for column in data.sensitive if column not in overrides})
    return overrides


def require_inputs(schema: Schema, targets: str) -> None:
    """A model with no input can only learn the baseline: say why, and the way out."""
    if not schema.features:
        dropped = "; ".join(f"{c.name!r}: {c.note}" for c in schema.dropped) or "the table has only the target"
        raise LaminaError(f"No column is left to learn {targets} from ({dropped}). Keep a column by "
                          f"declaring its kind: {column_kind_fix('NAME', 'KIND')}, e.g. "
                          "category, text or molecule (SMILES strings).")


IMAGE_SETTINGS = (("model", "image_size"), ("train", "flip"), ("train", "cutout"), ("train", "crop_padding"))


def refuse_what_cannot_apply(config, schema: Schema, test_frame: pd.DataFrame | None) -> None:
    """Raises LaminaError naming the first setting of a table task that is given (not "auto" or its default) and
    cannot apply to this data, which training would ignore while the user believes it took effect: image settings
    without an image column, --freeze-backbone without a backbone to transfer, an attack's budget without attacks,
    label smoothing or adversarial training of a quantity, --test-fraction beside a test file, --date-order without
    dates. Called by `prepare`, so `lamina check` refuses them too, before anything trains."""
    from lamina.features.pipeline import DENSE_KINDS
    from lamina.tasks.base import setting_named

    kinds = {column.kind for column in schema.features}
    train, data = config.train, config.data
    quantity = schema.task == "regression"
    reasons = [(key, "the data has no image column (they resize and augment pictures)")
               for section, key in IMAGE_SETTINGS
               if not kinds & set(PICTURE_KINDS) and getattr(getattr(config, section), key) != "auto"]
    reasons += [("freeze_backbone", "no backbone is transferred to hold fixed: it needs --init-from")
                if train.freeze_backbone and not train.init_from else None,
                ("adversarial_budget", "it bounds the attacks of adversarial training, and --adversarial is not set")
                if train.adversarial_budget != "auto" and train.adversarial == "none" else None,
                ("label_smoothing", "it spreads a class's probability over the other classes, and the target is a "
                                    "quantity (regression)") if train.label_smoothing != "auto" and quantity else None,
                # the attack climbs the cross-entropy of a class, as the robustness audit does
                ("adversarial", "its attacks raise the cross-entropy of the true class, and the target is a quantity "
                                "(regression)") if train.adversarial != "none" and quantity else None,
                ("adversarial", "it perturbs numeric columns or image pixels, and this data has neither (text and "
                                "categories are discrete; `lamina audit` still attacks a text model on its token "
                                "embeddings)")
                if train.adversarial != "none" and not kinds & {*PICTURE_KINDS, *DENSE_KINDS} else None,
                ("test_fraction", "the test rows are those of the test data given (--test, or the official test "
                                  "files beside a folder)")
                if test_frame is not None and data.test_fraction != type(data).model_fields["test_fraction"].default
                else None,
                ("date_order", "the data has no date column") if data.date_order != "auto" and "datetime" not in kinds
                else None]
    for key, why in filter(None, reasons):
        named = setting_named(key)
        raise LaminaError(f"{named} cannot apply to this data: {why}. Drop {named}.")


def read_pictures(frame: pd.DataFrame, test_frame: pd.DataFrame | None, schema: Schema, config):
    """(frame, test_frame, findings): the rows whose image or audio files cannot be read are left out, named."""
    ignored = ignored_files_note(frame)  # Thumbs.db, __MACOSX/... in a class folder: said once
    findings = [Finding("info", "files_ignored", ignored)] if ignored else []
    for column, kind in ((c.name, c.kind) for c in schema.features if c.kind in PICTURE_KINDS):
        frame, skipped, notes = drop_unreadable(frame, column, kind, config.model.image_size)
        findings += [Finding("warning", f"{kind}_skipped", f"Skipped {line}.", column) for line in skipped]
        findings += [Finding("warning", f"{kind}_flawed", f"{note}.", column) for note in notes]
        if test_frame is not None and column in test_frame.columns:
            test_frame, skipped, _ = drop_unreadable(test_frame, column, kind, config.model.image_size)
            findings += [Finding("warning", f"{kind}_skipped", f"Skipped (test) {line}.", column)
                         for line in skipped]
    for column in (c.name for c in schema.features if c.kind == "molecule"):  # unreadable SMILES: skipped, named
        frame, test_frame, skipped = screen_molecule_files(frame, test_frame, column)
        findings += skipped
    return frame, test_frame, findings


def test_source(config) -> str:
    """How messages name the test rows (data.read.source_name): "the test data file PATH" (data.test), or "the test
    data (a DataFrame)" where they were given as a table in memory."""
    return source_name(config.data.test, TEST_DATA)


def missing_test_columns(schema: Schema, test_frame: pd.DataFrame | None, tested: str,
                         target: str = "target") -> list[Finding]:
    """Error findings for the columns training reads that the test rows (named `tested`: test_source) lack: the
    schema's target (test metrics need the true values; `target`: what the task calls it, "label"...) and each
    input. Found before training, as scoring the test rows would only refuse them once the run is spent."""
    if test_frame is None:
        return []
    findings = []
    if schema.target is not None and schema.target not in test_frame.columns:
        findings.append(Finding("error", "test_target_missing", f"{capitalised(tested)} has no {target} column "
                                f"{schema.target!r}; add it.", schema.target))
    absent = [c.name for c in schema.features if c.name not in test_frame.columns]
    if absent:
        known = {c.name for c in schema.columns}
        others = [name for name in test_frame.columns if name not in known]  # a misspelt column is among them
        hints = "".join(f" Is its {near[0]!r} {name!r} misspelt?" for name in absent if (near := closest(name, others)))
        findings.append(Finding(
            "error", "test_columns_missing",
            f"{capitalised(tested)} lacks column(s) the model is trained on: {', '.join(map(repr, absent))}.{hints} "
            "Add them to the test file (values may be empty, which the model reads as missing), or train without "
            f"them: {column_kind_fix(absent[0], 'ignore')}.", absent[0]))
    return findings


def refuse_unreadable_values(schema: Schema, rows: pd.DataFrame, test: pd.DataFrame | None = None,
                             tested: str = "the test data") -> None:
    """Raises the LaminaError training raises, when its encoders are fitted on the training rows or encode the
    validation and test rows, on a value a feature column's kind cannot read (a date that is none, a word in a
    number column, a list in a category cell), naming the column and the row: said before training, so it does not
    stop a run part-way (a test row's only at scoring) and `lamina check`, which prepares as training does, says it
    too. `rows` are the training file's rows training encodes, `test` those of a test file (named `tested`:
    test_source), whose errors begin "In the test data file t.csv:", as their row numbers count its rows, not the
    training file's. The kinds whose values are read in the cell (the dense and category blocks) are fitted on
    them and dropped; pictures are read by read_pictures, texts and molecules by their encoders only (a tokenizer
    is trained, RDKit parses each)."""
    encoders = FeaturePipeline(schema).encoders
    read = [c.name for c in schema.features if kind_named(c.kind).block in (DENSE, EMBEDDING)]
    for frame, where in ((rows, None), (test, tested)):
        try:
            for name in read if frame is not None else ():
                if name in frame.columns:
                    encoders[name].fit(frame[name])
        except LaminaError as error:
            if where is None:
                raise
            raise LaminaError(f"In {where}: {error}") from None


def _network_label(arch: str, hyperparameters: dict, folds: int) -> str:
    """What the epoch lines call the network: its architecture, and an mlp's ensemble where it has one ("mlp, 8
    members, 4 folds"), so the terminal says what trains as the report does."""
    members = hyperparameters.get("members") or 1
    return arch + (f", {members} members" if members > 1 else "") + (f", {folds} folds" if folds else "")


def with_row_keys(held_out: pd.DataFrame, rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`held_out` (one row per row of `rows`, in order) after the keys that join it back to the file the rows came
    from (the test file, or the data file a test split was drawn from): `row`, the row's 0-based position among the
    file's data rows (its label as data.read gives it; an error message's "row N (counting the header as row 1)" is
    row N - 2), then the keys the rows hold (Schema.row_keys: each ID-like column the schema dropped, each picture
    column given as file paths). Where one of those or a held-out column is itself
    named "row", the position is `_row` (or `__row`…), so neither hides the other; a key column whose name a
    held-out column takes (an ID named "prediction") is left out."""
    named = {name: rows[name].to_numpy() for name in schema.row_keys(rows) if name not in held_out.columns}
    position = "row"
    while position in named or position in held_out.columns:
        position = "_" + position
    keys = pd.DataFrame({position: rows.index.to_numpy(), **named})
    return pd.concat([keys, held_out.reset_index(drop=True)], axis=1)


def _unread_text_findings(features: FeaturePipeline, train: pd.DataFrame) -> list[Finding]:
    """A warning per text column with training rows in which the tokenizer knows no piece."""
    findings = []
    for column in (c.name for c in features.schema.features if c.kind == "text"):
        count = features.encoders[column].unknown_only(train[column])
        if count:
            findings.append(Finding("warning", "text_unknown",
                                    f"{count} training row(s) of text column {column!r} hold only pieces the tokenizer "
                                    "does not know ([UNK]); the model reads nothing in them.", column))
    return findings


def with_canonical_labels(frame: pd.DataFrame | None, target: str) -> pd.DataFrame | None:
    """`frame` with its target's labels read by the one rule (features.target.canonical_labels), before anything
    counts, splits or encodes them."""
    if frame is None or target not in frame.columns:
        return frame
    values = frame[target]
    labels = canonical_labels(values)
    return frame if labels is values else frame.assign(**{target: labels})


def _run_onnx(model, inputs) -> np.ndarray:
    from lamina.serving.export import ONNX_FILE, run_onnx

    path = model.directory / ONNX_FILE if model.directory else None
    if path is None or not path.exists():
        raise LaminaError(f"No {ONNX_FILE} beside this model. Make one with: lamina export RUN --format onnx")
    return run_onnx(path, inputs)


def number(value) -> str:
    """A metric in the terminal's table: 4 decimals, "n/a" when missing."""
    from lamina.evaluation.document import unsigned_zero

    return "n/a" if value is None or value != value else unsigned_zero(f"{value:.4f}")


def _token_counts(inputs: dict, spec: dict) -> torch.Tensor:
    """Tokens per row over the text columns (padding excluded), for length-bucketed batches."""
    return sum((inputs[f"text:{name}"] != text["pad"]).sum(dim=1) for name, text in spec["texts"].items())
