"""MovieLens-100k: the recommendation task against Surprise and `implicit`, and /recommend latency.

    python bench/movielens.py [--folds 1 2 3 4 5] [--svdpp-folds 1 2 3 4 5] [--requests 200] [--threads 1]
    python bench/movielens.py --side [--threads 1]

- Explicit: the dataset's own u1–u5 base/test files. lamina's default (`--task recommend` on the base file
  with the test file as `--test`; 15% of each user's base ratings choose the epoch, then the final network
  learns from all of them) RMSE and MAE per fold, mean ± std, beside Surprise's SVD and SVD++ (default
  settings) on the same files (`load_from_folds`; never `load_builtin`, which downloads).
- Implicit: leave-one-out by time on u.data (each user's last rating is the test item, the one before it
  validation, which the final model also learns from), HR@10 and NDCG@10 with the test item ranked against
  every item the user has not rated; beside popularity and implicit's ALS and BPR trained on the same ratings
  (all but the test ones). The sampled protocol papers quote (the test item among 100 random unrated items,
  the same items for every model) is printed too, labelled as such.
- Serving: p50 and p99 latency of POST /recommend over HTTP for one user, top 10 of the 1,682 items.
- `--side`: whether the side tables (u.user: age, gender, occupation, zip code; u.item: title, release date
  and the 19 genre flags) change anything: the two-tower network with and without them, u1 RMSE and
  leave-one-out HR@10 / NDCG@10 against all items.

Reads $LAMINA_DATA/movielens-100k/ml-100k (default ../shared/data). scikit-surprise and implicit are
bench-only: pip install -c constraints.txt "lamina[bench]".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["user", "item", "rating", "timestamp"]
SAMPLED = 100  # random unrated items the test item is ranked among in the sampled protocol
K = 10


def data_folder() -> Path:
    return Path(os.environ.get("LAMINA_DATA", ROOT.parent / "shared" / "data")) / "movielens-100k" / "ml-100k"


def ratings(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", names=COLUMNS)


def mean_std(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


# ---- explicit -------------------------------------------------------------------------------------------

def lamina_fold(folder: Path, fold: int, seed: int) -> dict:
    import lamina

    base, test = (ratings(folder / f"u{fold}.{part}").drop(columns="timestamp") for part in ("base", "test"))
    started = time.perf_counter()
    model = lamina.fit(base, test=test, task="recommend", user="user", item="item", rating="rating", seed=seed,
                       progress=False)
    return {"rmse": model.metrics["test"]["rmse"], "mae": model.metrics["test"]["mae"],
            "baseline_rmse": model.metrics["baseline"]["rmse"], "seconds": time.perf_counter() - started,
            "epochs": model.training["epochs_run"]}


def surprise_fold(folder: Path, fold: int, algorithm: str, seed: int) -> dict:
    from surprise import SVD, Dataset, Reader, SVDpp, accuracy
    from surprise.model_selection import PredefinedKFold

    data = Dataset.load_from_folds([(str(folder / f"u{fold}.base"), str(folder / f"u{fold}.test"))],
                                   reader=Reader("ml-100k"))
    trainset, testset = next(PredefinedKFold().split(data))
    model = {"svd": SVD, "svdpp": SVDpp}[algorithm](random_state=seed)
    started = time.perf_counter()
    predictions = model.fit(trainset).test(testset)
    return {"rmse": accuracy.rmse(predictions, verbose=False), "mae": accuracy.mae(predictions, verbose=False),
            "seconds": time.perf_counter() - started}


def explicit(folder: Path, folds: list[int], svdpp_folds: list[int], seed: int) -> list[list[str]]:
    import importlib.util

    rows, results = [], {"lamina": [], "baseline": [], "svd": [], "svdpp": []}
    surprise = importlib.util.find_spec("surprise") is not None
    if not surprise:
        print("scikit-surprise is not installed (pip install lamina[bench]): its rows are left out.")
    for fold in folds:
        ours = lamina_fold(folder, fold, seed)
        results["lamina"].append(ours)
        results["baseline"].append({"rmse": ours["baseline_rmse"], "mae": float("nan"), "seconds": 0.0})
        line = f"fold u{fold}: lamina RMSE {ours['rmse']:.4f} ({ours['epochs']} epochs, {ours['seconds']:.0f}s)"
        for name, chosen in (("svd", folds), ("svdpp", svdpp_folds)):
            if surprise and fold in chosen:
                results[name].append(surprise_fold(folder, fold, name, seed))
                line += f", {name} {results[name][-1]['rmse']:.4f}"
        print(line, flush=True)
    names = {"lamina": "lamina default (mf)", "baseline": "global mean + biases (lamina's baseline)",
             "svd": "Surprise SVD", "svdpp": "Surprise SVD++"}
    for key, runs in results.items():
        if runs:
            rows.append([names[key], f"u{','.join(str(f) for f in folds if key != 'svdpp' or f in svdpp_folds)}",
                         mean_std([r["rmse"] for r in runs]),
                         "" if key == "baseline" else mean_std([r["mae"] for r in runs]),
                         "" if key == "baseline" else f"{statistics.mean(r['seconds'] for r in runs):.1f}"])
    return rows


# ---- implicit -------------------------------------------------------------------------------------------

def implicit_protocols(folder: Path, seed: int, out: Path) -> tuple[list[list[str]], Path]:
    """(table rows, the lamina run folder) for leave-one-out by time on u.data."""
    import lamina
    from lamina.evaluation.ranking import ranking_metrics

    frame = ratings(folder / "u.data")
    model = lamina.fit(frame, task="recommend", user="user", item="item", time="timestamp", implicit=True,
                       seed=seed, out=out, progress=False)
    task = model.task
    held = pd.read_csv(out / "test_predictions.csv", dtype={"user": str, "item": str})
    users = held["user"].map(task.user_index_).to_numpy()
    targets = held["item"].map(task.item_index_).to_numpy()
    frame = frame.assign(user=frame["user"].astype(str), item=frame["item"].astype(str))
    rated = np.zeros((len(task.users_), len(task.items_)), dtype=bool)
    rated[frame["user"].map(task.user_index_), frame["item"].map(task.item_index_)] = True
    test_pairs = set(zip(users, targets, strict=True))
    known = rated.copy()
    known[users, targets] = False  # the test item competes; every other rated item is left out
    training = frame.assign(u=frame["user"].map(task.user_index_), i=frame["item"].map(task.item_index_))
    # lamina's final network learns from every rating but the test ones (the validation ones only chose the
    # epoch before): so do the others.
    fit_rows = training[[(u, i) not in test_pairs for u, i in zip(training["u"], training["i"], strict=True)]]
    popularity = np.bincount(fit_rows["i"], minlength=len(task.items_)).astype(float)

    import torch

    with torch.no_grad():
        ours = model.network.scorer.score_all(torch.tensor(users)).float().numpy()
    scorers = {"lamina default (mf, BPR)": ours, "popularity": np.tile(popularity, (len(users), 1))}
    scorers.update(implicit_scores(fit_rows, users, len(task.users_), len(task.items_), seed))
    rows = []
    for name, scores in scorers.items():
        scores = np.where(known[users], -np.inf, scores)
        full = _metrics(scores, targets)
        rng = np.random.default_rng(seed)  # the same sampled items for every model
        sampled = _metrics(_sampled(scores, known[users], targets, rng), targets)
        rows.append([name, f"{full[0]:.4f}", f"{full[1]:.4f}", f"{sampled[0]:.4f}", f"{sampled[1]:.4f}"])
        check = ranking_metrics(np.argsort(-scores, axis=1, kind="stable")[:, :K], [{t} for t in targets], K)
        assert abs(check[f"hr@{K}"] - full[0]) < 0.01  # the two computations agree (ties aside)
    return rows, out


def implicit_scores(rows: pd.DataFrame, users: np.ndarray, n_users: int, n_items: int, seed: int) -> dict:
    """implicit's ALS and BPR (default settings) trained on the same training ratings: [users, items] scores."""
    try:
        from implicit.als import AlternatingLeastSquares
        from implicit.bpr import BayesianPersonalizedRanking
    except ImportError:
        print("implicit is not installed (pip install lamina[bench]): its rows are left out.")
        return {}
    from scipy.sparse import csr_matrix
    from threadpoolctl import threadpool_limits

    matrix = csr_matrix((np.ones(len(rows), dtype=np.float32), (rows["u"], rows["i"])), shape=(n_users, n_items))
    found = {}
    for name, cls in (("implicit ALS", AlternatingLeastSquares), ("implicit BPR", BayesianPersonalizedRanking)):
        model = cls(random_state=seed)
        with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, not BLAS's
            model.fit(matrix, show_progress=False)
        found[name] = np.asarray(model.user_factors)[users] @ np.asarray(model.item_factors).T
    return found


def _metrics(scores: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """HR@10 and NDCG@10 of one held-out item per row; ties count against the item."""
    own = scores[np.arange(len(targets)), targets][:, None]
    rank = (scores >= own).sum(axis=1) - 1  # 0-based; -inf scores (left out) never tie a finite one
    hit = rank < K
    return float(hit.mean()), float(np.where(hit, 1 / np.log2(rank + 2), 0).mean())


def _sampled(scores: np.ndarray, known: np.ndarray, targets: np.ndarray, rng) -> np.ndarray:
    """Scores with every item but the test item and SAMPLED random unrated ones left out (-inf)."""
    kept = np.full_like(scores, -np.inf)
    for row, target in enumerate(targets):
        candidates = np.flatnonzero(~known[row])
        candidates = candidates[candidates != target]
        chosen = rng.choice(candidates, SAMPLED, replace=False)
        kept[row, chosen] = scores[row, chosen]
        kept[row, target] = scores[row, target]
    return kept


# ---- side tables ----------------------------------------------------------------------------------------

def side_tables(folder: Path, work: Path) -> tuple[Path, Path]:
    """u.user and u.item as CSV side tables keyed like the ratings (user, item); the URL column left out."""
    users = pd.read_csv(folder / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    genres = pd.read_csv(folder / "u.genre", sep="|", names=["genre", "code"]).dropna()["genre"].tolist()
    items = pd.read_csv(folder / "u.item", sep="|", encoding="latin-1",
                        names=["item", "title", "release", "video_release", "url", *genres])
    paths = work / "users.csv", work / "items.csv"
    users.to_csv(paths[0], index=False)
    items.drop(columns=["video_release", "url"]).to_csv(paths[1], index=False)
    return paths


def side_effect(folder: Path, seed: int) -> list[list[str]]:
    """The two-tower network without and with side tables: u1 RMSE and leave-one-out ranking metrics."""
    import lamina

    rows = []
    base, test = (ratings(folder / f"u1.{part}").drop(columns="timestamp") for part in ("base", "test"))
    every = ratings(folder / "u.data")
    with tempfile.TemporaryDirectory() as work:
        users, items = side_tables(folder, Path(work))
        for label, tables in (("two-tower", {}), ("two-tower + side tables", {"users": str(users),
                                                                               "items": str(items)})):
            explicit_model = lamina.fit(base, test=test, task="recommend", user="user", item="item",
                                        rating="rating", arch="two-tower", seed=seed, progress=False, **tables)
            ranking = lamina.fit(every, task="recommend", user="user", item="item", time="timestamp",
                                 implicit=True, arch="two-tower", seed=seed, progress=False, **tables)
            rows.append([label, f"{explicit_model.metrics['test']['rmse']:.4f}",
                         f"{ranking.metrics['test'][f'hr@{K}']:.4f}", f"{ranking.metrics['test'][f'ndcg@{K}']:.4f}"])
            print(" | ".join(rows[-1]), flush=True)
    return rows


# ---- serving --------------------------------------------------------------------------------------------

def serving(run: Path, requests: int) -> tuple[float, float]:
    import httpx

    from serving import percentiles, start_server, timed

    process, url = start_server(run)
    try:
        with httpx.Client() as client:
            body = {"users": ["1"], "k": K}
            times = timed(lambda: client.post(f"{url}/recommend", json=body).raise_for_status(), requests)
    finally:
        process.terminate()
        process.wait()
    return percentiles(times)


def table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--svdpp-folds", type=int, nargs="*", default=[1, 2, 3, 4, 5],
                        help="folds SVD++ runs on (it is the slow one)")
    parser.add_argument("--requests", type=int, default=200, help="timed /recommend requests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-explicit", action="store_true")
    parser.add_argument("--skip-implicit", action="store_true")
    parser.add_argument("--side", action="store_true", help="only the two-tower network without and with the "
                                                            "u.user / u.item side tables")
    parser.add_argument("--threads", type=int, help="torch CPU threads (on a loaded, shared machine 1 is fastest)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    folder = data_folder()
    if not (folder / "u.data").exists():
        print(f"MovieLens-100k is not at {folder}; set LAMINA_DATA to the folder holding movielens-100k/.")
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.side:
        rows = side_effect(folder, args.seed)
        print("\nSide tables (u1 RMSE; leave-one-out by time, every unrated item ranked)\n")
        print(table(["model", "u1 RMSE", f"HR@{K} all items", f"NDCG@{K} all items"], rows))
        return 0
    if not args.skip_explicit:
        rows = explicit(folder, args.folds, args.svdpp_folds, args.seed)
        print("\nExplicit ratings, the u1–u5 base/test files\n")
        print(table(["model", "folds", "RMSE mean ± std", "MAE mean ± std", "seconds per fold"], rows))
    if not args.skip_implicit:
        with tempfile.TemporaryDirectory() as work:
            rows, run = implicit_protocols(folder, args.seed, Path(work) / "implicit")
            print("\nImplicit, leave-one-out by time on u.data (943 test users)\n")
            print(table(["model", "HR@10 all items", "NDCG@10 all items", f"HR@10 sampled {SAMPLED}",
                         f"NDCG@10 sampled {SAMPLED}"], rows))
            p50, p99 = serving(run, args.requests)
            print(f"\nPOST /recommend, one user, top {K} of 1,682 items, over HTTP: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
