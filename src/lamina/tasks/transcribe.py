"""Speech to text: a table with a column of recordings (paths relative to the table, as for any audio column) and
a column of transcripts → a CTC recogniser over characters. `lamina train clips.csv --task transcribe --target text`.

Transcripts are normalised before anything else: Unicode NFKC, lower-case, runs of whitespace as one space, no
space at either end. The characters of the training transcripts are the vocabulary (index 0 is CTC's blank); a test
transcript with a character never seen in training is refused, naming it. Each clip becomes features.audio's
log-mel frames (25 ms windows every 10 ms, 64 bands) at its own length, up to MAX_SECONDS; the networks of the
"frames" family (nets/ctc.py) subsample them ×4 and give per-frame character log-probabilities, trained with
torch.nn.functional.ctc_loss on batches of similar lengths. The epoch kept is the one of the lowest validation CER
(greedy decoding). Test scores: CER and WER (jiwer) of greedy and of prefix beam search decoding (nets/ctc_search.py),
and the share of clips transcribed exactly, beside a trivial baseline: always answering the most common training
transcript.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.data.audio import (
    REFERENCE_SAMPLES,
    audio_from_base64,
    looks_like_audio_paths,
    mono_at,
    read_header,
    read_headers,
    read_samples,
)
from lamina.data.checks import Finding
from lamina.data.media import library_message, named_problems, refuse_each, refuse_unreadable
from lamina.errors import LaminaError
from lamina.features.audio import MAX_RATE, MELS, log_mel
from lamina.nets.build import build_network, names
from lamina.nets.ctc import subsampled
from lamina.nets.ctc_search import BLANK, greedy, prefix_beam_search
from lamina.tasks.base import FRACTIONS, Prepared, Task, register_task
from lamina.training.budget import budget_record, step_counted

MAX_SECONDS = 30.0  # of a clip the model reads; a longer one is refused when transcribed, left out in training
DEFAULTS = {"channels": 32,  # maps of each subsampling convolution
            "width": 128,  # GRU units a direction (Transformer: dimensions)
            "depth": 2,  # recurrent (or Transformer) layers
            "dropout": 0.1}  # share of units zeroed in training
LEARNING_RATE = 2e-3  # peak AdamW rate (per step), after a one-epoch warm-up
BATCH_SIZE = 32  # clips a step
STEPS_PER_RUN = 3000  # optimiser steps a default run aims at; epochs follow, within EPOCH_RANGE...
EPOCH_RANGE = (3, 60)  # fewest and most epochs of a default run...
MIN_STEPS = 1500  # ...but the cap never leaves fewer steps than this (100 clips: 3 steps an epoch)
PATIENCE_STEPS = 500  # early stopping waits at least this many optimiser steps (--patience epochs where longer):
# CER sits at 1.0 (blank-only output) for the first hundred or more steps; 3,000 spoken-digit utterances (80 steps
# an epoch) keep --patience's 8 epochs
BEAM = 8  # prefixes prefix beam search keeps a frame
MAX_BEAM = 64  # the widest beam a request may ask for
INFERENCE_BATCH = 64  # clips a forward pass when transcribing
# A request's clip, in base64: a MAX_SECONDS clip as 16-bit mono WAV at speech's usual 16 kHz (the highest rate a
# model reads, MAX_RATE), with 4 KiB for the file's header and metadata chunks: 1.29 million characters. The server's
# body limit follows (Task.body_limit); a longer or higher-rate clip is sent as FLAC, or resampled.
MAX_REQUEST_CHARACTERS = 4 * math.ceil((round(MAX_SECONDS * MAX_RATE) * 2 + 4096) / 3)
BODY_SLACK = 1024  # bytes of JSON around the clip: its key, "beam", spaces


def normalise(text) -> str:
    """NFKC, lower-case, whitespace runs collapsed to one space, stripped."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).lower().split())


@dataclass
class SpeechPrepared(Prepared):
    frames: dict[str, torch.Tensor] | None = None  # part → uint8 [clips, frames, MELS], right-padded
    lengths: dict[str, torch.Tensor] | None = None  # part → int64 [clips] real frames
    texts: dict[str, list[str]] | None = None  # part → normalised transcripts
    clips: dict[str, list[str]] | None = None  # part → the clips' paths
    description: str = ""

    def split_sizes(self) -> dict[str, int]:
        return {part: len(texts) for part, texts in self.texts.items()}


@register_task
class TranscribeTask(Task):
    name = "transcribe"
    judged_on = "cer"  # against the most common training transcript, always
    aliases = ("asr", "speech")
    settings = FRACTIONS  # CTC has no label smoothing
    reads = "frames"
    route = "transcribe"
    playground = "transcribe"  # upload or record a clip
    monitor = "valid_cer"  # the epoch kept: the lowest validation character error rate, greedy decoding
    mode = "min"

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> SpeechPrepared:
        from lamina.data.split import split_rows

        if config.model.arch not in ("auto", *names(self.reads)):
            build_network(config.model.arch, {}, 1, reads=self.reads)  # raises the error naming the registered ones
        self.target_ = _transcript_column(frame, config)
        self.audio_column_ = _audio_column(frame, self.target_)
        findings: list[Finding] = []
        frames = {"train": frame, **({"test": test_frame} if test_frame is not None else {})}
        for part, table in frames.items():
            if self.target_ not in table or self.audio_column_ not in table:
                raise LaminaError(f"The {part} data lacks the column {self.target_!r} or {self.audio_column_!r}; "
                                  "give it the training data's columns.")
            frames[part] = _usable(table, self.audio_column_, self.target_, part, findings)
        self.rate_ = int(min(MAX_RATE, np.median([i.rate for i in read_headers(frames["train"][self.audio_column_])])))
        spectrograms = []  # of every kept clip, training data's then test data's: each clip is decoded once
        for part, table in frames.items():
            frames[part], decoded = self._decodable(table, part, findings)
            spectrograms += decoded
        frame = frames["train"]
        self.vocabulary_ = sorted({c for text in frame[self.target_] for c in text})
        if "test" in frames:
            _require_known(frames["test"], self.target_, set(self.vocabulary_), "test data")
        rows = pd.DataFrame({"_row": np.arange(len(frame))})
        test_rows = pd.DataFrame({"_row": np.arange(len(frames["test"])) + len(frame)}) if "test" in frames else None
        split = split_rows(rows, "_row", "regression", config.data.valid_fraction, config.data.test_fraction,
                           config.seed, test_rows)
        everything = pd.concat(list(frames.values()), ignore_index=True)
        prepared = SpeechPrepared(findings, {}, {}, {}, {}, split.description)
        for part in ("train", "valid", "test"):
            chosen = getattr(split, part)["_row"].to_numpy()
            prepared.frames[part], prepared.lengths[part] = padded([spectrograms[row] for row in chosen])
            prepared.texts[part] = everything[self.target_].iloc[chosen].tolist()
            prepared.clips[part] = everything[self.audio_column_].iloc[chosen].astype(str).tolist()
        _keep_long_enough(prepared, findings)
        return prepared

    def spectrograms_of(self, clips: list, names: list[str] | None = None) -> list[torch.Tensor]:
        """uint8 log-mel frames [frames, MELS] of each clip (a file path or a file's bytes), read up to MAX_SECONDS
        at the model's rate. Raises LaminaError naming every clip that cannot be used whole: a header that shows a
        problem or claims too much to decode, a clip over MAX_SECONDS (never cut short silently), or samples that
        cannot be decoded. A request's clips (`names` given) are named by their fields alone, as every server error
        names them; others by path or 'clip N' (media.refuse_unreadable). Every clip is read before any is
        transcribed, so one run names each to replace."""
        requested = names is not None
        names = names or [clip if isinstance(clip, str) else f"clip {row}" for row, clip in enumerate(clips)]
        spectrograms, problems = [], []
        for clip, name in zip(clips, names, strict=True):
            problem = _whole_problem(clip)
            if problem is None:
                try:
                    spectrograms.append(self.spectrogram(clip))
                    continue
                except Exception as error:  # soundfile's own errors, a missing file, a pipe, NaN samples
                    problem = f"cannot read this audio ({library_message(error)})"
            problems.append((name, problem))
        if requested:  # no column, table or row in a request: its fields and what is wrong
            refuse_each(problems)
        refuse_unreadable(self.audio_column_, problems, "recording", "cannot be used whole")
        return spectrograms

    def spectrogram(self, clip) -> torch.Tensor:
        """uint8 log-mel frames [frames, MELS] of a file path or a file's bytes, read up to MAX_SECONDS at the
        model's rate. Raises as data.audio.read_samples."""
        samples, rate = read_samples(clip, MAX_SECONDS)
        wave = torch.from_numpy(np.ascontiguousarray(mono_at(samples, rate, self.rate_)))
        return log_mel(wave[None], self.rate_)[0].T

    def _decodable(self, table: pd.DataFrame, part: str, findings: list) -> tuple[pd.DataFrame, list]:
        """The rows of `table` whose clip decodes (a header can be sound over NaN samples or a corrupt stream) and
        their spectrograms; the others are left out with a finding, as _usable leaves out unreadable headers."""
        spectrograms, problems = [], []
        for clip in table[self.audio_column_]:
            try:
                spectrograms.append(self.spectrogram(clip))
                problems.append("")
            except Exception as error:  # soundfile's own errors, NaN samples
                problems.append(f"cannot be decoded: {library_message(error)}")
        return _left_out(table, problems, part, findings, self.audio_column_), spectrograms

    def encode(self, texts: list[str]) -> torch.Tensor:
        """int64 [texts, longest] character indices (1 + the vocabulary's position), right-padded with the blank."""
        index = {c: i + 1 for i, c in enumerate(self.vocabulary_)}
        encoded = torch.zeros(len(texts), max([len(t) for t in texts] + [1]), dtype=torch.int64)
        for row, text in enumerate(texts):
            encoded[row, : len(text)] = torch.tensor([index[c] for c in text], dtype=torch.int64)
        return encoded

    def decode(self, indices: list[int]) -> str:
        return "".join(self.vocabulary_[i - 1] for i in indices)

    def fit(self, config, prepared: SpeechPrepared, session):
        from lamina.training.batches import TensorBatches

        model, train = config.model, config.train
        chosen = {k: getattr(model, k) for k in ("width", "depth", "dropout") if getattr(model, k) != "auto"}
        hyperparameters = {**DEFAULTS, **chosen}
        frames, lengths = prepared.frames["train"], prepared.lengths["train"]
        real = torch.arange(frames.shape[1]) < lengths[:, None]
        values = frames[real].float() / 255  # the real frames' levels, 0…1
        spec = {"mels": MELS, "mean": float(values.mean()), "std": float(values.std().clamp_min(1e-3))}
        arch = "ctc-gru" if model.arch == "auto" else model.arch
        architecture = {"arch": arch, "hyperparameters": hyperparameters, "outputs": len(self.vocabulary_) + 1,
                        "inputs": spec}
        network = self.build_network(architecture)
        batch_size = min(BATCH_SIZE, len(frames)) if train.batch_size == "auto" else train.batch_size
        batches = TensorBatches({"frames": frames, "lengths": lengths}, self.encode(prepared.texts["train"]),
                                batch_size, shuffle=True, seed=config.seed, lengths=lengths)
        valid = TensorBatches({"frames": prepared.frames["valid"], "lengths": prepared.lengths["valid"]},
                              self.encode(prepared.texts["valid"]), INFERENCE_BATCH)
        trainer = session.trainer(network, self, **step_counted(train, len(batches), STEPS_PER_RUN, EPOCH_RANGE,
                                                                 MIN_STEPS, PATIENCE_STEPS),
                                  lr=LEARNING_RATE if train.lr == "auto" else train.lr)
        history = trainer.fit(batches, valid, resume=session.resume)
        training = {"seed": config.seed, "epochs_run": len(history), "best_epoch": trainer.best_epoch_,
                    "stop_reason": trainer.stop_reason_, "patience": trainer.patience, "steps_per_epoch": len(batches),
                    "seconds": round(trainer.elapsed_, 2),
                    "batch_size": batch_size, "split": prepared.description,
                    "sizes": prepared.split_sizes(),
                    "normalisation": "NFKC, lower-case, whitespace collapsed to single spaces",
                    "baseline": "the most common training transcript, always"}
        if trainer.time_budget is not None:
            training["time_budget"] = budget_record(trainer)
        return network.eval(), architecture, training

    def build_network(self, architecture: dict) -> torch.nn.Module:
        if architecture["outputs"] != len(self.vocabulary_) + 1:
            raise ValueError("the architecture's outputs are not the vocabulary and the blank")
        return build_network(architecture["arch"], architecture["inputs"], architecture["outputs"],
                             reads=self.reads, **architecture["hyperparameters"])

    # The Trainer's step: CTC loss over each clip's subsampled frames.
    def training_step(self, module, batch, trainer) -> torch.Tensor:
        inputs, targets = batch
        with trainer.autocast():
            log_probs = module(inputs)
        return ctc_loss(log_probs, subsampled(inputs["lengths"]), targets)

    def validate(self, module, batches, trainer) -> dict[str, float]:
        """Mean CTC loss a clip and the CER of greedy transcripts of the validation clips."""
        import jiwer

        total, clips, truths, guesses = 0.0, 0, [], []
        for inputs, targets in batches:
            with trainer.autocast():
                log_probs = module(inputs).float()
            lengths = subsampled(inputs["lengths"])
            total += float(ctc_loss(log_probs, lengths, targets)) * len(targets)
            clips += len(targets)
            truths += [self.decode(row[row != BLANK].tolist()) for row in targets.cpu()]
            guesses += [self.decode(row) for row in greedy(log_probs, lengths)]
        return {"valid_loss": total / max(clips, 1), "valid_cer": float(jiwer.cer(truths, guesses))}

    # ---- use ---------------------------------------------------------------------------------------------

    def transcripts(self, model, clips: list, beam: int | None = None, names: list[str] | None = None) -> list[str]:
        """The transcript of each clip (a file path or a file's bytes): greedy decoding, or prefix beam search
        keeping `beam` prefixes. Raises LaminaError naming every clip (`names`, else its path or 'clip N') that
        cannot be used whole (spectrograms_of)."""
        if beam is not None and (isinstance(beam, bool) or not isinstance(beam, int) or not 1 <= beam <= MAX_BEAM):
            raise LaminaError(f"beam must be a whole number from 1 to {MAX_BEAM} (or None: greedy); got {beam!r}.")
        spectrograms = self.spectrograms_of(clips, names)
        device = model.inference_device()
        model.network.to(device).eval()
        found = []
        for start in range(0, len(clips), INFERENCE_BATCH):
            frames, lengths = padded(spectrograms[start:start + INFERENCE_BATCH])
            with torch.no_grad():
                log_probs = model.network({"frames": frames.to(device), "lengths": lengths.to(device)}).float().cpu()
            lengths = subsampled(lengths)
            if beam is None:
                found += [self.decode(row) for row in greedy(log_probs, lengths)]
            else:
                found += [self.decode(prefix_beam_search(row[:n].numpy(), beam)[0])
                          for row, n in zip(log_probs, lengths.tolist(), strict=True)]
        return found

    def transcribe(self, model, audio, beam: int | None = None):
        """Text of one clip (a path or a file's bytes), or a list of texts for a list of clips."""
        one = isinstance(audio, (str, bytes, Path))
        clips = [audio] if one else list(audio) if isinstance(audio, (list, tuple)) else None
        wrong = [c for c in (clips if clips is not None else [audio]) if not isinstance(c, (str, bytes, Path))]
        if wrong:
            raise LaminaError(f"transcribe takes a clip (a file path, or an audio file's bytes) or a list of them; got "
                              f"{type(wrong[0]).__name__}. A folder or a table of clips: lamina predict, or "
                              "model.predict.")
        clips = [str(c) if isinstance(c, Path) else c for c in clips]
        texts = self.transcripts(model, clips, beam)
        return texts[0] if one else texts

    def predict(self, model, frame: pd.DataFrame, beam: int | None = None) -> pd.DataFrame:
        """A row per clip of `frame`'s audio column: the clip's path and its transcript."""
        if self.audio_column_ not in frame:
            raise LaminaError(f"The data has no column {self.audio_column_!r} of recordings, which this model reads "
                              f"(columns: {', '.join(map(str, frame.columns[:10]))}).")
        clips = frame[self.audio_column_].astype(str).tolist()
        return pd.DataFrame({self.audio_column_: clips, "transcript": self.transcripts(model, clips, beam)})

    def evaluate(self, model, frame: pd.DataFrame) -> dict:
        """{'rows', 'metrics', 'baseline'}: CER, WER and the exact-transcript share of `frame`'s transcripts (greedy
        decoding), and the same of the baseline, the most common training transcript always (none in models saved
        before it was kept)."""
        if self.target_ not in frame:
            raise LaminaError(f"The data has no column {self.target_!r} of transcripts to compare with.")
        frame = _usable(frame, self.audio_column_, self.target_, "evaluation data", [])
        _require_known(frame, self.target_, set(self.vocabulary_), "evaluation data")
        truths = frame[self.target_].tolist()
        guesses = self.transcripts(model, frame[self.audio_column_].tolist())
        common = model.training.get("baseline_transcript")
        return {"rows": len(frame), "metrics": text_scores(truths, guesses),
                "baseline": text_scores(truths, [common] * len(truths)) if common is not None else {}}

    # ---- scores ------------------------------------------------------------------------------------------

    def score(self, model, prepared: SpeechPrepared) -> pd.DataFrame:
        from collections import Counter

        truths, clips = prepared.texts["test"], prepared.clips["test"]
        guesses = self.transcripts(model, clips)
        beamed = self.transcripts(model, clips, BEAM)
        common = Counter(prepared.texts["train"]).most_common(1)[0][0]
        beam_scores = text_scores(truths, beamed)
        model.metrics = {"test": {**text_scores(truths, guesses), "cer_beam": beam_scores["cer"],
                                  "wer_beam": beam_scores["wer"]},
                         "baseline": text_scores(truths, [common] * len(truths))}
        model.training["baseline_transcript"] = common
        return held_out_table(clips, truths, guesses, beamed)

    def summary(self, model) -> str:
        test, base = model.metrics["test"], model.metrics["baseline"]
        return (f"Test CER {test['cer']:.2%}, WER {test['wer']:.2%}, {test['exact']:.1%} of clips exact (greedy; "
                f"beam {BEAM}: CER {test['cer_beam']:.2%}) on {model.training['sizes']['test']} clips; baseline (the "
                f"most common training transcript) CER {base['cer']:.2%}, WER {base['wer']:.2%}.")

    # ---- files -------------------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"audio_column": self.audio_column_, "target": self.target_, "vocabulary": self.vocabulary_,
                "rate": self.rate_}

    @classmethod
    def from_state(cls, state: dict) -> TranscribeTask:
        task = cls(cls.name)
        task.audio_column_, task.target_ = str(state["audio_column"]), str(state["target"])
        task.vocabulary_ = list(state["vocabulary"])
        if not all(isinstance(c, str) and len(c) == 1 for c in task.vocabulary_) \
                or len(set(task.vocabulary_)) != len(task.vocabulary_):
            raise ValueError("the vocabulary must be distinct single characters")
        task.rate_ = int(state["rate"])
        if not 1000 <= task.rate_ <= MAX_RATE:
            raise ValueError(f"the sample rate must be from 1000 to {MAX_RATE} Hz")
        return task

    @classmethod
    def title(cls, document: dict) -> str:
        state = document["task"]["state"]
        return f"speech to text ({state['target']}, {len(state['vocabulary'])} characters)"

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.tasks.transcribe_report import transcribe_sections

        return transcribe_sections(run, document)

    # ---- serving -----------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """{"audio": base64 of a wav/flac/ogg/mp3 file, "beam": 8}: beam optional (greedy without it)."""
        from pydantic import ConfigDict, Field, StrictInt, StrictStr, create_model

        return create_model(f"{name}TranscribeRequest", __config__=ConfigDict(extra="forbid"),
                            audio=(StrictStr, Field(min_length=1, max_length=MAX_REQUEST_CHARACTERS)),
                            beam=(StrictInt | None, Field(None, ge=1, le=MAX_BEAM)))

    def respond(self, model, body) -> dict:
        clip = audio_from_base64(body.audio, "field 'audio'")
        return {"text": self.transcripts(model, [clip], body.beam, ["field 'audio'"])[0],
                "seconds": round(read_header(clip).seconds, 3)}

    def body_limit(self) -> tuple[int, str]:
        return (MAX_REQUEST_CHARACTERS + BODY_SLACK,
                f"a clip is sent as base64 of its file, and {MAX_SECONDS:.0f} s of {MAX_RATE // 1000} kHz 16-bit mono "
                "WAV fits: send a longer or higher-rate clip as FLAC, or resampled to 16 kHz mono")


def _whole_problem(clip) -> str | None:
    """What keeps a clip from being transcribed whole, read from its header before any decoding, or None: a
    problem the header shows, a clip over MAX_SECONDS (the model would read only its start), or more samples to
    decode in its first MAX_SECONDS than 30 s of 48 kHz stereo (rate × channels a header may claim)."""
    header = read_header(clip)
    if header.problem:
        return header.problem
    if header.seconds > MAX_SECONDS:
        return (f"a clip of {header.seconds:,.1f} s, over the {MAX_SECONDS:.0f} s a speech-to-text model transcribes "
                f"at once; cut it into parts of at most {MAX_SECONDS:.0f} s (at pauses) and transcribe each")
    if header.seconds * header.rate * header.channels > MAX_SECONDS * REFERENCE_SAMPLES:
        return (f"{header.seconds:,.1f} s at {header.rate:,} Hz with {header.channels} channels is more to decode "
                f"than {MAX_SECONDS:.0f} s of 48 kHz stereo; send it resampled to 16 kHz mono")
    return None


def padded(spectrograms: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 frames [clips, longest, MELS], right-padded with zeros, and int64 lengths [clips] of spectrograms."""
    lengths = torch.tensor([len(s) for s in spectrograms], dtype=torch.int64)
    frames = torch.zeros(len(spectrograms), int(lengths.max()) if len(spectrograms) else 1, MELS, dtype=torch.uint8)
    for row, spectrogram in enumerate(spectrograms):
        frames[row, : len(spectrogram)] = spectrogram
    return frames, lengths


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over clips of CTC loss divided by transcript length (torch's "mean"): log_probs [clips, time,
    vocabulary], lengths [clips] output frames, targets [clips, longest] right-padded with the blank (0).
    A clip too short for its transcript would give an infinite loss; it counts as zero instead."""
    return torch.nn.functional.ctc_loss(log_probs.float().transpose(0, 1), targets, lengths,
                                        (targets != BLANK).sum(1), blank=BLANK, zero_infinity=True)


def text_scores(truths: list[str], guesses: list[str]) -> dict[str, float]:
    """{"cer", "wer" (jiwer: edits over reference characters or words, over all clips), "exact" (share of clips
    transcribed exactly)}."""
    import jiwer

    exact = float(np.mean([t == g for t, g in zip(truths, guesses, strict=True)])) if truths else float("nan")
    return {"cer": float(jiwer.cer(truths, guesses)), "wer": float(jiwer.wer(truths, guesses)), "exact": exact}


def held_out_table(clips: list[str], truths: list[str], guesses: list[str], beamed: list[str]) -> pd.DataFrame:
    import jiwer

    return pd.DataFrame({"clip": [Path(c).name for c in clips], "reference": truths, "greedy": guesses,
                         "beam": beamed, "cer": [float(jiwer.cer(t, g)) if t else float(bool(g))
                                                 for t, g in zip(truths, guesses, strict=True)]})


def _transcript_column(frame: pd.DataFrame, config) -> str:
    target = config.data.target
    if target is None or target not in frame.columns:
        raise LaminaError(f"--task transcribe needs --target naming the column of transcripts (columns: "
                          f"{', '.join(map(str, frame.columns[:10]))}); got {target!r}.")
    return target


def _audio_column(frame: pd.DataFrame, target: str) -> str:
    found = [c for c in frame.columns if c != target and looks_like_audio_paths(frame[c])]
    if len(found) == 1:
        return found[0]
    if not found:
        raise LaminaError(f"--task transcribe reads recordings, and this data has no column of audio paths (columns: "
                          f"{', '.join(map(str, frame.columns[:10]))}). Give a CSV with a column of .wav/.flac/.ogg "
                          "paths (relative to the CSV) and a column of transcripts.")
    raise LaminaError(f"The data has {len(found)} audio columns ({', '.join(found)}); --task transcribe reads one. "
                      "Drop the others.")


def _usable(table: pd.DataFrame, audio: str, target: str, part: str, findings: list) -> pd.DataFrame:
    """Rows with a transcript and a readable clip of at least 50 ms, transcripts normalised; a finding per
    kind of row left out."""
    missing = table[target].isna() | table[audio].isna()
    if missing.any():
        findings.append(Finding("warning", "missing_transcripts", f"{int(missing.sum())} row(s) of the {part} lack a "
                                "clip or a transcript and were left out.", target))
    table = table[~missing].reset_index(drop=True)
    problems = [info.problem or (f"{info.seconds:,.1f} s long, over the {MAX_SECONDS:.0f} s a clip may last"
                                 if info.seconds > MAX_SECONDS else "") for info in read_headers(table[audio])]
    table = _left_out(table, problems, part, findings, audio)
    return table.assign(**{target: table[target].map(normalise)})


def _left_out(table: pd.DataFrame, problems: list[str], part: str, findings: list, audio: str) -> pd.DataFrame:
    """`table` without the rows that have a problem ("" for none), and a finding naming each of them (the first
    media.NAMED_UNREADABLE, and a count of the rest)."""
    bad = np.array([bool(p) for p in problems], dtype=bool)
    if bad.any():
        named = named_problems([(str(table[audio].iloc[row]), problems[row]) for row in np.flatnonzero(bad)])
        findings.append(Finding("warning", "unreadable_audio", f"{int(bad.sum())} clip(s) of the {part} were left "
                                f"out: {named}.", audio))
    table = table[~bad].reset_index(drop=True)
    if table.empty:
        raise LaminaError(f"The {part} has no row with a readable clip and a transcript.")
    return table


def _require_known(table: pd.DataFrame, target: str, vocabulary: set[str], what: str) -> None:
    unseen = sorted({c for text in table[target] for c in text} - vocabulary)
    if unseen:
        rows = [i + 1 for i, text in enumerate(table[target]) if set(text) - vocabulary]
        raise LaminaError(f"The {what}'s transcripts hold characters no training transcript has: {unseen[:20]!r} "
                          f"(in {len(rows)} row(s), first data row {rows[0]}). The model can never write them; "
                          "add training clips with them, or remove them from the transcripts.")


def _keep_long_enough(prepared: SpeechPrepared, findings: list) -> None:
    """Training and validation clips whose subsampled frames cannot hold their transcript (CTC needs a frame a
    character, and a blank between repeats) are left out, with a finding."""
    for part in ("train", "valid"):
        texts = prepared.texts[part]
        needed = torch.tensor([len(t) + sum(a == b for a, b in zip(t, t[1:], strict=False)) for t in texts])
        fits = subsampled(prepared.lengths[part]) >= needed
        if bool(fits.all()):
            continue
        findings.append(Finding("warning", "clips_too_short", f"{int((~fits).sum())} {part} clip(s) are too short for "
                                "their transcripts (40 ms of audio a character) and were left out.", None))
        keep = fits.nonzero().flatten()
        if not len(keep):
            raise LaminaError(f"No {part} clip is long enough for its transcript: CTC needs about 40 ms of audio a "
                              "character (more between repeated letters). Check that the transcript column belongs "
                              "to these clips, or give longer recordings.")
        prepared.frames[part], prepared.lengths[part] = prepared.frames[part][keep], prepared.lengths[part][keep]
        prepared.texts[part] = [texts[i] for i in keep.tolist()]
        prepared.clips[part] = [prepared.clips[part][i] for i in keep.tolist()]
