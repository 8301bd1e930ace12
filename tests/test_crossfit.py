"""Cross-fitted members (training.crossfit): seeded stratified folds, a member's loss blind to its fold's rows,
out-of-fold validation and calibration, and runs the recipe leaves as they were."""

from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.config import TrainConfig
from lamina.errors import LaminaError
from lamina.nets.build import TABLE_EXAMPLE, build_network
from lamina.training.crossfit import FOLD_KEY, OutOfFold, assign_folds, held_in, out_of_fold

SMALL = {"width": 8, "depth": 2, "dropout": 0.0, "norm": "batch"}
TRAINER = SimpleNamespace(autocast=nullcontext)


def table_inputs(rows: int) -> dict:
    return {"numbers": torch.randn(rows, TABLE_EXAMPLE["numbers"]),
            "categories": torch.stack([torch.randint(0, n, (rows,)) for n in TABLE_EXAMPLE["categories"]], 1),
            "text:review.text": torch.randint(1, 50, (rows, 9))}


def test_folds_are_seeded_and_hold_each_class_in_proportion():
    targets = torch.tensor([0] * 30 + [1] * 9 + [2] * 5)
    folds = assign_folds(targets, 4, seed=3)
    assert torch.equal(folds, assign_folds(targets, 4, seed=3))
    assert not torch.equal(folds, assign_folds(targets, 4, seed=4))
    for label in range(3):
        counts = torch.bincount(folds[targets == label], minlength=4)
        assert counts.max() - counts.min() <= 1, (label, counts)  # unstratified, 5 rows could fall 3/2/0/0
    values = torch.linspace(0, 1, 40)  # a number target: each fold gets a share of every range of values
    assert (torch.bincount(assign_folds(values, 4, seed=0)[:8], minlength=4) == 2).all()
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(targets, 1, seed=0)


def test_a_member_learns_nothing_from_the_rows_of_its_fold():
    from lamina.tasks.classification import ClassificationTask

    task = ClassificationTask()
    task.folds = 2
    torch.manual_seed(0)
    network = build_network("mlp", TABLE_EXAMPLE, 3, **SMALL, members=4, wide=True).train()
    inputs, targets = table_inputs(12), torch.randint(0, 3, (12,))
    inputs[FOLD_KEY] = torch.arange(12) % 2

    def head_gradients(labels: torch.Tensor) -> torch.Tensor:
        network.zero_grad()
        task.training_step(network, (inputs, labels), TRAINER).backward()
        return network.heads.grad.clone()  # [members, width, classes]

    before = head_gradients(targets)
    in_fold_0 = inputs[FOLD_KEY] == 0
    after = head_gradients(torch.where(in_fold_0, (targets + 1) % 3, targets))  # new labels for fold 0's rows
    blind = [0, 2]  # members 0 and 2 leave out fold 0 (member m leaves out fold m mod 2)
    assert torch.allclose(before[blind], after[blind])
    assert not torch.allclose(before[[1, 3]], after[[1, 3]], atol=1e-4)  # the others learn from those rows
    # the loss is the mean over the pairs (row, member) a member trains on
    kept = held_in(inputs[FOLD_KEY], 4, 2)
    assert kept.sum() == 24 and not kept[in_fold_0][:, blind].any()


def test_out_of_fold_outputs_are_the_mean_of_the_members_that_left_each_row_out():
    outputs = torch.arange(2 * 4 * 1, dtype=torch.float).reshape(2, 4, 1)  # rows 0 and 1, members 0…3
    folds = torch.tensor([1, 0])
    assert torch.equal(out_of_fold(outputs, folds, 2), torch.tensor([[(1 + 3) / 2], [(4 + 6) / 2]]))
    assert torch.equal(out_of_fold(outputs, folds, 4), torch.tensor([[1.0], [4.0]]))
    with pytest.raises(ValueError, match="at least 8 members"):
        out_of_fold(outputs, folds, 8)


def test_validation_scores_the_out_of_fold_outputs_of_every_row():
    from lamina.tasks.classification import ClassificationTask

    torch.manual_seed(0)
    network = build_network("mlp", TABLE_EXAMPLE, 3, **SMALL, members=4).eval()
    inputs, targets = table_inputs(10), torch.randint(0, 3, (10,))
    inputs[FOLD_KEY] = assign_folds(targets, 4, seed=0)
    task = ClassificationTask()
    task.folds = 4
    with torch.no_grad():
        record = task.validate(network, [(inputs, targets)], TRAINER)
        each = network.members(inputs)
    own = each[torch.arange(10), inputs[FOLD_KEY]]  # 4 folds of 4 members: row r's only outsider is member fold(r)
    assert record["valid_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(own, targets)), rel=1e-5)
    assert record["valid_loss"] != pytest.approx(float(torch.nn.functional.cross_entropy(each.mean(1), targets)),
                                                 rel=1e-3)


def frame_of(rows: int, seed: int = 0) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(rows, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")})


def test_a_small_table_is_cross_fitted_and_calibrated_on_out_of_fold_logits(tmp_path, monkeypatch):
    import lamina.tasks.classification as classification
    from lamina import api
    from lamina.evaluation.calibration import fit_temperature
    from lamina.tasks.table import TableTask

    fitted, judged = [], []
    monkeypatch.setattr(classification, "fit_temperature",
                        lambda logits, truth: fitted.append((logits, truth)) or fit_temperature(logits, truth))
    selection_outputs = TableTask.selection_outputs
    monkeypatch.setattr(TableTask, "selection_outputs", lambda self, network, prepared: judged.append(
        prepared.cross_fit) or selection_outputs(self, network, prepared))
    # the network's own out-of-fold logits: no linear model blended in (tests/test_linear_share.py)
    model = api.fit(frame_of(120), "y", out=tmp_path / "run", epochs=3, linear_share=0, progress=False)
    sizes = model.training["sizes"]
    assert model.training["cross_fit"] == {"folds": 4, "rows": sizes["train"] + sizes["valid"]}
    assert "selection_smoothing" not in model.training
    (logits, truth), = fitted
    assert len(truth) == sizes["train"] + sizes["valid"]  # every row's out-of-fold logits, not the validation rows'
    assert model.task.temperature_ == fit_temperature(logits, truth)
    (inputs, targets), = judged
    assert torch.equal(targets, truth) and torch.equal(inputs[FOLD_KEY], assign_folds(truth, 4, seed=0))
    with torch.no_grad():  # the out-of-fold logits of the network kept, not its prediction (all members' mean)
        assert torch.allclose(logits, OutOfFold(model.network.eval(), 4)(inputs), atol=1e-6)
        assert not torch.allclose(logits, model.network(inputs), atol=1e-3)
    page = (tmp_path / "run" / "report.html").read_text()
    assert "out-of-fold" in page and "validation rows trained too" in page
    assert "fitted on the out-of-fold predictions of the" in model.task.summary(model)


def test_a_table_of_the_ensembles_size_is_trained_as_before(tmp_path):
    from lamina import api
    from lamina.nets.recipe import ENSEMBLE_TABLE_ROWS

    frame = frame_of(round(ENSEMBLE_TABLE_ROWS / 0.75) + 10)  # 75% of it trains; under 1,000 validation rows
    model = api.fit(frame, "y", out=tmp_path / "run", epochs=1, valid_fraction=0.1, test_fraction=0.15,
                    progress=False)
    assert model.training["sizes"]["train"] >= ENSEMBLE_TABLE_ROWS
    assert "cross_fit" not in model.training and model.task.folds == 0
    assert model.architecture["hyperparameters"]["members"] == 1
    # the validation split judged it, as with cross-fitting switched off
    off = api.fit(frame, "y", epochs=1, valid_fraction=0.1, test_fraction=0.15, folds=0, progress=False)
    pd.testing.assert_frame_equal(model.predict(frame), off.predict(frame))
    assert model.training["best_epoch"] == off.training["best_epoch"]
    valid = model.training["sizes"]["valid"]  # the report says what judged the epoch
    page = (tmp_path / "run" / "report.html").read_text()
    assert f"With {valid} validation rows one epoch" in page and "out-of-fold" not in page


def test_the_recipe_cross_fits_only_the_small_tables_ensemble_and_refuses_what_cannot_apply():
    from lamina.nets.recipe import CROSS_FIT_FOLDS, ENSEMBLE_TABLE_ROWS, cross_fit_folds

    members = {"members": 8}
    assert cross_fit_folds(TrainConfig(), members, 300, False) == CROSS_FIT_FOLDS
    assert cross_fit_folds(TrainConfig(), members, ENSEMBLE_TABLE_ROWS - 1, False) == CROSS_FIT_FOLDS
    assert cross_fit_folds(TrainConfig(), members, ENSEMBLE_TABLE_ROWS, False) == 0  # a larger table, members asked
    assert cross_fit_folds(TrainConfig(), {"members": 1}, 300, False) == 0
    assert cross_fit_folds(TrainConfig(), members, 300, True) == 0  # DDP trains the members' mean
    assert cross_fit_folds(TrainConfig(privacy="epsilon=3,delta=1e-5"), members, 300, False) == 0
    assert cross_fit_folds(TrainConfig(adversarial="pgd"), members, 300, False) == 0
    assert cross_fit_folds(TrainConfig(folds=0), members, 300, False) == 0
    assert cross_fit_folds(TrainConfig(folds=8), members, ENSEMBLE_TABLE_ROWS, False) == 8  # asked for: any size
    with pytest.raises(LaminaError, match="8 member\\(s\\), and each of the 16 folds needs one that leaves it out; give "
                                          "--members 16 or more, or --folds 8 or fewer. Or drop folds"):
        cross_fit_folds(TrainConfig(folds=16), members, 300, False)
    with pytest.raises(LaminaError, match="1 member\\(s\\), .* give --members 4 or more. Or drop folds"):
        cross_fit_folds(TrainConfig(folds=4), {"members": 1}, 5000, False)
    # Members given, on a small table: the fix is what this run needs, not the defaults of other table sizes.
    with pytest.raises(LaminaError, match="3 member\\(s\\), .* give --members 5 or more, or --folds 3 or fewer\\.") as error:
        cross_fit_folds(TrainConfig(folds=5), {"members": 3}, 1697, False)
    assert "default" not in str(error.value) and "--members 8" not in str(error.value)
    with pytest.raises(LaminaError, match="not the mlp"):  # a CNN: no members to deal rows to
        cross_fit_folds(TrainConfig(folds=4), {"width": 16, "depth": 1}, 300, False)
    with pytest.raises(LaminaError, match="several processes"):
        cross_fit_folds(TrainConfig(folds=4), members, 300, True)
    with pytest.raises(ValueError, match="1 fold leaves no row out"):
        TrainConfig(folds=1)


def test_out_of_fold_wraps_a_network_for_inference():
    torch.manual_seed(0)
    network = build_network("mlp", TABLE_EXAMPLE, 2, **SMALL, members=4).eval()
    inputs = table_inputs(6)
    inputs[FOLD_KEY] = torch.tensor([0, 1, 1, 0, 0, 1])
    with torch.no_grad():
        assert torch.allclose(OutOfFold(network, 2)(inputs), out_of_fold(network.members(inputs), inputs[FOLD_KEY], 2))


def test_a_threshold_chosen_on_out_of_fold_predictions_says_so():
    from lamina.evaluation.threshold import describe
    from lamina.tasks.decision import binary_decision

    task = SimpleNamespace(class_weights=[0.6, 3.0], target_=SimpleNamespace(outputs=2))
    proba = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    judged_on = "out-of-fold predictions of the 4 training and validation rows"
    decision = binary_decision(task, proba, np.array([0, 1, 0, 1]), None, None, judged_on)
    assert decision["judged_on"] == judged_on
    assert f"the best F1 on the {judged_on}" in describe(decision)
    plain = binary_decision(task, proba, np.array([0, 1, 0, 1]), None, None)
    assert "judged_on" not in plain and "the best F1 on the validation rows" in describe(plain)


def test_class_weights_come_from_every_row_the_cross_fitted_members_train_on():
    from lamina import api
    from lamina.data.split import split_rows
    from lamina.training.imbalance import class_weights

    generator = np.random.default_rng(3)
    frame = pd.DataFrame({"x": generator.normal(size=200), "z": generator.normal(size=200),
                          "y": ["neg"] * 187 + ["pos"] * 13})  # under a ninth: the loss is class-weighted
    split = split_rows(frame, "y", "binary", "auto", 0.15, 0)  # the run's own split (seed 0)

    def weights_of(*parts):
        return class_weights(np.concatenate([(part["y"] == "pos").to_numpy(int) for part in parts]), 2)

    assert weights_of(split.train) != weights_of(split.train, split.valid)  # the test can tell them apart
    crossed = api.fit(frame, "y", epochs=1, progress=False)
    assert crossed.training["cross_fit"] and crossed.task.class_weights == weights_of(split.train, split.valid)
    plain = api.fit(frame, "y", epochs=1, folds=0, progress=False)
    assert plain.task.class_weights == weights_of(split.train)


def test_info_names_the_score_the_epoch_was_chosen_on_out_of_fold_where_it_was(tmp_path, capsys):
    from lamina import api
    from lamina.cli import main

    said = {}
    for folds in ("auto", 0):  # auto cross-fits a table this small
        model = api.fit(frame_of(120), "y", out=tmp_path / f"run{folds}", epochs=2, folds=folds, progress=False)
        assert main(["info", str(tmp_path / f"run{folds}")]) == 0
        said[folds] = capsys.readouterr().out
        score = f"{model.training['validation']['score']:.4f}"
        assert score in said[folds] and f"epoch {model.training['validation']['epoch']}" in said[folds]
    rows = model.training["sizes"]["train"] + model.training["sizes"]["valid"]
    assert "out-of-fold loss" in said["auto"] and f"the {rows} training and validation rows" in said["auto"]
    assert "valid_loss" not in said["auto"]
    assert "(cross-fitted: the validation rows train too, each member without one of 4 folds)" in said["auto"]
    assert "cross-fitted" not in said[0]
    assert "valid_loss" in said[0] and f"the {model.training['sizes']['valid']} validation rows" in said[0]
    assert "out-of-fold" not in said[0]
