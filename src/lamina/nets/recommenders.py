"""Networks that score (user, item) pairs: matrix factorisation with biases, and a two-tower network.

Both score a pair as  bias + b_user + b_item + <user vector, item vector>,  so every item's score for a user is
one matrix product (`score_all`), which is what ranking against the whole catalogue and serving need. Inputs
are {"users": [rows] int64, "items": [rows] int64} indices into the task's vocabularies; outputs [rows].
The two-tower network also reads side features (a users or items table's columns, encoded like any table's):
their rows may outnumber the vocabulary, and an index past the vocabulary (a user known only from the side
table) has no id embedding or bias, only its features.
Sources: Koren, Bell & Volinsky, "Matrix factorization techniques for recommender systems" (2009) for the
biased factorisation; Yi et al., "Sampling-bias-corrected neural modeling" (2019) for two towers; Volkovs
et al., "DropoutNet: addressing cold start in recommender systems" (NeurIPS 2017) for dropping the id embedding
in training so that features alone give useful vectors.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.nets.mlp import TableInputs

INIT_STD = 0.01  # standard deviation of the initial factors: small, so the biases learn first
ID_DROPOUT = 0.25  # probability (per row, in training) that a tower with side features sees no id embedding


class PairScorer(nn.Module):
    """The shared part: biases, the pair score and the all-items score; subclasses give the vectors."""

    def __init__(self, users: int, items: int):
        super().__init__()
        self.user_bias = nn.Embedding(users, 1)
        self.item_bias = nn.Embedding(items, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def user_vectors(self, users: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        """[items, dims] vectors of `items` (every item when None)."""
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        users, items = inputs["users"], inputs["items"]
        dot = (self.user_vectors(users) * self.item_vectors(items)).sum(-1)
        return self.bias + known_rows(self.user_bias, users).squeeze(-1) + self.item_bias(items).squeeze(-1) + dot

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """[len(users), items]: the score of every item for each user."""
        every = self.item_vectors()
        return (self.bias + known_rows(self.user_bias, users) + self.item_bias.weight.view(1, -1)
                + self.user_vectors(users) @ every.T)

    def penalty(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """[rows] squared norms of the parameters a pair touches: the per-interaction L2 term of SGD matrix
        factorisation (each user's and item's parameters shrink as often as they are seen)."""
        users, items = inputs["users"], inputs["items"]
        vectors = self.user_vectors(users).pow(2).sum(-1) + self.item_vectors(items).pow(2).sum(-1)
        return (vectors + known_rows(self.user_bias, users).squeeze(-1).pow(2)
                + self.item_bias(items).squeeze(-1).pow(2))


class MatrixFactorisation(PairScorer):
    """`factors` dimensions per user and item vector."""

    def __init__(self, users: int, items: int, factors: int):
        super().__init__(users, items)
        self.user_factors = nn.Embedding(users, factors)
        self.item_factors = nn.Embedding(items, factors)
        nn.init.normal_(self.user_factors.weight, std=INIT_STD)
        nn.init.normal_(self.item_factors.weight, std=INIT_STD)

    def user_vectors(self, users):
        return self.user_factors(users)

    def item_vectors(self, items=None):
        return self.item_factors.weight if items is None else self.item_factors(items)


class TwoTower(PairScorer):
    """Each side's embedding (`width` dimensions), beside its encoded side features when it has a side table,
    through its own tower of `depth` hidden layers (`width` units, GELU, `dropout` probability) into a
    `width`-dimensional vector. `user_features` / `item_features`: {"spec": a feature pipeline's spec,
    "rows": rows of encoded features} (rows ≥ the vocabulary), filled by `SideFeatures.fill`."""

    def __init__(self, users: int, items: int, width: int, depth: int, dropout: float,
                 user_features: dict | None = None, item_features: dict | None = None):
        super().__init__(users, items)
        self.user_embedding = nn.Embedding(users, width)
        self.item_embedding = nn.Embedding(items, width)
        nn.init.normal_(self.user_embedding.weight, std=INIT_STD)
        nn.init.normal_(self.item_embedding.weight, std=INIT_STD)
        self.user_side = SideFeatures(**user_features) if user_features else None
        self.item_side = SideFeatures(**item_features) if item_features else None
        self.user_tower = _tower(width + (self.user_side.width if self.user_side else 0), width, depth, dropout)
        self.item_tower = _tower(width + (self.item_side.width if self.item_side else 0), width, depth, dropout)

    def user_vectors(self, users):
        return self.user_tower(self._tower_input(self.user_embedding, self.user_side, users))

    def item_vectors(self, items=None):
        if items is None:
            items = torch.arange(self.item_embedding.num_embeddings, device=self.item_embedding.weight.device)
        return self.item_tower(self._tower_input(self.item_embedding, self.item_side, items))

    def _tower_input(self, embedding: nn.Embedding, side: SideFeatures | None, rows: torch.Tensor) -> torch.Tensor:
        """[len(rows), tower input]: the id embedding (zeros past the vocabulary, and for ID_DROPOUT of the
        rows in training when features stand beside it), then the encoded side features."""
        embedded = known_rows(embedding, rows)
        if side is None:
            return embedded
        if self.training:
            embedded = embedded * (torch.rand(len(rows), 1, device=rows.device) >= ID_DROPOUT)
        return torch.cat([embedded, side(rows).to(embedded.dtype)], dim=1)


class SideFeatures(nn.Module):
    """The encoded side features of every row (buffers, saved with the weights) and the table encoder that
    turns a row's into one vector (numbers, category embeddings, mean text embeddings: nets.mlp.TableInputs)."""

    def __init__(self, spec: dict, rows: int):
        super().__init__()
        self.encoder = TableInputs(spec)
        self.width = self.encoder.encoded_width
        self.keys = ["numbers", "categories", *(f"text:{name}" for name in spec["texts"])]
        shapes = [(torch.float32, spec["numbers"]), (torch.int64, len(spec["categories"])),
                  *((torch.int64, text["length"]) for text in spec["texts"].values())]
        for i, (dtype, width) in enumerate(shapes):
            self.register_buffer(f"input{i}", torch.zeros(rows, width, dtype=dtype))

    def fill(self, tensors: dict[str, torch.Tensor]) -> SideFeatures:
        """Stores a feature pipeline's output for every row ({key: [rows, ...]})."""
        for i, key in enumerate(self.keys):
            getattr(self, f"input{i}").copy_(tensors[key])
        return self

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.encoder.encode({key: getattr(self, f"input{i}")[rows] for i, key in enumerate(self.keys)})


def known_rows(embedding: nn.Embedding, rows: torch.Tensor) -> torch.Tensor:
    """[len(rows), dims] the embedding's rows, zeros for indices past it (ids known only from a side table)."""
    size = embedding.num_embeddings
    return embedding(rows.clamp(max=size - 1)) * (rows < size).unsqueeze(-1)


def _tower(inputs: int, width: int, depth: int, dropout: float) -> nn.Module:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(inputs, width), nn.GELU(), nn.Dropout(dropout)]
        inputs = width
    return nn.Sequential(*layers, nn.Linear(inputs, width))


class WithHistory(nn.Module):
    """A pair scorer and what recommending needs beside it, saved with its weights (safetensors, no JSON of
    every pair): each user's training items as CSR (`seen_offsets` [users + 1], `seen_items` [pairs]) to leave
    them out, and each item's training interactions (`popularity` [items]) for the popularity ranking."""

    def __init__(self, scorer: PairScorer, users: int, items: int, pairs: int):
        super().__init__()
        self.scorer = scorer
        self.register_buffer("seen_offsets", torch.zeros(users + 1, dtype=torch.int64))
        self.register_buffer("seen_items", torch.zeros(pairs, dtype=torch.int64))
        self.register_buffer("popularity", torch.zeros(items))
        self.register_load_state_dict_post_hook(lambda module, _keys: module.check())

    def check(self) -> None:
        """Raises ValueError naming the first loaded tensor that cannot be right (a weights file edited or
        damaged): a NaN or infinite value, a seen item outside the catalogue, offsets that are not a running
        count of the seen items, a negative popularity."""
        for name, tensor in self.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise ValueError(f"the weights' tensor {name!r} holds NaN or infinite values")
        items, offsets = len(self.popularity), self.seen_offsets
        if len(self.seen_items) and not (0 <= int(self.seen_items.min()) and int(self.seen_items.max()) < items):
            raise ValueError(f"the weights' tensor 'seen_items' holds item indices outside 0 to {items - 1}")
        if int(offsets[0]) != 0 or int(offsets[-1]) != len(self.seen_items) or bool((offsets.diff() < 0).any()):
            raise ValueError("the weights' tensor 'seen_offsets' is not a running count of 'seen_items'")
        if bool((self.popularity < 0).any()):
            raise ValueError("the weights' tensor 'popularity' holds negative counts")

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.scorer(inputs)

    def remember(self, users: torch.Tensor, items: torch.Tensor) -> WithHistory:
        """Stores the pairs (users and items: [pairs] indices) and each item's count among them."""
        offsets, seen = csr(users, items, len(self.seen_offsets) - 1)
        self.seen_offsets.copy_(offsets)
        self.seen_items.copy_(seen)
        self.popularity.copy_(torch.bincount(items, minlength=len(self.popularity)).float())
        return self

    def seen_mask(self, users: torch.Tensor) -> torch.Tensor:
        """[len(users), items] True where the user had the item."""
        return seen_mask(self.seen_offsets, self.seen_items, users, len(self.popularity))


def csr(users: torch.Tensor, items: torch.Tensor, n_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs ([pairs] user and item indices) as compressed rows: (offsets [n_users + 1], items sorted by user)."""
    order = torch.argsort(users, stable=True)
    offsets = torch.zeros(n_users + 1, dtype=torch.int64, device=users.device)
    offsets[1:] = torch.cumsum(torch.bincount(users, minlength=n_users), 0)
    return offsets, items[order]


def seen_mask(offsets: torch.Tensor, seen: torch.Tensor, users: torch.Tensor, n_items: int) -> torch.Tensor:
    """[len(users), n_items] True where the compressed rows (`offsets`, `seen`) hold the item for the user."""
    starts, lengths = offsets[users], offsets[users + 1] - offsets[users]
    rows = torch.repeat_interleave(torch.arange(len(users), device=users.device), lengths)
    first = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)  # row start - its place
    mask = torch.zeros(len(users), n_items, dtype=torch.bool, device=users.device)
    mask[rows, seen[first + torch.arange(len(rows), device=users.device)]] = True
    return mask
