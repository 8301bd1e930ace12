"""Encoder-decoder networks for translation (input family "pairs"): a pre-norm Transformer and a GRU with attention.

Both read a batch {"source": ids [B, S], "target_in": ids [B, T]} (right-padded with PAD; target_in starts with BOS)
and give next-token logits [B, T, V_target] for teacher forcing. For decoding (nets/seq2seq_search.py) they share
a small protocol: `encode(source)` → an opaque state, `decode_step(state, prefix)` → log-probs of the next token,
`reorder(state, index)` → the state of the rows `index` (beam search), and `cross_attention(source, target_in)`
→ weights [B, T, S] for the report's heat-map.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lamina.features.subwords import PAD

HEAD_WIDTH = 64  # channels per attention head when `heads` is not given: heads = width / HEAD_WIDTH
FEEDFORWARD_FACTOR = 4  # feed-forward width as a multiple of the model width (Vaswani et al. 2017)


def sinusoids(length: int, width: int, device=None) -> torch.Tensor:
    """Positions 0..length-1 → [length, width] sine/cosine codes (Vaswani et al. 2017, section 3.5). Computed for
    any length, so decoding past the longest training sentence needs no table."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / width))
    codes = torch.zeros(length, width, device=device)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)[:, : width // 2]
    return codes


class _Tables(nn.Module):
    """The token embeddings of an encoder-decoder, `width` dimensions, scaled by sqrt(width) on use (fairseq's
    convention). The output layer is the target table (Press & Wolf 2017); with a shared vocabulary the source
    reads that same table. Each matrix is registered once, so the state dict holds no aliases (safetensors)."""

    def __init__(self, source_vocabulary: int, target_vocabulary: int, shared: bool, width: int):
        super().__init__()
        self.width = width
        self.target_embed = self._table(target_vocabulary)
        self.source_embed = None if shared else self._table(source_vocabulary)

    def _table(self, vocabulary: int) -> nn.Embedding:
        embed = nn.Embedding(vocabulary, self.width, padding_idx=PAD)
        nn.init.normal_(embed.weight, 0.0, self.width ** -0.5)
        with torch.no_grad():
            embed.weight[PAD].zero_()
        return embed

    def embed_source(self, ids: torch.Tensor) -> torch.Tensor:
        return (self.source_embed or self.target_embed)(ids) * math.sqrt(self.width)

    def embed_target(self, ids: torch.Tensor) -> torch.Tensor:
        return self.target_embed(ids) * math.sqrt(self.width)

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        return states @ self.target_embed.weight.T

    @torch.no_grad()
    def cross_attention(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Attention weights over the source [B, T, S] at each target position (each network's `_cross_attention`
        of its encoded source), for the report's heat-maps: in eval mode (no dropout), the module's own mode
        given back afterwards, even when it raises."""
        training = self.training
        self.eval()
        try:
            return self._cross_attention(self.encode(source), target_in)
        finally:
            self.train(training)


def _select(state: dict, index: torch.Tensor) -> dict:
    """The state's per-row tensors for the rows `index` (GRU hidden states are [layers, rows, width]); what a
    decoder remembers of its last prefix travels with its rows."""
    return {name: value.index_select(1 if name in ("hidden", "after") else 0, index)
            for name, value in state.items()}


class TransformerSeq2Seq(_Tables):
    """A pre-norm Transformer encoder-decoder (Vaswani et al. 2017; pre-norm as in Wang et al. 2019) with
    sinusoidal positions and the output layer tied to the target embedding (Press & Wolf 2017); with a shared
    vocabulary the source embedding is that same table. `width` model dimensions, `depth` encoder and `depth`
    decoder layers, `heads` attention heads, `dropout` the probability of zeroing a unit in training."""

    def __init__(self, source_vocabulary: int, target_vocabulary: int, shared: bool, width: int, depth: int,
                 heads: int, dropout: float):
        super().__init__(source_vocabulary, target_vocabulary, shared, width)
        self.dropout = nn.Dropout(dropout)
        sizes = {"d_model": width, "nhead": heads, "dim_feedforward": FEEDFORWARD_FACTOR * width, "dropout": dropout,
                 "batch_first": True, "norm_first": True}
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**sizes), depth, norm=nn.LayerNorm(width),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**sizes), depth, norm=nn.LayerNorm(width))

    def _embed(self, embedded: torch.Tensor) -> torch.Tensor:
        return self.dropout(embedded + sinusoids(embedded.shape[1], self.width, embedded.device))

    def encode(self, source: torch.Tensor) -> dict:
        padding = source == PAD
        memory = self.encoder(self._embed(self.embed_source(source)), src_key_padding_mask=padding)
        return {"memory": memory, "padding": padding}

    def _decode(self, state: dict, target_in: torch.Tensor) -> torch.Tensor:
        length = target_in.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=target_in.device).triu(1)
        states = self.decoder(self._embed(self.embed_target(target_in)), state["memory"], tgt_mask=causal,
                              tgt_is_causal=True, memory_key_padding_mask=state["padding"])
        return self.logits(states)

    def forward(self, batch: dict) -> torch.Tensor:
        return self._decode(self.encode(batch["source"]), batch["target_in"])

    def decode_step(self, state: dict, prefix: torch.Tensor) -> torch.Tensor:
        """Log-probs of the next token [B', V] (eval mode). The state caches each decoder layer's normalised
        inputs for the prefix it last read, so a prefix one token longer costs one token through the decoder."""
        seen = state.get("seen")
        start = seen.shape[1] if seen is not None and seen.shape[1] < prefix.shape[1] \
            and torch.equal(seen, prefix[:, : seen.shape[1]]) else 0
        layers = self.decoder.layers
        if start == 0:
            state.update({f"cache{i}": prefix.new_zeros(len(prefix), 0, self.width, dtype=state["memory"].dtype)
                          for i in range(len(layers))})
        codes = sinusoids(prefix.shape[1], self.width, prefix.device)
        for position in range(start, prefix.shape[1]):
            x = self.embed_target(prefix[:, position: position + 1]) + codes[position]
            for i, layer in enumerate(layers):  # a pre-norm decoder layer (nn.TransformerDecoderLayer's parts)
                h = layer.norm1(x)
                state[f"cache{i}"] = cache = torch.cat([state[f"cache{i}"], h], dim=1)
                x = x + layer.self_attn(h, cache, cache, need_weights=False)[0]
                x = x + layer.multihead_attn(layer.norm2(x), state["memory"], state["memory"],
                                             key_padding_mask=state["padding"], need_weights=False)[0]
                x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        state["seen"] = prefix
        return torch.log_softmax(self.logits(self.decoder.norm(x[:, -1])).float(), dim=-1)

    def reorder(self, state: dict, index: torch.Tensor) -> dict:
        return _select(state, index)

    def _cross_attention(self, state: dict, target_in: torch.Tensor) -> torch.Tensor:
        """The last decoder layer's attention over the source [B, T, S], averaged over heads."""
        length = target_in.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=target_in.device).triu(1)
        x = self._embed(self.embed_target(target_in))
        *first, last = self.decoder.layers
        for layer in first:
            x = layer(x, state["memory"], tgt_mask=causal, memory_key_padding_mask=state["padding"])
        # The last layer's pre-norm self-attention block, then its cross-attention with the weights kept.
        h = last.norm1(x)
        x = x + last.self_attn(h, h, h, attn_mask=causal, need_weights=False)[0]
        _, weights = last.multihead_attn(last.norm2(x), state["memory"], state["memory"],
                                         key_padding_mask=state["padding"], need_weights=True,
                                         average_attn_weights=True)
        return weights


class GRUSeq2Seq(_Tables):
    """A bidirectional GRU encoder and a GRU decoder with Luong et al. (2015) "general" attention over the
    encoder states, the decoder started from the encoder's final states (Bahdanau et al. 2015's bridge) and the
    output layer tied to the target embedding. `width` units per GRU direction (and embedding dimensions), `depth`
    layers on each side, `dropout` the probability of zeroing a unit in training. The decoder reads the whole
    target at once in training (attention after the recurrence), so teacher forcing needs no Python loop."""

    def __init__(self, source_vocabulary: int, target_vocabulary: int, shared: bool, width: int, depth: int,
                 dropout: float):
        super().__init__(source_vocabulary, target_vocabulary, shared, width)
        between = dropout if depth > 1 else 0.0
        self.encoder = nn.GRU(width, width, depth, batch_first=True, bidirectional=True, dropout=between)
        self.bridge = nn.Linear(2 * width, width)
        self.keys = nn.Linear(2 * width, width, bias=False)
        self.decoder = nn.GRU(width, width, depth, batch_first=True, dropout=between)
        self.combine = nn.Linear(3 * width, width)
        self.dropout = nn.Dropout(dropout)
        self.depth = depth

    def encode(self, source: torch.Tensor) -> dict:
        padding = source == PAD
        lengths = (~padding).sum(dim=1).clamp(min=1).cpu()
        embedded = self.dropout(self.embed_source(source))
        # Packing keeps the backward direction from starting in the padding.
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        states, last = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=source.shape[1])
        # last: [depth × 2 directions, B, width] → each layer's two directions side by side → decoder's start
        last = last.view(self.depth, 2, *last.shape[1:]).permute(0, 2, 1, 3).flatten(2)
        return {"states": states, "keys": self.keys(states), "padding": padding,
                "hidden": torch.tanh(self.bridge(last))}

    def _attend(self, state: dict, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder outputs [B, T, width] → (logits [B, T, V], attention weights [B, T, S])."""
        scores = (queries @ state["keys"].transpose(1, 2)).masked_fill(state["padding"].unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(queries.dtype)
        context = weights @ state["states"]
        combined = self.dropout(torch.tanh(self.combine(torch.cat([queries, context], dim=-1))))
        return self.logits(combined), weights

    def _run(self, state: dict, target_in: torch.Tensor, hidden: torch.Tensor):
        embedded = self.dropout(self.embed_target(target_in))
        return self.decoder(embedded, hidden.contiguous())

    def forward(self, batch: dict) -> torch.Tensor:
        state = self.encode(batch["source"])
        outputs, _ = self._run(state, batch["target_in"], state["hidden"])
        return self._attend(state, outputs)[0]

    def decode_step(self, state: dict, prefix: torch.Tensor) -> torch.Tensor:
        # The state remembers the prefix it last read and the decoder's hidden state after it: when this prefix
        # extends that one by a token, only the new token is read (a search calls it once per token).
        seen = state.get("seen")
        if seen is not None and seen.shape[1] == prefix.shape[1] - 1 and torch.equal(seen, prefix[:, :-1]):
            outputs, hidden = self._run(state, prefix[:, -1:], state["after"])
        else:
            outputs, hidden = self._run(state, prefix, state["hidden"])
        state["seen"], state["after"] = prefix, hidden
        return torch.log_softmax(self._attend(state, outputs[:, -1:])[0][:, 0].float(), dim=-1)

    def reorder(self, state: dict, index: torch.Tensor) -> dict:
        return _select(state, index)

    def _cross_attention(self, state: dict, target_in: torch.Tensor) -> torch.Tensor:
        """The decoder's attention over the source [B, T, S] at each target position."""
        outputs, _ = self._run(state, target_in, state["hidden"])
        return self._attend(state, outputs)[1]


def default_hyperparameters(arch: str, training_pairs: int, tokens: int) -> dict:
    """Sizes from the data size: `tokens` is the count of target-side subword tokens in the training pairs.
    Small corpora get narrow, shallow networks; a Multi30k-sized corpus (29,000 pairs, ~430,000 target tokens)
    gets 128 dimensions and 2 layers a side, the size that trains several epochs within an hour on 2 shared CPU
    cores (bench/multi30k.py measured 350 tokens/s at 256 × 3 against 1,260 at 128 × 2 under load: under one
    epoch an hour); ten times that data gets the 256 × 3 network of small Transformer results on GPUs.
    `training_pairs` below 1,000 doubles the dropout (probability of zeroing a unit) against overfitting.
    Returns {"width", "depth", "dropout"} (+ "heads" for "transformer")."""
    if arch not in ("transformer", "gru"):
        raise ValueError(f"No default sizes for the architecture {arch!r}: 'transformer' or 'gru'.")
    if tokens < 10_000:
        width, depth = 64, 1
    elif tokens < 1_000_000:
        width, depth = 128, 2
    else:
        width, depth = 256, 3
    dropout = 0.2 if training_pairs < 1_000 else 0.1
    if arch == "gru":
        return {"width": width, "depth": min(depth, 2), "dropout": dropout}
    return {"width": width, "depth": depth, "dropout": dropout, "heads": max(1, width // HEAD_WIDTH)}
