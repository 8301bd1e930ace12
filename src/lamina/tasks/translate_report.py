"""The translation task's report sections, from the run's files: test BLEU and chrF beside copying the source
(with sacreBLEU's signatures), training by validation BLEU, examples (the first test pairs and the worst by
sentence chrF), and where the network looked: its cross-attention over the source for a few test sentences.
Every value reaches the page escaped (evaluation.document)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lamina.evaluation.document import Bullets, Code, Figure, Paragraph, Section, Table, section_html
from lamina.evaluation.facts import network_item
from lamina.evaluation.plots import Chart, Heatmap
from lamina.run import HELD_OUT, HISTORY, METRICS, RunFolder

EXAMPLES = 5  # test pairs shown, and as many worst ones
ATTENTION_SENTENCES = 3  # test sentences whose cross-attention is drawn
ATTENTION_TOKENS = 20  # ...among those of at most this many pieces on each side (a readable grid)
NAMES = {"bleu": "BLEU", "chrf": "chrF", "bleu_lowercase": "BLEU, lower-cased",
         "length_ratio": "length ratio (output / reference)"}


def translate_sections(run: RunFolder, document: dict) -> list[str]:
    metrics = run.read_json(METRICS)
    held_out = run.read_table(HELD_OUT, keep_default_na=False)
    sections = [_scores(metrics), _training(run, document), _examples(held_out)]
    attention = _attention(run, held_out)
    if attention is not None:
        sections.append(attention)
    sections.append(_data(document))
    return [section_html(section) for section in sections]


def _scores(metrics: dict) -> Section:
    rows = [[NAMES[key], metrics["test"][key], metrics["baseline"][key]] for key in NAMES]
    return Section("Translation scores (test)", [
        Table(["metric", "model", f"baseline: {metrics['baseline_name']}"], rows),
        Paragraph([f"{metrics['pairs']} test pairs, beam search of {metrics['beam']}. sacreBLEU on detokenised, "
                   "cased text (the lower-cased BLEU is what many tutorials report; it is not comparable with "
                   "papers). Signatures:"]),
        Bullets([["BLEU ", Code(metrics["signature"]["bleu"])], ["chrF ", Code(metrics["signature"]["chrf"])],
                 ["lower-cased BLEU ", Code(metrics["signature"]["bleu_lowercase"])]]),
    ])


def _training(run: RunFolder, document: dict) -> Section:
    trained = document["training"]
    items = [network_item(document["architecture"]),
             [f"{trained['epochs_run']} epochs; the weights of the epoch of the best validation BLEU "
              f"({trained['best_epoch']}, greedy decoding) were kept; stopped because: {trained['stop_reason']}."],
             [f"{trained['train_seconds']:.1f} s of training on {trained['device']}, batches of about "
              f"{trained['batch_tokens']} tokens."]]
    items += step_items(trained)
    blocks = [Bullets(items)]
    history = run.read_table(HISTORY)
    if "valid_bleu" in history:
        chart = Chart("Validation BLEU by epoch", "epoch", "BLEU (greedy)", integer_x=True)
        blocks.append(Figure(chart.add("validation BLEU", history["epoch"], history["valid_bleu"])))
    losses = Chart("Loss by epoch", "epoch", "label-smoothed cross-entropy", integer_x=True)
    for column in ("train_loss", "valid_loss"):
        if column in history:
            losses.add(column.replace("_", " "), history["epoch"], history[column])
    blocks.append(Figure(losses))
    return Section("Training", blocks)


def step_items(trained: dict) -> list[list]:
    """Report bullets shared with speech to text: the patience counted in optimiser steps, and how a time budget
    was spent (training.budget), where model.json records them (older models do not)."""
    from lamina.training.budget import budget_text

    items = []
    if trained.get("patience") and trained.get("steps_per_epoch"):
        steps = trained["steps_per_epoch"]
        items.append([f"Early stopping's patience: {trained['patience']} epochs without a better validation score "
                      f"({trained['patience'] * steps:,} optimiser steps at {steps:,} an epoch). It is counted in "
                      "steps where epochs are short: a score read from decoded text sits at its floor (BLEU 0, CER "
                      "1) for the first hundreds of steps, dozens of epochs of a small data set."])
    if trained.get("time_budget"):
        items.append([budget_text(trained["time_budget"])])
    return items


def _examples(held_out: pd.DataFrame) -> Section:
    columns = ["source", "reference", "translation", "sentence chrF"]

    def rows(frame: pd.DataFrame) -> list[list]:
        return [[r.source, r.reference, r.translation, float(r.chrf)] for r in frame.itertuples()]

    worst = held_out.sort_values("chrf", kind="stable").head(EXAMPLES)
    return Section("Examples (test)", [
        Paragraph([f"The first {min(EXAMPLES, len(held_out))} test pairs:"]), Table(columns, rows(held_out.head(EXAMPLES))),
        Paragraph(["The worst by sentence chrF:"]), Table(columns, rows(worst)),
    ])


def _attention(run: RunFolder, held_out: pd.DataFrame) -> Section | None:
    """Heat-maps of the network's cross-attention (nets.seq2seq: the GRU's attention, or the Transformer's last
    decoder layer averaged over heads) while it reads its own translation of a few short test sentences."""
    from lamina.model import Model

    model = Model.load(run.model_dir)  # the report's task is unfitted; the saved model's holds the vocabularies
    task, subwords = model.task, model.task.subwords_
    short = [i for i, (s, t) in enumerate(zip(held_out["source"], held_out["translation"], strict=True))
             if t and subwords.lengths([s], "source")[0] <= ATTENTION_TOKENS
             and subwords.lengths([t], "target")[0] <= ATTENTION_TOKENS][:ATTENTION_SENTENCES]
    if not short:
        return None
    figures = []
    for i in short:
        source = subwords.encode([held_out["source"][i]], "source", task.max_source_)
        target = subwords.encode([held_out["translation"][i]], "target", ATTENTION_TOKENS + 2)
        with torch.no_grad():
            weights = model.network.eval().cross_attention(source, target[:, :-1])[0].float().numpy()
        inputs = subwords.pieces(source[0].tolist(), "source")
        outputs = subwords.pieces(target[0, 1:].tolist(), "target")  # the token each row predicts
        # In percent: the heat-map prints whole numbers, and each row's weights sum to 100.
        figures.append(Figure(Heatmap(f"Cross-attention, test sentence {i + 1}", np.round(weights * 100),
                                      outputs, inputs, "source pieces", "output pieces (each row predicts one)")))
    return Section("Cross-attention (test)", [
        Paragraph(["Where the network looks in the source while writing each piece of its translation (per cent of "
                   "the row's attention)."]), *figures])


def _data(document: dict) -> Section:
    trained, state = document["training"], document["task"]["state"]
    spec = document["architecture"]["inputs"]
    vocabulary = (f"one shared BPE vocabulary of {spec['source_vocabulary']} pieces" if spec["shared"] else
                  f"BPE vocabularies of {spec['source_vocabulary']} (source) and {spec['target_vocabulary']} "
                  "(target) pieces")
    return Section("Data and split", [
        Paragraph([f"{state['source']} → {state['target']}; split: {trained['split']}; {vocabulary}, fitted on the "
                   f"training pairs; sentences cut at {state['max_source']} source tokens."]),
        Table(["part", "pairs"], [[part, count] for part, count in trained["sizes"].items()]),
    ])
