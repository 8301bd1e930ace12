"""Decoding a seq2seq network (nets/seq2seq.py): greedy and beam search, batched over sentences, and the model's
log-probability of a given target.

Every function reads source ids [B, S] (right-padded with PAD) and works in eval mode without gradients; answers
leave out BOS and EOS. A sentence's maximum target length defaults to `max_lengths` of its source length.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from lamina.features.subwords import BOS, EOS, PAD


class Decoded(NamedTuple):
    ids: list[list[int]]  # each sentence's tokens, without BOS and EOS
    tokens: torch.Tensor  # the same, right-padded with PAD: LongTensor [B, longest]
    log_prob: torch.Tensor  # the model's summed log-probability (nats) of each answer's tokens and its EOS: [B]


def max_lengths(source_lengths: torch.Tensor, ratio: float = 1.5, extra: int = 10) -> torch.Tensor:
    """The most target tokens (EOS excluded) each sentence may get: ratio × its source tokens + extra."""
    return (source_lengths.float() * ratio).long() + extra


def _limits(source: torch.Tensor, max_length: torch.Tensor | int | None) -> torch.Tensor:
    if max_length is None:
        return max_lengths((source != PAD).sum(dim=1))
    if isinstance(max_length, int):
        return torch.full((source.shape[0],), max_length, dtype=torch.long, device=source.device)
    return max_length.to(source.device, torch.long)


def _answer(prefixes: torch.Tensor, log_prob: torch.Tensor) -> Decoded:
    """Prefixes [B, t] that start with BOS and end at EOS or PAD → Decoded."""
    body = prefixes[:, 1:]
    ends = torch.cumsum((body == EOS) | (body == PAD), dim=1) > 0
    body = body.masked_fill(ends, PAD)
    lengths = (~ends).sum(dim=1)
    tokens = body[:, : int(lengths.max()) if len(lengths) else 0]
    ids = [row[:n] for row, n in zip(tokens.tolist(), lengths.tolist(), strict=True)]
    return Decoded(ids, tokens, log_prob)


class _Eval:
    """Eval mode and no gradients for the duration, the module's mode restored after."""

    def __init__(self, module):
        self.module, self.grad = module, torch.no_grad()

    def __enter__(self):
        self.training = self.module.training
        self.module.eval()
        self.grad.__enter__()

    def __exit__(self, *exc):
        self.grad.__exit__(*exc)
        self.module.train(self.training)


def greedy(module, source: torch.Tensor, max_length: torch.Tensor | int | None = None) -> Decoded:
    """The most likely next token at each step, until EOS or the sentence's maximum length (then EOS is forced)."""
    rows = source.shape[0]
    limits = _limits(source, max_length)
    with _Eval(module):
        state = module.encode(source)
        prefix = torch.full((rows, 1), BOS, dtype=torch.long, device=source.device)
        log_prob = torch.zeros(rows, device=source.device)
        finished = torch.zeros(rows, dtype=torch.bool, device=source.device)
        for step in range(int(limits.max()) + 1 if rows else 0):
            log_probs = module.decode_step(state, prefix)
            token = torch.where(step >= limits, EOS, log_probs.argmax(dim=-1))
            log_prob += log_probs.gather(1, token.unsqueeze(1)).squeeze(1).masked_fill(finished, 0.0)
            token = token.masked_fill(finished, PAD)
            finished |= token == EOS
            prefix = torch.cat([prefix, token.unsqueeze(1)], dim=1)
            if bool(finished.all()):
                break
    return _answer(prefix, log_prob)


def length_penalty_of(length, alpha: float):
    """GNMT's length penalty ((5 + length) / 6)^alpha (Wu et al. 2016, eq. 14); a score is log-prob / penalty."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(module, source: torch.Tensor, beam: int = 5, length_penalty: float = 0.6,
                max_length: torch.Tensor | int | None = None) -> Decoded:
    """Beam search batched over sentences: each keeps its `beam` best unfinished prefixes, and ends when no
    unfinished prefix can still beat its best finished one under the length penalty `length_penalty` (alpha,
    0 scores by log-probability alone) — an exact bound, since log-probabilities only fall as a prefix grows.
    Returns the best finished translation of each sentence, with its unpenalised log-probability."""
    if beam < 1:
        raise ValueError(f"beam must be at least 1, not {beam}.")
    rows, device = source.shape[0], source.device
    limits = _limits(source, max_length)
    longest = int(limits.max()) + 1 if rows else 0  # steps, the forced EOS included
    with _Eval(module):
        state = module.reorder(module.encode(source), torch.arange(rows, device=device).repeat_interleave(beam))
        prefix = torch.full((rows * beam, 1), BOS, dtype=torch.long, device=device)
        scores = torch.full((rows, beam), float("-inf"), device=device)
        scores[:, 0] = 0.0  # one live prefix at the start: BOS
        best = torch.full((rows,), float("-inf"), device=device)  # best finished score, penalised
        best_log_prob = torch.full((rows,), float("-inf"), device=device)
        best_prefix = torch.full((rows, longest + 1), PAD, dtype=torch.long, device=device)
        done = torch.zeros(rows, dtype=torch.bool, device=device)
        offsets = (torch.arange(rows, device=device) * beam).unsqueeze(1)
        for step in range(longest):
            log_probs = module.decode_step(state, prefix)
            vocabulary = log_probs.shape[-1]
            forced = (step >= limits).repeat_interleave(beam)
            if bool(forced.any()):
                log_probs[forced] = torch.where(torch.arange(vocabulary, device=device) == EOS, log_probs[forced],
                                                float("-inf"))
            candidates = (scores.unsqueeze(2) + log_probs.view(rows, beam, vocabulary)).view(rows, -1)
            # 2 × beam candidates hold at least `beam` that do not end: each prefix has one EOS among them at most
            top, index = candidates.topk(min(2 * beam, candidates.shape[1]), dim=1)
            origin, token = index // vocabulary, index % vocabulary
            ends = token == EOS
            finished = torch.where(ends, top / length_penalty_of(step + 1, length_penalty), float("-inf"))
            value, at = finished.max(dim=1)
            better = (value > best) & ~done
            if bool(better.any()):
                best = torch.where(better, value, best)
                best_log_prob = torch.where(better, top.gather(1, at.unsqueeze(1)).squeeze(1), best_log_prob)
                source_rows = (offsets.squeeze(1) + origin.gather(1, at.unsqueeze(1)).squeeze(1))[better]
                best_prefix[better, : step + 1] = prefix[source_rows]
                best_prefix[better, step + 1] = EOS
            alive_top, alive_at = top.masked_fill(ends, float("-inf")).topk(beam, dim=1)
            # Can any live prefix still win? Its log-prob can only fall; the penalty grows at most to the limit's.
            ceiling = alive_top[:, 0] / length_penalty_of(limits + 1, length_penalty)
            done |= best >= ceiling
            if bool(done.all()):
                break
            chosen = (offsets + origin.gather(1, alive_at)).view(-1)
            state = module.reorder(state, chosen)
            prefix = torch.cat([prefix[chosen], token.gather(1, alive_at).view(-1, 1)], dim=1)
            scores = alive_top
    return _answer(best_prefix, best_log_prob)


def sequence_log_prob(module, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The model's log-probability (nats) of each target [B, T] (ids without BOS and EOS, right-padded with PAD)
    given its source: the sum over the target's tokens and the EOS after them → [B]."""
    lengths = (target != PAD).sum(dim=1)
    rows = torch.arange(target.shape[0], device=target.device)
    gold = torch.cat([target, target.new_full((len(target), 1), PAD)], dim=1)
    gold[rows, lengths] = EOS
    target_in = torch.cat([target.new_full((len(target), 1), BOS), target], dim=1)
    with _Eval(module):
        log_probs = torch.log_softmax(module({"source": source, "target_in": target_in}).float(), dim=-1)
    return log_probs.gather(2, gold.unsqueeze(2)).squeeze(2).masked_fill(gold == PAD, 0.0).sum(dim=1)
