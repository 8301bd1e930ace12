"""Federated training (federated.py, federated_features.py): statistics instead of rows, FedAvg, one Flower run."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from tests.conftest import make_table

import lamina
from lamina.cli import main
from lamina.data.schema import infer_schema
from lamina.errors import LaminaError
from lamina.features.numeric import QUANTILES
from lamina.features.pipeline import FeaturePipeline
from lamina.federated import Client, partitions
from lamina.federated_features import client_statistics, fitted_from_statistics, merged_schema

pytest.importorskip("flwr")


def _table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "skewed": rng.lognormal(size=rows),
        "mostly_zero": np.where(rng.random(rows) < 0.6, 0.0, rng.integers(1, 50, rows)),  # tied ranks
        "colour": rng.choice(list("abcd"), rows, p=[0.4, 0.3, 0.2, 0.1]),
        "y": rng.choice(["yes", "no", "maybe"], rows),
    })
    frame.loc[::17, "skewed"] = np.nan
    frame.loc[[5, 2500], "colour"] = ["x", "z"]  # each once, on different clients: too rare to keep either way
    return frame


def _ranks(encoder, values: np.ndarray) -> np.ndarray:
    return np.interp(values, encoder.knots_, encoder.ranks_)


@pytest.mark.parametrize("cut", [[], [1000, 1300], "by value"])
def test_client_statistics_give_the_encoders_of_pooled_fitting(cut):
    frame = _table().assign(inked=0)
    frame.loc[2500, "inked"] = 1  # a two-valued column learns a value of one row, pooled or federated
    schema = infer_schema(frame, "y", "multiclass", {})
    if cut == "by value":  # very different distributions per client
        parts = [frame[frame["skewed"] < 1], frame[~(frame["skewed"] < 1)]]
    else:
        parts = [frame.iloc[start:end] for start, end in zip([0, *cut], [*cut, len(frame)], strict=True)]
    pooled = FeaturePipeline(schema).fit(frame)
    features, target, baseline = fitted_from_statistics(schema, [client_statistics(p, schema) for p in parts])
    assert features.encoders["colour"].vocabulary_ == pooled.encoders["colour"].vocabulary_ == list("abcd")
    assert features.encoders["inked"].vocabulary_ == pooled.encoders["inked"].vocabulary_ == ["0", "1"]
    assert target.classes_ == ["maybe", "no", "yes"]
    shares = frame["y"].value_counts(normalize=True).sort_index().to_numpy()
    assert np.allclose(baseline["prior"], shares)
    for column in ("skewed", "mostly_zero"):
        mine, theirs = features.encoders[column], pooled.encoders[column]
        values = frame[column].dropna().to_numpy()
        gap = np.abs(_ranks(mine, values) - _ranks(theirs, values)).max()
        if len(parts) == 1:  # one client: exactly pooled fitting's knots
            assert np.array_equal(mine.knots_, theirs.knots_) and gap == 0
        assert gap <= 1 / (QUANTILES - 1)
        assert mine.flag_missing_ == theirs.flag_missing_


def test_a_regression_target_gets_the_pooled_mean_and_scale():
    frame = _table().assign(y=lambda f: np.random.default_rng(1).normal(3.0, 2.0, len(f)))
    schema = infer_schema(frame, "y", "regression", {})
    _, target, baseline = fitted_from_statistics(schema, [client_statistics(p, schema) for p in (frame[:700], frame[700:])])
    assert target.mean_ == pytest.approx(frame["y"].mean()) and baseline["mean"] == pytest.approx(frame["y"].mean())
    assert target.scale_ == pytest.approx(frame["y"].to_numpy().std())


def test_kinds_merge_or_stop_naming_the_column():
    kinds = [{"a": "binary", "b": "number", "c": "ignore"}, {"a": "category", "b": "number", "c": "category"}]
    schema = merged_schema(kinds, "y", "binary")
    assert {c.name: c.kind for c in schema.features} == {"a": "category", "b": "number", "c": "category"}
    with pytest.raises(LaminaError, match="'b' reads as category on some clients, number on others"):
        merged_schema([{"b": "number"}, {"b": "category"}], "y", "binary")
    with pytest.raises(LaminaError, match="'t' is text.*--column t=ignore"):
        merged_schema([{"t": "text"}, {"t": "text"}], "y", "binary")


def test_fedavg_of_two_clients_is_the_mean_of_their_weights_weighted_by_rows():
    """What FedAvg.aggregate_train does with the replies' contents (Flower's aggregate_arrayrecords)."""
    from flwr.app import ArrayRecord, MetricRecord, RecordDict
    from flwr.serverapp.strategy.strategy_utils import aggregate_arrayrecords

    first, second = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0])}, \
        {"w": torch.tensor([4.0, -1.0]), "b": torch.tensor([3.0])}
    replies = [RecordDict({"arrays": ArrayRecord(weights), "metrics": MetricRecord({"num-examples": rows})})
               for weights, rows in ((first, 100), (second, 300))]
    averaged = aggregate_arrayrecords(replies, "num-examples").to_torch_state_dict()
    for name in first:
        assert torch.allclose(averaged[name], 0.25 * first[name] + 0.75 * second[name])


def test_partitions_split_every_row_once():
    frame = make_table(600)
    for parts in (partitions(frame, "y", clients=4, seed=0), partitions(frame, "y", column="colour"),
                  partitions(frame, "y", clients=3, alpha=0.1, seed=0)):
        indexes = np.concatenate([part.index.to_numpy() for _, part in parts])
        assert sorted(indexes) == list(frame.index)
    assert [name for name, _ in partitions(frame, "y", column="colour")] == [
        f"colour={v}" for v in frame["colour"].value_counts().index]
    skewed = [part["y"].eq("yes").mean() for _, part in partitions(frame, "y", clients=3, alpha=0.1, seed=0)]
    even = [part["y"].eq("yes").mean() for _, part in partitions(frame, "y", clients=3, alpha=1000.0, seed=0)]
    assert np.ptp(skewed) > 0.3 > 0.1 > np.ptp(even)
    with pytest.raises(LaminaError, match="--partition 'nope' is no column"):
        partitions(frame, "y", column="nope")
    with pytest.raises(LaminaError, match="Use one of them"):
        partitions(frame, "y", column="colour", alpha=0.5)


def test_privacy_in_federated_training_is_refused_with_the_way_out(tmp_path):
    with pytest.raises(LaminaError, match="lamina train --privacy"):
        lamina.federate(make_table(100), "y", clients=2, privacy="epsilon=3,delta=1e-5")


def test_a_column_federated_training_cannot_fit_is_refused_before_the_simulation_and_its_advice_works(
        tmp_path, monkeypatch, capsys):
    """A date column stops `lamina federate` before Flower starts, saying to leave it out with --column; given
    that, federate accepts it and goes on to the simulation (stubbed here: the test above runs one)."""
    from lamina import federated

    started = []

    def simulate(coordinator, members, progress):
        started.append(members)
        raise LaminaError("stopped where the simulation would start")

    monkeypatch.setattr(federated, "_simulate", simulate)
    data = tmp_path / "t.csv"
    make_table(300).drop(columns="comment").to_csv(data, index=False)
    command = ["federate", str(data), "--target", "y", "--clients", "2", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(command) == 2 and not started, "refused before the simulation"
    refusal = capsys.readouterr().err
    advice = re.search(r"\((--column day=ignore)\)", refusal)
    assert "'day' is datetime" in refusal and advice, refusal
    assert main([*command, *advice.group(1).split()]) == 2
    assert "stopped where the simulation would start" in capsys.readouterr().err
    [members] = started
    schema = federated.agreed_schema([member.kinds() for member in members], "y")
    assert [c.name for c in schema.features] == ["signal", "skewed", "colour", "member"]


def test_a_flower_simulation_writes_a_run_whose_model_beats_the_baseline(tmp_path, capsys):
    """The one simulation (Ray start-up is slow): CLI → Flower → run folder → load, predict, report."""
    data = tmp_path / "t.csv"
    frame = make_table(900).drop(columns=["comment", "day"])
    frame.to_csv(data, index=False)
    out = tmp_path / "run"
    code = main(["federate", str(data), "--target", "y", "--clients", "2", "--rounds", "3", "--width", "32",
                 "--depth", "2", "--out", str(out), "--quiet"])
    printed = capsys.readouterr()
    assert code == 0, printed.err  # a busy machine can time Ray's start-up out: the error says so
    assert "fedavg over 2 clients (IID): 3 rounds" in printed.out
    model = lamina.load(out)
    assert model.metrics["test"]["accuracy"] > model.metrics["baseline"]["accuracy"] + 0.1
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3] and history["valid_loss"].notna().all()
    best = model.training["best_epoch"]
    assert history.loc[history["epoch"] == best, "test_accuracy"].item() == pytest.approx(
        model.metrics["test"]["accuracy"])  # per-round sums from the clients = the pooled test rows' accuracy
    predictions = lamina.api.predict(out, data)
    assert len(predictions) == 900 and set(predictions["prediction"]) <= {"yes", "no"}
    held = pd.read_csv(out / "test_predictions.csv")  # each held-out row's data row in the file
    assert held["row"].is_unique and held["truth"].tolist() == frame.loc[held["row"], "y"].tolist()
    assert "federated" in (out / "report.html").read_text().lower()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_listener(port: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _alive_in(groups: set[int]) -> list[str]:
    """Live (not zombie) processes of these process groups, as 'pid name'."""
    alive = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) in groups:
            alive.append(f"{entry.name} {(entry / 'comm').read_text().strip()}")
    return alive


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds leftover processes through /proc")
def test_a_deployment_of_superlink_and_two_supernodes_trains_a_model_that_beats_the_baseline(tmp_path):
    """SuperLink, two SuperNodes (one table each) and `flwr run` as separate processes on loopback, 2 rounds."""
    from lamina.federated_deploy import APP_DIR

    frame = make_table(600).drop(columns=["comment", "day"])
    tables = [tmp_path / "a.csv", tmp_path / "b.csv"]
    frame.iloc[:300].to_csv(tables[0], index=False)
    frame.iloc[300:].to_csv(tables[1], index=False)
    (tmp_path / "small.yaml").write_text("model:\n  width: 32\n  depth: 2\n")
    link, *node_ports = (_free_port() for _ in range(3))
    home = tmp_path / "flwr"  # Flower's own folder: the connection below, installed apps
    home.mkdir()
    (home / "config.toml").write_text(f'[superlink]\ndefault = "loop"\n\n[superlink.loop]\n'
                                      f'address = "127.0.0.1:{link}"\ninsecure = true\n')
    source = str(Path(lamina.__file__).parents[1])
    env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "FLWR_HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    commands = [["flower-superlink", "--insecure", "--disable-runtime-dependency-installation", "--port", str(link)]]
    commands += [["flower-supernode", "--insecure", "--superlink", f"127.0.0.1:{link}", "--port", str(port),
                  "--node-config", f"data='{table}'"] for port, table in zip(node_ports, tables, strict=True)]
    out = tmp_path / "run"
    processes: list[subprocess.Popen] = []
    try:
        for command in commands:  # each in its own process group, so the processes it starts end with it
            processes.append(subprocess.Popen(command, env=env, cwd=tmp_path, start_new_session=True,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
            if len(processes) == 1:
                _wait_for_listener(link)  # the SuperNodes and `flwr run` give up on a SuperLink not yet up
        finished = subprocess.run(
            ["flwr", "run", str(APP_DIR), "loop", "--stream", "--run-config",
             f"target='y' clients=2 rounds=2 config='{tmp_path / 'small.yaml'}' out='{out}'"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert (out / "model" / "model.json").is_file(), finished.stdout[-3000:] + finished.stderr[-3000:]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    groups = {process.pid for process in processes}
    deadline = time.monotonic() + 10
    while _alive_in(groups) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive_in(groups)
    model = lamina.load(out)
    assert model.training["federated"]["engine"] == "flower deployment"
    assert list(pd.read_csv(out / "history.csv")["epoch"]) == [1, 2]
    assert model.training["sizes"]["test"] > 0
    predictions = lamina.api.predict(out, frame)
    accuracy = (predictions["prediction"].to_numpy() == frame["y"].to_numpy()).mean()
    majority = frame["y"].value_counts(normalize=True).max()
    assert accuracy > majority + 0.1
    assert model.metrics["test"]["accuracy"] > model.metrics["baseline"]["accuracy"] + 0.1  # pooled test sums
    config = lamina.api.resolve_config(str(tmp_path / "small.yaml"), target="y")
    test = pd.concat([Client(part, config).split.test for part in (frame.iloc[:300], frame.iloc[300:])])
    guess = int(np.argmax(model.task.baseline_["prior"]))  # the baseline predicts the commonest training class
    assert model.metrics["baseline"]["accuracy"] == pytest.approx(np.mean(model.task.target_.encode(test["y"]) == guess))


def test_a_client_refused_for_its_rows_is_named():
    from lamina.config import Config
    from lamina.federated import _client

    one_class = pd.DataFrame({"x": [0.1, 0.2, 0.3], "site": ["c"] * 3, "y": [1, 1, 1]})
    with pytest.raises(LaminaError, match=r"Client site=c \(3 rows\): Target column 'y' has a single value \(1\)"):
        _client("c", one_class, Config().with_overrides(target="y"), "site")


def test_a_linear_model_blended_in_is_refused_in_federated_training():
    with pytest.raises(LaminaError, match="would be fitted on every client's rows together. Drop linear_share"):
        lamina.federate(make_table(100), "y", clients=2, rounds=1, linear_share=0.5, progress=False)


@pytest.mark.parametrize("task", ["forecast", "anomaly", "recommend"])
def test_federate_refuses_a_task_it_cannot_train_before_flower_starts(tmp_path, capsys, task):
    """--task forecast (anomaly, recommend) trained a classifier and exited 0: every task but binary, multiclass and
    regression was read as auto."""
    _table().to_csv(tmp_path / "d.csv", index=False)
    started = time.perf_counter()
    assert main(["federate", str(tmp_path / "d.csv"), "--target", "y", "--clients", "2", "--task", task,
                 "--rounds", "1", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "Federated training trains a classifier or a regressor of one target (--task classification, binary, " \
           f"multiclass or regression), and this run asks for a{'n' if task == 'anomaly' else ''} {task} model" in error
    assert time.perf_counter() - started < 10 and not (tmp_path / "run").exists()  # Ray and Flower never started


@pytest.mark.parametrize("section, key, value", [
    ("data", "season", 7), ("data", "user", "colour"), ("data", "contamination", 0.1),
    ("train", "label_smoothing", 0.1), ("train", "adversarial", "pgd"), ("model", "image_size", 32),
])
def test_federate_refuses_a_setting_of_its_config_file_it_would_ignore(tmp_path, capsys, section, key, value):
    """A config file's data.season (a forecaster's), train.label_smoothing (read by a central classifier, not by
    federated clients)... was accepted and ignored; refused by the rule every task follows, named as the file
    wrote it."""
    _table().to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "c.yaml").write_text(f"{section}:\n  {key}: {value}\n")
    assert main(["federate", str(tmp_path / "d.csv"), "--target", "y", "--clients", "2", "--config",
                 str(tmp_path / "c.yaml"), "--rounds", "1", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert f"({section}.{key}) is not read by federated training" in error and "it would be ignored" in error, error
    assert not (tmp_path / "run").exists()


def test_federate_takes_the_settings_it_reads_and_the_deployed_server_refuses_the_others():
    from lamina.config import Config
    from lamina.federated import refuse_what_cannot_federate

    frame = _table()
    for given in ({}, {"task": "multiclass"}, {"norm": "layer", "numbers": "plain", "valid_fraction": 0.2,
                                               "columns": {"colour": "category"}}):
        refuse_what_cannot_federate(Config().with_overrides(target="y", **given), frame)
    with pytest.raises(LaminaError, match=r"--cost \(data.cost\) is not read by federated training"):
        refuse_what_cannot_federate(Config().with_overrides(target="y", cost="fn=5,fp=1"))  # no rows: a server
    with pytest.raises(LaminaError, match="asks for a forecast model"):
        refuse_what_cannot_federate(Config().with_overrides(target="y", task="forecast"))


def test_a_client_reads_the_target_as_the_named_task_does():
    """--task classification of a many-valued number was read as auto, so each client learnt a quantity."""
    frame = pd.DataFrame({"x": np.arange(300.0), "y": np.arange(300) % 40})
    assert Client(frame, lamina.Config().with_overrides(target="y")).problem == "regression"
    for task, problem in (("classification", "multiclass"), ("multiclass", "multiclass"), ("regression", "regression")):
        assert Client(frame, lamina.Config().with_overrides(target="y", task=task)).problem == problem, task
