"""The recommendation task's held-out scores, beside its baselines, and its CLI summary.

Explicit feedback: RMSE and MAE of the test ratings against the global mean plus user and item biases (Koren
2010, section 2.1: alternating regularised means, the BaselineOnly of Surprise) and the global mean alone.
Implicit feedback: each test user's held-out item ranked among every item the user has not interacted with
(none sampled), by the model and by popularity (training interactions). Both: metrics by user activity, the
share of top-10 lists taken by the 1% most popular items, catalogue coverage and a few example users.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from lamina.evaluation.ranking import coverage, popular_share, ranking_metrics
from lamina.nets.recommenders import csr, seen_mask
from lamina.tasks.recommend import ACTIVITY_EDGES, EXAMPLE_HISTORY, EXAMPLE_USERS, SCORING_USERS, K

BASELINE_REGULARISATION = {"user": 15.0, "item": 10.0}  # pseudo-interactions at the global mean (Surprise defaults)
BASELINE_ROUNDS = 10  # alternating updates of the user and item biases


def explicit_scores(task, model, prepared) -> tuple[dict, pd.DataFrame]:
    layout, device = task.layout_, model.inference_device()
    train, test = prepared.part != 2, prepared.part == 2  # the final network learnt from the validation part too
    users, items, ratings = (t.numpy() for t in (prepared.users, prepared.items, prepared.ratings))
    user_bias, item_bias = baseline_biases(users[train], items[train], ratings[train], task.global_mean_,
                                           len(task.users_), len(task.items_))
    baseline = np.clip(task.global_mean_ + user_bias[users[test]] + item_bias[items[test]], *task.rating_range_)
    with torch.no_grad():
        inputs = {"users": prepared.users[test].to(device), "items": prepared.items[test].to(device)}
        predicted = np.clip(model.network.scorer(inputs).float().cpu().numpy(), *task.rating_range_)
    truth = ratings[test]
    activity = np.bincount(users[train], minlength=len(task.users_))[users[test]]
    buckets = []
    for label, chosen in activity_buckets(activity):
        buckets.append({"bucket": label, "users": int(len(np.unique(users[test][chosen]))),
                        "interactions": int(chosen.sum()), "rmse": _rmse(predicted[chosen], truth[chosen]),
                        "baseline_rmse": _rmse(baseline[chosen], truth[chosen])})
    test_users = np.unique(users[test])
    known = (prepared.users[prepared.part != 2], prepared.items[prepared.part != 2])
    top, _ = ranked(task, lambda chunk: model.network.scorer.score_all(chunk), test_users, known, device)
    popularity = np.bincount(items[train], minlength=len(task.items_)).astype(float)
    popular_top, _ = ranked(task, _constant(popularity), test_users, known, device)
    metrics = {
        "feedback": "explicit",
        "test": {"rmse": _rmse(predicted, truth), "mae": float(np.abs(predicted - truth).mean())},
        "baseline": {"rmse": _rmse(baseline, truth), "mae": float(np.abs(baseline - truth).mean())},
        "global_mean": {"rmse": _rmse(np.full_like(truth, task.global_mean_), truth),
                        "mae": float(np.abs(task.global_mean_ - truth).mean())},
        "by_activity": buckets,
        **_lists(top, popular_top, popularity, len(task.items_)),
        "examples": examples(task, prepared, test_users, top),
    }
    held_out = pd.DataFrame({layout.user: prepared.data[layout.user].to_numpy()[test],
                             layout.item: prepared.data[layout.item].to_numpy()[test], "rating": truth,
                             "prediction": predicted, "baseline": baseline})
    return metrics, held_out


def implicit_scores(task, model, prepared) -> tuple[dict, pd.DataFrame]:
    layout, device = task.layout_, model.inference_device()
    train, test = prepared.part != 2, prepared.part == 2  # the final network learnt from the validation part too
    users, items = prepared.users.numpy(), prepared.items.numpy()
    test_users, test_items = users[test], items[test]  # one per user when left out one by one, or a test file's
    known = (prepared.users[~test], prepared.items[~test])
    popularity = np.bincount(items[train], minlength=len(task.items_)).astype(float)
    top, ranks = ranked(task, lambda chunk: model.network.scorer.score_all(chunk), test_users, known, device,
                        test_items)
    popular_top, popular_ranks = ranked(task, _constant(popularity), test_users, known, device, test_items)
    # Every test row of a user has the same list (the same known items left out): one row per user from here.
    order = np.argsort(test_users, kind="stable")
    listed, first = np.unique(test_users[order], return_index=True)
    relevant = [set(group) for group in np.split(test_items[order], first[1:])]
    top, popular_top = top[order][first], popular_top[order][first]
    activity = np.bincount(users[train], minlength=len(task.users_))[listed]
    buckets = []
    for label, chosen in activity_buckets(activity):
        wanted = [relevant[i] for i in np.flatnonzero(chosen)]
        ours, theirs = ranking_metrics(top[chosen], wanted, K), ranking_metrics(popular_top[chosen], wanted, K)
        buckets.append({"bucket": label, "users": int(chosen.sum()), "interactions": sum(map(len, wanted)),
                        **ours, **{f"popularity_{name}": value for name, value in theirs.items()}})
    metrics = {
        "feedback": "implicit",
        "test": {**ranking_metrics(top, relevant, K), f"coverage@{K}": coverage(top, len(task.items_))},
        "baseline": {**ranking_metrics(popular_top, relevant, K),
                     f"coverage@{K}": coverage(popular_top, len(task.items_))},
        "candidates": "every item the user has not interacted with (none sampled)",
        "by_activity": buckets,
        **_lists(top, popular_top, popularity, len(task.items_)),
        "examples": examples(task, prepared, listed, top),
    }
    held_out = pd.DataFrame({layout.user: prepared.data[layout.user].to_numpy()[test],
                             layout.item: prepared.data[layout.item].to_numpy()[test],
                             "model_rank": ranks + 1, "popularity_rank": popular_ranks + 1})
    return metrics, held_out


def baseline_biases(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, mean: float, n_users: int,
                    n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """User and item biases of the baseline rating mean + b_user + b_item: alternating regularised means of the
    residuals (BASELINE_REGULARISATION pseudo-interactions at zero), BASELINE_ROUNDS rounds."""
    user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
    user_counts, item_counts = np.bincount(users, minlength=n_users), np.bincount(items, minlength=n_items)
    for _ in range(BASELINE_ROUNDS):
        residual = ratings - mean - user_bias[users]
        item_bias = np.bincount(items, residual, n_items) / (item_counts + BASELINE_REGULARISATION["item"])
        residual = ratings - mean - item_bias[items]
        user_bias = np.bincount(users, residual, n_users) / (user_counts + BASELINE_REGULARISATION["user"])
    return user_bias, item_bias


def ranked(task, scores_of: Callable, users: np.ndarray, known: tuple, device,
           targets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each user's top-K items by `scores_of(user indices) -> [users, items]`, the `known` pairs (a user's
    other interactions) left out (-1 past a user's last item left: a list shorter than K); with `targets`
    ([users] items), also each target's 0-based rank."""
    offsets, seen = csr(known[0].to(device), known[1].to(device), len(task.users_))
    tops, ranks = [], []
    for start in range(0, len(users), SCORING_USERS):
        chunk = torch.as_tensor(users[start:start + SCORING_USERS], device=device)
        with torch.no_grad():
            scores = scores_of(chunk).float()
        scores[seen_mask(offsets, seen, chunk, len(task.items_))] = -math.inf
        best = scores.topk(min(K, len(task.items_)), dim=1)
        listed = torch.where(best.values > -math.inf, best.indices, -1).cpu().numpy()
        tops.append(np.pad(listed, ((0, 0), (0, K - listed.shape[1])), constant_values=-1))  # catalogue under K
        if targets is not None:
            wanted = torch.as_tensor(targets[start:start + SCORING_USERS], device=device).view(-1, 1)
            ranks.append((scores > scores.gather(1, wanted)).sum(1).cpu().numpy())
    return np.concatenate(tops), (np.concatenate(ranks) if targets is not None else None)


def _constant(popularity: np.ndarray) -> Callable:
    """The popularity ranking as a score function: every user gets the items' training interactions."""
    def scores(chunk: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(popularity, dtype=torch.float32, device=chunk.device).expand(len(chunk), -1).clone()

    return scores


def activity_buckets(activity: np.ndarray):
    """(label, rows) for each bucket of training interactions per user that holds any row."""
    for low, high in zip(ACTIVITY_EDGES[:-1], ACTIVITY_EDGES[1:], strict=True):
        chosen = (activity > low) & (activity <= high)
        if chosen.any():
            label = f"{low + 1}–{high}" if math.isfinite(high) else f"over {low}"
            yield label, chosen
    new = activity == 0
    if new.any():
        yield "none in training", new


def _lists(top: np.ndarray, popular_top: np.ndarray, popularity: np.ndarray, items: int) -> dict:
    return {"popularity_bias": {"model": popular_share(top, popularity), "popularity": popular_share(popular_top,
                                                                                                       popularity)},
            "catalogue_coverage": {"model": coverage(top, items), "popularity": coverage(popular_top, items)}}


def examples(task, prepared, users: np.ndarray, top: np.ndarray) -> list[dict]:
    """A few test users (the least, the median and the most active in training): their latest training items,
    their held-out items and their top-K list, each item marked when it was held out."""
    layout, data = task.layout_, prepared.data
    codes = prepared.users.numpy()
    activity = np.bincount(codes[prepared.part != 2], minlength=len(task.users_))[users]
    order = np.argsort(activity, kind="stable")
    picks = sorted({int(order[int(round(q * (len(order) - 1)))]) for q in np.linspace(0, 1, EXAMPLE_USERS)})
    chosen = []
    for pick in picks:
        rows = data[codes == users[pick]]
        parts = prepared.part[codes == users[pick]]
        held = set(rows[layout.item][parts == 2])
        history = rows[parts != 2].tail(EXAMPLE_HISTORY)
        chosen.append({
            "user": task.users_[users[pick]], "training_interactions": int(activity[pick]),
            "history": [{"item": item, **({"rating": float(r)} if layout.rating else {})}
                        for item, r in zip(history[layout.item], history[layout.rating] if layout.rating
                                           else [None] * len(history), strict=True)],
            "held_out": sorted(held),
            "recommended": [{"item": task.items_[i], "held_out": task.items_[i] in held} for i in top[pick] if i >= 0],
        })
    return chosen


def _rmse(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predicted - truth) ** 2)))


def summary_text(task, model) -> str:
    from lamina.evaluation.document import number

    metrics, training = model.metrics, model.training
    sizes = training.get("sizes", {})
    lines = [f"\n{metrics['feedback']} feedback: {sizes.get('users')} users, {sizes.get('items')} items; split "
             f"{training.get('split')} ({sizes.get('train')} / {sizes.get('valid')} / {sizes.get('test')} "
             f"interactions)", f"  {'test metric':<20} {'model':>10} "
             f"{'baseline' if metrics['feedback'] == 'explicit' else 'popularity':>10}"]
    for name, value in metrics["test"].items():
        lines.append(f"  {name:<20} {number(value):>10} {number(metrics['baseline'].get(name)):>10}")
    if metrics["feedback"] == "explicit":
        lines.append("  (baseline: global mean plus user and item biases)")
    else:
        lines.append(f"  (ranked against {metrics['candidates']})")
    bias = metrics["popularity_bias"]
    lines.append(f"top-{K} lists from the 1% most popular items: {number(bias['model'], 1, percent=True)} "
                 f"(popularity ranking {number(bias['popularity'], 1, percent=True)})")
    return "\n".join(lines)
