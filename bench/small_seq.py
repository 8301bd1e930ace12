"""Translation and speech to text on small data: the default recipe (patience and the epoch cap counted in optimiser
steps, training.budget.step_counted) beside the recipe before it (patience --patience's 8 epochs, at most 200 / 60
epochs however short), in the same run, one seed each.

    python bench/small_seq.py [--pairs 120] [--utterances 200] [--skip-speech]

Translation: a toy language of eight words, each with its own German word, word order kept (the 120 pairs of
tests/test_translate.py's generator, 2–4 words each), split 70/15/15. Speech: spoken digit strings of 2–6 digits
joined from Free Spoken Digit recordings (bench/spoken_digits.py's builder and split: training utterances from
recordings 5–49, test from 0–4), read from $LAMINA_DATA (default ../shared/data). "Before" is the same code with
the step counts set to 0 (PATIENCE_STEPS, MIN_STEPS), which gives back the epoch-counted recipe exactly.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_translate import toy_pairs  # noqa: E402  the tests' toy language: the small data the recipe failed on


@contextmanager
def epoch_counted(module):
    """The recipe before step counting: no floor of steps under the patience or the epoch cap."""
    saved = module.PATIENCE_STEPS, module.MIN_STEPS
    module.PATIENCE_STEPS, module.MIN_STEPS = 0, 0
    try:
        yield
    finally:
        module.PATIENCE_STEPS, module.MIN_STEPS = saved


def fitted(fit, module, before: bool) -> tuple[object, float]:
    started = time.perf_counter()
    if before:
        with epoch_counted(module):
            model = fit()
    else:
        model = fit()
    return model, time.perf_counter() - started


def translation(pairs: int) -> list[list]:
    import lamina
    from lamina.tasks import translate

    rows = []
    for name, before in (("before (epoch-counted)", True), ("now (step-counted)", False)):
        model, wall = fitted(lambda: lamina.fit(toy_pairs(pairs), "de", task="translate", source="en",
                                                progress=False), translate, before)
        training, test = model.training, model.metrics["test"]
        rows.append([f"translate {pairs} pairs", name, f"BLEU {test['bleu']:.1f}", f"chrF {test['chrf']:.1f}",
                     training["epochs_run"], training["epochs_run"] * training["steps_per_epoch"],
                     training["patience"], training["stop_reason"], f"{wall:.0f}"])
    return rows


def speech(utterances_count: int) -> list[list]:

    import lamina
    from fsdd import data_file
    from lamina.tasks import transcribe
    from spoken_digits import digit_strings

    archive = data_file()
    if not archive.exists():
        print(f"Free Spoken Digit Dataset not found at {archive}: set LAMINA_DATA. Speech skipped.")
        return []
    rows = []
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        train, test = digit_strings(archive, folder, utterances_count, 100, seed=0)
        for name, before in (("before (epoch-counted)", True), ("now (step-counted)", False)):
            model, wall = fitted(lambda: lamina.fit(train[["audio", "text"]], target="text", task="transcribe",
                                                    test=test[["audio", "text"]], progress=False), transcribe, before)
            training, scores = model.training, model.metrics["test"]
            rows.append([f"transcribe {utterances_count} utterances", name, f"digit error {scores['wer']:.1%}",
                         f"CER {scores['cer']:.1%}", training["epochs_run"],
                         training["epochs_run"] * training["steps_per_epoch"], training["patience"],
                         training["stop_reason"], f"{wall:.0f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=120, help="toy sentence pairs (train + valid + test)")
    parser.add_argument("--utterances", type=int, default=200, help="training utterances of spoken digits")
    parser.add_argument("--skip-speech", action="store_true")
    parser.add_argument("--skip-translation", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = ([] if args.skip_translation else translation(args.pairs)) + \
        ([] if args.skip_speech else speech(args.utterances))
    print(f"\n{args.threads} torch thread(s); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end")
    print("| data | recipe | score | score | epochs | steps | patience (epochs) | stopped | wall s |")
    print("|---|---|---|---|---:|---:|---:|---|---:|")
    for row in rows:
        print("| " + " | ".join(map(str, row)) + " |")


if __name__ == "__main__":
    main()
