"""Translation: sentence pairs (two text columns of a table, or two aligned plain-text files) → a network that
writes the target sentence of a source sentence.

Subwords: a BPE vocabulary fitted on the training pairs only (features.subwords), shared by both sides when
they share a script. Networks: the "pairs" family of the one registry (nets/seq2seq.py: a pre-norm Transformer
encoder-decoder, or a GRU encoder-decoder with attention), sized from the data unless set. Training: teacher
forcing with label-smoothed cross-entropy (0.1, Szegedy et al. 2016) ignoring padding, in batches of about
a fixed number of tokens bucketed by length (training.batches.TokenBatches), AdamW with the Trainer's warm-up
and cosine schedule. The epoch kept is the one of the best validation BLEU (greedy decoding of up to
VALID_PAIRS validation pairs), not of the lowest loss.

Scores (sacreBLEU, Post 2018): BLEU and chrF on the test pairs, cased and detokenised, with their signatures,
beside the trivial baseline of copying the source; also lower-cased BLEU as many tutorials report it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from lamina.data.pairs import clean_pairs, long_pairs, sentence_pairs
from lamina.data.split import valid_fraction_of
from lamina.errors import LaminaError
from lamina.features.subwords import PAD, Subwords
from lamina.nets.build import build_network, names
from lamina.tasks.base import FRACTIONS, Prepared, Task, register_task
from lamina.training.budget import budget_record, step_counted

LABEL_SMOOTHING = 0.1  # target mass spread evenly over the vocabulary (Vaswani et al. 2017's setting)
VALID_PAIRS = 500  # validation pairs decoded each epoch to pick the best epoch by BLEU
BEAM = 5  # beams in test scoring and by default in use
LENGTH_PENALTY = 0.6  # GNMT length penalty's alpha (Wu et al. 2016)
LENGTH_RATIO, LENGTH_EXTRA = 1.5, 10  # most target tokens decoded: ratio × source tokens + extra
TOKENS_PER_BATCH = (256, 4096)  # bounds of the automatic batch size, in tokens (padding included)
BATCHES_PER_EPOCH = 200  # an automatic batch size aims at this many batches an epoch
STEPS_PER_RUN = 6000  # optimiser steps an automatic run aims at; epochs follow, within EPOCH_RANGE...
EPOCH_RANGE = (10, 200)  # fewest and most epochs of an automatic run...
MIN_STEPS = 3000  # ...but the cap never leaves fewer steps than this: 120 pairs are 2 steps an epoch, and 400 steps
# leave BLEU at 0 (BENCHMARKS.md, small data)
PATIENCE_STEPS = 1000  # early stopping waits at least this many optimiser steps (--patience epochs where longer):
# validation BLEU sits at 0 for the first hundreds of steps; Multi30k's ~200 steps an epoch keep --patience's 8 epochs
LEARNING_RATE = {"transformer": 5e-4, "gru": 1e-3}  # AdamW peak learning rate per architecture
DECODE_SENTENCES = 128  # sentences translated at once
MAX_REQUEST_SENTENCES, MAX_REQUEST_CHARACTERS = 64, 20_000  # what one server request may hold


@dataclass
class PairsPrepared(Prepared):
    parts: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)  # part → (sources, targets)
    description: str = ""  # how the split was made

    def split_sizes(self) -> dict[str, int]:  # before training leaves out pairs too long for the network
        return {part: len(sources) for part, (sources, _targets) in self.parts.items()}


@register_task
class TranslateTask(Task):
    name = "translate"
    judged_on = "bleu"  # against copying the source
    aliases = ("translation", "seq2seq")
    # --init-from: read to be refused in its own words (prepare)
    settings = (*FRACTIONS, "source", "source_file", "target_file", "test_source_file", "test_target_file",
                "valid_source_file", "valid_target_file", "label_smoothing", "init_from")
    reads = "pairs"
    route = "translate"
    playground = "translate"  # a text box of sentences and their translations
    monitor = "valid_bleu"  # the Trainer keeps the epoch of the best validation BLEU
    mode = "max"
    _smoothing = LABEL_SMOOTHING  # the training's label smoothing (train.label_smoothing, auto: LABEL_SMOOTHING)

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> PairsPrepared:
        if config.model.arch not in ("auto", *names(self.reads)):
            build_network(config.model.arch, {}, 1, reads=self.reads)  # raises the error naming the registered ones
        if config.train.init_from:
            raise LaminaError("--init-from is not supported for translation (a pretrained Marian or T5 folder cannot "
                              "start it yet); drop it to train from scratch.")
        where = frame.attrs.get("where", "the training data")
        self.source_, self.target_ = sentence_pairs(frame, config.data.source, config.data.target, where)
        pairs, findings = clean_pairs(frame, self.source_, self.target_, where)
        valid_share, test_share = valid_fraction_of(config.data.valid_fraction, len(pairs)), config.data.test_fraction
        order = np.random.default_rng(config.seed).permutation(len(pairs))
        valid_given, test_frame = (_given_pairs(config, "valid", self.source_, self.target_, findings),
                                   None if test_frame is None else _cleaned(test_frame, self.source_, self.target_,
                                                                            findings))
        valid_count = 0 if valid_given is not None else max(1, round(valid_share * len(pairs)))
        test_count = 0 if test_frame is not None else max(1, round(test_share * len(pairs)))
        parts = {"test": order[:test_count], "valid": order[test_count:test_count + valid_count],
                 "train": order[test_count + valid_count:]}
        if not len(parts["train"]):
            raise LaminaError(f"{len(pairs)} pairs split by --valid-fraction {valid_share:g} and --test-fraction "
                              f"{test_share:g} leave no training pairs. Give more pairs, or lower the fractions.")
        texts = {part: (pairs[self.source_].iloc[rows].tolist(), pairs[self.target_].iloc[rows].tolist())
                 for part, rows in parts.items()}
        for part, given in (("test", test_frame), ("valid", valid_given)):
            if given is not None:
                texts[part] = (given[self.source_].tolist(), given[self.target_].tolist())
        held = {part: share for part, share, given in (("valid", valid_share, valid_given),
                                                       ("test", test_share, test_frame)) if given is None}
        named = [part for part, given in (("validation", valid_given), ("test", test_frame)) if given is not None]
        description = (f"random: {1 - sum(held.values()):.0%} train" + "".join(f", {share:.0%} {part}"
                                                                                for part, share in held.items())
                       + (f"; given {' and '.join(named)} pairs" if named else ""))
        return PairsPrepared(findings, texts, f"{description}, seed {config.seed}")

    def fit(self, config, prepared: PairsPrepared, session):
        from lamina.nets.seq2seq import default_hyperparameters
        from lamina.training.batches import TokenBatches

        sources, targets = prepared.parts["train"]
        smoothing = config.train.label_smoothing
        self._smoothing = LABEL_SMOOTHING if smoothing == "auto" else smoothing
        self.subwords_ = Subwords().fit(sources, targets)
        kept, self.max_source_, self.max_target_, findings = long_pairs(
            self.subwords_.lengths(sources, "source"), self.subwords_.lengths(targets, "target"))
        prepared.findings += findings
        sources = [s for s, k in zip(sources, kept, strict=True) if k]
        targets = [t for t, k in zip(targets, kept, strict=True) if k]
        source = self.subwords_.encode(sources, "source", self.max_source_)
        target = self.subwords_.encode(targets, "target", self.max_target_)
        tokens = int((target != PAD).sum())
        arch = "transformer" if config.model.arch == "auto" else config.model.arch
        hyperparameters = default_hyperparameters(arch, len(sources), tokens)
        hyperparameters.update({key: getattr(config.model, key) for key in ("width", "depth", "dropout")
                                if key in hyperparameters and getattr(config.model, key) != "auto"})
        architecture = {"arch": arch, "hyperparameters": hyperparameters, "outputs": self.subwords_.size("target"),
                        "inputs": self.spec()}
        network = self.build_network(architecture)
        train = config.train
        budget = (int(np.clip(tokens // BATCHES_PER_EPOCH, *TOKENS_PER_BATCH)) if train.batch_size == "auto"
                  else train.batch_size)
        batches = TokenBatches(source, target, budget, shuffle=True, seed=config.seed)
        valid_sources, self._valid_references = (part[:VALID_PAIRS] for part in prepared.parts["valid"])
        valid = TokenBatches(self.subwords_.encode(valid_sources, "source", self.max_source_),
                             self.subwords_.encode(self._valid_references, "target", self.max_target_), budget)
        trainer = session.trainer(network, self, **step_counted(train, len(batches), STEPS_PER_RUN, EPOCH_RANGE,
                                                                 MIN_STEPS, PATIENCE_STEPS),
                                  lr=LEARNING_RATE.get(arch, 5e-4) if train.lr == "auto" else train.lr)
        trainer.fit(batches, valid, resume=session.resume)
        training = {"seed": config.seed, "split": prepared.description, "batch_tokens": budget,
                    "sizes": {"train": len(sources), "valid": len(prepared.parts["valid"][0]),
                              "test": len(prepared.parts["test"][0]), "left_out_long": int((~kept).sum())},
                    "epochs_run": len(trainer.history_), "best_epoch": trainer.best_epoch_,
                    "stop_reason": trainer.stop_reason_, "patience": trainer.patience, "steps_per_epoch": len(batches),
                    "train_seconds": round(trainer.elapsed_, 2), "device": str(trainer.device_)}
        if trainer.time_budget is not None:
            training["time_budget"] = budget_record(trainer)
        return trainer.module.eval(), architecture, training

    def spec(self) -> dict:
        """The network's input spec (nets.seq2seq): vocabulary sizes, whether shared, positions needed."""
        return {"source_vocabulary": self.subwords_.size("source"), "target_vocabulary": self.subwords_.size("target"),
                "shared": self.subwords_.shared_, "max_source": self.max_source_,
                "max_target": self.longest_output(self.max_source_) + 2}

    @staticmethod
    def longest_output(source_tokens: int) -> int:
        return int(LENGTH_RATIO * source_tokens + LENGTH_EXTRA)

    def build_network(self, architecture: dict) -> torch.nn.Module:
        spec = architecture["inputs"]
        if (spec["source_vocabulary"], spec["target_vocabulary"]) != (self.subwords_.size("source"),
                                                                      self.subwords_.size("target")):
            raise ValueError("the architecture's vocabulary sizes differ from the task's vocabularies")
        return build_network(architecture["arch"], spec, architecture["outputs"], reads=self.reads,
                             **architecture["hyperparameters"])

    # The Trainer's step: teacher forcing; validation decodes greedily and scores BLEU.
    def training_step(self, module, batch, trainer) -> torch.Tensor:
        target = batch["target"]
        with trainer.autocast():
            logits = module({"source": batch["source"], "target_in": target[:, :-1]})
            return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), target[:, 1:].flatten(),
                                                     ignore_index=PAD, label_smoothing=self._smoothing)

    def validate(self, module, batches, trainer) -> dict[str, float]:
        import sacrebleu

        from lamina.nets.seq2seq_search import greedy

        losses, rows, outputs, order = [], [], [], []
        for batch in batches:
            losses.append(float(self.training_step(module, batch, trainer)) * len(batch["source"]))
            rows.append(len(batch["source"]))
            with trainer.autocast():
                ids = greedy(module, batch["source"], self.max_lengths(batch["source"]))[0]
            outputs += self.subwords_.decode(ids)
            order += batch["index"].tolist()
        hypotheses = [outputs[i] for i in np.argsort(order)]
        bleu = sacrebleu.corpus_bleu(hypotheses, [self._valid_references[:len(hypotheses)]])
        return {"valid_loss": sum(losses) / max(sum(rows), 1), "valid_bleu": float(bleu.score)}

    def max_lengths(self, source: torch.Tensor) -> torch.Tensor:
        """Most target tokens to decode per sentence ([rows]): LENGTH_RATIO × its source tokens + LENGTH_EXTRA."""
        from lamina.nets.seq2seq_search import max_lengths

        return max_lengths((source != PAD).sum(1), ratio=LENGTH_RATIO, extra=LENGTH_EXTRA)

    # ---- scores ------------------------------------------------------------------------------------------

    def score(self, model, prepared: PairsPrepared) -> pd.DataFrame:
        sources, references = prepared.parts["test"]
        translations = self.translate(model, sources, BEAM)
        model.metrics, held_out = scores(sources, references, translations, BEAM)
        return held_out

    def summary(self, model) -> str:
        """The test scores beside copying the source, and BLEU's signature (what they are comparable with)."""
        test, baseline = model.metrics["test"], model.metrics["baseline"]
        return (f"Test BLEU {test['bleu']:.1f}, chrF {test['chrf']:.1f} (copying the source: BLEU "
                f"{baseline['bleu']:.1f}, chrF {baseline['chrf']:.1f}); beam {model.metrics['beam']}.\n"
                f"sacreBLEU signature: {model.metrics['signature']['bleu']}")

    # ---- use ---------------------------------------------------------------------------------------------

    def translate(self, model, texts, beam: int = BEAM) -> list[str]:
        """The translation of each text (a list of str); an empty text translates to "". Sentences are decoded
        DECODE_SENTENCES at a time, sorted by length, with beam search (`beam` 1: greedy), each at most
        LENGTH_RATIO × its source tokens + LENGTH_EXTRA long; a source longer than training's longest kept is cut.
        Raises LaminaError for texts that are not a list of strings or a beam outside 1..10."""
        from lamina.nets.seq2seq_search import beam_search, greedy

        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise LaminaError("translate takes a list of sentences (str), e.g. model.translate(['A man rides a "
                              "bike.']).")
        if isinstance(beam, bool) or not isinstance(beam, (int, np.integer)) or not 1 <= beam <= 10:
            raise LaminaError(f"beam must be a whole number from 1 (greedy) to 10; got {beam!r}.")
        texts = [" ".join(t.split()) for t in texts]
        filled = [i for i, t in enumerate(texts) if t]
        order = sorted(filled, key=lambda i: len(texts[i]))
        device = model.inference_device()
        network = model.network.eval()
        translations = [""] * len(texts)
        for start in range(0, len(order), DECODE_SENTENCES):
            chunk = order[start:start + DECODE_SENTENCES]
            source = self.subwords_.encode([texts[i] for i in chunk], "source", self.max_source_).to(device)
            with torch.no_grad():
                if beam == 1:
                    ids = greedy(network, source, self.max_lengths(source))[0]
                else:
                    ids = beam_search(network, source, beam=int(beam), length_penalty=LENGTH_PENALTY,
                                      max_length=self.max_lengths(source))[0]
            for i, text in zip(chunk, self.subwords_.decode(ids), strict=True):
                translations[i] = text
        return translations

    def read_prediction_data(self, data) -> pd.DataFrame:
        """Sentences to translate: a .txt file of one sentence a line, else a table with the source column."""
        from pathlib import Path

        from lamina.data.pairs import read_lines
        from lamina.data.read import read_table

        if isinstance(data, (str, Path)) and Path(data).suffix.lower() == ".txt":
            return pd.DataFrame({self.source_: read_lines(data, "sentences")})
        return read_table(data, "prediction data")

    def predict(self, model, frame: pd.DataFrame, beam: int = BEAM) -> pd.DataFrame:
        """A `translation` column beside the source column of `frame` (one of one column is read as it)."""
        column = self.source_ if self.source_ in frame.columns else frame.columns[0] if len(frame.columns) == 1 \
            else None
        if column is None:
            raise LaminaError(f"The sentences to translate need the source column {self.source_!r} (or a table of "
                              f"one column, or a .txt file of one sentence a line); the columns are "
                              f"{', '.join(map(str, frame.columns[:10]))}.")
        texts = [v if isinstance(v, str) else "" for v in frame[column]]
        return pd.DataFrame({self.source_: texts, "translation": self.translate(model, texts, beam)})

    # ---- files -------------------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"source": self.source_, "target": self.target_, "max_source": self.max_source_,
                "max_target": self.max_target_, "subwords": self.subwords_.state()}

    @classmethod
    def from_state(cls, state: dict) -> TranslateTask:
        task = cls(cls.name)
        task.source_, task.target_ = str(state["source"]), str(state["target"])
        task.max_source_, task.max_target_ = int(state["max_source"]), int(state["max_target"])
        if min(task.max_source_, task.max_target_) < 1:
            raise ValueError("max_source and max_target are token counts of at least 1")
        task.subwords_ = Subwords.from_state(state["subwords"])
        return task

    @classmethod
    def title(cls, document: dict) -> str:
        state = document["task"]["state"]
        return f"translating {state['source']} → {state['target']}"

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.tasks.translate_report import translate_sections

        return translate_sections(run, document)

    # ---- serving -----------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """{"texts": ["..."], "beam": 5}: 1 to MAX_REQUEST_SENTENCES sentences of at most MAX_REQUEST_CHARACTERS
        characters in all, beam 1..10."""
        from pydantic import ConfigDict, Field, StrictInt, StrictStr, create_model, field_validator

        def bounded(texts: list[str]) -> list[str]:
            if sum(map(len, texts)) > MAX_REQUEST_CHARACTERS:
                raise ValueError(f"the texts hold more than {MAX_REQUEST_CHARACTERS:,} characters in all; send fewer")
            return texts

        return create_model(f"{name}TranslateRequest", __config__=ConfigDict(extra="forbid"),
                            __validators__={"bounded": field_validator("texts")(bounded)},
                            texts=(list[StrictStr], Field(min_length=1, max_length=MAX_REQUEST_SENTENCES)),
                            beam=(StrictInt, Field(BEAM, ge=1, le=10)))

    def request_example(self, model) -> dict:
        return {"texts": ["A man rides a bike."], "beam": BEAM}

    def respond(self, model, body) -> dict:
        return {"translations": self.translate(model, list(body.texts), body.beam)}


def _given_pairs(config, part: str, source: str, target: str, findings: list) -> pd.DataFrame | None:
    """The cleaned pairs of the aligned files config.data names for `part` ("valid"), if it names them; their
    findings are added to `findings`."""
    from lamina.data.pairs import read_pair_files

    files = (getattr(config.data, f"{part}_source_file"), getattr(config.data, f"{part}_target_file"))
    return None if files[0] is None else _cleaned(read_pair_files(*files, source, target), source, target, findings)


def _cleaned(frame: pd.DataFrame, source: str, target: str, findings: list) -> pd.DataFrame:
    """The pairs of a given validation or test table (checked for the training's columns), findings added."""
    where = frame.attrs.get("where", "the given pairs")
    sentence_pairs(frame, source, target, where)
    kept, found = clean_pairs(frame, source, target, where)
    findings += found
    return kept


def scores(sources: list[str], references: list[str], translations: list[str], beam: int) -> tuple[dict, pd.DataFrame]:
    """(metrics, held-out table) of test translations: sacreBLEU's corpus BLEU (cased, its 13a tokenisation of
    detokenised text) and chrF with their signatures, the same for the baseline of copying the source, BLEU
    lower-cased as tutorials report it, the length ratio (hypothesis / reference, BLEU's), and per pair its
    sentence chrF (the report's worst examples)."""
    from sacrebleu.metrics import BLEU, CHRF

    bleu, chrf, lowercase = BLEU(), CHRF(), BLEU(lowercase=True, tokenize="13a")
    found = bleu.corpus_score(translations, [references])
    copied = bleu.corpus_score(sources, [references])
    metrics = {
        "test": {"bleu": found.score, "chrf": chrf.corpus_score(translations, [references]).score,
                 "bleu_lowercase": lowercase.corpus_score(translations, [references]).score,
                 "length_ratio": found.sys_len / max(found.ref_len, 1)},
        "baseline": {"bleu": copied.score, "chrf": chrf.corpus_score(sources, [references]).score,
                     "bleu_lowercase": lowercase.corpus_score(sources, [references]).score,
                     "length_ratio": copied.sys_len / max(copied.ref_len, 1)},
        "baseline_name": "copy the source", "beam": beam, "pairs": len(references),
        "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature()),
                      "bleu_lowercase": str(lowercase.get_signature())},
    }
    sentence = CHRF()
    held_out = pd.DataFrame({"source": sources, "reference": references, "translation": translations,
                             "chrf": [sentence.sentence_score(t, [r]).score
                                      for t, r in zip(translations, references, strict=True)]})
    return metrics, held_out
