"""Federated training (`lamina federate`): one table model learnt by clients that keep their rows, on Flower.

Flower (https://flower.ai, Message API) carries every exchange: the server (a ServerApp) asks each client (a
ClientApp) for its column kinds and then its statistics (federated_features.py says exactly which), fits the
encoders and the target from them, and runs FedAvg (McMahan et al., 2017) or FedProx (Li et al., 2020: each
client adds (μ/2)·‖w − w_global‖² to its loss) for `rounds` rounds. In each round the sampled clients train the
global network for `local_epochs` on their own training rows and send back weights and their row count; the
strategy averages the weights by rows. After each round every client scores the global network on its own
validation and test rows and sends back sums (rows, loss, correct predictions), so the per-round metrics are
exactly those of the pooled rows. The round with the best validation loss gives the model's weights.

Each client splits its rows into train / valid / test with the run's fractions and seed, as `lamina train`
would. The Model is the same as a trained table model's (model.json, weights, run folder, report), so
`lamina predict`, `report` and `serve` work on it. Two things differ: the run's held-out table and test
metrics come from the clients' test rows brought together on the coordinator (simulation only: every
client's rows are on this machine), and the model has no drift profile (it would need the training rows).

Runs: `federate()` simulates the clients on this machine with Flower's simulation engine (Ray); the same
ClientApp and Coordinator run as separate processes under `flower-superlink`, `flower-supernode` and `flwr run`
(federated_deploy.py; ARCHITECTURE.md, "Federated training").
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lamina.config import Config
from lamina.errors import LaminaError

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # Flower sends usage events unless told not to

STRATEGIES = ("fedavg", "fedprox")
TASKS = ("classification", "regression")  # the tasks federated training trains (their aliases too)
# The settings of tasks.base.TASK_SETTINGS federated training reads, of those its tasks read (members, folds and
# linear_share only to refuse them with their own reason); any other, set, stops it before Flower starts.
SETTINGS = ("valid_fraction", "test_fraction", "columns", "norm", "numbers", "members", "wide", "linear_share", "folds")
CONNECT_SECONDS = 120  # how long the server waits for every client to connect


@dataclass(frozen=True)
class Federation:
    """How the federation trains; the model's own settings are the Config's."""

    rounds: int = 20  # aggregation rounds
    local_epochs: int = 1  # passes over its training rows each sampled client makes per round
    fraction: float = 1.0  # share of the clients sampled to train in each round (at least one)
    strategy: str = "fedavg"  # fedavg or fedprox
    mu: float = 0.01  # FedProx: weight of the proximal term (μ/2)·‖w − w_global‖², per squared weight unit

    def check(self, clients: int) -> None:
        if self.strategy not in STRATEGIES:
            raise LaminaError(f"--strategy {self.strategy!r}: use one of {', '.join(STRATEGIES)}.")
        if self.rounds < 1 or self.local_epochs < 1:
            raise LaminaError("--rounds and --local-epochs must be 1 or more.")
        if not 0 < self.fraction <= 1:
            raise LaminaError(f"--fraction {self.fraction} must lie in (0, 1]: the share of clients each round trains.")
        if clients < 2:
            raise LaminaError(f"A federation needs at least 2 clients; the partition gives {clients}.")
        if self.mu < 0:
            raise LaminaError(f"--mu {self.mu} must be 0 or more.")


def refuse_what_cannot_federate(config: Config, frame: pd.DataFrame | None = None) -> None:
    """Raises LaminaError where `config` asks for a task federated training does not train (a forecast, an anomaly
    model...) or sets a setting it would ignore (data.season, --label-smoothing, --init-from...), by the rule every
    task follows (tasks.base.reads_its_settings). `frame` (the pooled rows, in a simulation) lets `--task auto` pick
    its task as `lamina train` would; without it (a deployed server) the task is judged from the config alone."""
    from lamina.tasks.base import reads_its_settings, task_for, task_named

    def refuse(kind: str):
        raise LaminaError(f"Federated training trains a classifier or a regressor of one target (--task "
                          f"classification, binary, multiclass or regression), and this run asks for {kind}. Train "
                          "it with lamina train, or give one of those tasks.")

    asked = config.data.task
    cls = task_named("classification" if asked == "auto" else asked)  # a regressor reads the same of SETTINGS
    if cls.name not in TASKS:
        refuse(cls(asked).described + " model")
    reads_its_settings(cls(asked), config, tuple(key for key in SETTINGS if key in cls.settings),
                       "federated training (one mlp on the clients' number, category and yes/no columns)")
    task = task_for(config, frame) if frame is not None else cls(asked)
    if task.name not in TASKS or task.variant:
        refuse(f"{task.described} model {task.variant}".strip())


# ---- partitions: who holds which rows ---------------------------------------------------------------------


def partitions(frame: pd.DataFrame, target: str, *, column: str | None = None, clients: int | None = None,
               alpha: float | None = None, seed: int = 0) -> list[tuple[str, pd.DataFrame]]:
    """(client name, its rows) per client: one client per value of `column` (missing values are a client of
    their own), or `clients` random IID parts, or with `alpha` `clients` parts whose class shares are drawn
    from Dirichlet(alpha) per class (Hsu et al., 2019: smaller alpha, more skew)."""
    if (column is None) == (clients is None):
        raise LaminaError("Say how the rows are split between clients: --partition COLUMN, or --clients N.")
    if column is not None:
        if alpha is not None:
            raise LaminaError("--non-iid draws each client's classes at random; --partition COLUMN gives clients "
                              "by a column. Use one of them.")
        if column not in frame.columns:
            raise LaminaError(f"--partition {column!r} is no column of the data. Columns: "
                              f"{', '.join(map(str, frame.columns[:20]))}.")
        if column == target:
            raise LaminaError("--partition names the target; partition by another column.")
        keys = frame[column].astype("string").fillna("(missing)")
        return [(f"{column}={value}", frame[keys == value]) for value in keys.value_counts().index]
    if clients < 2:
        raise LaminaError(f"--clients {clients}: a federation needs at least 2 clients.")
    rng = np.random.default_rng(seed)
    if alpha is None:
        parts = np.array_split(rng.permutation(len(frame)), clients)
    else:
        if alpha <= 0:
            raise LaminaError(f"--non-iid {alpha}: the Dirichlet concentration must be above 0 (0.1 very skewed, "
                              "100 nearly IID).")
        labels = frame[target].astype("string").fillna("(missing)").to_numpy()
        if pd.api.types.is_float_dtype(frame[target]) and frame[target].nunique() > 20:
            raise LaminaError("--non-iid splits the classes between clients; the target is a quantity. Use --clients "
                              "N alone (IID), or --partition COLUMN.")
        pieces: list[list[int]] = [[] for _ in range(clients)]
        for label in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == label))
            cuts = (np.cumsum(rng.dirichlet(np.full(clients, alpha)))[:-1] * len(rows)).astype(int)
            for piece, part in zip(pieces, np.split(rows, cuts), strict=True):
                piece.extend(part.tolist())
        parts = [np.sort(np.array(piece, dtype=int)) for piece in pieces]
    return [(f"client {i}", frame.iloc[part]) for i, part in enumerate(parts)]


def round_learning_rate(peak: float, server_round: int, rounds: int) -> float:
    """The clients' learning rate in a round (counted from 1): `peak`, decayed over the rounds on a cosine to a
    tenth of it in the last (AdamW starts afresh each round, so no warm-up carries over)."""
    progress = (server_round - 1) / max(1, rounds - 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# ---- a client: its rows and what it computes from them ---------------------------------------------------


def _client(name, part: pd.DataFrame, config: Config, partition: str | None) -> Client:
    """The Client of partition `name`; a refusal of its rows says which client, and that it is that client's."""
    try:
        return Client(part, config)
    except LaminaError as error:
        where = f"{partition}={name}" if partition else f"number {name}"
        raise LaminaError(f"Client {where} ({len(part)} rows): {error} Merge that client's rows into another "
                          "partition, or leave it out.") from None


class Client:
    """One client's rows. What leaves it: column kinds, statistics (federated_features), trained weights with
    its row count and loss, and evaluation sums. Rows never do."""

    def __init__(self, frame: pd.DataFrame, config: Config):
        from lamina.data.schema import infer_task
        from lamina.data.split import split_rows
        from lamina.tasks.base import task_named
        from lamina.tasks.table import with_canonical_labels

        target = config.data.target
        if target not in frame.columns:
            raise LaminaError(f"A client's data has no target column {target!r}.")
        frame = with_canonical_labels(frame, target)
        self.frame = frame[frame[target].notna()]
        self.config = config
        asked = config.data.task  # one of TASKS or its aliases (refuse_what_cannot_federate), or auto
        self.problem = infer_task(self.frame[target], target) if asked == "auto" else \
            task_named(asked)(asked).problem(self.frame[target], target)
        self.split = split_rows(self.frame, target, self.problem, config.data.valid_fraction,
                                config.data.test_fraction, config.seed)
        self._encoded: dict[str, tuple] = {}

    def kinds(self) -> dict:
        from lamina.federated_features import client_schema

        return {"kinds": client_schema(self.frame, self.config.data.target, self.problem, self.config.data.columns),
                "problem": self.problem}

    def statistics(self, schema) -> dict:
        from lamina.federated_features import client_statistics

        return client_statistics(self.split.train, schema)

    def encoded(self, task, part: str):
        """(inputs, targets) of one part of the split, encoded by the federation's task (cached per task)."""
        key = f"{id(task.features_)}:{part}"
        if key not in self._encoded:
            self._encoded = {k: v for k, v in self._encoded.items() if k.startswith(f"{id(task.features_)}:")}
            self._encoded[key] = task.encoded(getattr(self.split, part))
        return self._encoded[key]

    def train(self, task, network: torch.nn.Module, settings: dict) -> tuple[int, float]:
        """Trains `network` (holding the global weights) on the training rows; (rows, mean training loss)."""
        from lamina.training.batches import TensorBatches
        from lamina.training.optim import make_optimizer

        inputs, targets = self.encoded(task, "train")
        batches = TensorBatches(inputs, targets, settings["batch-size"], shuffle=True, seed=self.config.seed * 1000 +
                                settings["server-round"])
        lr = round_learning_rate(settings["peak-lr"], settings["server-round"], settings["rounds"])
        optimizer = make_optimizer(network, lr, self.config.train.weight_decay)
        mu = float(settings.get("proximal-mu", 0.0))
        anchor = [p.detach().clone() for p in network.parameters()]
        network.train()
        total, rows = 0.0, 0
        for epoch in range(settings["local-epochs"]):
            batches.set_epoch(epoch)
            for batch_inputs, batch_targets in batches:
                loss = task.loss(network(batch_inputs), batch_targets)
                if mu:  # FedProx: stay near the global weights this round started from
                    loss = loss + mu / 2 * sum((p - a).pow(2).sum() for p, a in zip(network.parameters(), anchor,
                                                                                     strict=True))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.config.train.clip_norm:
                    torch.nn.utils.clip_grad_norm_(network.parameters(), self.config.train.clip_norm)
                optimizer.step()
                total += float(loss) * len(batch_targets)
                rows += len(batch_targets)
        return len(targets), total / max(rows, 1)

    @torch.no_grad()
    def evaluate(self, task, network: torch.nn.Module) -> dict[str, float]:
        """Sums over the validation and test rows: rows, loss × rows and (classification) correct predictions."""
        network.eval()
        sums: dict[str, float] = {}
        for part in ("valid", "test"):
            inputs, targets = self.encoded(task, part)
            if len(targets) == 0:
                continue
            outputs = network(inputs)
            sums[f"{part}-rows"] = float(len(targets))
            sums[f"{part}-loss-sum"] = float(task.loss(outputs, targets)) * len(targets)
            baseline = _baseline_outputs(task, len(targets))
            sums[f"{part}-baseline-loss-sum"] = float(task.loss(baseline, targets)) * len(targets)
            if task.target_.is_classification:
                sums[f"{part}-correct"] = float((outputs.argmax(1) == targets).sum())
                sums[f"{part}-baseline-correct"] = float((baseline.argmax(1) == targets).sum())
        return sums


def _baseline_outputs(task, rows: int) -> torch.Tensor:
    """The baseline's network outputs for `rows` rows: log class shares (logits of the prior) or the mean, which
    the target's standardisation maps to 0."""
    if task.target_.is_classification:
        return torch.log(torch.tensor(task.baseline_["prior"], dtype=torch.float32).clamp_min(1e-7)).expand(rows, -1)
    return torch.zeros(rows, 1)


# ---- the Flower apps ------------------------------------------------------------------------------------


def _task_of(state: str):
    """The federation's table task (classification or regression) from its JSON state."""
    from lamina.tasks.base import task_named

    raw = json.loads(state)
    return task_named("regression" if raw["schema"]["task"] == "regression" else "classification").from_state(raw)


def client_app(client_of: Callable) -> object:
    """A Flower ClientApp whose client is `client_of(context, settings)` (a Client; the same one each round)."""
    from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()
    tasks: dict[str, object] = {}  # the task state of this run → its task, so each round reuses the encoding

    def context_of(message, context):
        config = message.content["config"]
        if config["task"] not in tasks:
            tasks.clear()
            tasks[config["task"]] = _task_of(config["task"])
        task = tasks[config["task"]]
        network = task.build_network(json.loads(config["architecture"]))
        network.load_state_dict(message.content["arrays"].to_torch_state_dict())
        return client_of(context, json.loads(config["settings"])), task, network

    @app.query()
    def query(message, context):
        config = message.content["config"]
        client = client_of(context, json.loads(config["settings"]))
        if config["ask"] == "kinds":
            answer = client.kinds()
        else:
            from lamina.data.schema import Schema

            answer = client.statistics(Schema.from_dict(json.loads(config["schema"])))
        return Message(RecordDict({"answer": ConfigRecord({"json": json.dumps(answer)})}), reply_to=message)

    @app.train()
    def train(message, context):
        torch.set_num_threads(1)  # clients share this machine's cores in simulation
        client, task, network = context_of(message, context)
        rows, loss = client.train(task, network, dict(message.content["config"]))
        return Message(RecordDict({"arrays": ArrayRecord(network.state_dict()),
                                   "metrics": MetricRecord({"num-examples": rows, "train_loss": loss})}),
                       reply_to=message)

    @app.evaluate()
    def evaluate(message, context):
        torch.set_num_threads(1)
        client, task, network = context_of(message, context)
        sums = client.evaluate(task, network)
        return Message(RecordDict({"metrics": MetricRecord({"num-examples": sums.get("valid-rows", 0.0), **sums})}),
                       reply_to=message)

    return app


def _summed_metrics(records: list, weighted_by_key: str):
    """Evaluation replies summed key by key (each client sends sums, so the totals are the pooled ones)."""
    from flwr.app import MetricRecord

    total: dict[str, float] = {}
    for record in records:
        for metrics in record.metric_records.values():
            for key, value in metrics.items():
                total[key] = total.get(key, 0.0) + float(value)
    return MetricRecord(total)


class Coordinator:
    """The server's side: asks the clients, fits the features, runs the strategy, keeps each round's weights."""

    def __init__(self, config: Config, federation: Federation, clients: int):
        self.config, self.federation, self.clients = config, federation, clients
        self.rounds_: dict[int, dict] = {}  # round → global state dict (round 0: the initial weights)

    def settings(self) -> str:
        return json.dumps(self.config.model_dump(mode="json"))

    def main(self, grid, context) -> None:
        """The ServerApp's body; a LaminaError (data the federation cannot train on) is kept for the caller, since
        Flower would only report that the simulation crashed."""
        try:
            self._train(grid)
        except LaminaError as error:
            self.error_ = error

    def _train(self, grid) -> None:
        from flwr.app import ArrayRecord, ConfigRecord

        from lamina.nets.recipe import learning_rate

        started = time.perf_counter()
        nodes = _connected(grid, self.clients)
        kinds = [json.loads(a) for a in self._ask(grid, nodes, {"ask": "kinds"})]
        self.task_ = self._fitted_task(grid, nodes, kinds)
        torch.manual_seed(self.config.seed)
        self.architecture_ = self._architecture()
        network = self.task_.build_network(self.architecture_)
        config = {"task": json.dumps(self.task_.state()), "architecture": json.dumps(self.architecture_),
                  "settings": self.settings(), "local-epochs": self.federation.local_epochs,
                  "rounds": self.federation.rounds, "peak-lr": learning_rate(self.config.train, "mlp"),
                  "batch-size": self.batch_size()}
        strategy = self._strategy()
        self.result_ = strategy.start(grid=grid, initial_arrays=ArrayRecord(network.state_dict()),
                                      num_rounds=self.federation.rounds, train_config=ConfigRecord(config),
                                      evaluate_config=ConfigRecord(config), evaluate_fn=self._keep)
        self.seconds_ = time.perf_counter() - started

    def _ask(self, grid, nodes: list[int], question: dict) -> list[str]:
        from flwr.app import ConfigRecord, Message, MessageType, RecordDict

        messages = [Message(RecordDict({"config": ConfigRecord({**question, "settings": self.settings()})}),
                            message_type=MessageType.QUERY, dst_node_id=node) for node in nodes]
        replies = list(grid.send_and_receive(messages, timeout=CONNECT_SECONDS))
        failed = [reply for reply in replies if reply.has_error()]
        if failed or len(replies) < len(nodes):
            reason = failed[0].error.reason if failed else "no answer"
            raise LaminaError(f"A client could not answer the server's {question['ask']} question: {reason}")
        return [reply.content["answer"]["json"] for reply in replies]

    def _fitted_task(self, grid, nodes: list[int], kinds: list[dict]):
        from lamina.federated_features import fitted_from_statistics

        schema = agreed_schema(kinds, self.config.data.target)
        statistics = [json.loads(a) for a in self._ask(grid, nodes, {"ask": "statistics",
                                                                     "schema": json.dumps(schema.to_dict())})]
        if schema.task != "regression":
            classes = {key for s in statistics for key in s["target"]["counts"]}
            schema.task = "binary" if len(classes) == 2 else "multiclass"
        features, target, baseline = fitted_from_statistics(schema, statistics)
        self.sizes_ = [s["rows"] for s in statistics]
        state = {"schema": schema.to_dict(), "features": features.state(), "target": target.state(),
                 "baseline": baseline}
        return _task_of(json.dumps(state))

    def batch_size(self) -> int:
        """Rows per step on every client: the automatic size for a client of average size, or the config's."""
        from lamina.nets.recipe import epochs_and_batch_size

        return epochs_and_batch_size(self.config.train, "mlp", sum(self.sizes_) // len(self.sizes_))[1]

    def _architecture(self) -> dict:
        from lamina.nets.recipe import choose_architecture

        if self.config.model.arch not in ("auto", "mlp"):
            raise LaminaError(f"Federated training trains the mlp; --arch {self.config.model.arch} is not supported.")
        spec = self.task_.features_.spec()
        # One network, without the small tables' wide path (unmeasured here), unless the config asks for more.
        one = {key: value for key, value in (("members", 1), ("wide", False))
               if getattr(self.config.model, key) == "auto"}
        arch, hyperparameters = choose_architecture(self.config.model.model_copy(update={"arch": "mlp", **one}),
                                                    self.config.train, spec, {}, torch.zeros(0),
                                                    self.task_.target_.is_classification,
                                                    number_layout=self.task_.features_.number_layout())
        if hyperparameters["members"] > 1:  # clients train with their own loop, which has no per-member loss
            raise LaminaError("Federated training trains one network: drop members (or set it to 1).")
        if self.config.train.folds not in ("auto", 0):  # cross-fitting (training.crossfit) needs members
            raise LaminaError("Federated training trains one network, which has no members to cross-fit: drop folds "
                              "(or set it to 0).")
        return {"arch": arch, "hyperparameters": hyperparameters, "inputs": spec, "outputs": self.task_.target_.outputs}

    def _strategy(self):
        from flwr.serverapp.strategy import FedAvg, FedProx

        sampled = max(1, round(self.federation.fraction * self.clients))
        options = {"fraction_train": self.federation.fraction, "fraction_evaluate": 1.0,
                   "min_train_nodes": sampled, "min_evaluate_nodes": self.clients,
                   "min_available_nodes": self.clients, "evaluate_metrics_aggr_fn": _summed_metrics}
        if self.federation.strategy == "fedprox":
            return FedProx(proximal_mu=self.federation.mu, **options)
        return FedAvg(**options)

    def _keep(self, server_round: int, arrays) -> None:
        self.rounds_[server_round] = {k: v.clone() for k, v in arrays.to_torch_state_dict().items()}
        return None

    def history(self) -> list[dict]:
        """Per round: the clients' mean training loss, and the pooled validation and test loss (and accuracy)."""
        from lamina.nets.recipe import learning_rate

        rows = []
        for server_round in range(1, self.federation.rounds + 1):
            train = self.result_.train_metrics_clientapp.get(server_round, {})
            sums = dict(self.result_.evaluate_metrics_clientapp.get(server_round, {}))
            record = {"epoch": server_round, "train_loss": float(train.get("train_loss", float("nan")))}
            for part in ("valid", "test"):
                rows_seen = sums.get(f"{part}-rows", 0.0)
                if rows_seen:
                    record[f"{part}_loss"] = sums[f"{part}-loss-sum"] / rows_seen
                    if f"{part}-correct" in sums:
                        record[f"{part}_accuracy"] = sums[f"{part}-correct"] / rows_seen
            record["lr"] = round_learning_rate(learning_rate(self.config.train, "mlp"), server_round,
                                               self.federation.rounds)
            rows.append(record)
        return rows


def _connected(grid, expected: int) -> list[int]:
    """The ids of the connected clients once all `expected` have connected."""
    deadline = time.monotonic() + CONNECT_SECONDS
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= expected:
            return nodes
        if time.monotonic() > deadline:
            raise LaminaError(f"Only {len(nodes)} of {expected} clients connected within {CONNECT_SECONDS}s.")
        time.sleep(0.5)


def server_app(coordinator: Coordinator):
    from flwr.serverapp import ServerApp

    app = ServerApp()
    app.main()(coordinator.main)
    return app


# ---- the whole run --------------------------------------------------------------------------------------


def federate(data, target: str, *, partition: str | None = None, clients: int | None = None,
             non_iid: float | None = None, federation: Federation = Federation(), out=None, config=None,
             progress: bool = True, **overrides):
    """A Model trained by Flower-simulated clients, each holding a partition of `data` (path or DataFrame):
    by the column `partition`, or `clients` IID parts, or `clients` Dirichlet(`non_iid`) parts by label.
    With `out`, a run folder as `lamina train` writes (model, metrics, held-out table, per-round history,
    report). `overrides` are config settings by name (width=64, seed=1...)."""
    from lamina.api import resolve_config
    from lamina.data.read import read_table
    from lamina.run import RunFolder

    path = str(Path(data).resolve()) if isinstance(data, (str, Path)) else None
    config = resolve_config(config, target=target, path=path, **overrides)
    if config.model.linear_share not in ("auto", 0):  # fitted on every row: a client's rows never leave it
        raise LaminaError("Federated training trains the network alone: a linear model blended in (linear_share) "
                          "would be fitted on every client's rows together. Drop linear_share (or set it to 0).")
    if config.train.privacy:
        raise LaminaError("--privacy is not available in federated training yet: lamina would need client-level "
                          "noise (the clients' updates clipped and noised before averaging) with its own accounting. "
                          "Train without --privacy, or train centrally with lamina train --privacy.")
    frame = read_table(data, "training data")
    if target not in frame.columns:
        raise LaminaError(f"Target column {target!r} is not in the data.")
    refuse_what_cannot_federate(config, frame)
    parts = partitions(frame, target, column=partition, clients=clients, alpha=non_iid, seed=config.seed)
    federation.check(len(parts))
    names = [name for name, _ in parts]
    members = [_client(name, part, config, partition) for name, part in parts]
    # The clients' columns are checked here, as the server will check them in the simulation's first round, so a
    # column federated training cannot fit is refused before Ray and Flower start (tens of seconds).
    agreed_schema([member.kinds() for member in members], target)
    coordinator = Coordinator(config, federation, len(members))
    _simulate(coordinator, members, progress)
    run = RunFolder(out) if out else None
    description = (f"{federation.strategy} over {len(members)} clients "
                   + (f"(one per value of {partition!r})" if partition else
                      f"(Dirichlet({non_iid}) by label)" if non_iid else "(IID)"))
    if run is None:
        return _model(coordinator, names, description, None, members)
    with run.lock():
        run.create().write_config(config)
        return _model(coordinator, names, description, run, members)


def agreed_schema(kinds: list[dict], target: str):
    """The schema every client trains with (its task "regression", or "multiclass" until the classes are counted),
    from each client's `Client.kinds()` answer; raises LaminaError when the clients disagree on the target's
    problem, or naming a column whose kinds cannot be merged or be fitted federated (federated_features)."""
    from lamina.federated_features import merged_schema

    problems = {k["problem"] for k in kinds}
    if "regression" in problems and len(problems) > 1:
        raise LaminaError(f"The target {target!r} reads as a quantity on some clients and as classes on others. "
                          "Name the task: --task classification or --task regression.")
    return merged_schema([k["kinds"] for k in kinds], target, "regression" if "regression" in problems else "multiclass")


def _simulate(coordinator: Coordinator, members: list[Client], progress: bool) -> None:
    from flwr.simulation import run_simulation

    def member(context, settings):
        return members[int(context.node_config["partition-id"])]

    logging.getLogger("flwr").setLevel(logging.INFO if progress else logging.WARNING)
    cores = os.cpu_count() or 1
    try:
        run_simulation(server_app(coordinator), client_app(member), num_supernodes=len(members),
                       backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                       "init_args": {"num_cpus": cores, "include_dashboard": False,
                                                     "logging_level": logging.ERROR, "log_to_driver": False}})
    except RuntimeError as error:  # Ray did not start (an overloaded machine), or a client raised
        raise LaminaError(f"The Flower simulation stopped: {error} Its log above says why; when Ray timed out "
                          "starting, run again on a less busy machine.") from None
    if getattr(coordinator, "error_", None) is not None:
        raise coordinator.error_
    if not hasattr(coordinator, "result_"):
        raise LaminaError("The federated simulation ended before training finished; run with --debug to see why.")


def _model(coordinator: Coordinator, names: list[str], description: str, run, members: list[Client] | None = None):
    """The Model of the best round; written into `run` when given. With `members` (simulation: every client's rows
    are on this machine) it is scored on the clients' test rows brought together, with a held-out table and a
    report; without (deployment) its test metrics are the pooled sums the clients sent for the best round."""
    from lamina.model import Model
    from lamina.run import CHECKS, HELD_OUT, METRICS
    from lamina.tasks.table import with_row_keys

    history = coordinator.history()
    best = min(history, key=lambda r: r.get("valid_loss", math.inf))["epoch"]
    task = coordinator.task_
    network = task.build_network(coordinator.architecture_)
    network.load_state_dict(coordinator.rounds_[best])
    network.eval()
    sums = coordinator.result_.evaluate_metrics_clientapp.get(best, {})
    if members is not None:
        splits = [member.split for member in members]
        sizes = {part: sum(len(getattr(s, part)) for s in splits) for part in ("train", "valid", "test")}
        split = f"each client's rows: {splits[0].description}"
    else:
        sizes = {"train": sum(coordinator.sizes_), **{part: int(sums.get(f"{part}-rows", 0)) for part in
                                                      ("valid", "test")}}
        from lamina.data.split import MAX_VALID_ROWS, VALID_SHARE

        valid = coordinator.config.data.valid_fraction
        valid = f"{VALID_SHARE} (at most {MAX_VALID_ROWS:,} rows)" if valid == "auto" else valid
        split = (f"each client's rows: train / valid / test at {valid} / "
                 f"{coordinator.config.data.test_fraction} held out, seed {coordinator.config.seed}")
    training = {"seed": coordinator.config.seed, "split": split,
                "sizes": sizes, "epochs_run": coordinator.federation.rounds, "best_epoch": best,
                "stop_reason": f"all {coordinator.federation.rounds} rounds done", "device": "cpu",
                "batch_size": coordinator.batch_size(),
                "train_seconds": round(coordinator.seconds_, 2),
                "federated": {**asdict(coordinator.federation), "clients": names, "partition": description,
                              "client_rows": coordinator.sizes_,
                              "engine": "flower simulation" if members is not None else "flower deployment",
                              "rounds": history}}
    model = Model(task, network, coordinator.architecture_, training=training)
    if members is None:  # the clients' sums over their test rows for the best round
        rows = max(sums.get("test-rows", 0.0), 1.0)
        model.metrics = {name: {"loss": sums.get(f"test-{prefix}loss-sum", math.nan) / rows}
                         for name, prefix in (("test", ""), ("baseline", "baseline-"))}
        if task.target_.is_classification:
            for name, prefix in (("test", ""), ("baseline", "baseline-")):
                model.metrics[name]["accuracy"] = sums.get(f"test-{prefix}correct", math.nan) / rows
        if run is not None:
            model.save(run.model_dir)
            run.write_json(METRICS, model.metrics)
            run.write_history(history)
        return model
    test = pd.concat([s.test for s in splits])
    outputs, truth, _ = task.outputs_and_truth(model, test)
    model.metrics = {"test": task.metrics(outputs, truth), "baseline": task.baseline_metrics(truth)}
    if run is not None:
        from lamina.evaluation.report import write_report

        model.save(run.model_dir)
        run.write_json(METRICS, model.metrics)
        run.write_json(CHECKS, [])
        run.write_table(HELD_OUT, with_row_keys(task.held_out_table(test[task.schema_.target], outputs, truth), test,
                                                task.schema_))  # the clients' rows keep their labels in the table
        run.write_history(history)
        write_report(run.path)
    return model
