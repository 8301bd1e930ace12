"""Anomaly detection: an autoencoder learns to rebuild the rows of a table (or its images); rows it rebuilds badly
are flagged. `lamina train claims.csv --task anomaly [--target is_fraud]`.

Inputs are the same encoded columns every table task reads (features.pipeline); the network (nets/autoencoder.py)
gives each column's reconstruction error. A row's error is the mean over its columns of each column's error
divided by that column's mean training error (so a category's cross-entropy and a number's squared error weigh
alike), and its **anomaly score** is the share of training rows with a smaller error (the empirical CDF of the
training errors: 0.99 means "more unusual than 99% of the rows trained on"). The columns with the largest ratio
to their usual error are the row's `top_columns`: the explanation of a flag. A number the network reads by its
rank reads past the training range as the largest (or smallest) value seen, so its error adds the square of how far
it lies beyond that range, in the column's robust standard deviations (NumberEncoder.beyond_range): 0 on every
training row, and graded, so 10⁶ in a column of values about 100 is flagged and 150 barely moves.

A target, when given, is a label of two values: the anomaly is the value named so, else the rarer (_labels). It
never reaches the network (it is the schema's target, not a feature); it picks the threshold on the validation rows
(best F1, or the least `--cost`) and is scored against on the test rows. Without it the threshold flags
`--contamination` of the training rows (default DEFAULT_CONTAMINATION). `--normal-only` trains on the normal rows
alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.checked import Fault
from lamina.data.checks import MIN_ROWS, Finding, has_errors, missing_target, require_enough_rows
from lamina.data.images import LABEL_COLUMN, MEDIA_COLUMN_ATTR, looks_like_arrays
from lamina.data.schema import Column, Schema, infer_column, infer_schema
from lamina.data.split import split_rows
from lamina.errors import LaminaError, quoted
from lamina.evaluation import threshold as thresholds
from lamina.features.numeric import NumberEncoder
from lamina.features.pipeline import FeaturePipeline
from lamina.features.target import canonical_labels
from lamina.tasks.base import FRACTIONS, RowsPrepared, Task, register_task
from lamina.tasks.table import missing_test_columns, read_pictures, refuse_unreadable_values, test_source

DEFAULT_CONTAMINATION = 0.05  # share of training rows flagged when neither labels nor --contamination say
ECDF_POINTS = 1001  # quantiles of the training errors kept to map an error to its score (0.1% steps)
TOP_COLUMNS = 3  # columns named per row as contributing most to its error
AUTO_WIDTH = 64  # hidden units (and convolution channels) of the autoencoder
AUTO_DROPOUT = 0.1  # share of input floats zeroed in training (denoising)
MAX_CODE = 8  # bottleneck dimensions: half the reconstructed columns, 2 to MAX_CODE
PRECISION_AT = (10, 100)  # k of precision@k in the metrics (only where the test split has k rows)
HISTOGRAM_BINS = 20  # equal-width bins of the anomaly score in the report


@register_task
class AnomalyTask(Task):
    name = "anomaly"
    judged_on = "pr_auc"  # with labels: against flagging every row (the anomalies' share)
    settings = (*FRACTIONS, "cost", "contamination", "normal_only", "image_size",  # pictures resized as for classifying
                "columns")
    aliases = ("outlier",)
    reads = "reconstruct"
    route = "predict"
    trains_unlabelled = True

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> RowsPrepared:
        data = config.data
        frame, target, findings = _folder_label(frame, data.target)
        if target is None:
            for setting, flag in ((data.cost, "--cost"), (data.normal_only or None, "--normal-only")):
                if setting is not None:
                    raise LaminaError(f"{flag} needs labels: name the column that marks the known anomalies with "
                                      "--target COL, or drop it (--contamination sets the threshold without labels).")
        thresholds.parse_cost(data.cost)  # a wrong --cost stops here, before any training
        if target is not None:
            require_enough_rows(frame, target)
            frame, test_frame = (_canonical(f, target) for f in (frame, test_frame))
            self.labels_ = _labels(frame[target], target)  # two values, or stop before the schema names them classes
        elif len(frame) < MIN_ROWS:
            raise LaminaError(f"Only {len(frame)} row(s); at least {MIN_ROWS} are needed to train, validate and test. "
                              "Add more rows.")
        schema = _schema(frame, target, dict(data.columns))
        # As a table task reads them: unreadable pictures, recordings and SMILES left out and named, and the
        # operating-system files a folder held said in a note.
        frame, test_frame, read = read_pictures(frame, test_frame, schema, config)
        findings += read
        if target is not None:
            findings += missing_target(frame, target, "label")
        else:
            self.labels_ = None
        tested = test_source(config)
        findings += missing_test_columns(schema, test_frame, tested, "label")
        split = None
        if not has_errors(findings):
            rows = frame if target is None else frame[frame[target].notna()]
            test = test_frame if target is None or test_frame is None else test_frame[test_frame[target].notna()]
            refuse_unreadable_values(schema, rows, test, tested)
            split = split_rows(rows, target, "regression" if target is None else "binary", data.valid_fraction,
                               data.test_fraction, config.seed, test=test)
        return RowsPrepared(findings, schema, split)

    def fit(self, config, prepared: RowsPrepared, session):
        from lamina.nets.recipe import epochs_and_batch_size, learning_rate, resolved
        from lamina.training.batches import TensorBatches, rows_per_pass
        from lamina.training.trainer import resolve_device

        if config.model.arch not in ("auto", "autoencoder"):
            raise LaminaError(f"--arch {config.model.arch} is not an anomaly detector; the anomaly task trains an "
                              "autoencoder (--arch autoencoder, the default).")
        schema, split = prepared.schema, prepared.split
        self.schema_ = schema
        self.features_ = FeaturePipeline(schema, config.model.image_size)
        if session.run is not None:
            self.features_.set_cache_dir(session.run.cache)
        self.features_.fit(split.train)
        train = split.train
        if config.data.normal_only:
            train = train[~self.is_anomaly_label(train)]
        inputs, valid_inputs = self.features_.transform(train), self.features_.transform(split.valid)
        self.columns_ = self.features_.encoded_order()  # dense, category and image columns (text is dropped)
        spec = self.features_.spec()
        images = bool(spec["images"])
        architecture = {"arch": "autoencoder", "inputs": spec, "outputs": len(self.columns_), "hyperparameters": {
            "dense_widths": self.features_.dense_widths(), "width": resolved(config.model.width, AUTO_WIDTH),
            "code": max(2, min(MAX_CODE, (len(self.columns_) + 1) // 2)),
            "dropout": resolved(config.model.dropout, AUTO_DROPOUT)}}
        network = self.build_network(architecture)
        epochs, batch_size = epochs_and_batch_size(config.train, "resnet" if images else "mlp", len(train))
        device = resolve_device(config.train.device)
        rows = len(train)
        train_batches = TensorBatches(inputs, torch.zeros(rows), batch_size, shuffle=True, seed=config.seed,
                                      device=device)
        valid_batches = TensorBatches(valid_inputs, torch.zeros(len(split.valid)),
                                      rows_per_pass(valid_inputs, device, 4 * batch_size), device=device)
        trainer = session.trainer(network, self, epochs=epochs, lr=learning_rate(config.train, "autoencoder"))
        history = trainer.fit(train_batches, valid_batches, resume=session.resume)
        network = network.cpu()

        column_errors = self.column_errors(network, inputs)
        self.column_scale_ = np.maximum(column_errors.mean(axis=0), 1e-12).tolist()
        train_errors = self.row_errors(column_errors)
        self.quantiles_ = np.quantile(train_errors, np.linspace(0, 1, ECDF_POINTS)).tolist()
        self.decision_ = self.choose_threshold(config.data, train_errors, split.valid, network, valid_inputs)
        training = {"train_score_histogram": np.histogram(self.scores(train_errors), HISTOGRAM_BINS, (0, 1))[0].tolist(),
                    "seed": config.seed, "split": split.description, "sizes": split.sizes(), "trained_rows": rows,
                    "normal_only": bool(config.data.normal_only), "epochs_run": len(history),
                    "best_epoch": trainer.best_epoch_, "stop_reason": trainer.stop_reason_, "batch_size": batch_size,
                    "device": str(device), "train_seconds": round(trainer.elapsed_, 2)}
        return network, architecture, training

    def choose_threshold(self, data, train_errors: np.ndarray, valid: pd.DataFrame, network, valid_inputs) -> dict:
        """{"rule", "threshold" (on the error scale), "score" (the same cut as an anomaly score), and the rule's
        setting}: --contamination of the training rows; else, with labels, the best F1 or the least --cost on the
        validation rows; else DEFAULT_CONTAMINATION."""
        if data.contamination is not None or self.labels_ is None:
            share = data.contamination if data.contamination is not None else DEFAULT_CONTAMINATION
            rule = {"rule": "contamination", "contamination": share, "default": data.contamination is None,
                    "threshold": thresholds.contamination_threshold(train_errors, share)}
        else:
            cost = thresholds.parse_cost(data.cost)
            valid_errors = self.row_errors(self.column_errors(network, valid_inputs) + self.range_errors(valid))
            cut = thresholds.best_threshold(self.is_anomaly_label(valid), valid_errors, cost)
            rule = {"rule": "cost", "cost": data.cost} if cost else {"rule": "f1"}
            rule["threshold"] = cut
        rule["score"] = float(self.scores(np.array([rule["threshold"]]))[0])
        return rule

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """outputs: each column's reconstruction error [rows, columns]; their sum, averaged over rows."""
        return outputs.float().sum(dim=1).mean()

    def build_network(self, architecture: dict) -> torch.nn.Module:
        from lamina.nets.build import build_network

        needed = self.features_.spec()
        if architecture["inputs"] != needed:
            raise Fault("architecture.inputs", "differs from what the task's encoders give")
        if architecture["outputs"] != len(self.columns_):
            raise Fault("architecture.outputs", f"{architecture['outputs']} differs from the {len(self.columns_)} "
                                                "reconstructed columns")
        return build_network(architecture["arch"], architecture["inputs"], architecture["outputs"], reads=self.reads,
                             **architecture["hyperparameters"])

    # ---- errors and scores -------------------------------------------------------------------------------

    def column_errors(self, network, inputs: dict) -> np.ndarray:
        """Each column's reconstruction error [rows, columns] (in eval mode, on the CPU)."""
        from lamina.training.batches import TensorBatches, batch_rows, rows_per_pass
        from lamina.training.trainer import infer

        device = next(network.parameters()).device
        batches = TensorBatches(inputs, torch.zeros(batch_rows(inputs)), rows_per_pass(inputs, device), device=device)
        return infer(network, batches, device).numpy().astype(np.float64)

    def range_errors(self, frame: pd.DataFrame) -> np.ndarray:
        """[rows, columns]: for each number column, the square of how far its value lies beyond the training range
        (NumberEncoder.beyond_range, in robust standard deviations), added to its reconstruction error; 0 for the
        other columns. A training row's is 0, so the training errors the scores are read against are unchanged."""
        added = np.zeros((len(frame), len(self.columns_)))
        for place, column in enumerate(self.columns_):
            encoder = self.features_.encoders.get(column)
            if isinstance(encoder, NumberEncoder):
                added[:, place] = encoder.beyond_range(frame[column]) ** 2
        return added

    def row_errors(self, column_errors: np.ndarray) -> np.ndarray:
        """A row's error: the mean over its columns of (column error / that column's mean training error)."""
        return (column_errors / np.asarray(self.column_scale_)).mean(axis=1)

    def scores(self, errors: np.ndarray) -> np.ndarray:
        """Errors → anomaly scores in [0, 1]: the share of training rows with a smaller error."""
        return np.interp(errors, self.quantiles_, np.linspace(0, 1, ECDF_POINTS))

    def is_anomaly_label(self, frame: pd.DataFrame) -> np.ndarray:
        """Whether each row's label is the anomaly class (bool [rows])."""
        return (canonical_labels(frame[self.labels_["column"]]) == self.labels_["positive"]).to_numpy()

    def assess(self, model, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """(row errors [rows], the prediction frame: anomaly_score, is_anomaly, top_columns) of `frame`'s rows."""
        self.features_.require_columns(frame)
        column_errors = self.column_errors(model.network, self.features_.transform(frame)) + self.range_errors(frame)
        errors = self.row_errors(column_errors)
        ratios = column_errors / np.asarray(self.column_scale_)
        top = np.argsort(-ratios, axis=1, kind="stable")[:, :TOP_COLUMNS]
        named = [", ".join(f"{self.columns_[c]} ({_times(ratios[row, c])})" for c in picks) for row, picks in enumerate(top)]
        result = pd.DataFrame({"anomaly_score": self.scores(errors), "is_anomaly": errors >= self.decision_["threshold"],
                               "top_columns": named}, index=frame.index)
        return errors, result

    # ---- scores on held-out rows -------------------------------------------------------------------------

    def score(self, model, prepared: RowsPrepared) -> pd.DataFrame:
        test = prepared.split.test
        errors, result = self.assess(model, test)
        labelled = self.labels_ is not None
        truth = self.is_anomaly_label(test) if labelled else None
        model.metrics = self.metrics(truth, errors)
        shown = [c for c in test.columns if not looks_like_arrays(test[c])]  # pixels from array files stay out
        held_out = pd.concat([test[shown].reset_index(drop=True), result.reset_index(drop=True)], axis=1)
        held_out["anomaly_error"] = errors
        if labelled:
            held_out["truth_anomaly"] = truth
        return held_out

    def metrics(self, truth: np.ndarray | None, errors: np.ndarray) -> dict:
        """{"test": ..., "baseline": ...}. With labels: PR-AUC (average precision) and ROC AUC of the errors,
        precision, recall and F1 at the threshold, precision@k; the baseline flags every row (a random ranking).
        Without: the share of test rows flagged, beside the share the threshold flags in training."""
        from sklearn import metrics

        flagged = float((errors >= self.decision_["threshold"]).mean())
        if truth is None or truth.all() or not truth.any():
            return {"test": {"flagged_share": flagged},
                    "baseline": {"flagged_share": self.decision_.get("contamination")}}
        test = {"pr_auc": float(metrics.average_precision_score(truth, errors)),
                "roc_auc": float(metrics.roc_auc_score(truth, errors)),
                **thresholds.at_threshold(truth, errors, self.decision_["threshold"]), "flagged_share": flagged}
        for k in (k for k in PRECISION_AT if k <= len(errors)):
            test[f"precision_at_{k}"] = thresholds.precision_at_k(truth, errors, k)
        share = float(truth.mean())
        baseline = {"pr_auc": share, "roc_auc": 0.5, "precision": share, "recall": 1.0, "f1": 2 * share / (1 + share),
                    "flagged_share": 1.0, **{f"precision_at_{k}": share for k in PRECISION_AT if k <= len(errors)}}
        return {"test": test, "baseline": baseline}

    # ---- use ---------------------------------------------------------------------------------------------

    def predict(self, model, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with `anomaly_score` (0–1: the share of training rows less unusual), `is_anomaly` (at or above
        the threshold) and `top_columns` (the columns furthest above their usual error, with the ratio)."""
        _, result = self.assess(model, frame)
        return pd.concat([frame.drop(columns=[c for c in result.columns if c in frame.columns]), result], axis=1)

    def evaluate(self, model, frame: pd.DataFrame) -> dict:
        """{'rows', 'metrics', 'baseline'} on rows labelled in the target the model was trained with."""
        if self.labels_ is None:
            raise LaminaError("This anomaly model was trained without labels, so there is nothing to evaluate "
                              "against; `lamina predict` scores rows.")
        column = self.labels_["column"]
        if column not in frame.columns:
            raise LaminaError(f"The evaluation data has no label column {column!r}; evaluating needs the labels.")
        frame = frame[frame[column].notna()]
        errors, _ = self.assess(model, frame)
        scored = self.metrics(self.is_anomaly_label(frame), errors)
        return {"rows": len(frame), "metrics": scored["test"], "baseline": scored["baseline"]}

    def summary(self, model) -> str:
        from lamina.tasks.table import metrics_text

        test, rows = model.metrics["test"], model.training["sizes"]["test"]
        lines = [thresholds.describe(self.decision_) + f" (anomaly score {self.decision_['score']:.3f})"]
        if "pr_auc" in test:
            lines.append(metrics_text(test, model.metrics["baseline"], rows))
        else:  # no labels: nothing to score against, only how many test rows the threshold flags
            lines.append(f"flagged {test['flagged_share']:.1%} of the {rows} test rows")
        return "\n".join(lines)

    # ---- files -------------------------------------------------------------------------------------------

    @classmethod
    def title(cls, document: dict) -> str:
        labels = document["task"]["state"]["labels"]
        return "anomalies" + (f" (label {labels['column']}, anomaly = {labels['positive']})" if labels else "")

    def state(self) -> dict:
        return {"schema": self.schema_.to_dict(), "features": self.features_.state(), "columns": self.columns_,
                "column_scale": self.column_scale_, "quantiles": self.quantiles_, "decision": self.decision_,
                "labels": self.labels_}

    @classmethod
    def from_state(cls, state: dict) -> AnomalyTask:
        task = cls("anomaly")
        task.schema_ = Schema.from_dict(state["schema"])
        task.features_ = FeaturePipeline.from_state(task.schema_, state["features"])
        task.columns_ = list(state["columns"])
        task.column_scale_ = list(state["column_scale"])
        task.quantiles_ = list(state["quantiles"])
        task.decision_ = dict(state["decision"])
        task.labels_ = state["labels"]
        if len(task.column_scale_) != len(task.columns_):
            raise Fault("column_scale", f"holds {len(task.column_scale_)} values for {len(task.columns_)} columns")
        if len(task.quantiles_) != ECDF_POINTS or task.quantiles_ != sorted(task.quantiles_):
            raise Fault("quantiles", f"must be {ECDF_POINTS} rising values")
        return task

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.tasks.anomaly_report import anomaly_sections

        return anomaly_sections(run, document)

    # ---- serving -----------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """One record or {"records": [...]}, as a table model's /predict takes them (columns the schema dropped,
        text, accepted and not read)."""
        from lamina.serving.server import records_request

        return records_request(name, self.schema_.features, self.schema_.dropped)

    def request_example(self, model) -> dict:
        from lamina.serving.server import example_record

        return {"records": [example_record(self.schema_.features, self.features_.encoders)]}

    def respond(self, model, body) -> dict:
        from lamina.plain import json_safe
        from lamina.serving.server import request_frame, request_records

        result = self.assess(model, request_frame(request_records(body), self.schema_.features))[1]
        return {"predictions": [{key: json_safe(value) for key, value in row.items()}
                                for row in result.to_dict(orient="records")]}


# Label values (folder names, any case) that say which class is the anomaly, whichever is rarer.
ANOMALY_NAMES = frozenset({"anomaly", "anomalies", "anomalous", "abnormal", "outlier", "outliers", "defect",
                           "defects", "defective", "fraud"})
NORMAL_NAMES = frozenset({"normal", "good", "ok", "inlier", "inliers"})


def _folder_label(frame: pd.DataFrame, target: str | None) -> tuple[pd.DataFrame, str | None, list[Finding]]:
    """A folder of pictures or recordings (or an array file of pictures and labels) names its classes' `label`
    column as the target whether or not --target was given. Two classes are a known-anomaly label (_labels says
    which is the anomaly): it picks the threshold and is scored against, as any label column, said in a finding.
    Other classes are no such label: they are left out and the autoencoder learns from every file without labels,
    said in a warning. A folder without class subfolders has no label at all (a --target the user named for one
    is refused before: images.refuse_target_without_labels)."""
    if target != LABEL_COLUMN or not frame.attrs.get(MEDIA_COLUMN_ATTR):
        return frame, target, []
    if LABEL_COLUMN not in frame.columns:
        return frame, None, []
    classes = sorted(map(str, frame[LABEL_COLUMN].dropna().unique()))
    shown = ", ".join(classes[:5]) + (", ..." if len(classes) > 5 else "")
    named = f"The {len(classes)} classes of the files ({shown}: their class subfolders, or an array file's labels)"
    if len(classes) == 2:
        return frame, target, [Finding("info", "folder_label", f"{named} are the label of known anomalies (the "
                                       "class named so, anomaly or defect..., else the rarer): they pick the "
                                       "threshold and score the test split; the autoencoder never sees them.",
                                       LABEL_COLUMN)]
    return frame.drop(columns=LABEL_COLUMN), None, [Finding(  # a warning: printed, as a user may have meant a label
        "warning", "folder_classes_ignored", f"{named} are not a normal/anomaly label (two classes), so they are left "
        "out: the autoencoder learns from every file, and the threshold flags --contamination of them.",
        LABEL_COLUMN)]


def _schema(frame: pd.DataFrame, target: str | None, overrides: dict[str, str]) -> Schema:
    """Every column but the label is read as a table task reads it; text columns are left out (the autoencoder
    does not rebuild text), said in their note."""
    if target is not None:
        schema = infer_schema(frame, target, "binary", overrides)
    else:
        for name in overrides:
            if name not in frame.columns:
                raise LaminaError(f"--column sets a kind for {name!r}, which is not in the data.")
        columns = [Column(name, overrides[name], "dropped" if overrides[name] == "ignore" else "feature",
                          "set in the config") if name in overrides else infer_column(frame[name])
                   for name in frame.columns]
        schema = Schema(columns=columns, target=None, task="anomaly")
    for column in schema.features:
        if column.kind == "text":
            column.role, column.note = "dropped", "text: the autoencoder does not rebuild text"
    if not schema.features:
        dropped = "; ".join(f"{c.name!r}: {c.note}" for c in schema.dropped) or "the table has no other column"
        raise LaminaError(f"No column is left to learn what is usual from ({dropped}). Keep a column by declaring its "
                          "kind: --column NAME=KIND (number, category...).")
    return schema


def _labels(values: pd.Series, column: str) -> dict:
    """{"column", "positive", "normal"}: the label's two values; the anomaly is the one whose name says so
    (ANOMALY_NAMES, or the other's NORMAL_NAMES: a folder `anomaly/` beside `normal/`), else the rarer. Two values
    as frequent as each other, neither named, are refused: which one is the anomaly cannot be told."""
    from lamina.plain import json_safe

    counts = values.value_counts()
    if len(counts) != 2:
        shown = ", ".join(map(repr, counts.index[:5].tolist()))
        raise LaminaError(f"Label column {column!r} must hold two values (normal and anomaly) to pick the threshold, "
                          f"but holds {len(counts)}: {shown}. Name a yes/no column, or leave --target out.")
    named = [value for value in counts.index if str(value).strip().lower() in ANOMALY_NAMES] or \
        [value for value in counts.index if str(value).strip().lower() not in NORMAL_NAMES]
    if len(named) == 1:
        rare = named[0]
    elif counts.iloc[0] == counts.iloc[1]:
        raise LaminaError(f"Label column {column!r} holds {quoted(counts.index[0])} and {quoted(counts.index[1])} {counts.iloc[0]} "
                          "times each, so neither is the rarer, the anomaly. Name the anomalies' value or folder "
                          "'anomaly' (or the others' 'normal'), or train a classifier on labels this balanced "
                          "(--task classification).")
    else:
        rare = counts.index[-1]
    common = next(value for value in counts.index if value != rare)
    return {"column": column, "positive": json_safe(rare), "normal": json_safe(common)}


def _canonical(frame: pd.DataFrame | None, target: str) -> pd.DataFrame | None:
    if frame is None or target not in frame.columns:
        return frame
    return frame.assign(**{target: canonical_labels(frame[target])})


def _times(ratio: float) -> str:
    """A column's error as a multiple of its usual one: '3.5×', and from 1,000 on three significant figures
    ('1.17e+10×'), where a value far outside the training range once printed all sixty digits of its multiple."""
    return f"{ratio:.1f}×" if ratio < 1000 else f"{ratio:.3g}×"
