"""What a run folder says about its model, as sections of plain data (document.py): the one source of both
report.html and the model card, so the two never disagree and the page never says a thing twice.

Each section function takes the run folder and its model document (model/model.json in format 2's shape, as
`read_run` gives it) and returns one Section. They describe table tasks (classification, regression), whose
fitted state holds a schema and a target.
"""

from __future__ import annotations

import numpy as np

from lamina.evaluation.document import (
    Bullets,
    Code,
    Figure,
    Paragraph,
    Section,
    Strong,
    Subheading,
    Table,
    number,
)
from lamina.evaluation.intervals import BOOTSTRAP_SAMPLES, CONFIDENCE, bootstrap_intervals
from lamina.evaluation.metrics import HIGHER_IS_BETTER, NEITHER_BETTER, beats
from lamina.evaluation.plots import Chart
from lamina.run import AUDIT, CHECKS, HELD_OUT, HISTORY, RunFolder

MITIGATION_METRICS = ("accuracy", "demographic_parity_difference", "demographic_parity_ratio",
                      "equalized_odds_difference")


def read_run(run_dir) -> tuple[RunFolder, dict]:
    """The finished run folder at `run_dir` and its model document (older formats read into the current one)."""
    from lamina.model import read_model_document  # imports torch: paid only when a page or a card is written

    run = RunFolder(run_dir)
    run.require_finished()
    return run, read_model_document(run.model_dir)[1]


def task_of(document: dict):
    """The task the model document names, from the tasks/ registry: its own report sections, and whether it
    is a row model (one row in, one prediction out), which the card's sections describe."""
    from lamina.tasks.base import task_named

    name = document["task"]["name"]
    return task_named(name).for_document(document)  # a table task of several targets: its variant


def schema(document: dict) -> dict:
    """The table's columns, target and problem ("binary", "multiclass", "regression")."""
    return document["task"]["state"]["schema"]


def classes(document: dict) -> list | None:
    """The target's classes; None for a regression, or several targets."""
    return document["task"]["state"].get("target", {}).get("classes")


def temperature(document: dict) -> float:
    """The classifier's probability temperature (evaluation.calibration); 1 for a model saved before it had one."""
    return float(document["task"]["state"].get("temperature", 1.0))


def is_several(document: dict) -> bool:
    """Whether the model is a several-targets one (tasks.targets), even if `--target all` left it one target."""
    return "targets" in document["task"]["state"]


def targets(document: dict) -> list[str]:
    """The target column, or the several a model learns (tasks.targets)."""
    state = document["task"]["state"]
    return [part["target"]["column"] for part in state["targets"]] if "targets" in state else [schema(document)["target"]]


def intended_use(run: RunFolder, document: dict) -> Section:
    columns = schema(document)
    features = [c for c in columns["columns"] if c["role"] == "feature"]
    kinds = ", ".join(sorted({c["kind"] for c in features}))
    names = targets(document)
    listed = [part for i, name in enumerate(names) for part in ([", "] if i else []) + [Code(name)]]
    return Section("Intended use", [Paragraph([
        "Predicts ", *listed, f" from {len(features)} input columns ({kinds}) of data like the "
        "training data. Meant to support a person's decision, with the explanations and audits in view; not meant "
        "for populations, columns or value ranges the training data does not cover."])])


def test_metrics(run: RunFolder, document: dict) -> Section:
    """metrics.json beside the baseline, with bootstrap intervals from the held-out predictions."""
    metrics, names = document["metrics"], classes(document)  # model.json's, checked when it is read
    held_out = run.read_table(HELD_OUT)
    several = is_several(document)  # means over the targets; per target in the task's own section
    intervals = {} if several else bootstrap_intervals(held_out, names)
    rows = []
    for name, value in metrics["test"].items():
        base, higher = metrics["baseline"].get(name), name in HIGHER_IS_BETTER
        interval = f"{number(intervals[name][1])} – {number(intervals[name][2])}" if name in intervals else "n/a"
        rows.append([name, Strong(value) if beats(name, value, base) else value, interval, base,
                     "higher" if higher else "lower"])
    baseline = ("each target's own, and each number is the mean over the targets" if several
                else "the majority class" if names else "the training mean")
    return Section("Test metrics", [
        Paragraph([f"Measured on the {len(held_out)} held-out test rows the model never saw in training or model "
                   f"selection, beside a trivial baseline ({baseline}); the model's value is in bold where it beats "
                   f"the baseline. Intervals: {CONFIDENCE:.0%} bootstrap intervals over {BOOTSTRAP_SAMPLES} "
                   "resamples of the test rows."]),
        Table(["metric", "model", f"{CONFIDENCE:.0%} interval", "baseline", "better when"], rows),
    ])


def network_item(architecture: dict) -> list:
    """The bullet naming the network as resolved for this data (the config may say "auto"): arch (settings),
    without the layouts it stores beside them (lists and tables of input positions, a pretrained model's config);
    for an mlp, which numeric embedding it has and from how many rows lamina picks PLR (nets.recipe.PLR_ROWS)."""
    from lamina.nets.recipe import PLR_ROWS

    chosen = architecture["hyperparameters"]
    settings = ", ".join(f"{k} {v}" for k, v in chosen.items() if not isinstance(v, (list, tuple, dict)))
    item = ["Network: ", Code(f"{architecture['arch']} ({settings})"), "."]
    if (chosen.get("members") or 1) > 1:
        item.append(f" An ensemble of {chosen['members']} members sharing the dense layers, each with its own input "
                    "adapter, head and loss, their predictions averaged (TabM-mini, Gorishniy et al. 2024).")
    if chosen.get("wide"):
        item.append(" Wide path: a linear map from the inputs to the outputs beside the dense layers (wide and deep, "
                    "Cheng et al. 2016).")
    if chosen.get("numbers") == "plr":
        return [*item, " Numbers: PLR embeddings of each numeric column (Gorishniy et al. 2022)."]
    if chosen.get("numbers") == "plain":
        return [*item, f" Numbers: plain floats (lamina picks PLR embeddings from {PLR_ROWS:,} training rows; "
                       "--numbers plr asks for them)."]
    return item


def _selection(trained: dict) -> str:
    """How the best epoch was judged, where it was not one epoch's score on the validation rows."""
    cross_fit = trained.get("cross_fit")
    if cross_fit:
        return (f" The best epoch and early stopping followed the out-of-fold loss of all {cross_fit['rows']} training "
                f"and validation rows (cross-fitting, as AutoGluon's k-fold bagging): the ensemble's members were dealt "
                f"into {cross_fit['folds']} folds of those rows, each member trained without its fold, and each row "
                "was scored by the members that never trained on it.")
    weight = trained.get("selection_smoothing")
    if not weight:
        return ""
    return (f" With {trained['sizes']['valid']} validation rows one epoch's score is noisy, so the best epoch and "
            f"early stopping followed a moving average of it (each epoch's score weighs {1 - weight:.2g}, the average "
            f"before it {weight:.2g}).")


def _validation_rows_trained(trained: dict) -> str:
    cross_fit = trained.get("cross_fit")
    if not cross_fit:
        return ""
    return (f" The validation rows trained too: cross-fitted members (see Training) judged the epoch on out-of-fold "
            f"predictions of all {cross_fit['rows']} training and validation rows instead.")


def training(run: RunFolder, document: dict) -> Section:
    """The network as resolved for this data (the config may say "auto"), how training went, and its curves."""
    trained, architecture = document["training"], document["architecture"]
    items = [network_item(architecture),
             [f"{trained['epochs_run']} epochs; the weights of the best epoch ({trained['best_epoch']}) were kept; "
              f"stopped because: {trained['stop_reason']}.{_selection(trained)}"],
             [f"{number(trained['train_seconds'], 1)} s of training on {trained['device']}."]]
    if trained.get("linear_share"):
        from lamina.training.linear_share import linear_share_text

        items.append([linear_share_text(trained["linear_share"])])
    if trained.get("time_budget"):
        from lamina.training.budget import budget_text

        items.append([budget_text(trained["time_budget"])])
    if trained.get("init_from"):
        items.append(["Started from the weights of ", Code(trained["init_from"]), "."])
    if trained.get("federated"):
        federated = trained["federated"]
        items.insert(0, [f"Federated learning (Flower): {federated['partition']}, {len(federated['rounds'])} rounds "
                         f"of {federated['local_epochs']} local epoch(s), {federated['fraction']:.0%} of the clients "
                         "each round; the epochs here and in the curves are rounds. The clients shared column kinds, "
                         "statistics and weights, never rows."])
    if trained.get("privacy"):  # the (ε, δ) the weights were trained under: what a reader must know first
        from lamina.training.privacy import privacy_text

        items.insert(0, [privacy_text(trained["privacy"]) + "."])
    return Section("Training", [Bullets(items), Figure(learning_curves(run, trained["best_epoch"]))])


def learning_curves(run: RunFolder, best_epoch: int) -> Chart:
    history = run.read_table(HISTORY)
    losses = [c for c in ("train_loss", "valid_loss") if c in history]
    chart = Chart("Learning curves", "epoch", "loss", integer_x=True)
    for column in losses:
        chart.add(column.replace("_", " "), history["epoch"], history[column])
    values = history[losses].to_numpy()
    chart.add(f"best epoch ({best_epoch}), weights kept", [best_epoch, best_epoch],
              [np.nanmin(values), np.nanmax(values)], style="dashed")
    return chart


def calibration(run: RunFolder, document: dict) -> Section | None:
    """A classifier's probability calibration (evaluation.calibration): the temperature T its logits are divided by,
    the rows T was fitted on, the test ECE before and after, and how a reader should take its probabilities; one
    row per classifying target of a several-targets model. None for a model that gives no class probabilities."""
    from lamina.evaluation.calibration import temperature_text

    metrics = document.get("metrics") or {}
    if is_several(document):
        heads = [(part["target"]["column"], part["temperature"]) for part in document["task"]["state"]["targets"]
                 if "temperature" in part]
        if not heads:
            return None
        scores = metrics.get("targets") or {}
        tested = [(scores.get(name) or {}).get("test") or {} for name, _ in heads]
        return Section("Calibration", [
            Paragraph(["Each classifying target's probabilities are calibrated by temperature scaling (Guo et al. "
                       "2017): its logits divided by its own T, fitted on its labelled rows among those that "
                       "judged the epoch by minimising their log loss. T > 1 softens over-confident probabilities, "
                       "T < 1 sharpens under-confident ones; the most probable class never changes."]),
            Table(["target", "temperature T", "test ECE before", "test ECE after"],
                  [[name, _finite(t), _finite(test.get("ece_uncalibrated")), _finite(test.get("ece"))]
                   for (name, t), test in zip(heads, tested, strict=True)]),
            _reading_ece(None, any(t != 1.0 for _, t in heads)),
        ])
    if classes(document) is None:
        return None
    test, scale = metrics.get("test") or {}, temperature(document)
    return Section("Calibration", [Paragraph([temperature_text(scale, document.get("training"), test)]),
                                   _reading_ece(_finite(test.get("ece")), scale != 1.0)])


def _reading_ece(ece: float | None, calibrated: bool) -> Paragraph:
    """What the ECE tells the reader of a prediction, with the test rows' own when it is known; `calibrated`: some
    temperature differs from 1."""
    gap = (f" Here it is {number(ece)}: on the test rows a stated probability was, on average, about "
           f"{number(100 * ece, 1)} percentage points away from how often such predictions came true."
           if ece is not None else "")
    given = "the calibrated ones" if calibrated else "the network's own, unscaled"
    return Paragraph([f"For a reader: the probabilities lamina predicts (and the server answers) are {given}. "
                      "The ECE (expected calibration error, 0 is perfect) is the mean gap between a stated probability "
                      "and how often it came true, over bins of that probability weighted by their rows (with two "
                      "classes the second class's probability, with more the most probable class's)." + gap
                      + " It is an average: a confidence few test rows had can be off by more. It says whether the "
                        "probabilities can be taken at face value, not whether they tell rows apart: predicting the "
                        "base rate for every row scores near 0 (the majority-class baseline's ECE is low), so read it "
                        "beside the log loss and ROC AUC."])


def _finite(value) -> float | None:
    """A number from model.json as a float, or None where it is missing, not a number or not finite."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return float(value) if is_number and np.isfinite(value) else None


def data_and_split(run: RunFolder, document: dict) -> Section:
    trained = document["training"]
    return Section("Data and split", [
        Paragraph([f"Split: {trained['split']}. Training seed {trained['seed']}, batch size {trained['batch_size']}."
                   + _validation_rows_trained(trained)]),
        Table(["part", "rows"], [[part, count] for part, count in trained["sizes"].items()]),
        Table(["column", "kind", "role", "note"], [[c["name"], c["kind"], c["role"], c["note"]]
                                                   for c in schema(document)["columns"]]),
    ])


def data_quality(run: RunFolder, document: dict) -> Section:
    findings = run.read_json(CHECKS, default=[])
    if not findings:
        checked = ("no missing targets, duplicates, constant or ID-like columns, or leaks were seen"
                   if task_of(document).row_model else "nothing needed repair")
        return Section("Data quality", [Paragraph([f"No findings: {checked}."])])
    rows = [[Strong(f["level"]) if f["level"] != "info" else f["level"], f["code"], f["message"]] for f in findings]
    return Section("Data quality", [Table(["level", "check", "finding"], rows)])


def left_out_text(groups: list[str]) -> str:
    """The sentence naming the groups threshold mitigation left out (insight.fairness.mitigate_thresholds'
    `groups_left_out`), for the report and the terminal."""
    named = ", ".join(map(repr, groups[:5])) + ("..." if len(groups) > 5 else "")
    return f"{len(groups)} group(s) left out, with fewer than 2 rows of an outcome to fit a threshold on: {named}"


def bias_audit(run: RunFolder, document: dict) -> Section:
    audit = run.read_json(AUDIT)
    section = Section("Bias audit")
    if not audit or not audit["columns"]:
        section.blocks.append(Paragraph(["Not audited yet: run ", Code(f"lamina audit {run.path} DATA --sensitive "
                                                                        "COLUMNS"), "."]))
        return section
    section.blocks.append(Paragraph([f"{audit['rows']} labelled rows."]))
    for column, entry in audit["columns"].items():
        names = [k for k in entry["groups"][0] if k != "group"]
        rows = [[group["group"], *(int(group[n]) if n == "size" else group[n] for n in names)]
                for group in entry["groups"]]
        section.blocks += [Subheading(column), Table(["group", *names], rows)]
        if entry["disparities"]:
            section.blocks.append(Bullets([
                [f"{d['name']} {number(d['value'])} (limit {number(d['limit'])})",
                 Strong(" — flagged") if d["flagged"] else ""] for d in entry["disparities"]]))
        if "note" in entry:
            section.blocks.append(Paragraph([entry["note"]]))
    for column, mitigation in audit.get("mitigation", {}).items():
        section.blocks += [
            Subheading(f"Threshold mitigation for {column} ({mitigation['constraint']})"),
            Paragraph([f"Fitted on {mitigation['fitted_on_rows']} rows, measured on the other "
                       f"{mitigation['measured_on_rows']}."
                       + (f" {left_out_text(mitigation['groups_left_out'])}." if mitigation.get("groups_left_out")
                          else "")]),
            Table(["", "before", "after"], [[name, mitigation["before"][name], mitigation["after"][name]]
                                            for name in MITIGATION_METRICS]),
        ]
    return section


def robustness_audit(run: RunFolder, document: dict) -> Section:
    robustness = (run.read_json(AUDIT) or {}).get("robustness")
    if not robustness:
        return Section("Robustness audit", [Paragraph(["Not audited yet: run ", Code(f"lamina audit {run.path} DATA"),
                                                       "."])])
    if not robustness["applicable"]:
        return Section("Robustness audit", [Paragraph([f"Not applicable: {robustness['reason']}."])])
    curve, large = robustness["curve"], robustness["large_budget"]
    unit = robustness.get("unit", "normal-score units")  # runs audited before images had no unit field
    budgets = [p["budget"] for p in curve]
    chart = Chart("Accuracy under attack", f"L∞ budget ({unit})", "accuracy", y_range=(0, 1))
    attacks = {"fgsm": "FGSM", "pgd": "PGD", "random": "random noise"}
    for key, name in attacks.items():
        chart.add(name, budgets, [p[key] for p in curve])
    table = Table([f"L∞ budget ({unit})", *attacks.values()],
                  [[number(p["budget"], digits=None), *(p[k] for k in attacks)] for p in curve])
    return Section("Robustness audit", [
        Paragraph([f"Accuracy under attack, {robustness['space']}; {robustness['rows']} rows. {robustness['note']}. "
                   f"Sanity check: at budget {number(large['budget'], digits=None)} PGD accuracy is {number(large['pgd'])}."]),
        Figure(chart, table),
    ])


def limitations(run: RunFolder, document: dict) -> Section:
    return Section("Limitations", [Bullets([
        ["Test metrics hold for data like the test split; shifted populations need ", Code("lamina monitor"), "."],
        ["Per-group numbers on small groups are noisy; read their sizes."],
        ["Explanations (integrated gradients) describe the model, not the world: a large attribution is what the "
         "model used, not a cause."],
    ])])


# The model card's sections, in its order. report.html shows each of them once, among its own.
CARD = (intended_use, data_and_split, training, test_metrics, calibration, data_quality, bias_audit, robustness_audit,
        limitations)


def written(run: RunFolder, document: dict, chosen: tuple) -> list[Section]:
    """The `chosen` section functions' sections for this run, leaving out those with nothing to say (None)."""
    return [section for section in (function(run, document) for function in chosen) if section is not None]


def held_out_scores(run: RunFolder, document: dict) -> Section:
    """For a task that draws no sections of its own: every number its metrics.json holds, and its learning
    curves when history.csv has them."""
    blocks = [Table(["score", "value"], [[name, value] for name, value in _numbers_in(document["metrics"])])]
    return Section("Held-out scores", blocks + _curves(run))


def scores_beside_baseline(run: RunFolder, document: dict) -> Section:
    """A task's test metrics beside its baseline's (metrics.json's "test" and "baseline"), the model's in bold where
    better, and its learning curves when history.csv has them: what the terminal prints after training, for a
    task whose own sections draw the rest (anomaly detection)."""
    metrics = document["metrics"]
    rows = []
    for name, value in metrics["test"].items():
        base = metrics["baseline"].get(name)
        rows.append([name, Strong(value) if beats(name, value, base) else value, base,
                     "neither (a description)" if name in NEITHER_BETTER
                     else "higher" if name in HIGHER_IS_BETTER else "lower"])
    return Section("Test metrics", [
        Paragraph(["Measured on the held-out test rows the model never saw in training or model selection, beside "
                   "the trivial baseline; the model's value is in bold where it beats the baseline."]),
        Table(["metric", "model", "baseline", "better when"], rows), *_curves(run)])


def _curves(run: RunFolder) -> list:
    """The learning curves, as a figure, when history.csv has a validation loss; else nothing."""
    history = run.read_table(HISTORY) if run.exists(HISTORY) else None
    if history is None or "valid_loss" not in history or not history["valid_loss"].notna().any():
        return []
    return [Figure(learning_curves(run, int(history.loc[history["valid_loss"].idxmin(), "epoch"])))]


def _numbers_in(value, name: str = "") -> list[tuple[str, float]]:
    """(dotted key, number) for every number in nested dicts."""
    if isinstance(value, dict):
        return [pair for key, inner in value.items() for pair in _numbers_in(inner, f"{name}.{key}" if name else key)]
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return [(name, value)] if is_number else []
