"""Recommendation: a table of who interacted with what → scores for (user, item) pairs and top-k lists.

Explicit feedback (a rating column) trains on the squared error of the ratings and is scored by RMSE and MAE
beside the global-mean-plus-biases baseline; implicit feedback (no rating, or `--implicit`) learns to rank with
BPR (Rendle et al. 2009) on uniformly sampled negatives and is scored by HR@10, NDCG@10, recall@10, MAP@10 and
catalogue coverage beside the popularity ranking, every item of the catalogue ranked (none sampled), the user's
other interactions left out. The split is per user (data.interactions): the latest interactions by time, else
a random share of each user's; leave-one-out for ranking. Users the model has not seen get the popularity
ranking, flagged as such. Side tables (`--users`, `--items`: tasks.recommend_side) give the two-tower network
each id's features; a user known only from the users table is then scored from its features (source "side
features"), and lists show each item's side columns.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from lamina.data.checks import Finding
from lamina.data.dates import file_date_order
from lamina.data.interactions import (
    MAX_NAMED,
    MIN_SPLIT_INTERACTIONS,
    InteractionLayout,
    clean_interactions,
    file_ids,
    layout_of,
    one_id,
    split_interactions,
)
from lamina.data.split import VALID_SHARE
from lamina.errors import LaminaError, quoted
from lamina.nets.build import build_network, names
from lamina.nets.recommenders import WithHistory
from lamina.tasks.base import FRACTIONS, Prepared, Task, register_task
from lamina.tasks.recommend_side import FLAGS, read_side_table

K = 10  # the cut-off of the ranking metrics and the default list length
FACTORS = {"explicit": 32, "implicit": 64}  # mf: dimensions of each user and item vector (--width)
TOWER_DEFAULTS = {"width": 64, "depth": 1, "dropout": 0.1}  # two-tower: dimensions, hidden layers, dropout probability
L2 = {"explicit": 0.1, "implicit": 0.01}  # per-interaction L2 strength on the parameters a pair touches
LEARNING_RATE = {"explicit": 3e-3, "implicit": 1e-2}  # Adam peak learning rate
STEPS_PER_RUN = 4000  # optimiser steps a run aims at; epochs follow from the batches per epoch (20 at least)
MAX_K = 100  # longest list a request may ask for
MAX_USERS = 1000  # users one request may ask for
SCORING_USERS = 1024  # users whose scores of every item are computed at once
ACTIVITY_EDGES = (0, 5, 20, 100, math.inf)  # training interactions per user that bound the activity buckets
EXAMPLE_USERS = 3  # users whose history and recommendations the report shows
EXAMPLE_HISTORY = 8  # latest training items shown per example user
PICKER_USERS = 200  # most active users the served playground offers to pick from
SOURCES = {"model": "model", "side": "side features (user not in training)",
           "popularity": "popularity (unknown user)"}  # what each list's `source` says it came from


@dataclass
class InteractionsPrepared(Prepared):
    data: pd.DataFrame | None = None  # cleaned interactions, sorted by user and time
    part: np.ndarray | None = None  # [rows] 0 training, 1 validation, 2 test
    users: torch.Tensor | None = None  # [rows] indices into the user vocabulary
    items: torch.Tensor | None = None
    ratings: torch.Tensor | None = None  # [rows] float; zeros for implicit feedback

    def pairs(self, part: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        chosen = torch.from_numpy(self.part == part)
        return {"users": self.users[chosen], "items": self.items[chosen]}, self.ratings[chosen]

    def split_sizes(self) -> dict[str, int]:
        return {name: int((self.part == value).sum()) for value, name in enumerate(("train", "valid", "test"))}


@register_task
class RecommendTask(Task):
    name = "recommend"
    aliases = ("recommendation",)
    settings = (*FRACTIONS, "time", "user", "item", "rating", "implicit", "users", "items",
                "columns", "date_order")  # columns: the kinds of the side tables' columns
    reads = "interactions"
    route = "recommend"
    playground = "recommend"  # a user picker and the list as a table

    @classmethod
    def claims(cls, config, frame: pd.DataFrame) -> bool:
        return config.data.user is not None and config.data.item is not None

    @classmethod
    def suggestion(cls, config, frame: pd.DataFrame) -> str | None:
        if cls.claims(config, frame):
            return None
        data = config.data
        try:  # the columns given, else those the names suggest, as --task recommend infers them
            layout = layout_of(frame, data.user, data.item, data.rating, data.time, data.implicit)
        except LaminaError:
            return None
        rating = f", ratings {layout.rating!r}" if layout.rating else ""
        return (f"It reads as interactions (users {layout.user!r}, items {layout.item!r}{rating}): to learn a "
                f"recommender from them give --task recommend (or --user {layout.user} --item {layout.item}).")

    @property
    def explicit(self) -> bool:
        return self.layout_.rating is not None

    @property
    def feedback(self) -> str:
        return "explicit" if self.explicit else "implicit"

    # The Trainer's step: early stopping follows the validation MSE of ratings, or NDCG@10 of rankings.
    @property
    def monitor(self) -> str:
        return "valid_loss" if self.explicit else f"valid_ndcg@{K}"

    @property
    def mode(self) -> str:
        return "min" if self.explicit else "max"

    # ---- training ----------------------------------------------------------------------------------------

    def prepare(self, config, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> InteractionsPrepared:
        data = config.data
        arch = config.model.arch
        if arch != "auto" and arch not in names(self.reads):
            build_network(arch, {}, 1, reads=self.reads)  # raises the error naming the registered ones
        sides = {role: getattr(data, f"{role}s") for role in FLAGS if getattr(data, f"{role}s") is not None}
        if sides and arch not in ("auto", "two-tower"):
            raise LaminaError(f"--arch {arch} reads no side tables ({', '.join(FLAGS[r] for r in sides)}); train "
                              "with --arch two-tower (the default with side tables) or leave the tables out.")
        layout = layout_of(frame, data.user, data.item, data.rating, data.time, data.implicit, "the training data")
        # one order for the times of both files: the test file agrees with the data file's, or settles it
        tested = test_frame[layout.time] if layout.time and test_frame is not None and layout.time in test_frame else None
        order = file_date_order(frame[layout.time], tested, data.date_order) if layout.time else None
        cleaned, findings = clean_interactions(frame, layout, "the training data", order or data.date_order)
        testing = test_frame is None  # else the test file is the test part, and DATA gives training and validation
        # A share of each user's interactions, not of the rows: auto is VALID_SHARE without the cap on rows.
        valid = VALID_SHARE if data.valid_fraction == "auto" else data.valid_fraction
        part = split_interactions(cleaned, layout, valid, data.test_fraction if testing else 0.0,
                                  not layout.rating, config.seed)
        if not testing:
            tests, test_findings = clean_interactions(test_frame, layout, "the test data", order or data.date_order)
            findings += [finding for finding in test_findings if finding.level != "info"]
            tests, finding = _known_only(tests, cleaned, layout)
            findings += finding
            cleaned = pd.concat([cleaned, tests], ignore_index=True)
            part = np.r_[part, np.full(len(tests), 2)]
        if not ((part == 1).any() and (part == 2).any()):
            raise LaminaError(f"No user has {MIN_SPLIT_INTERACTIONS} or more interactions, so none can be held out "
                              "to validate and test on: a recommender is judged on interactions its users had that "
                              "it did not see. Give more interactions per user.")
        self.layout_ = layout
        self.users_ = sorted(cleaned[layout.user].unique(), key=_id_order)
        self.items_ = sorted(cleaned[layout.item].unique(), key=_id_order)
        findings += self._read_sides(sides, config.data.columns)  # and indexes the vocabularies
        training = cleaned[part == 0]
        self.global_mean_ = float(training[layout.rating].mean()) if layout.rating else 0.0
        self.rating_range_ = ([float(training[layout.rating].min()), float(training[layout.rating].max())]
                              if layout.rating else None)
        users = torch.tensor(cleaned[layout.user].map(self.user_index_).to_numpy(), dtype=torch.int64)
        items = torch.tensor(cleaned[layout.item].map(self.item_index_).to_numpy(), dtype=torch.int64)
        ratings = torch.tensor(cleaned[layout.rating].to_numpy(dtype=np.float32) if layout.rating
                               else np.zeros(len(cleaned), dtype=np.float32))
        return InteractionsPrepared(findings, cleaned, part, users, items, ratings)

    def _index(self) -> None:
        self.user_index_ = {user: i for i, user in enumerate(self.users_)}
        self.item_index_ = {item: i for i, item in enumerate(self.items_)}
        # Users known only from the users table: feature rows after the vocabulary's.
        self.side_user_index_ = {user: len(self.users_) + i for i, user in enumerate(self.side_users_)}

    def _read_sides(self, sides: dict, overrides: dict) -> list:
        """Reads the side tables; keeps what the network's side features and the answers need. Findings."""
        findings, self.side_users_, self.sides_, self._side_inputs = [], [], {}, {}
        for role, source in sides.items():
            vocabulary = self.users_ if role == "user" else self.items_
            table = read_side_table(source, role, getattr(self.layout_, role), vocabulary, overrides)
            findings += table.findings
            rows = vocabulary + (table.extra_ids(vocabulary) if role == "user" else [])  # items: the catalogue
            spec, tensors = table.encode(rows)
            self._side_inputs[f"{role}_features"] = ({"spec": spec, "rows": len(rows)}, tensors)
            self.sides_[role] = {"table": table.source, "columns": {c.name: c.kind for c in table.schema.features}}
            if role == "user":
                self.side_users_ = rows[len(vocabulary):]
            else:
                self.sides_[role]["values"] = table.values(rows)
        self._index()
        return findings

    def fit(self, config, prepared: InteractionsPrepared, session):
        from lamina.training.batches import TensorBatches

        arch = config.model.arch if config.model.arch != "auto" else "two-tower" if self.sides_ else "mf"
        hyperparameters = self._hyperparameters(arch, config.model, self.feedback)
        train_inputs, train_ratings = prepared.pairs(0)
        architecture = {"arch": arch, "hyperparameters": hyperparameters, "outputs": 1,
                        "inputs": {"users": len(self.users_), "items": len(self.items_), "pairs": len(prepared.data),
                                   **{key: spec for key, (spec, _) in self._side_inputs.items()}}}
        self._validation_mask = (train_inputs["users"], train_inputs["items"])
        train = config.train
        batch_size = (min(256, max(64, len(train_ratings) // 64)) if train.batch_size == "auto"
                      else train.batch_size)
        batches = TensorBatches(train_inputs, train_ratings, batch_size, shuffle=True, seed=config.seed)
        epochs = (min(200, max(20, math.ceil(STEPS_PER_RUN / len(batches)))) if train.epochs == "auto"
                  else train.epochs)
        selecting = self._trainer(architecture, prepared, session, epochs, "select")
        history = selecting.fit(batches, TensorBatches(*prepared.pairs(1), 4096), resume=session.resume)
        # The validation interactions were only held out to choose the epoch: the final network learns from them
        # too, for the selected epochs scaled by how much more data it has (on MovieLens u1: RMSE 0.922 against
        # the selected network's 0.929).
        known = torch.from_numpy(prepared.part != 2)
        final_epochs = max(1, round(selecting.best_epoch_ * int(known.sum()) / len(train_ratings)))
        torch.manual_seed(config.seed)
        final = self._trainer(architecture, prepared, session, final_epochs, "final")
        final.fit(TensorBatches({"users": prepared.users[known], "items": prepared.items[known]},
                                prepared.ratings[known], batch_size, shuffle=True, seed=config.seed), None,
                  resume=session.resume)
        network = final.module.eval()
        training = {
            "seed": config.seed, "feedback": self.feedback, "epochs_run": len(history),
            "best_epoch": selecting.best_epoch_, "stop_reason": getattr(selecting, "stop_reason_", None),
            "final_epochs": final_epochs, "seconds": round(selecting.elapsed_ + final.elapsed_, 2),
            "split": self._split_words(),
            "sizes": {**prepared.split_sizes(), "users": len(self.users_), "items": len(self.items_)},
            "active_users": [self.users_[i] for i in np.argsort(-np.bincount(prepared.users[known].numpy(),
                                                                              minlength=len(self.users_)),
                                                                  kind="stable")[:PICKER_USERS]],
        }
        return network, architecture, training

    def _trainer(self, architecture: dict, prepared: InteractionsPrepared, session, epochs: int, name: str):
        """A Trainer of a new network (named `name` in the checkpoints and history.csv) for `epochs`."""
        network = self.build_network(architecture).remember(prepared.users, prepared.items)
        for key, (_, tensors) in self._side_inputs.items():
            getattr(network.scorer, key.replace("_features", "_side")).fill(tensors)
        with torch.no_grad():
            network.scorer.bias.fill_(self.global_mean_)
        lr = session.config.train.lr
        return session.trainer(network, self, epochs=epochs, lr=LEARNING_RATE[self.feedback] if lr == "auto" else lr,
                               weight_decay=0.0,  # the per-interaction L2 term of the loss regularises instead
                               warmup_epochs=min(1.0, epochs / 10), name=name, history_key={"fit": name})

    @staticmethod
    def _hyperparameters(arch: str, model, feedback: str) -> dict:
        if arch == "mf":
            return {"factors": FACTORS[feedback] if model.width == "auto" else model.width}
        return {key: default if getattr(model, key) == "auto" else getattr(model, key)
                for key, default in TOWER_DEFAULTS.items()}

    def training_step(self, module, batch, trainer) -> torch.Tensor:
        inputs, ratings = batch
        scorer = module.scorer
        with trainer.autocast():
            predicted = scorer(inputs).float()
            penalty = scorer.penalty(inputs)
            if self.explicit:
                loss = torch.nn.functional.mse_loss(predicted, ratings)
            else:  # BPR: each positive above a uniformly drawn item (rarely one the user also had: an accepted noise)
                negatives = {"users": inputs["users"],
                             "items": torch.randint(0, len(self.items_), inputs["items"].shape,
                                                    device=inputs["items"].device)}
                loss = -torch.nn.functional.logsigmoid(predicted - scorer(negatives).float()).mean()
                penalty = penalty + scorer.penalty(negatives)
            return loss + L2[self.feedback] * penalty.mean()

    def validate(self, module, batches, trainer) -> dict[str, float]:
        inputs, ratings = (torch.cat(parts) if isinstance(parts[0], torch.Tensor) else
                           {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
                           for parts in zip(*batches, strict=True))
        if self.explicit:
            squared = float(torch.nn.functional.mse_loss(module(inputs).float(), ratings))
            return {"valid_loss": squared, "valid_rmse": math.sqrt(squared)}
        from lamina.tasks.recommend_scores import ranked

        users, items = inputs["users"], inputs["items"]
        _, ranks = ranked(self, module.scorer.score_all, users.cpu().numpy(), self._validation_mask, users.device,
                          items.cpu().numpy())
        return {f"valid_ndcg@{K}": float(np.where(ranks < K, 1 / np.log2(ranks + 2.0), 0.0).mean()),
                f"valid_hr@{K}": float((ranks < K).mean())}

    def build_network(self, architecture: dict) -> torch.nn.Module:
        spec = architecture["inputs"]
        if (spec["users"], spec["items"]) != (len(self.users_), len(self.items_)):
            raise ValueError("the architecture's users and items differ from the task's vocabularies")
        sides = {key: spec[key] for key in ("user_features", "item_features") if key in spec}
        scorer = build_network(architecture["arch"], {"users": spec["users"], "items": spec["items"], **sides}, 1,
                               reads=self.reads, **architecture["hyperparameters"])
        return WithHistory(scorer, spec["users"], spec["items"], int(spec["pairs"]))

    # ---- scores ------------------------------------------------------------------------------------------

    def score(self, model, prepared: InteractionsPrepared) -> pd.DataFrame:
        from lamina.tasks.recommend_scores import explicit_scores, implicit_scores

        scores = explicit_scores if self.explicit else implicit_scores
        model.metrics, held_out = scores(self, model, prepared)
        return held_out

    # ---- use ---------------------------------------------------------------------------------------------

    def predict(self, model, frame: pd.DataFrame, top: int = K, exclude_seen: bool = True) -> pd.DataFrame:
        """With user and item columns: a score (a predicted rating for explicit feedback) per pair; with a
        user column alone: each user's top `top` items (`recommend`)."""
        layout = self.layout_
        if layout.user not in frame.columns:
            raise LaminaError(f"The prediction data needs the user column {layout.user!r} (and {layout.item!r} to "
                              f"score pairs); its columns are {', '.join(map(str, frame.columns))}.")
        where = frame.attrs.get("source") or "the prediction data"  # the file, where api names it
        users = file_ids(frame[layout.user], layout.user, where)
        if layout.item not in frame.columns:
            return self.recommend(model, users, top, exclude_seen)
        return self.score_pairs(model, users, file_ids(frame[layout.item], layout.item, where), where)

    def score_pairs(self, model, users: pd.Series, items: pd.Series, source: str) -> pd.DataFrame:
        """A `prediction` per pair (a rating for explicit feedback, a ranking score for implicit) of text ids
        ([pairs] each) read from `source`; an unknown item is an error naming it and its line, an unknown user
        gets the global and item biases alone (known_user False)."""
        outside = np.flatnonzero(~items.isin(self.item_index_).to_numpy())
        if len(outside):
            named = ", ".join(f"{quoted(items.iloc[i])} (line {i + 2})" for i in outside[:MAX_NAMED])
            raise LaminaError(f"{len(outside)} row(s) of {source} name items that are not in the catalogue the "
                              f"model was trained on, so they cannot be scored: {named}"
                              f"{' ...' if len(outside) > MAX_NAMED else ''}. Score items of the catalogue "
                              f"({len(self.items_)} items).")
        index, source = self._user_rows(users)
        known = source == "model"
        device = model.inference_device()
        scorer = model.network.scorer
        item_index = torch.tensor(items.map(self.item_index_).to_numpy(), dtype=torch.int64, device=device)
        user_index = torch.tensor(index, device=device)
        with torch.no_grad():
            scores = scorer({"users": user_index, "items": item_index}).float()
            cold = scorer.bias + scorer.item_bias(item_index).squeeze(-1)
            scores = torch.where(torch.tensor(source != "popularity", device=device), scores, cold).cpu().numpy()
        if self.rating_range_:
            scores = np.clip(scores, *self.rating_range_)
        return pd.DataFrame({self.layout_.user: users, self.layout_.item: items, "prediction": scores,
                             "known_user": known, "source": [SOURCES[s] for s in source]})

    def _user_rows(self, users: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each user's row of the network ([users] int64; 0 for users it has no row of) and where its scores
        come from ([users] "model", "side" for a user known only from the users table, or "popularity")."""
        index = users.map(self.user_index_)
        side = users.map(self.side_user_index_)
        source = np.where(index.notna(), "model", np.where(side.notna(), "side", "popularity"))
        return index.fillna(side).fillna(0).astype(np.int64).to_numpy(), source

    def recommend(self, model, users, k: int = K, exclude_seen: bool = True) -> pd.DataFrame:
        """One row per user and rank (1 = best): user, rank, item, the item's side columns, score, known_user and
        source. A user the model has not seen gets the most popular items (score: their interactions in the
        data) with known_user False, or, when the users table has a row of theirs, scores from its features.
        A list stops at the user's last unseen item (or the catalogue's last): attrs["notes"] says whose did.
        Raises LaminaError for a `k` that is not a whole number from 1, or a user id that is not text or a
        number (None, NaN, True, a list)."""
        return self._lists(model, users, k, exclude_seen)[0]

    def _lists(self, model, users, k: int, exclude_seen: bool) -> tuple[pd.DataFrame, pd.Series, np.ndarray,
                                                                          np.ndarray]:
        """`recommend`'s frame, and per user: the text id, the list's length and the scores' source."""
        _check_k(k)
        given = [users] if isinstance(users, (str, numbers.Number)) or users is None else list(users)
        users = pd.Series([one_id(user, f"user id ({self.layout_.user})") for user in given], dtype=object)
        device = model.inference_device()
        network = model.network
        index, source = self._user_rows(users)
        scored = source != "popularity"
        width = min(int(k), len(self.items_))
        lengths = np.full(len(users), width)
        top = np.zeros((len(users), width), dtype=np.int64)
        values = np.zeros((len(users), width), dtype=np.float32)
        if scored.any():
            chosen = torch.tensor(index[scored], device=device)
            with torch.no_grad():
                scores = network.scorer.score_all(chosen).float()
                seen = source[scored] == "model"  # users known only from their features have seen nothing
                if exclude_seen and seen.any():
                    rows = torch.tensor(np.flatnonzero(seen), device=device)
                    scores[rows] = scores[rows].masked_fill(network.seen_mask(chosen[rows]), -math.inf)
                left = (scores > -math.inf).sum(1).cpu().numpy()  # each user's unseen items
                lengths[scored] = np.minimum(width, left)
                best = scores.topk(width, dim=1)
            top[scored], values[scored] = best.indices.cpu().numpy(), best.values.cpu().numpy()
        if not scored.all():
            popular = torch.topk(network.popularity.cpu(), width)
            top[~scored], values[~scored] = popular.indices.numpy(), popular.values.numpy()
        kept = (np.arange(width) < lengths[:, None]).ravel()  # past a list's end the scores are -inf: seen items
        items = np.asarray(self.items_, dtype=object)
        picked = top.ravel()[kept]
        lists = pd.DataFrame({
            self.layout_.user: np.repeat(users.to_numpy(), lengths), "rank": np.tile(np.arange(1, width + 1),
                                                                                   len(users))[kept],
            self.layout_.item: items[picked], **self.item_columns(picked), "score": values.ravel()[kept],
            "known_user": np.repeat(source == "model", lengths),
            "source": np.repeat(np.asarray([SOURCES[s] for s in source], dtype=object), lengths)})
        lists.attrs["notes"] = [_short_note(user, int(n), k) for user, n in zip(users, lengths, strict=True) if n < k]
        return lists, users, lengths, source

    def item_columns(self, items: np.ndarray) -> dict[str, np.ndarray]:
        """{column: [values]} of the items table's columns for item indices `items` (none without a table);
        a column named like one of the list's own is prefixed with the item column's name."""
        if "item" not in self.sides_:
            return {}
        taken = {self.layout_.user, self.layout_.item, "rank", "score", "known_user", "source"}
        return {(f"{self.layout_.item}_{name}" if name in taken else name): np.asarray(values, dtype=object)[items]
                for name, values in self.sides_["item"]["values"].items()}

    def similar(self, model, item, k: int = K) -> pd.DataFrame:
        """The `k` items whose vectors point most nearly the same way as `item`'s (cosine similarity)."""
        _check_k(k)
        key = one_id(item, f"item id ({self.layout_.item})")
        if key not in self.item_index_:
            raise LaminaError(f"Item {key!r} is not in the catalogue the model was trained on "
                              f"({len(self.items_)} items), so nothing is known to be like it.")
        with torch.no_grad():
            vectors = torch.nn.functional.normalize(model.network.scorer.item_vectors().float().cpu(), dim=1)
            similarity = vectors @ vectors[self.item_index_[key]]
            similarity[self.item_index_[key]] = -math.inf
            best = similarity.topk(min(k, len(self.items_) - 1))
        items = np.asarray(self.items_, dtype=object)
        return pd.DataFrame({"similar_to": key, "rank": np.arange(1, len(best.indices) + 1),
                             self.layout_.item: items[best.indices.numpy()], "similarity": best.values.numpy()})

    def data_lines(self, prepared: InteractionsPrepared) -> list[str]:
        layout, sizes = self.layout_, prepared.split_sizes()
        rated = (f"ratings {layout.rating!r} from {self.rating_range_[0]:g} to {self.rating_range_[1]:g}"
                 if layout.rating else "no rating column (implicit feedback: each row one interaction)")
        known = f", {len(self.side_users_)} more known only from the users table" if self.side_users_ else ""
        return [f"interactions: {len(self.users_)} users ({layout.user!r}{known}), {len(self.items_)} items "
                f"({layout.item!r}); {rated}",
                f"split {self._split_words()}: {sizes['train']} interactions train, {sizes['valid']} validate, "
                f"{sizes['test']} test"]

    def _split_words(self) -> str:
        return (("per user by time" if self.layout_.time else "per user, random")
                + (", leave one out" if not self.explicit else ""))

    def summary(self, model) -> str:
        from lamina.tasks.recommend_scores import summary_text

        return summary_text(self, model)

    # ---- files -------------------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"layout": self.layout_.to_dict(), "users": self.users_, "items": self.items_,
                "global_mean": self.global_mean_, "rating_range": self.rating_range_, "side_users": self.side_users_,
                "sides": self.sides_}

    @classmethod
    def from_state(cls, state: dict) -> RecommendTask:
        """Checks what prediction will use, so a damaged model.json fails on loading, not mid-request."""
        task = cls(cls.name)
        task.layout_ = InteractionLayout.from_dict(state["layout"])
        task.users_, task.items_ = list(state["users"]), list(state["items"])
        for name, ids in (("users", task.users_), ("items", task.items_)):
            if not ids or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
                raise ValueError(f"the {name} must be distinct text ids")
        task.global_mean_ = float(state["global_mean"])
        task.rating_range_ = state["rating_range"]
        if (task.rating_range_ is None) != (task.layout_.rating is None):
            raise ValueError("a rating range goes with a rating column, and only with one")
        if task.rating_range_ is not None:
            low, high = (float(v) for v in task.rating_range_)
            task.rating_range_ = [low, high]
        task.side_users_, task.sides_ = list(state.get("side_users", [])), dict(state.get("sides", {}))
        if set(task.side_users_) & set(task.users_) or not all(isinstance(i, str) for i in task.side_users_):
            raise ValueError("the users known from the users table must be text ids outside the training users")
        values = task.sides_.get("item", {}).get("values", {})
        if any(len(column) != len(task.items_) for column in values.values()):
            raise ValueError("the items table's values must hold one value per item")
        task._index()
        return task

    @classmethod
    def title(cls, document: dict) -> str:
        layout = document["task"]["state"]["layout"]
        what = f"explicit ratings ({layout['rating']})" if layout["rating"] else "implicit feedback"
        return f"recommending {layout['item']} to {layout['user']}, {what}"

    def report_sections(self, run, document: dict) -> list[str]:
        from lamina.tasks.recommend_report import recommend_sections

        return recommend_sections(run, document)

    # ---- serving -----------------------------------------------------------------------------------------

    def request_model(self, model, name: str):
        """{"users": [ids], "k": 10, "exclude_seen": true}."""
        from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model

        user = StrictStr | StrictInt  # strict: true is not user 1, nor "k": true 1 item
        return create_model(f"{name}RecommendRequest", __config__=ConfigDict(extra="forbid"),
                            users=(list[user], Field(..., min_length=1, max_length=MAX_USERS)),
                            k=(StrictInt, Field(K, ge=1, le=min(MAX_K, len(self.items_)))),
                            exclude_seen=(StrictBool, True))

    def request_example(self, model) -> dict:
        return {"users": self.users_[:1], "k": K, "exclude_seen": True}

    def respond(self, model, body) -> dict:
        lists, users, lengths, source = self._lists(model, body.users, body.k, body.exclude_seen)
        side = [name for name in lists.columns if name not in
                (self.layout_.user, "rank", self.layout_.item, "score", "known_user", "source")]
        answers = []
        for user, end, length, origin in zip(users, np.cumsum(lengths), lengths, source, strict=True):
            rows = lists.iloc[end - length:end]
            answers.append({"user": user, "known_user": bool(origin == "model"), "source": SOURCES[origin],
                            "items": [{"item": row[self.layout_.item], "score": float(row["score"]),
                                       **{name: row[name] for name in side}} for _, row in rows.iterrows()],
                            **({"note": _short_note(user, int(length), body.k)} if length < body.k else {})})
        return {"recommendations": answers}


def _known_only(tests: pd.DataFrame, training: pd.DataFrame, layout) -> tuple[pd.DataFrame, list[Finding]]:
    """The test file's interactions whose user and item the training data has, and a finding naming the ids of
    those left out: a test-only id would join the vocabulary with an untrained vector."""
    new = {role: sorted(set(tests[column]) - set(training[column]), key=_id_order)
           for role, column in (("user", layout.user), ("item", layout.item))}
    outside = tests[layout.user].isin(new["user"]) | tests[layout.item].isin(new["item"])
    if not outside.any():
        return tests, []
    if outside.all():
        raise LaminaError("None of the test data's interactions has a user and an item of the training data, so "
                          "none can be scored. Give a test file of the same users and items.")
    named = "; ".join(f"{role}s {', '.join(ids[:MAX_NAMED])}{' ...' if len(ids) > MAX_NAMED else ''}"
                      for role, ids in new.items() if ids)
    return tests[~outside], [Finding("warning", "test_ids_not_in_training",
                                     f"{int(outside.sum())} test interaction(s) have a user or item the training "
                                     f"data lacks ({named}); the model knows nothing of them, so they were left out "
                                     "of the test part.", layout.user)]


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise LaminaError(f"k (items per list) must be a whole number from 1; got {k!r}.")


def _short_note(user: str, length: int, k: int) -> str:
    return f"user {user!r} has only {length} unseen item(s), so its list stops there (k={k})"


def _id_order(value: str):
    """Numbers by value, then other ids as text: 2 before 10."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)

