"""Decoding CTC outputs: batched greedy (best path) decoding and prefix beam search.

Greedy decoding takes the most likely symbol of each frame, merges repeats and drops blanks (Graves et al. 2006,
"Connectionist Temporal Classification", §3.2 best path decoding). Prefix beam search keeps the `beam` most
probable label prefixes, each with its probability of ending in a blank and in a non-blank, so the many paths
that collapse to one prefix are summed (Hannun et al. 2014, "First-Pass Large Vocabulary Continuous Speech
Recognition using Bi-Directional Recurrent DNNs", Algorithm 1, here without a language model). With a beam as
wide as the number of prefixes it finds the most probable labelling exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

BLANK = 0  # the CTC blank's index in every vocabulary
PRUNE = 12.0  # nats: symbols of a frame this far below its best are not extended (e^-12: 6 in a million)


def greedy(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Symbol indices of the best path of each row: log_probs [rows, time, vocabulary] (blank = 0), lengths
    [rows] real frames per row → one list of indices per row (repeats merged, blanks dropped)."""
    best = log_probs.argmax(-1)
    previous = torch.nn.functional.pad(best, (1, 0), value=BLANK)[:, :-1]
    real = torch.arange(best.shape[1], device=best.device) < lengths.to(best.device)[:, None]
    keep = (best != BLANK) & (best != previous) & real
    return [row[mask].tolist() for row, mask in zip(best.cpu(), keep.cpu(), strict=True)]


def prefix_beam_search(log_probs: np.ndarray, beam: int = 8) -> tuple[list[int], float]:
    """The most probable labelling found and its log-probability (summed over the paths that give it), of one
    row's log_probs [time, vocabulary] (natural log, blank = 0, real frames only). `beam`: prefixes kept after
    each frame (≥ 1)."""
    if beam < 1:
        raise ValueError("the beam keeps at least one prefix")
    frames = np.asarray(log_probs, dtype=np.float64)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix → (log P blank, non-blank)
    for frame in frames:
        symbols = np.flatnonzero(frame >= frame.max() - PRUNE).tolist()
        scores = frame.tolist()
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (blank, nonblank) in beams.items():
            total = _add(blank, nonblank)
            for symbol in symbols:
                p = scores[symbol]
                if symbol == BLANK:
                    entry = grown.setdefault(prefix, [-math.inf, -math.inf])
                    entry[0] = _add(entry[0], total + p)
                    continue
                longer = grown.setdefault((*prefix, symbol), [-math.inf, -math.inf])
                if prefix and prefix[-1] == symbol:  # a repeat extends only after a blank; else it merges
                    longer[1] = _add(longer[1], blank + p)
                    same = grown.setdefault(prefix, [-math.inf, -math.inf])
                    same[1] = _add(same[1], nonblank + p)
                else:
                    longer[1] = _add(longer[1], total + p)
        kept = sorted(grown.items(), key=lambda item: _add(*item[1]), reverse=True)[:beam]
        beams = {prefix: (b, n) for prefix, (b, n) in kept}
    prefix, (blank, nonblank) = max(beams.items(), key=lambda item: _add(*item[1]))
    return list(prefix), _add(blank, nonblank)


def labelling_log_probability(log_probs: torch.Tensor, labels: list[int]) -> float:
    """log P(labels | log_probs [time, vocabulary]) summed over every path (CTC's forward algorithm, through
    torch.nn.functional.ctc_loss)."""
    if len(labels) == 0:
        return float(log_probs[:, BLANK].sum())
    loss = torch.nn.functional.ctc_loss(log_probs[:, None].double(), torch.tensor([labels]),
                                        torch.tensor([len(log_probs)]), torch.tensor([len(labels)]),
                                        blank=BLANK, reduction="sum", zero_infinity=False)
    return -float(loss)


def _add(a: float, b: float) -> float:
    """log(e^a + e^b), exact at −inf."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))
