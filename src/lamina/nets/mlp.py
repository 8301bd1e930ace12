"""A multi-layer perceptron over a table: embeddings for categories and text, then dense blocks."""

from __future__ import annotations

from itertools import accumulate

import torch
from torch import nn

TEXT_EMBEDDING = 32  # dimensions of the mean word embedding of a text column
# PLR numeric embeddings (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular Deep Learning")
# of each numeric column's normal score (`plr_scores`, the floats' positions in the numeric block). On UCI Adult
# (BENCHMARKS.md) an initial scale of 3 beat 1 and 0.1, 32 frequencies and dimensions beat 16 and 64, and one linear
# layer per score tied with one shared (lite).
PLR_FREQUENCIES = 32  # learnt frequencies per score (each gives a cosine and a sine)
PLR_DIMENSIONS = 32  # floats each score becomes after its own linear layer and ReLU
PLR_SCALE = 3.0  # standard deviation of the initial frequencies, in cycles per normal-score unit
PLR_LITE = False  # True: one linear layer shared by every score (PLR-lite), False: one per score (the paper's PLR)
# Models saved before `plr_scores` existed embedded every float of the numeric block (normal scores, rank pieces,
# missing flags) with one linear layer shared by all (PLR-lite); they load with this layout:
EVERY_FLOAT_PLR = {"n_frequencies": 16, "d_embedding": 8, "frequency_init_scale": 0.1, "lite": True}


def embedding_size(cardinality: int) -> int:
    """fastai's rule of thumb: grows like cardinality^0.56, capped so rare columns stay cheap."""
    return int(min(64, round(1.6 * cardinality**0.56)))


class TableInputs(nn.Module):
    """Numbers, category embeddings and mean text embeddings → one continuous vector per row.

    `numbers`: "plain" passes the numeric floats as they are; "plr" gives each numeric column's normal score (the
    floats at `plr_scores` in the numeric block) a periodic embedding, PLR: learnt-frequency cosines and sines,
    then a linear layer of its own and ReLU (rtdl-num-embeddings' PeriodicEmbeddings, lite=False), which lets the
    MLP after it fit sharp, non-monotonic responses to a number; the floats at `plr_unread` (the rank pieces, which
    the embedding replaces) are not read; the others (missing flags, dates) stay plain, in place. `plr_scores` None
    is the layout of models saved before it existed: every float embedded, one shared linear layer
    (EVERY_FLOAT_PLR).
    """

    def __init__(self, spec: dict, numbers: str = "plain", plr_scores: list[int] | None = None,
                 plr_unread: list[int] = ()):
        super().__init__()
        self.periodic = None
        width = spec["numbers"]
        embedded = list(range(width)) if plr_scores is None else list(plr_scores)
        named = [*embedded, *plr_unread]
        if any(not 0 <= position < width for position in named) or len(set(named)) < len(named):
            raise ValueError(f"plr_scores {plr_scores} and plr_unread {list(plr_unread)} must be distinct positions "
                             f"in the {width} numeric floats.")
        if numbers == "plr" and embedded:
            from rtdl_num_embeddings import PeriodicEmbeddings

            settings = EVERY_FLOAT_PLR if plr_scores is None else {
                "n_frequencies": PLR_FREQUENCIES, "d_embedding": PLR_DIMENSIONS,
                "frequency_init_scale": PLR_SCALE, "lite": PLR_LITE}
            self.periodic = PeriodicEmbeddings(len(embedded), **settings)
        # Floats each numeric float becomes: 1 plain, d_embedding embedded, 0 unread.
        self.float_widths = [1] * width
        if self.periodic is not None:
            dimensions = settings["d_embedding"]
            for position in embedded:
                self.float_widths[position] = dimensions
            for position in plr_unread:
                self.float_widths[position] = 0
            # The encoded numeric part, in the numeric block's order: [plain floats..., embeddings flattened]
            # picked so that each float's part stays where the float was (explanations split it per column).
            order, embedded_at = [], {position: i for i, position in enumerate(embedded)}
            for position in range(width):
                start = width + embedded_at[position] * dimensions if position in embedded_at else position
                order += range(start, start + self.float_widths[position])
            # Not in the state dict: the architecture record (plr_scores) rebuilds both.
            self.register_buffer("embedded", torch.tensor(embedded, dtype=torch.long), persistent=False)
            self.register_buffer("order", torch.tensor(order, dtype=torch.long), persistent=False)
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_size(n)) for n in spec["categories"])
        self.texts = nn.ModuleDict({
            module_key(name): nn.EmbeddingBag(text["vocabulary"], TEXT_EMBEDDING, mode="mean", padding_idx=text["pad"])
            for name, text in spec["texts"].items()
        })
        self.encoded_width = sum(self.float_widths) + sum(e.embedding_dim for e in self.embeddings) \
            + TEXT_EMBEDDING * len(self.texts)

    def encode(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Inputs → one continuous vector per row: numbers, then category embeddings, then text means."""
        numbers = inputs["numbers"]
        if self.periodic is not None:
            embedded = self.periodic(numbers.index_select(1, self.embedded)).flatten(1)  # [rows, scores × d]
            numbers = torch.cat([numbers, embedded], dim=1).index_select(1, self.order)
        parts = [numbers]
        categories = inputs["categories"]
        parts += [embedding(categories[:, i]) for i, embedding in enumerate(self.embeddings)]
        parts += [bag(inputs[f"text:{column_of(key)}"]) for key, bag in self.texts.items()]
        return torch.cat(parts, dim=1)

    def encoding_widths(self, numbers: list[int]) -> list[int]:
        """Width of each input column's part of the encoded vector, in input order, given the widths of
        the numeric columns (which the feature pipeline knows)."""
        starts = [*accumulate(numbers, initial=0)][:-1]
        dense = [sum(self.float_widths[start:start + width]) for start, width in zip(starts, numbers, strict=True)]
        return [*dense, *(e.embedding_dim for e in self.embeddings), *(TEXT_EMBEDDING for _ in self.texts)]


class TabularMLP(TableInputs):
    """Table inputs → dense blocks → outputs [rows, outputs] (logits, or standardised values).

    `members` > 1 makes it TabM-mini (Gorishniy et al. 2024, "TabM: Advancing Tabular Deep Learning with
    Parameter-Efficient Ensembling"): `members` networks share the inputs' embeddings and the dense blocks; each
    member multiplies the encoded vector by its own adapter (random ±1 signs, learnt) and has its own linear head.
    `members()` gives each member's outputs [rows, members, outputs], which training fits one loss per member
    (tasks.table.TableTask.training_step); `forward`/`decide` give the members' mean [rows, outputs], the
    prediction. The mean is taken over logits (a geometric mean of the members' probabilities): linear, so
    explanations, calibration and ONNX read it as one network's output. `members` = 1 is the plain MLP, whose
    weights are those of models saved before the ensemble existed.

    `wide` adds a linear path from the encoded vector straight to the outputs beside the dense blocks (each member
    its own, reading its adapted vector): outputs = MLP(x) + linear(x), the "wide and deep" network (Cheng et al.
    2016, "Wide & Deep Learning for Recommender Systems"): the linear part of a nearly linear table (scikit-learn's
    diabetes) need not be learnt through the dropout-heavy dense blocks of a small table (what it measured:
    nets.recipe); models saved before it existed have none (`wide` False).

    `linear_share` > 0 blends a linear model fitted outside the network into every output: outputs =
    (1 − share) · network(x) + share · linear_model(x), a frozen linear layer on the encoded vector (weights set by
    `install_linear_model` after training, training.linear_share); 0 (models saved before it existed) has none.
    """

    def __init__(self, spec: dict, outputs: int, width: int, depth: int, dropout: float, norm: str,
                 numbers: str = "plain", members: int = 1, plr_scores: list[int] | None = None,
                 plr_unread: list[int] = (), wide: bool = False, linear_share: float = 0.0):
        if members < 1:
            raise ValueError(f"An ensemble needs at least one member; members is {members}.")
        super().__init__(spec, numbers, plr_scores, plr_unread)
        features = self.encoded_width
        layers: list[nn.Module] = []
        for _ in range(depth):
            dense = nn.Linear(features, width)
            if norm == "batch":
                # The norm subtracts the batch mean, so a bias before it gets only rounding noise as gradient, which
                # Adam scales up to learning-rate-sized steps that move the eval-mode outputs: a run then depended
                # on the thread count its sums were taken with. Held at its initial value instead (kept, not
                # removed, so saved models keep their tensors and the random initialisation stays the same).
                dense.bias.requires_grad_(False)
            layers += [dense, _norm(norm, width), nn.ReLU(), nn.Dropout(dropout)]
            features = width
        self.body = nn.Sequential(*layers)
        self.members_count = members
        self.wide = None
        self.linear_share, self.linear_model = 0.0, None
        if linear_share:
            self.install_linear_model(torch.zeros(outputs, self.encoded_width), torch.zeros(outputs), linear_share)
        if members == 1:
            self.head = nn.Linear(features, outputs)
            if wide:
                self.wide = nn.Linear(self.encoded_width, outputs)
            return
        signs = torch.randint(0, 2, (members, self.encoded_width)).float() * 2 - 1
        self.adapter = nn.Parameter(signs)  # [members, encoded width]
        # Each member's head initialised like nn.Linear's: uniform in ±1/sqrt(fan in).
        bound = features ** -0.5
        self.heads = nn.Parameter(torch.empty(members, features, outputs).uniform_(-bound, bound))
        self.heads_bias = nn.Parameter(torch.empty(members, outputs).uniform_(-bound, bound))
        if wide:  # each member's linear path, initialised like nn.Linear's (its heads' biases serve it too)
            bound = self.encoded_width ** -0.5
            self.wide = nn.Parameter(torch.empty(members, self.encoded_width, outputs).uniform_(-bound, bound))

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.decide(self.encode(inputs))

    def decide(self, encoded: torch.Tensor) -> torch.Tensor:
        """Encoded vector [rows, encoded width] → outputs [rows, outputs] (logits, or a standardised value); with
        members, their mean. Explanations differentiate this."""
        if self.members_count == 1:
            deep = self.head(self.body(encoded))
            return self._with_linear_model(deep if self.wide is None else deep + self.wide(encoded), encoded)
        return self.decide_each(encoded).mean(1)

    def members(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each member's outputs [rows, members, outputs] (with one member, [rows, 1, outputs])."""
        encoded = self.encode(inputs)
        return self.decide(encoded).unsqueeze(1) if self.members_count == 1 else self.decide_each(encoded)

    def decide_each(self, encoded: torch.Tensor) -> torch.Tensor:
        adapted = (encoded.unsqueeze(1) * self.adapter).flatten(0, 1)  # [rows × members, encoded width]
        # -1, not len(encoded): an ONNX export must keep the row count a dynamic axis.
        hidden = self.body(adapted).unflatten(0, (-1, self.members_count))  # [rows, members, width]
        deep = torch.einsum("rmw,mwo->rmo", hidden, self.heads) + self.heads_bias
        if self.wide is not None:
            deep = deep + torch.einsum("rme,meo->rmo", adapted.unflatten(0, (-1, self.members_count)), self.wide)
        return self._with_linear_model(deep, encoded.unsqueeze(1))

    def install_linear_model(self, weight: torch.Tensor, bias: torch.Tensor, share: float) -> None:
        """Blend the linear model encoded vector → outputs (weight [outputs, encoded width], bias [outputs]) into
        every output with this share in (0, 1]; its weights are frozen (fitted in closed form, not by training)."""
        if not 0 < share <= 1:
            raise ValueError(f"A linear model's share lies in (0, 1], not {share}.")
        outputs = weight.shape[0]
        self.linear_model = nn.Linear(self.encoded_width, outputs).requires_grad_(False)
        self.linear_model.weight.copy_(weight)
        self.linear_model.bias.copy_(bias)
        self.linear_share = float(share)

    def _with_linear_model(self, deep: torch.Tensor, encoded: torch.Tensor) -> torch.Tensor:
        """deep [rows, (members,) outputs] blended with the linear model of `encoded` [rows, (1,) encoded width]."""
        if self.linear_model is None:
            return deep
        return (1 - self.linear_share) * deep + self.linear_share * self.linear_model(encoded)


def _norm(kind: str, width: int) -> nn.Module:
    return {"batch": lambda: nn.BatchNorm1d(width), "layer": lambda: nn.LayerNorm(width), "none": nn.Identity}[kind]()


# ModuleDict keys may not contain dots; column names may.
def module_key(column: str) -> str:
    return column.replace(".", "\u2024")


def column_of(key: str) -> str:
    return key.replace("\u2024", ".")
