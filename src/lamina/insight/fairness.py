"""Bias audit with fairlearn: per-group metrics, disparity measures flagged against stated limits, and
post-processing mitigation (fairlearn's ThresholdOptimizer) reported before and after, side by side.

For a binary task the favourable outcome is the second class in sorted order (e.g. '>50K' of
'<=50K', '>50K'); selection rate is the share of rows predicted as it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lamina.errors import LaminaError, did_you_mean

DPD_LIMIT = 0.10  # demographic parity difference above this is flagged (selection rates 10 points apart)
DPR_LIMIT = 0.80  # demographic parity ratio below this is flagged (the "four-fifths rule")
EOD_LIMIT = 0.10  # equalized odds difference above this is flagged (TPR or FPR 10 points apart)
MITIGATION_FIT_SHARE = 0.5  # share of the audit rows the thresholds are fitted on; the rest measure them
# Groups beyond this many in one sensitive column are mostly a value each (a number, an ID, a date): the audit
# says so, as disparities between groups of a row or two measure nothing.
MANY_GROUPS = 20


@dataclass
class Disparity:
    name: str
    value: float
    limit: float
    flagged: bool


def binary_group_metrics(y_true: np.ndarray, y_pred: np.ndarray, groups: pd.Series) -> tuple[pd.DataFrame, list]:
    """Per-group size, selection rate, accuracy, TPR, FPR and the disparity measures, via fairlearn."""
    from fairlearn.metrics import (
        MetricFrame,
        count,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score

    frame = MetricFrame(
        metrics={"size": count, "selection_rate": selection_rate, "accuracy": accuracy_score,
                 "true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate},
        y_true=y_true, y_pred=y_pred, sensitive_features=groups,
    )
    dpd = float(demographic_parity_difference(y_true, y_pred, sensitive_features=groups))
    dpr = float(demographic_parity_ratio(y_true, y_pred, sensitive_features=groups))
    eod = float(equalized_odds_difference(y_true, y_pred, sensitive_features=groups))
    disparities = [
        Disparity("demographic_parity_difference", dpd, DPD_LIMIT, dpd > DPD_LIMIT),
        Disparity("demographic_parity_ratio", dpr, DPR_LIMIT, dpr < DPR_LIMIT),
        Disparity("equalized_odds_difference", eod, EOD_LIMIT, eod > EOD_LIMIT),
    ]
    return frame.by_group, disparities


def error_group_metrics(truth: np.ndarray, predicted: np.ndarray, groups: pd.Series) -> pd.DataFrame:
    """Regression and multiclass: size and error per group."""
    from fairlearn.metrics import MetricFrame, count
    from sklearn.metrics import accuracy_score, mean_absolute_error

    error = mean_absolute_error if np.issubdtype(np.asarray(predicted).dtype, np.floating) else accuracy_score
    name = "mae" if error is mean_absolute_error else "accuracy"
    frame = MetricFrame(metrics={"size": count, name: error}, y_true=truth, y_pred=predicted,
                        sensitive_features=groups)
    return frame.by_group


def audit(model, frame: pd.DataFrame, sensitive: list[str], mitigate: str | None = None,
          constraint: str = "demographic_parity", seed: int = 0) -> dict:
    """The bias audit of `model` on labelled rows, for each sensitive column in turn."""
    absent = [c for c in sensitive if c not in frame.columns]
    if absent:
        raise LaminaError(f"Sensitive column {absent[0]!r} is not in the data.{did_you_mean(absent[0], frame.columns)}")
    outputs, truth, frame = model.outputs_and_truth(frame)
    result = {"rows": len(frame), "task": model.schema.task, "columns": {}}
    binary = model.schema.task == "binary"
    if binary:
        result["favourable"] = str(model.classes[1])
    named = {column: group_names(model, column, frame[column]) for column in sensitive}  # audit and mitigation alike
    for column, groups in named.items():
        if binary:
            table, disparities = binary_group_metrics(truth == 1, outputs.argmax(axis=1) == 1, groups)
            entry = {"groups": _records(table), "disparities": [d.__dict__ for d in disparities]}
        else:
            predicted = outputs if model.schema.task == "regression" else outputs.argmax(axis=1)
            actual = model.target.decode(truth) if model.schema.task == "regression" else truth
            entry = {"groups": _records(error_group_metrics(actual, predicted, groups)), "disparities": []}
        distinct = len(entry["groups"])
        if distinct > MANY_GROUPS:
            entry["note"] = (f"{distinct} groups, {sum(g['size'] == 1 for g in entry['groups'])} of them a single row: "
                             f"{column!r} holds values rather than groups (a number, an ID, a date); group it into a "
                             "few bands first (e.g. age into age bands) and audit those.")
        result["columns"][column] = entry
    if mitigate == "threshold":
        if not binary:
            raise LaminaError("Threshold mitigation needs a binary task; this model does " + model.schema.task + ".")
        result["mitigation"] = {c: mitigate_thresholds(outputs, truth, groups.to_numpy(), constraint, seed, c)
                                for c, groups in named.items()}
    elif mitigate is not None:
        raise LaminaError(f"Unknown mitigation {mitigate!r}; the one offered is 'threshold'.")
    return result


def group_names(model, column: str, values: pd.Series) -> pd.Series:
    """Each row's group in a sensitive column [rows] of text, named "group" (a column named like a metric, "size",
    stays apart from it): for a column the model reads as a category, the learnt value the row's value names as the
    model reads it (1.50 and 1.5, or 02 and 2.0, are one group where the model learnt one value), else the value's
    own text; missing values are the group "(missing)"."""
    from lamina.features.category import MISSING_INDEX, UNKNOWN_INDEX, CategoryEncoder
    from lamina.features.spelling import category_key

    encoder = model.features.encoders.get(column)
    if not isinstance(encoder, CategoryEncoder):
        return values.fillna("(missing)").astype(str).rename("group")

    def name(value) -> str:
        if pd.isna(value):
            return "(missing)"
        key = category_key(value)
        index = encoder.index_of(key)
        return "(missing)" if index == MISSING_INDEX else key if index == UNKNOWN_INDEX else encoder.vocabulary_[index - 2]

    return values.map(name).astype(str).rename("group")


def _cached_scores(proba: np.ndarray):
    """An already-fitted scikit-learn classifier whose inputs are row numbers into scores computed once
    by the model, so fairlearn never needs to know how lamina preprocesses a table."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class CachedScores(ClassifierMixin, BaseEstimator):
        def __init__(self, proba=None):
            self.proba = proba

        def fit(self, X, y=None):
            return self

        def predict_proba(self, X) -> np.ndarray:
            return self.proba[np.asarray(X, dtype=int).reshape(-1)]

        def predict(self, X) -> np.ndarray:
            return self.predict_proba(X).argmax(axis=1)

    estimator = CachedScores(np.asarray(proba, dtype=np.float64))  # fairlearn writes float64 into them
    estimator.classes_ = np.array([0, 1])  # marks it fitted for scikit-learn's checks
    return estimator


def mitigate_thresholds(proba: np.ndarray, truth: np.ndarray, groups: np.ndarray, constraint: str, seed: int,
                        column: str) -> dict:
    """Fits per-group thresholds on part of the rows and reports both models on the other part; `groups` [rows]:
    each row's group (group_names) in the sensitive `column`. fairlearn's ThresholdOptimizer needs both outcomes in
    every group it is fitted on: a group with fewer than 2 rows of either is left out of both parts and named in
    `groups_left_out`. Raises LaminaError where fewer than 2 groups are left."""
    from fairlearn.postprocessing import ThresholdOptimizer
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(groups))
    strata = pd.Series(groups).astype(str) + "|" + pd.Series(truth).astype(str)
    usable = strata.map(strata.value_counts()) >= 2  # a group and outcome with 2 rows puts one on each side
    outcomes = pd.Series(truth[usable.to_numpy()]).groupby(groups[usable.to_numpy()]).nunique()
    kept = set(outcomes[outcomes == 2].index)
    left_out = sorted(set(groups) - kept)
    if len(kept) < 2:
        raise LaminaError(
            f"Threshold mitigation on {column!r} fits a threshold per group, which needs at least 2 rows of each "
            f"outcome in a group, and {len(kept)} of its {len(set(groups))} groups have them. Mitigate on a column "
            "of fewer, larger groups (band a number first), or audit without --mitigate.")
    usable &= pd.Series(groups).isin(kept)
    fit_rows, measure_rows = train_test_split(rows[usable.to_numpy()], train_size=MITIGATION_FIT_SHARE,
                                              random_state=seed, stratify=strata[usable].to_numpy())
    optimizer = ThresholdOptimizer(estimator=_cached_scores(proba), constraints=constraint, prefit=True,
                                   predict_method="predict_proba", objective="accuracy_score")
    optimizer.fit(fit_rows.reshape(-1, 1), truth[fit_rows], sensitive_features=groups[fit_rows])
    after = np.asarray(optimizer.predict(measure_rows.reshape(-1, 1), sensitive_features=groups[measure_rows],
                                         random_state=seed))
    before = proba[measure_rows].argmax(axis=1)
    y_true = truth[measure_rows] == 1
    report = {"constraint": constraint, "fitted_on_rows": len(fit_rows), "measured_on_rows": len(measure_rows),
              "groups_left_out": left_out}
    for name, predicted in (("before", before == 1), ("after", after == 1)):
        table, disparities = binary_group_metrics(y_true, predicted, pd.Series(groups[measure_rows]))
        report[name] = {"accuracy": float((predicted == y_true).mean()),
                        **{d.name: d.value for d in disparities}, "groups": _records(table)}
    return report


def _records(table: pd.DataFrame) -> list[dict]:
    from lamina.plain import json_safe

    return json_safe(table.reset_index(names="group").to_dict(orient="records"))


def audit_text(result: dict) -> str:
    from lamina.evaluation.facts import left_out_text

    lines = [f"Bias audit on {result['rows']} labelled rows ({result['task']})"]
    if "favourable" in result:
        lines[0] += f"; selection rate = share predicted {result['favourable']!r}"
    for column, entry in result["columns"].items():
        lines.append(f"\n{column}")
        names = [k for k in entry["groups"][0] if k != "group"]
        lines.append(f"  {'group':<24}" + "".join(f"{n[:18]:>20}" for n in names))
        for group in entry["groups"]:
            lines.append(f"  {str(group['group'])[:24]:<24}" + "".join(_cell(n, group[n]) for n in names))
        for d in entry["disparities"]:
            flag = "FLAGGED" if d["flagged"] else "ok"
            lines.append(f"  {d['name']:<32} {d['value']:.3f}  (limit {d['limit']})  {flag}")
        if "note" in entry:
            lines.append(f"  note: {entry['note']}")
    for column, report in result.get("mitigation", {}).items():
        lines.append(f"\nThreshold mitigation for {column} ({report['constraint']}; fitted on {report['fitted_on_rows']}"
                     f" rows, measured on the other {report['measured_on_rows']})")
        if report.get("groups_left_out"):
            lines.append(f"  {left_out_text(report['groups_left_out'])}")
        lines.append(f"  {'':<32}{'before':>10}{'after':>10}")
        for key in ("accuracy", "demographic_parity_difference", "demographic_parity_ratio",
                    "equalized_odds_difference"):
            lines.append(f"  {key:<32}{report['before'][key]:>10.3f}{report['after'][key]:>10.3f}")
    return "\n".join(lines)


def _cell(name: str, value) -> str:
    if name == "size":
        return f"{int(value):>20}"
    return f"{value:>20.3f}" if isinstance(value, float) else f"{value!s:>20}"
