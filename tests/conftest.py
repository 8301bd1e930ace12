"""Small tables made in the tests, with a known signal, so training is quick and results are checkable."""

from __future__ import annotations

import os

# The suite's networks are tiny: a second torch thread only waits for the servers and training processes the tests
# start on the same cores (the whole suite took 582 s with torch's default of one thread a core on 2 cores, 394 s
# with one). Read by torch when first imported, below this, and by every process a test starts; an OMP_NUM_THREADS
# of your own is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# Settings that keep a test's training to about a second.
FAST = {"epochs": 6, "patience": 3, "width": 32, "depth": 2}


def make_table(rows: int = 400, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """Columns of every kind; the target depends on `signal`, `colour` and `comment`."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=rows)
    skewed = rng.lognormal(mean=2.0, sigma=1.5, size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    member = rng.choice(["yes", "no"], size=rows)
    day = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, size=rows), unit="D")
    good_words = rng.random(rows) < 0.5
    extra = rng.choice(["today", "honestly", "again", "overall", "indeed", "twice", "here", "now"], size=rows)
    comment = np.char.add(np.where(good_words, "great value would buy ", "poor quality arrived broken "), extra)
    score = 2.0 * signal + (colour == "red") * 1.5 + good_words * 1.0 + rng.normal(scale=0.3, size=rows)
    frame = pd.DataFrame({
        "signal": signal, "skewed": skewed, "colour": colour, "member": member,
        "day": day.strftime("%Y-%m-%d"), "comment": comment,
    })
    if task == "regression":
        frame["y"] = score
    elif task == "multiclass":
        frame["y"] = np.select([score < 0.5, score < 2.0], ["low", "mid"], "high")
    else:
        frame["y"] = np.where(score > 1.2, "yes", "no")
    return frame


@pytest.fixture
def table() -> pd.DataFrame:
    return make_table()


@pytest.fixture
def table_csv(tmp_path, table):
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)
    return path
