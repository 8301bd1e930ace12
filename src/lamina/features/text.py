"""Free text, handled simply: lower-cased word tokens hashed into buckets for a mean embedding."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd

PAD_INDEX = 0
BUCKETS = 2**14  # hash buckets; collisions stay rare below a few thousand distinct words
LENGTH_PERCENTILE = 95  # sequences are cut at this percentile of training lengths...
MIN_LENGTH, MAX_LENGTH = 8, 256  # ...kept within these bounds (tokens)
TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def bucket(token: str) -> int:
    # crc32 is stable across processes, unlike Python's salted hash().
    return 1 + zlib.crc32(token.encode("utf-8")) % BUCKETS


class TextEncoder:
    kind = "text"
    width = 1

    def __init__(self, column: str):
        self.column = column

    def fit(self, values: pd.Series) -> TextEncoder:
        lengths = [len(tokens(str(v))) for v in values.dropna()]
        wanted = int(np.percentile(lengths, LENGTH_PERCENTILE)) if lengths else MIN_LENGTH
        self.length_ = int(np.clip(wanted, MIN_LENGTH, MAX_LENGTH))
        return self

    @property
    def vocabulary_size(self) -> int:
        return BUCKETS + 1

    def transform(self, values: pd.Series) -> np.ndarray:
        out = np.full((len(values), self.length_), PAD_INDEX, dtype=np.int64)
        for row, value in enumerate(values):
            if isinstance(value, str):
                ids = [bucket(t) for t in tokens(value)[: self.length_]]
                out[row, : len(ids)] = ids
        return out

    def state(self) -> dict:
        return {"length": self.length_}

    def load_state(self, state: dict) -> TextEncoder:
        self.length_ = int(state["length"])
        return self
