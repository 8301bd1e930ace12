"""Several targets: one network with one head per target (`--target a,b,c`, or `--target all`), for every
table task. The network's last layer gives every target's outputs side by side (TargetSet.slices), so a
shared trunk feeds one linear head per target. Each head is an instance of the task of one target
(ClassificationTask, RegressionTask), which keeps its own loss, metrics, baseline and prediction columns;
this module only slices, masks and gathers.

Missing labels are masked, not dropped: a row counts for each target it has a label for, and only a row with
no label at all is left out. The loss is the mean over targets of each target's own loss on its labelled
rows (the multi-task loss of MoleculeNet's Tox21 models, Wu et al. 2018, with every target weighted alike).

All targets belong to one task family (all classes, or all numbers); binary and multiclass targets mix.
Explain, audit, adversarial training and the confidently-wrong examples read one target: they are refused
(or left out) with a message.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from lamina.checked import Fault, Record, checked, under
from lamina.data.checks import Finding, date_order_findings, has_errors, require_enough_rows, run_checks
from lamina.data.scaffold import scaffold_column
from lamina.data.schema import (
    Column,
    Schema,
    infer_column,
    infer_schema,
    infer_task,
    record_date_orders,
    refuse_declared_targets,
)
from lamina.data.split import Split, split_rows
from lamina.errors import LaminaError, capitalised, did_you_mean, headless_hint
from lamina.features.pipeline import FeaturePipeline
from lamina.features.target import TargetEncoder, TargetSet
from lamina.tasks.table import (
    TablePrepared,
    TableTask,
    input_kinds,
    is_all,
    metrics_text,
    missing_test_columns,
    number,
    read_pictures,
    refuse_unreadable_values,
    refuse_what_cannot_apply,
    require_inputs,
    test_source,
    with_canonical_labels,
)

LABEL_KINDS = ("number", "category", "binary")  # the inferred kinds `--target all` takes as targets


def target_names(data, frame: pd.DataFrame) -> list[str]:
    """The target columns `data.target` names: one column, several comma-separated (a column whose own name holds
    a comma stays one), or `all`: every column read as a number, a category or a yes/no value, but those the config
    declares (data.columns: the inputs, or ignored ones) and those dropped as IDs, constant or empty.
    Raises LaminaError naming a column that is not in the data."""
    text = data.target
    if not text or text in frame.columns:
        return [text]
    if is_all(text):
        names = [str(name) for name in frame.columns if name not in data.columns
                 and infer_column(frame[name]).kind in LABEL_KINDS]
        if not names:
            raise LaminaError("--target all found no column to predict: every column is declared with --column, or "
                              "is not a number, category or yes/no column. Name the targets: --target A,B,C.")
        return names
    listed = [name.strip() for name in text.split(",") if name.strip()]
    names = list(dict.fromkeys(listed))
    if "," in text and len(names) < 2:  # "a,a" or ",": a list that names fewer than two columns
        repeated = f"names {names[0]!r} {len(listed)} times" if names else "names no column"
        raise LaminaError(f"--target {text!r} {repeated}. Give one column (--target NAME) or several different "
                          "ones (--target A,B).")
    if len(names) < 2:
        return [text]  # one target: the schema names it when it is missing
    for name in names:
        if name not in frame.columns:
            raise LaminaError(f"Target column {name!r} (in --target {text}) is not in the data."
                              f"{did_you_mean(name, frame.columns)} Columns: {', '.join(map(str, frame.columns[:20]))}."
                              f"{headless_hint(frame.columns)}")
    return names


def _all_left_out(data, frame: pd.DataFrame, names: list[str]) -> list[Finding]:
    """`--target all`: the dropped columns (empty, constant, IDs) it did not take as targets, each with why, so
    none goes missing unsaid."""
    if not is_all(data.target):
        return []
    sniffed = {name: infer_column(frame[name]) for name in frame.columns if name not in names + list(data.columns)}
    left = [f"{name!r} ({column.note})" for name, column in sniffed.items() if column.kind == "ignore"]
    return [Finding("info", "targets_left_out", f"--target all left out {', '.join(left)}; they are not targets.")
            ] if left else []


def family_claims(family: type[TableTask], frame: pd.DataFrame, names: list[str]) -> bool:
    """Whether `--task auto` gives these targets to `family`: all of them are its problems. Targets that mix
    classes and numbers stop here, each named with what it is."""
    for name in names:
        require_enough_rows(frame, name)
    problems = {name: infer_task(frame[name], name) for name in names}
    inside = [name for name in names if problems[name] in family.problems]
    if inside and len(inside) < len(names):
        raise LaminaError(_mixed(problems))
    return bool(inside)


def _mixed(problems: dict[str, str]) -> str:
    numbers = [name for name, problem in problems.items() if problem == "regression"]
    classes = [name for name, problem in problems.items() if problem != "regression"]
    return (f"The targets mix numbers ({', '.join(numbers)}) and classes ({', '.join(classes)}); one model learns "
            f"targets of one kind. Train one model per kind (--target {','.join(numbers)} and --target "
            f"{','.join(classes)}), or give --task classification to read the numbers as classes.")


@functools.cache
def several(family: type[TableTask]) -> type[SeveralTargets]:
    """The several-targets variant of a table task (one class per family, made once): it answers to the family's
    name, so model.json's task.name stays "classification" or "regression"."""
    return type(f"Several{family.__name__}", (SeveralTargets,),
                {"family": family, "name": family.name, "aliases": family.aliases, "problems": family.problems,
                 "__module__": __name__})


class _TargetPart(Record):
    """One target of model.json's task.state.targets: its encoder's state and its baseline."""
    target: dict
    baseline: dict


class _Targets(Record):
    targets: list[_TargetPart] = Field(min_length=1)


class SeveralTargets(TableTask):
    """A table task of several targets; `several(family)` makes the class of each family. `heads_` holds one
    fitted task of the family per target (its schema names that target), `target_` the TargetSet of their
    encoders."""

    family: ClassVar[type[TableTask]]
    variant = "of several targets"  # it reads TableTask.settings: not --cost, which picks one binary target's threshold
    variant_fix = ", or train one model per target (--target NAME)"

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> TablePrepared:
        data = config.data
        if data.sensitive or config.train.adversarial != "none":
            raise LaminaError("Bias audits (data.sensitive) and adversarial training read one target, and this "
                              f"model learns several ({data.target}). Train one model per target for them "
                              "(--target NAME), or leave them out.")
        names = target_names(data, frame)
        refuse_declared_targets(names, data.columns)
        for name in names:
            frame, test_frame = (with_canonical_labels(f, name) for f in (frame, test_frame))
            require_enough_rows(frame, name)  # a target without a label stops here, named
        self.heads_ = [self.family(self.requested) for _ in names]
        problems = {name: head.problem(frame[name], name) for name, head in zip(names, self.heads_, strict=True)}
        if any(problem not in self.problems for problem in problems.values()):
            raise LaminaError(_mixed(problems))
        schema = infer_schema(frame.drop(columns=names[1:]), names[0], problems[names[0]], input_kinds(data))
        schema.columns += [Column(name, "number" if problems[name] == "regression" else "category", "target")
                           for name in names[1:]]
        for name, head in zip(names, self.heads_, strict=True):
            head.schema_ = replace(schema, target=name, task=problems[name])
        require_inputs(schema, ", ".join(map(repr, names)))
        tested = test_source(config)
        refuse_what_cannot_apply(config, schema, test_frame)
        if test_frame is not None:
            absent = [name for name in names if name not in test_frame.columns]
            if absent or test_frame[names].notna().sum().sum() == 0:
                raise LaminaError(f"{capitalised(tested)} has no value in target {(absent or names)[0]!r}: test "
                                  "metrics need the true values. Label its rows, or leave --test out to split the "
                                  "data.")
        frame, test_frame, findings = read_pictures(frame, test_frame, schema, config)
        findings += date_order_findings(record_date_orders(schema, frame, test_frame, data.date_order))
        findings += self._checks(frame) + _all_left_out(data, frame, names)
        findings += missing_test_columns(schema, test_frame, tested)
        split = None
        if not has_errors(findings):
            labelled = self.labelled_rows(frame)
            if test_frame is not None:
                test_frame = self.labelled_rows(test_frame)
            refuse_unreadable_values(schema, labelled, test_frame, tested)
            # A plain random split ("regression" stratifies by nothing): stratifying by one target would favour it.
            split = split_rows(labelled, names[0], "regression", data.valid_fraction, data.test_fraction,
                               config.seed, test=test_frame, by=scaffold_column(data.split, schema))
        return TablePrepared(findings, schema, split, frame)

    def _checks(self, frame: pd.DataFrame) -> list[Finding]:
        """The checks of each target (the first target's run also checks the inputs), with missing labels told as
        masked, not left out."""
        findings: list[Finding] = []
        for i, head in enumerate(self.heads_):
            name = head.schema_.target
            for finding in run_checks(frame, head.schema_):
                if finding.code == "target_missing":
                    missing = int(frame[name].isna().sum())
                    finding = Finding("info", "target_missing", f"{missing} row(s) have no label in target {name!r}; "
                                      "its loss and metrics skip them, the other targets still learn from them.", name)
                elif finding.code == "target_leak":
                    finding = replace(finding, message=finding.message.replace("the target", f"target {name!r}"))
                elif i and finding.column != name:
                    continue  # about the inputs: the first target's checks said it
                findings.append(finding)
        unlabelled = len(frame) - len(self.labelled_rows(frame))
        if unlabelled:
            findings.append(Finding("warning", "targets_missing", f"{unlabelled} row(s) have no label in any target; "
                                    "they are left out."))
        return findings

    def fit(self, config, prepared: TablePrepared, session):
        """TableTask's fit, then each classification head's temperature (evaluation.calibration) fitted on its
        slice of the network's outputs over the rows labelled for it among those that judged the epoch
        (TableTask.selection_outputs: the validation rows, or out-of-fold predictions of every row)."""
        from lamina.evaluation.calibration import fit_temperature

        network, architecture, training = super().fit(config, prepared, session)
        if any(head.target_.is_classification for head in self.heads_):
            logits, truth = self.selection_outputs(network, prepared)
            for i, (head, part) in enumerate(zip(self.heads_, self.target_.slices, strict=True)):
                labelled = truth[:, 1, i] > 0
                if head.target_.is_classification:
                    head.temperature_ = fit_temperature(logits[labelled, part], truth[labelled, 0, i].long())
        return network, architecture, training

    def labelled_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame[[head.schema_.target for head in self.heads_]].notna().any(axis=1)]

    def fit_target(self, labelled: pd.DataFrame, split: Split) -> TargetSet:
        encoders = []
        for head in self.heads_:
            name = head.schema_.target
            rows = labelled[labelled[name].notna()]
            head_split = Split(*(part[part[name].notna()] for part in (split.train, split.valid, split.test)),
                               split.description)
            head.target_ = head.fit_target(rows, head_split)
            encoders.append(head.target_)
        return TargetSet(encoders)

    def fit_baseline(self, encoded_targets: np.ndarray) -> dict:
        for i, head in enumerate(self.heads_):
            head.baseline_ = head.fit_baseline(self._head_truth(head, encoded_targets, i))
        return {"targets": [head.baseline_ for head in self.heads_]}

    @property
    def label_smoothing(self) -> float:
        return self.heads_[0].label_smoothing if self.heads_ else 0.0

    @label_smoothing.setter
    def label_smoothing(self, value: float) -> None:  # set by fit: each classification head applies it
        for head in self.heads_:
            head.label_smoothing = value

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """outputs: [rows, outputs], each target's slice side by side; targets: [rows, 2, targets] (TargetSet).
        The mean over the targets labelled in the batch of each one's loss on its labelled rows: a missing label's
        placeholder is never read."""
        losses = []
        for i, (head, part) in enumerate(zip(self.heads_, self.target_.slices, strict=True)):
            labelled = targets[:, 1, i] > 0
            if labelled.any():
                values = targets[labelled, 0, i]
                values = values.long() if head.target_.is_classification else values.float()
                losses.append(head.loss(outputs[labelled, part], values))
        return torch.stack(losses).mean() if losses else outputs.sum() * 0.0

    # ---- outputs, metrics, prediction frame --------------------------------------------------------------

    def finish_outputs(self, raw: torch.Tensor) -> np.ndarray:
        """[rows, outputs]: each target's probabilities, or its predicted number, in its slice."""
        return np.concatenate([np.asarray(head.finish_outputs(raw[:, part])).reshape(len(raw), -1)
                               for head, part in zip(self.heads_, self.target_.slices, strict=True)], axis=1)

    def _head_outputs(self, head: TableTask, outputs: np.ndarray, i: int) -> np.ndarray:
        """The head's own outputs from finish_outputs' array: [rows, classes], or [rows] for a number."""
        part = outputs[:, self.target_.slices[i]]
        return part if head.target_.is_classification else part.reshape(-1)

    @staticmethod
    def _head_truth(head: TableTask, truth: np.ndarray, i: int, rows=slice(None)) -> np.ndarray:
        values = np.asarray(truth)[rows, 0, i]
        return values.astype(np.int64) if head.target_.is_classification else values.astype(np.float32)

    def decoded(self, outputs: np.ndarray) -> np.ndarray:
        """The first target's predictions: the ones monitoring follows (see `watched`)."""
        return self.heads_[0].decoded(self._head_outputs(self.heads_[0], outputs, 0))

    def scores(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, dict]:
        """{target: {"rows", "test", "baseline"}} on each target's labelled rows; a target without any has None."""
        result = {}
        for i, head in enumerate(self.heads_):
            labelled = np.asarray(truth)[:, 1, i] > 0
            part = {"rows": int(labelled.sum()), "test": None, "baseline": self._baseline_of(truth, i)}
            if labelled.any():
                part["test"] = head.metrics(self._head_outputs(head, outputs[labelled], i),
                                            self._head_truth(head, truth, i, labelled))
            result[head.schema_.target] = part
        return result

    def metrics(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        """Each metric's mean over the targets where it is defined (e.g. mean ROC AUC, mean RMSE)."""
        return _means([part["test"] for part in self.scores(outputs, truth).values()])

    def baseline_metrics(self, truth: np.ndarray) -> dict[str, float]:
        return _means([self._baseline_of(truth, i) for i in range(len(self.heads_))])

    def _baseline_of(self, truth: np.ndarray, i: int) -> dict[str, float] | None:
        head, labelled = self.heads_[i], np.asarray(truth)[:, 1, i] > 0
        return head.baseline_metrics(self._head_truth(head, truth, i, labelled)) if labelled.any() else None

    def prediction_frame(self, outputs: np.ndarray, index) -> pd.DataFrame:
        """Per target: the prediction in a column named after it, then what its task adds, prefixed
        (`<target>:proba_<class>`)."""
        parts = []
        for i, head in enumerate(self.heads_):
            name = head.schema_.target
            part = head.prediction_frame(self._head_outputs(head, outputs, i), index)
            parts.append(part.rename(columns=lambda c, n=name: n if c == "prediction" else f"{n}:{c}"))
        return pd.concat(parts, axis=1)

    def held_out_table(self, truth_values: pd.DataFrame, outputs: np.ndarray, truth: np.ndarray) -> pd.DataFrame:
        """`<target>:truth` (empty where the label is missing) beside the prediction frame's columns."""
        table = pd.DataFrame({f"{name}:truth": truth_values[name].to_numpy() for name in truth_values.columns})
        return pd.concat([table, self.prediction_frame(outputs, table.index)], axis=1)

    def response(self, predictions: pd.DataFrame) -> list[dict]:
        """Per row: {"targets": {target: that target's answer (prediction, probabilities...)}}."""
        answers = {}
        for head in self.heads_:
            name = head.schema_.target
            own = [c for c in predictions.columns if c == name or c.startswith(f"{name}:")]
            part = predictions[own].rename(columns=lambda c, n=name: "prediction" if c == n else c[len(n) + 1:])
            answers[name] = head.response(part)
        return [{"targets": {name: rows[i] for name, rows in answers.items()}} for i in range(len(predictions))]

    def watched(self, predictions: pd.DataFrame) -> pd.Series:
        return predictions[self.heads_[0].schema_.target]

    # ---- use ---------------------------------------------------------------------------------------------

    def score(self, model, prepared: TablePrepared) -> pd.DataFrame:
        table = super().score(model, prepared)
        model.metrics["targets"] = self.scores(*prepared.test_outputs)
        return table

    def after_training(self, model, prepared: TablePrepared, run, config) -> None:
        """Nothing more: the confidently wrong examples and the audits read one target."""

    def labelled(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        names = self.target_.column
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise LaminaError(f"The evaluation data has no target column {absent[0]!r}; evaluating needs the true "
                              f"values of every target ({', '.join(names)}).")
        for name in names:
            frame = with_canonical_labels(frame, name)
        frame = self.labelled_rows(frame)
        if len(frame) == 0:
            raise LaminaError(f"Every row of the evaluation data lacks a value in all of {', '.join(names)}.")
        return frame, self.target_.encode(frame)

    def evaluate(self, model, frame: pd.DataFrame) -> dict:
        """{'rows', 'metrics', 'baseline', 'targets'}: the means over targets, and each target's scores."""
        outputs, truth, frame = self.outputs_and_truth(model, frame)
        return {"rows": len(frame), "metrics": self.metrics(outputs, truth),
                "baseline": self.baseline_metrics(truth), "targets": self.scores(outputs, truth)}

    def require_one_target(self, purpose: str) -> None:
        names = ", ".join(self.target_.column)
        raise LaminaError(f"`{purpose}` reads a model of one target; this one predicts several ({names}). Train a "
                          f"model of the target to {purpose}: lamina train DATA --target NAME.")

    def summary(self, model) -> str:
        metrics = model.metrics
        return "\n".join([metrics_text(metrics["test"], metrics["baseline"], model.training["sizes"]["test"]),
                          per_target_text(metrics.get("targets", {}))])

    def report_sections(self, run, document: dict) -> list[str]:
        """Each target's test metrics beside its baseline (the page's test metrics are their means)."""
        from lamina.evaluation.document import Paragraph, Section, Table, section_html
        from lamina.evaluation.document import number as shown

        parts = document["metrics"].get("targets", {})
        names = list(dict.fromkeys(m for part in parts.values() if part["test"] for m in part["test"]))
        rows = [[target, part["rows"], *(f"{shown((part['test'] or {}).get(m))} ({shown((part['baseline'] or {}).get(m))})"
                                          for m in names)] for target, part in parts.items()]
        return [section_html(Section("Test metrics per target", [
            Paragraph([f"Each of the {len(parts)} targets on its labelled test rows (a row may lack some labels), "
                       "the model's value beside its baseline's in brackets."]),
            Table(["target", "rows", *names], rows)]))]

    # ---- files -------------------------------------------------------------------------------------------

    @classmethod
    def title(cls, document: dict) -> str:
        state = document["task"]["state"]
        names = [part["target"]["column"] for part in state["targets"]]
        return f"predicting {', '.join(names)} ({cls.name}, {len(names)} targets)"

    def state(self) -> dict:
        return {"schema": self.schema_.to_dict(), "features": self.features_.state(),
                "targets": [{"target": head.target_.state(), "baseline": head.baseline_,
                             **({"temperature": head.temperature_} if head.target_.is_classification else {})}
                            for head in self.heads_]}

    @classmethod
    def from_state(cls, state: dict) -> SeveralTargets:
        parts = checked(_Targets, state).targets
        task = cls(state["schema"]["task"])
        task.schema_ = Schema.from_dict(state["schema"])
        task.features_ = FeaturePipeline.from_state(task.schema_, state["features"])
        task.heads_ = []
        for i, part in enumerate(parts):
            with under(f"targets.{i}"):
                encoder = TargetEncoder.from_state(part.target)
                if encoder.task not in cls.problems:
                    raise Fault("target.task", f"a {encoder.task} target is no {cls.name} task's")
            head = cls.family(encoder.task)
            head.schema_ = replace(task.schema_, target=encoder.column, task=encoder.task)
            head.target_, head.baseline_ = encoder, part.baseline
            if encoder.is_classification:  # absent before calibration: 1
                from lamina.tasks.classification import checked_temperature

                head.temperature_ = checked_temperature(state["targets"][i].get("temperature", 1.0),
                                                        f"task.state.targets.{i}.temperature")
            task.heads_.append(head)
        task.target_ = TargetSet([head.target_ for head in task.heads_])
        declared = [c.name for c in task.schema_.columns if c.role == "target"]
        if declared != task.target_.column:
            raise Fault("targets", f"the targets {task.target_.column!r} differ from the schema's {declared!r}")
        task.baseline_ = {"targets": [part.baseline for part in parts]}
        return task


def per_target_text(parts: dict[str, dict]) -> str:
    """Under metrics_text's means: each target's metrics, its baseline's in brackets, one line each."""
    lines = [f"  (each metric is the mean over the {len(parts)} targets; per target, baseline in brackets:)"]
    for name, part in parts.items():
        shown = "no labelled rows" if part["test"] is None else ", ".join(
            f"{metric} {number(value)} ({number(part['baseline'].get(metric))})" for metric, value in part["test"].items())
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines)


def _means(scores: list[dict | None]) -> dict[str, float]:
    """Each metric's mean over the targets whose value is defined (NaN where none is)."""
    present = [score for score in scores if score]
    names = list(dict.fromkeys(name for score in present for name in score))
    means = {}
    for name in names:
        values = [score[name] for score in present if score.get(name) is not None and np.isfinite(score[name])]
        means[name] = float(np.mean(values)) if values else float("nan")
    return means
