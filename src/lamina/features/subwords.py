"""Sentences → subword ids and back, for translation: a byte-pair-encoding vocabulary (Sennrich et al. 2016)
trained with the `tokenizers` library on the training pairs only, one shared by both sides when they are written
in the same letters (then source, target and output embeddings can be tied), else one per side.

Words are split on whitespace by the Metaspace pre-tokenizer (SentencePiece's "▁" word-start marker), so the
Metaspace decoder gives back detokenised text with its original spaces and casing: BLEU is then computed on
text as a person would write it (sacreBLEU's own tokenisation), never on our pieces.

Ids are fixed for every vocabulary: PAD 0, BOS 1, EOS 2, UNK 3. A source encodes to [t1..tn, EOS], a target to
[BOS, t1..tn, EOS]; batches are right-padded with PAD. Encoding runs in the library's Rust code (encode_batch),
never in a Python loop over tokens. The vocabularies travel inside model.json as the library's JSON.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
from pydantic import StrictBool, StrictStr

from lamina.checked import Fault, Record, checked

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]  # in id order: PAD, BOS, EOS, UNK
MIN_VOCABULARY = 200  # pieces, besides the alphabet: below it BPE barely merges (toy data stops merging sooner)
MAX_VOCABULARY = 8000  # pieces per side, or shared by both (Multi30k's usual setting; the output layer's size)
PIECES_PER_WORD_TYPE = 0.5  # vocabulary ≈ half the distinct words: frequent words whole, rare ones in pieces
MIN_PIECE_COUNT = 2  # a merge seen once would be learned from one sentence
SHARED_LETTERS = 0.5  # both sides share a vocabulary when this share of their frequent letters is common to both
FREQUENT_LETTER = 1e-4  # a letter counts for the script test when it makes at least this share of a side's letters


def common_script(sources: list[str], targets: list[str]) -> bool:
    """Whether two sides are written in the same letters (English and German: yes; English and Chinese: no):
    the Jaccard overlap of their frequent letters reaches SHARED_LETTERS."""
    def letters(texts: list[str]) -> set[str]:
        counts = Counter(c for text in texts for c in text.casefold() if c.isalpha())
        total = sum(counts.values()) or 1
        return {c for c, n in counts.items() if n / total >= FREQUENT_LETTER}

    one, other = letters(sources), letters(targets)
    return bool(one | other) and len(one & other) / len(one | other) >= SHARED_LETTERS


def vocabulary_size(texts: list[str]) -> int:
    """Pieces to learn, from the data: half the distinct words, within MIN_VOCABULARY and MAX_VOCABULARY."""
    words = len({word for text in texts for word in text.split()})
    return int(min(MAX_VOCABULARY, max(MIN_VOCABULARY, math.ceil(words * PIECES_PER_WORD_TYPE))))


def train_bpe(texts: list[str], size: int):
    """A BPE tokenizer with the Metaspace pre-tokenizer and decoder, NFKC-normalised (case kept), the four
    special pieces at ids 0-3, and every character of the training text in its alphabet."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIALS[UNK]))
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=size, min_frequency=MIN_PIECE_COUNT, special_tokens=SPECIALS,
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


class Subwords:
    """The source and target vocabularies of a translation model (the same object when `shared`)."""

    def fit(self, sources: list[str], targets: list[str], shared: bool | None = None) -> Subwords:
        """Trains on the training pairs' texts; `shared` None decides from the letters (common_script)."""
        self.shared_ = common_script(sources, targets) if shared is None else bool(shared)
        if self.shared_:
            both = sources + targets
            self.source_ = self.target_ = train_bpe(both, vocabulary_size(both))
        else:
            self.source_ = train_bpe(sources, vocabulary_size(sources))
            self.target_ = train_bpe(targets, vocabulary_size(targets))
        return self

    def tokenizer(self, side: str):
        return self.source_ if side == "source" else self.target_

    def size(self, side: str) -> int:
        return self.tokenizer(side).get_vocab_size()

    def lengths(self, texts: list[str], side: str) -> np.ndarray:
        """int64 [texts]: tokens each text encodes to, EOS (and BOS for a target) included."""
        tokenizer = self.tokenizer(side)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        counted = np.fromiter((len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)),
                              dtype=np.int64, count=len(texts))
        return counted + (2 if side == "target" else 1)

    def encode(self, texts: list[str], side: str, max_length: int) -> torch.Tensor:
        """int64 [texts, longest] ids: a source [t1..tn, EOS], a target [BOS, t1..tn, EOS], cut to `max_length`
        tokens (the pieces beyond are dropped, EOS kept) and right-padded with PAD to the longest row."""
        tokenizer = self.tokenizer(side)
        specials = 2 if side == "target" else 1
        tokenizer.enable_truncation(max(1, max_length - specials))
        tokenizer.enable_padding(pad_id=PAD, pad_token=SPECIALS[PAD])
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        tokenizer.no_truncation()
        tokenizer.no_padding()
        if not encodings:
            return torch.zeros(0, specials, dtype=torch.int64)
        ids = torch.tensor(np.array([e.ids for e in encodings], dtype=np.int64))
        mask = torch.tensor(np.array([e.attention_mask for e in encodings], dtype=np.int64))
        lengths = mask.sum(1)
        rows = torch.arange(len(texts))
        padded = torch.zeros(len(texts), ids.shape[1] + specials, dtype=torch.int64)
        if side == "target":
            padded[:, 0] = BOS
            padded[:, 1:-1] = ids
        else:
            padded[:, :-1] = ids
        padded[rows, lengths + specials - 1] = EOS
        return padded[:, :int(lengths.max()) + specials] if len(texts) else padded

    def decode(self, ids: list[list[int]], side: str = "target") -> list[str]:
        """Detokenised texts of id lists (special pieces left out), as the Metaspace decoder joins them, runs of
        spaces (where an unknown piece was left out) made one."""
        return [" ".join(text.split()) for text in self.tokenizer(side).decode_batch(ids, skip_special_tokens=True)]

    def pieces(self, ids: list[int], side: str) -> list[str]:
        """The subword pieces behind ids (what a heat-map labels its rows and columns with)."""
        tokenizer = self.tokenizer(side)
        return [tokenizer.id_to_token(int(i)) or "?" for i in ids]

    # ---- files ---------------------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"shared": self.shared_, "source": self.source_.to_str(),
                "target": None if self.shared_ else self.target_.to_str()}

    @classmethod
    def from_state(cls, state: dict) -> Subwords:
        from tokenizers import Tokenizer

        stored = checked(_SubwordsState, state)
        if stored.shared != (stored.target is None):
            raise Fault("target", "a shared vocabulary stores no target tokenizer, separate ones store both")
        subwords = cls()
        subwords.shared_ = stored.shared
        subwords.source_ = Tokenizer.from_str(stored.source)
        subwords.target_ = subwords.source_ if stored.shared else Tokenizer.from_str(stored.target)
        for side in ("source", "target"):
            found = [subwords.tokenizer(side).token_to_id(piece) for piece in SPECIALS]
            if found != [PAD, BOS, EOS, UNK]:
                raise Fault(side, f"the special pieces {SPECIALS} must have the ids 0-3, not {found}")
        return subwords


class _SubwordsState(Record):
    shared: StrictBool  # one vocabulary for both sides
    source: StrictStr  # the tokenizers library's JSON (the shared one when shared)
    target: StrictStr | None = None
