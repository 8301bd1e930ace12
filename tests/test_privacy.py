"""Differential privacy (training/privacy.py): the budget is read, calibrated, never exceeded and recorded."""

from __future__ import annotations

import json

import pytest
import torch
from tests.conftest import FAST, make_table

import lamina
from lamina.cli import main
from lamina.data.schema import Column, Schema
from lamina.errors import LaminaError
from lamina.privacy_target import Budget, parse_privacy
from lamina.training.batches import TensorBatches
from lamina.training.privacy import (
    DPSGD,
    epsilon_spent,
    least_epsilon,
    noise_multiplier_for,
    privacy_text,
    private_network,
    require_private_kinds,
    spent_epsilon,
    steps_within,
)
from lamina.training.trainer import Trainer

pytest.importorskip("opacus")


def test_privacy_strings_are_read():
    assert parse_privacy("epsilon=3,delta=1e-5") == Budget(3.0, 1e-5)
    assert parse_privacy(" eps = 0.5 , delta=0.001") == Budget(0.5, 0.001)


@pytest.mark.parametrize("text, says", [
    ("epsilon=3", "lacks delta"),
    ("delta=1e-5", "lacks epsilon"),
    ("epsilon=three,delta=1e-5", "'three' is not a number"),
    ("epsilon=0,delta=1e-5", "epsilon must be a number above 0"),
    ("epsilon=inf,delta=1e-5", "epsilon must be a number above 0"),
    ("epsilon=3,delta=1", "delta must lie between 0 and 1"),
    ("epsilon=3,delta=1e-5,epsilon=2", "gives epsilon twice"),
    ("sigma=1,delta=1e-5", "cannot read 'sigma=1'"),
])
def test_bad_privacy_strings_are_named_with_the_expected_form(text, says):
    with pytest.raises(LaminaError, match=says):
        parse_privacy(text)


def test_a_bad_privacy_flag_exits_2_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "t.csv"
    make_table(60).to_csv(path, index=False)
    code = main(["train", str(path), "--target", "y", "--privacy", "epsilon=3", "--out", str(tmp_path / "r")])
    error = capsys.readouterr().err
    assert code == 2 and "lacks delta" in error and "epsilon=3,delta=1e-5" in error and "Traceback" not in error


def test_the_calibrated_noise_keeps_epsilon_within_the_target_and_the_step_limit_is_tight():
    budget, rate, steps = Budget(3.0, 1e-5), 0.05, 200
    sigma = noise_multiplier_for(budget, rate, steps)
    assert 2.9 <= epsilon_spent(sigma, rate, steps, budget.delta) <= 3.0
    limit = steps_within(budget, sigma, rate, steps)
    assert limit >= steps
    assert epsilon_spent(sigma, rate, limit, budget.delta) <= 3.0 < epsilon_spent(sigma, rate, limit + 1, budget.delta)


def test_batch_norm_is_replaced_by_group_norm_that_still_learns():
    network = private_network(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                                  torch.nn.Linear(8, 2)))
    kinds = [type(layer) for layer in network.modules()]
    assert torch.nn.BatchNorm1d not in kinds and torch.nn.GroupNorm in kinds
    torch.manual_seed(0)
    x = torch.randn(512, 4)
    y = (x[:, 0] > 0).long()
    trainer = Trainer(network, torch.nn.functional.cross_entropy, epochs=3, lr=2e-2, progress=False,
                      privacy=DPSGD(Budget(3.0, 1e-5)))
    trainer.fit(TensorBatches(x, y, 32, shuffle=True))
    accuracy = (network(x).argmax(1) == y).float().mean().item()
    assert accuracy > 0.85  # a GroupNorm of one feature per group would normalise every feature to 0: 50%


def test_training_stops_when_the_budget_is_spent():
    torch.manual_seed(0)
    x = torch.randn(256, 3)
    y = (x[:, 0] > 0).long()
    privacy = DPSGD(Budget(1.0, 1e-5))
    trainer = Trainer(torch.nn.Linear(3, 2), torch.nn.functional.cross_entropy, epochs=2, progress=False,
                      privacy=privacy)
    batches = TensorBatches(x, y, 32, shuffle=True)
    trainer.fit(batches)  # the noise is calibrated for these 2 epochs
    trainer.epochs = 20  # asked for ten times the steps the budget was set for
    trainer.fit(batches)
    record = privacy.record()
    assert trainer.stop_reason_.startswith("privacy budget spent")
    assert trainer.epoch_ < 20
    assert record["steps"] == steps_within(Budget(1.0, 1e-5), record["noise_multiplier"], record["sample_rate"],
                                           2 * 8)
    assert record["epsilon"] <= 1.0


def test_text_columns_are_refused_by_name_before_anything_is_written(tmp_path):
    with pytest.raises(LaminaError, match=r"has 'comment' \(text\).*--column NAME=ignore"):
        lamina.fit(make_table(200)[["signal", "comment", "y"]], "y", out=tmp_path / "run", progress=False,
                   privacy="epsilon=3,delta=1e-5", **FAST)
    assert not (tmp_path / "run" / "sources.json").exists()


@pytest.mark.parametrize("kind", ["image", "audio", "molecule", "text"])
def test_every_column_kind_without_per_row_gradients_is_refused(kind):
    schema = Schema([Column("x", "number"), Column("picture", kind), Column("y", "binary", "target")], "y", "binary")
    with pytest.raises(LaminaError, match=f"'picture' \\({kind}\\)"):
        require_private_kinds(schema)
    require_private_kinds(Schema([Column(n, k) for n, k in [("a", "number"), ("b", "category"), ("c", "binary"),
                                                            ("d", "datetime")]], "y", "binary"))


@pytest.fixture(scope="module")
def private_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("private") / "run"
    model = lamina.fit(make_table(200).drop(columns="comment"), "y", out=out, progress=False,
                       privacy="epsilon=3,delta=1e-5", max_grad_norm=0.5, **{**FAST, "epochs": 2})
    return model, out


def test_a_private_run_records_and_states_the_spent_budget(private_run):
    model, out = private_run
    record = model.training["privacy"]
    assert 0 < record["epsilon"] <= 3.0 and record["delta"] == 1e-5 and record["max_grad_norm"] == 0.5
    document = json.loads((out / "model" / "model.json").read_text())
    assert document["training"]["privacy"] == record and document["architecture"]["private"] is True
    loaded = lamina.load(out)
    assert not any(isinstance(layer, torch.nn.BatchNorm1d) for layer in loaded.network.modules())
    frame = make_table(20, seed=1)
    assert (loaded.predict(frame)["prediction"] == model.predict(frame)["prediction"]).all()
    card = lamina.api.card(out)[0]
    assert "ε" in card and f"ε = {spent_epsilon(record)} spent of 3" in card and "1e-05" in card


def test_the_spent_epsilon_is_never_shown_above_the_target_it_kept_within():
    """The spent ε is rounded toward 0 wherever it is shown beside its target (the CLI line, report, card and the
    no-better-than-baseline warning); :.3g showed 1.0051 spent of 1.0052 as "1.01 spent of 1.0052"."""
    from lamina.evaluation.baseline import baseline_warning

    record = {"mechanism": "DP-SGD (opacus)", "accountant": "rdp", "epsilon": 1.0051, "target_epsilon": 1.0052,
              "delta": 1e-5, "noise_multiplier": 1.2, "max_grad_norm": 1.0, "steps": 40}
    assert "ε = 1 spent of 1.0052, δ = 1e-05" in privacy_text(record) and "RDP accountant" in privacy_text(record)
    for spent, shown in ((2.9996, "2.99"), (120.7, "120"), (1.2345e-5, "1.23e-05"), (0.0, "0"), (3.0, "3")):
        assert spent_epsilon({"epsilon": spent}) == shown, spent
    warning = baseline_warning({"test": {"accuracy": 0.5}, "baseline": {"accuracy": 0.6}}, "accuracy",
                               {"privacy": record})
    assert "ε = 1 spent at δ = 1e-05, RDP accountant" in warning, "the ε beside its δ and accountant"


def test_a_damaged_privacy_record_stops_at_load(private_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(private_run[1], copy)
    path = copy / "model" / "model.json"
    document = json.loads(path.read_text())
    document["training"]["privacy"]["epsilon"] = 4.0
    path.write_text(json.dumps(document))
    with pytest.raises(LaminaError, match="training.privacy.*exceeds the target 3.0"):
        lamina.load(copy)


def test_an_epsilon_below_what_any_noise_certifies_is_refused_before_searching(monkeypatch):
    """ε = 0.01 at δ = 1e-9 lies below the accountant's floor: refused without opacus' search for σ, which
    doubles σ up to 10⁶ before it gives up (21 s here)."""
    import opacus.accountants.utils

    floor = least_epsilon(1e-9)
    assert 0.2 < floor < 0.3 and least_epsilon(1e-5) < floor  # log(1/δ) / 62 at the largest order, roughly
    assert epsilon_spent(1e5, 0.5, 400, 1e-9) == pytest.approx(floor, rel=1e-3)  # huge noise: ε falls to the floor
    monkeypatch.setattr(opacus.accountants.utils, "get_noise_multiplier", None)  # a call would fail
    with pytest.raises(LaminaError, match=r"epsilon=0.01 is out of reach at delta=1e-09.*no ε below 0.251421.*"
                                          r"Raise epsilon above 0.252, or delta"):
        noise_multiplier_for(Budget(0.01, 1e-9), 0.5, 400)
    at = least_epsilon(1e-100)  # 3.6304...: printed to 3 figures it would be 3.63, below an ε of 3.6305 refused
    with pytest.raises(LaminaError, match=r"epsilon=3.6305 is out of reach.*Raise epsilon above 3.64, or delta"):
        noise_multiplier_for(Budget(3.6305, 1e-100), 0.5, 400)
    assert 3.6305 <= at < 3.64


def test_a_tiny_epsilon_at_a_delta_whose_floor_is_below_zero_ends(recwarn):
    """At δ = 1e-2 the accountant's floor is below 0: opacus' bisection for ε = 1e-16 outlasted float precision
    and never ended; at least LEAST_TOLERANCE of slack ends it, with the noise for an ε at most the target."""
    assert least_epsilon(1e-2) < 0
    sigma = noise_multiplier_for(Budget(1e-16, 1e-2), 0.1, 100)
    assert epsilon_spent(sigma, 0.1, 100, 1e-2) <= 1e-16
    assert not [w for w in recwarn if "alpha" in str(w.message)]  # least_epsilon keeps opacus' warning quiet


def test_a_delta_at_or_above_one_over_the_rows_is_refused(tmp_path):
    with pytest.raises(LaminaError, match=r"delta=0.01 is at or above 1 / 139 training rows = 0.00719.*"
                                          r"e\.g\. 1e-05"):
        lamina.fit(make_table(200).drop(columns="comment"), "y", progress=False, privacy="epsilon=3,delta=0.01",
                   **FAST)


def test_an_epsilon_above_the_floor_that_opacus_cannot_reach_gives_the_ways_out(monkeypatch):
    import opacus.accountants.utils

    def gives_up(**_):
        raise ValueError("The privacy budget is too low.")

    monkeypatch.setattr(opacus.accountants.utils, "get_noise_multiplier", gives_up)
    with pytest.raises(LaminaError, match="cannot be reached in 400 steps.*Raise epsilon, train fewer --epochs"):
        noise_multiplier_for(Budget(0.26, 1e-9), 0.5, 400)
