"""Top-k ranking metrics of recommendations against each user's held-out items, as the field defines them.

For a user with held-out (relevant) items R and a top-k list L (ranked over the whole catalogue, the user's
training items left out):
- HR@k (hit rate): 1 when L holds any item of R.
- recall@k: |L ∩ R| / |R|.
- NDCG@k: sum over hits at rank r (1-based) of 1 / log2(r + 1), divided by the same sum for min(|R|, k)
  hits at the top (Järvelin & Kekäläinen 2002).
- MAP@k: the mean over hits of precision at the hit's rank, divided by min(|R|, k) (the MAP@k of Kaggle and
  recmetrics).
- coverage: the share of the catalogue that appears in anyone's top-k list (Ge et al. 2010).
Each is the mean over users that have held-out items. A list shorter than k (a user with fewer items left) is
padded with -1, which is never an item.
"""

from __future__ import annotations

import numpy as np


def hits_of(top: np.ndarray, relevant: list[set]) -> np.ndarray:
    """[users, k] True where the item at that rank is one of the user's relevant items."""
    return np.array([[item in wanted for item in row] for row, wanted in zip(top, relevant, strict=True)],
                    dtype=bool).reshape(top.shape)


def ranking_metrics(top: np.ndarray, relevant: list[set], k: int) -> dict[str, float]:
    """HR@k, recall@k, NDCG@k and MAP@k (module docstring) of `top` ([users, >= k] item indices, best first)
    against each user's `relevant` items (a set per row of `top`; rows with an empty set are left out)."""
    kept = [row for row, wanted in enumerate(relevant) if wanted]
    if not kept:
        return {f"{name}@{k}": None for name in ("hr", "recall", "ndcg", "map")}
    top = np.asarray(top)[kept, :k]
    wanted = [relevant[row] for row in kept]
    hits = hits_of(top, wanted)
    sizes = np.array([len(w) for w in wanted], dtype=float)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.array([discounts[: int(min(size, k))].sum() for size in sizes])
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return {
        f"hr@{k}": float(hits.any(axis=1).mean()),
        f"recall@{k}": float((hits.sum(axis=1) / sizes).mean()),
        f"ndcg@{k}": float(((hits * discounts).sum(axis=1) / ideal).mean()),
        f"map@{k}": float(((precision_at * hits).sum(axis=1) / np.minimum(sizes, k)).mean()),
    }


def coverage(top: np.ndarray, items: int) -> float:
    """The share of the `items` in the catalogue that appear anywhere in `top` ([users, k] item indices)."""
    top = np.asarray(top)
    return len(np.unique(top[top >= 0])) / items


def popular_share(top: np.ndarray, popularity: np.ndarray, share: float = 0.01) -> float:
    """The share of the recommendations in `top` ([users, k]) that are among the `share` most popular items
    (at least one item) by `popularity` ([items] training interactions): how much a model leans on the head."""
    head = np.argsort(-popularity, kind="stable")[: max(1, int(round(share * len(popularity))))]
    top = np.asarray(top)
    return float(np.isin(top[top >= 0], head).mean())
