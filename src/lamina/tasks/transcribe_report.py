"""The transcribe task's sections of report.html: CER, WER and exact transcripts beside the baseline (always the
most common training transcript), examples of held-out clips (the worst first, then the first ones in order), the
learning curves and the split. Built from model.json, history.csv and test_predictions.csv as document blocks
(evaluation.document escapes every value)."""

from __future__ import annotations

from lamina.evaluation.document import (
    Bullets,
    Figure,
    Paragraph,
    Section,
    Strong,
    Table,
    number,
    section_html,
)

EXAMPLES = 8  # held-out clips shown, worst first; as many again in file order


def transcribe_sections(run, document: dict) -> list[str]:
    from lamina.evaluation.facts import learning_curves
    from lamina.run import HELD_OUT, HISTORY
    from lamina.tasks.translate_report import step_items

    metrics, training = document["metrics"], document["training"]
    test, baseline = metrics["test"], metrics["baseline"]
    names = {"cer": "CER (greedy)", "wer": "WER (greedy)", "exact": "clips transcribed exactly",
             "cer_beam": "CER (prefix beam search)", "wer_beam": "WER (prefix beam search)"}
    rows = [[label, number(test.get(key)), number(baseline.get(key.removesuffix("_beam")))]
            for key, label in names.items() if key in test]
    sizes = training.get("sizes", {})
    scores = Section("Speech to text: held-out scores", [
        Paragraph(["Test character error rate ", Strong(number(test["cer"])), " against ", number(baseline["cer"]),
                   " for the baseline, which always answers the most common training transcript (",
                   repr(training.get("baseline_transcript", "")), "). CER and WER are edits (jiwer) over the "
                   "reference's characters or words, over all test clips; lower is better."]),
        Table(["score", "model", "baseline"], rows),
        Paragraph([f"Transcripts normalised: {training.get('normalisation', '')}. Split: {training.get('split', '')}; "
                   f"{sizes.get('train', '?')} training, {sizes.get('valid', '?')} validation (the epoch kept has "
                   f"the lowest validation CER: epoch {training.get('best_epoch', '?')} of "
                   f"{training.get('epochs_run', '?')}), {sizes.get('test', '?')} test clips; seed "
                   f"{training.get('seed', '?')}."]),
    ])
    sections = [scores]
    if run.exists(HELD_OUT):
        held = run.read_table(HELD_OUT, keep_default_na=False)  # a clip transcribed as nothing stays ""
        worst = held.sort_values("cer", ascending=False, kind="stable").head(EXAMPLES)
        shown = [*worst.index, *[i for i in held.index[:EXAMPLES] if i not in set(worst.index)]]
        sections.append(Section("Examples (the worst first, then the first test clips)", [Table(
            ["clip", "reference", "greedy", "beam", "CER"],
            [[held.at[i, "clip"], held.at[i, "reference"], held.at[i, "greedy"], held.at[i, "beam"],
              number(held.at[i, "cer"])] for i in shown])]))
    blocks = [Bullets(items)] if (items := step_items(training)) else []
    if run.exists(HISTORY):
        history = run.read_table(HISTORY)
        if "valid_loss" in history and history["valid_loss"].notna().any():
            best = int(history.loc[history["valid_cer"].idxmin(), "epoch"]) if "valid_cer" in history else 1
            blocks.append(Figure(learning_curves(run, best)))
    if blocks:
        sections.append(Section("Training", blocks))
    return [section_html(section) for section in sections]
