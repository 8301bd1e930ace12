"""Free text → token ids: a WordPiece tokenizer trained on the training split (or a pretrained model's own
tokenizer), truncation and padding to a length chosen from the data. The tokenizer travels inside the
model artifact as JSON, so a saved model tokenizes exactly as it did in training."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, StrictInt, StrictStr

from lamina.checked import Fault, Record, checked
from lamina.errors import LaminaError
from lamina.features.blocks import TOKENS
from lamina.features.drift import Bins
from lamina.features.kinds import ColumnSample, EncoderOptions, Kind, refuse_values, register_kind, sniff

MIN_TEXT_WORDS = 4.0  # mean words per value from which a string column reads as free text
MIN_PHRASE_WORDS = 2.0  # mean words per value from which mostly distinct values read as text ("play jazz")...
DISTINCT_PHRASES = 0.5  # ...when at least this share of rows holds a value no other row has (a category learns
# nothing from a value seen once, so such a column read as categories would be lost)
# Scripts written without spaces between words, with about how many characters (code points) make a word in
# each: Chinese words average under two characters; Thai, Lao, Khmer and Myanmar words about five code points,
# their vowel and tone marks included. Kana is counted with the ideographs.
IDEOGRAPHIC = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
SOUTHEAST_ASIAN = r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]"
CHARACTERS_PER_WORD = {IDEOGRAPHIC: 2.0, SOUTHEAST_ASIAN: 5.0}
# The tokenizer reads these scripts one character at a time (a base letter with its combining marks), as BERT
# reads Chinese: a run without spaces would otherwise be one "word" that WordPiece gives up on as [UNK].
UNSPACED_CHARACTER = r"(?:\p{Thai}|\p{Lao}|\p{Khmer}|\p{Myanmar}|\p{Hiragana}|\p{Katakana})\p{M}*"
LATIN_ACCENTS = r"[\u0300-\u036f]"  # the combining marks stripped (é → e); Thai or Devanagari marks are letters' parts
LENGTH_EDGES = (5, 10, 20, 50, 100, 200, 500)  # words; text drift is judged on length alone
VOCABULARY = 8000  # subword pieces the trained tokenizer may hold; small data sets yield fewer
MIN_PIECE_COUNT = 2  # a piece seen once in training would only ever be learned from one row
LENGTH_PERCENTILE = 98  # sequences are cut at this percentile of training lengths...
MIN_LENGTH, MAX_LENGTH = 8, 256  # ...kept within these bounds (tokens, the leading [CLS] included)
PAD, UNKNOWN, START = "[PAD]", "[UNK]", "[CLS]"  # the trained tokenizer's special pieces, in id order 0, 1, 2


def train_tokenizer(texts: list[str]):
    """Lower-cased WordPiece, split on spaces and punctuation and around each CJK character (BERT's rules) and
    each character of the other scripts written without spaces (Thai, Lao, Khmer, Myanmar, kana), with a [CLS]
    piece first in every sequence so no text encodes to nothing. Only Latin, Greek and Cyrillic accents are
    stripped (the combining diacritical marks): BERT's rule would strip Thai vowels and tone marks too."""
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tokenizer = Tokenizer(models.WordPiece(unk_token=UNKNOWN))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.BertNormalizer(lowercase=True, strip_accents=False),
        normalizers.NFD(), normalizers.Replace(Regex(LATIN_ACCENTS), ""), normalizers.NFC(),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(UNSPACED_CHARACTER), behavior="isolated"), pre_tokenizers.BertPreTokenizer(),
    ])
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=VOCABULARY, min_frequency=MIN_PIECE_COUNT,
                                        special_tokens=[PAD, UNKNOWN, START], show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single=f"{START} $A",
                                                             special_tokens=[(START, tokenizer.token_to_id(START))])
    return tokenizer


def pretrained_tokenizer(folder: Path):
    """The tokenizer.json of a Hugging Face model folder (a fast tokenizer, as every current model ships)."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise LaminaError(
            f"The pretrained model folder {folder} has no tokenizer.json. Save the model with a fast tokenizer "
            "(AutoTokenizer.from_pretrained(...).save_pretrained(folder)) and try again."
        )
    return Tokenizer.from_file(str(path))


def as_texts(values: pd.Series) -> list[str]:
    """Missing values read as empty texts (which encode to the start piece alone)."""
    return ["" if not isinstance(v, str) else v for v in values]


class TextEncoder:
    width = 1

    def __init__(self, column: str, pretrained: Path | None = None):
        self.column = column
        self.pretrained = pretrained  # a Hugging Face model folder whose tokenizer this column must use

    def fit(self, values: pd.Series) -> TextEncoder:
        texts = self.texts(values)
        self.tokenizer_ = pretrained_tokenizer(self.pretrained) if self.pretrained else train_tokenizer(texts)
        self.tokenizer_.no_truncation()
        self.tokenizer_.no_padding()
        lengths = [len(e.ids) for e in self.tokenizer_.encode_batch(texts)]
        self.length_ = int(np.clip(np.percentile(lengths, LENGTH_PERCENTILE), MIN_LENGTH, MAX_LENGTH))
        self.pad_ = self._pad_id()
        return self

    def _pad_id(self) -> int:
        padding = self.tokenizer_.padding
        if padding is not None:
            return int(padding["pad_id"])
        pad = self.tokenizer_.token_to_id(PAD)
        if pad is None:
            raise LaminaError(f"Text column {self.column!r}: the tokenizer has no padding piece ({PAD}).")
        return pad

    @property
    def vocabulary_size(self) -> int:
        return self.tokenizer_.get_vocab_size()

    def spec(self) -> dict:
        return {"vocabulary": self.vocabulary_size, "pad": self.pad_, "length": self.length_}

    def transform(self, values: pd.Series) -> np.ndarray:
        """int64 [rows, length] token ids, padded on the right with the pad id."""
        self.tokenizer_.enable_truncation(self.length_)
        self.tokenizer_.enable_padding(pad_id=self.pad_, pad_token=self.tokenizer_.id_to_token(self.pad_),
                                       length=self.length_)
        encodings = self.tokenizer_.encode_batch(self.texts(values))
        return np.array([e.ids for e in encodings], dtype=np.int64).reshape(len(values), self.length_)

    def texts(self, values: pd.Series) -> list[str]:
        """as_texts, after refusing (LaminaError naming the row) a value that is not text: a number or list would
        otherwise be read as an empty text, as the server refuses it."""
        refuse_values(values, self.column, lambda value: isinstance(value, str), "text",
                      'Give text (a number as text, such as "5"), or leave the cell empty.', frozenset({"string", "empty"}))
        return as_texts(values)

    def unknown_only(self, values: pd.Series) -> int:
        """Rows with text in which the tokenizer knows no piece (all [UNK]): the model reads nothing there."""
        unknown = self.tokenizer_.token_to_id(getattr(self.tokenizer_.model, "unk_token", UNKNOWN))
        texts = [t for t in as_texts(values) if t.strip()]
        self.tokenizer_.no_truncation()
        self.tokenizer_.no_padding()
        encodings = self.tokenizer_.encode_batch(texts, add_special_tokens=False)
        return sum(all(i == unknown for i in e.ids) for e in encodings)

    def pieces(self, ids: np.ndarray) -> list[str]:
        """The subword pieces behind a row of ids, padding left out (what per-token explanations show)."""
        return [self.tokenizer_.id_to_token(int(i)) for i in ids if int(i) != self.pad_]

    def state(self) -> dict:
        return {"length": self.length_, "pad": self.pad_, "tokenizer": self.tokenizer_.to_str()}

    def load_state(self, state: dict) -> TextEncoder:
        from tokenizers import Tokenizer

        if "tokenizer" not in state:
            raise LaminaError(
                f"Text column {self.column!r} was saved by an early lamina that hashed words instead of "
                "storing a tokenizer. Train the model again to use it with this version."
            )
        stored = checked(_TextState, state)
        self.length_, self.pad_ = stored.length, stored.pad
        self.tokenizer_ = Tokenizer.from_str(stored.tokenizer)
        if self.pad_ >= self.vocabulary_size:
            raise Fault("pad", f"{self.pad_} is no token of the tokenizer's {self.vocabulary_size}")
        return self


class _TextState(Record):
    length: StrictInt = Field(gt=0)  # tokens a text is cut or padded to
    pad: StrictInt = Field(ge=0)  # the padding token's id
    tokenizer: StrictStr  # the tokenizers library's JSON


def word_counts(values: pd.Series) -> np.ndarray:
    """Words per value as a person counts them (what drift bins count, and the sniff step judges), NaN where
    missing: what spaces separate, and in a script written without spaces one word per few characters."""
    return values.map(lambda v: _words(v) if isinstance(v, str) else np.nan).to_numpy(float)


_UNSPACED = re.compile("|".join(CHARACTERS_PER_WORD))
_SCRIPTS = [(re.compile(script), per_word) for script, per_word in CHARACTERS_PER_WORD.items()]


def _words(text: str) -> float:
    return len(_UNSPACED.sub(" ", text).split()) + sum(len(p.findall(text)) / n for p, n in _SCRIPTS)


@register_kind
class TextKind(Kind):
    name = "text"
    encoder = TextEncoder
    block = TOKENS
    drift = Bins("text", word_counts, edges=LENGTH_EDGES)

    def encoder_for(self, column: str, options: EncoderOptions) -> TextEncoder:
        return TextEncoder(column, options.pretrained_text)

    @sniff(130)
    def free_text(self, column: ColumnSample) -> str | None:
        words = float(np.mean(word_counts(column.string_sample)))
        if words >= MIN_TEXT_WORDS:
            return f"free text, {words:.1f} words per value on average"
        if words >= MIN_PHRASE_WORDS:
            single = (column.values.value_counts() == 1).sum() / len(column.values)
            if single >= DISTINCT_PHRASES:
                return f"short distinct phrases, {words:.1f} words per value on average"
        return None

    def example(self, rows: int, folder: Path) -> pd.Series:
        openings = ["the film was", "this book felt", "our stay was", "that meal tasted"]
        verdicts = ["truly great", "rather dull", "far too long", "quite good overall"]
        return pd.Series([f"{openings[i % 4]} {verdicts[i // 4 % 4]}" for i in range(rows)])
