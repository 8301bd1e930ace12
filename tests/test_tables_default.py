"""The table defaults: PLR numeric embeddings in the mlp, smoothed best-epoch selection, the demo's table."""

import itertools
import re
from pathlib import Path

import pytest
import torch

from lamina.errors import LaminaError
from lamina.nets.build import TABLE_EXAMPLE, build_network
from lamina.nets.mlp import PLR_DIMENSIONS

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = {"width": 8, "depth": 2, "dropout": 0.0, "norm": "batch"}


def table_inputs(rows: int = 5) -> dict:
    return {"numbers": torch.randn(rows, TABLE_EXAMPLE["numbers"]),
            "categories": torch.stack([torch.randint(0, n, (rows,)) for n in TABLE_EXAMPLE["categories"]], 1),
            "text:review.text": torch.randint(1, 50, (rows, 9))}


def test_plr_embeds_each_normal_score_in_place_skips_the_unread_floats_and_leaves_the_rest_plain():
    torch.manual_seed(0)
    plain = build_network("mlp", TABLE_EXAMPLE, 2, **SMALL)
    # two numeric columns of 2 and 3 floats, whose normal scores are their first floats (0 and 2); float 3 unread
    periodic = build_network("mlp", TABLE_EXAMPLE, 2, **SMALL, numbers="plr", plr_scores=[0, 2], plr_unread=[3])
    inputs, widths = table_inputs(), [2, 3]
    plain_code, periodic_code = plain.encode(inputs), periodic.encode(inputs)
    assert periodic_code.shape[1] - plain_code.shape[1] == 2 * (PLR_DIMENSIONS - 1) - 1
    assert periodic.encoding_widths(widths)[:2] == [PLR_DIMENSIONS + 1, PLR_DIMENSIONS + 1]
    assert sum(periodic.encoding_widths(widths)) == periodic_code.shape[1]
    # the other floats pass as they are, where they were: the first column's second float, the second's last
    second = PLR_DIMENSIONS
    assert torch.equal(periodic_code[:, second], inputs["numbers"][:, 1])
    assert torch.equal(periodic_code[:, 2 * PLR_DIMENSIONS + 1], inputs["numbers"][:, 4])

    def changed_parts(position: int) -> torch.Tensor:
        changed = {**inputs, "numbers": inputs["numbers"].clone()}
        changed["numbers"][:, position] += 1.0
        return ((periodic.encode(changed) - periodic_code).abs().sum(0) > 0).nonzero().flatten()

    # a score moves only its own embedding; a plain float only itself
    assert changed_parts(2).min() >= PLR_DIMENSIONS + 1 and changed_parts(2).max() < 2 * PLR_DIMENSIONS + 1
    assert changed_parts(1).tolist() == [second]
    assert changed_parts(3).tolist() == []  # unread


def test_a_plr_model_saved_before_plr_scores_embeds_every_float_as_it_did():
    from rtdl_num_embeddings import PeriodicEmbeddings

    from lamina.nets.mlp import EVERY_FLOAT_PLR

    torch.manual_seed(0)
    older = build_network("mlp", TABLE_EXAMPLE, 2, **SMALL, numbers="plr")  # model.json without plr_scores
    dimensions, inputs = EVERY_FLOAT_PLR["d_embedding"], table_inputs()
    # the tensors such a model file holds: frequencies per float, one linear layer shared by all floats (lite)
    shapes = {name: tuple(t.shape) for name, t in older.state_dict().items() if name.startswith("periodic")}
    assert shapes == {"periodic.periodic.weight": (TABLE_EXAMPLE["numbers"], EVERY_FLOAT_PLR["n_frequencies"]),
                      "periodic.linear.weight": (dimensions, 2 * EVERY_FLOAT_PLR["n_frequencies"]),
                      "periodic.linear.bias": (dimensions,)}
    before = PeriodicEmbeddings(TABLE_EXAMPLE["numbers"], **EVERY_FLOAT_PLR)  # the code those models were saved by
    before.load_state_dict({name.removeprefix("periodic."): t for name, t in older.state_dict().items()
                            if name.startswith("periodic.")})
    numbers_part = older.encode(inputs)[:, :TABLE_EXAMPLE["numbers"] * dimensions]
    assert torch.equal(numbers_part, before(inputs["numbers"]).flatten(1))
    assert older.encoding_widths([2, 3])[:2] == [2 * dimensions, 3 * dimensions]


def test_an_mlp_record_without_the_numbers_setting_builds_the_network_it_always_was():
    older = build_network("mlp", TABLE_EXAMPLE, 2, **SMALL)  # model.json written before `numbers` existed
    assert not any(name.startswith("periodic") for name in older.state_dict())
    first = older.body[0]
    assert first.in_features == TABLE_EXAMPLE["numbers"] + sum(e.embedding_dim for e in older.embeddings) + 32


def test_a_smoothed_score_passes_over_one_lucky_epoch():
    from lamina.nets.recipe import SMOOTHED_VALID_ROWS, selection_smoothing
    from lamina.training.trainer import Trainer

    def chosen(smoothing: float) -> int:
        scores = iter([1.0, 0.5, 0.1, 0.6, 0.4, 0.35, 0.33])  # one lucky dip (epoch 3) in a steadier descent
        x, y = torch.randn(16, 3), torch.randn(16, 1)
        trainer = Trainer(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, epochs=7, metric=lambda *_: next(scores),
                          smoothing=smoothing, progress=False)
        trainer.fit([(x, y)], [(x, y)])
        return trainer.best_epoch_

    assert chosen(0.0) == 3
    assert chosen(selection_smoothing(SMOOTHED_VALID_ROWS - 1)) == 7  # 0.6: the moving average is lowest at the end
    assert selection_smoothing(SMOOTHED_VALID_ROWS) == 0.0


def test_the_readme_shows_the_demo_table_as_the_demo_prints_it():
    from lamina.demo import COLUMNS, comparison_text

    header, *rest = README.read_text().split("`make demo` trains", 1)[1].split("```", 2)[1].strip("\n").splitlines()
    lines = list(itertools.takewhile(lambda line: line.startswith("  "), rest))  # the metric lines
    assert len(lines) >= 2 and rest[len(lines)].startswith("logistic:")
    rows = int(re.search(r"on (\d+) rows", header).group(1))
    columns = {name: {} for name in COLUMNS}
    for line in lines:
        metric, *values = line.split("(")[0].split()
        for name, value in zip(COLUMNS, values, strict=True):
            columns[name][metric] = None if value == "n/a" else float(value)
    assert comparison_text(columns, rows).splitlines() == [header, *lines]


def test_a_small_table_gets_more_dropout_unless_the_config_sets_it():
    from lamina.config import ModelConfig, TrainConfig
    from lamina.nets.recipe import SMALL_TABLE_ROWS, choose_architecture

    def dropout(rows: int, model: ModelConfig) -> float:
        arch, chosen = choose_architecture(model, TrainConfig(), TABLE_EXAMPLE, {}, torch.zeros(rows), True)
        assert arch == "mlp"
        return chosen["dropout"]

    assert dropout(SMALL_TABLE_ROWS - 1, ModelConfig()) > dropout(SMALL_TABLE_ROWS, ModelConfig())
    assert dropout(SMALL_TABLE_ROWS - 1, ModelConfig(dropout=0.1)) == 0.1


def test_the_ensemble_predicts_the_mean_of_members_that_differ():
    torch.manual_seed(0)
    network = build_network("mlp", TABLE_EXAMPLE, 3, **SMALL, members=4).eval()
    inputs = table_inputs(6)
    each = network.members(inputs)
    assert each.shape == (6, 4, 3)
    assert torch.allclose(network(inputs), each.mean(1), atol=1e-6)
    assert (each[:, 0] - each[:, 1]).abs().max() > 1e-3  # own adapters and heads: the members disagree
    assert network.adapter.abs().eq(1).all()  # TabM-mini's random ±1 signs


def test_each_member_learns_from_its_own_loss():
    from contextlib import nullcontext
    from types import SimpleNamespace

    from lamina.tasks.classification import ClassificationTask

    torch.manual_seed(0)
    network = build_network("mlp", TABLE_EXAMPLE, 3, **SMALL, members=4).train()
    inputs, targets = table_inputs(8), torch.randint(0, 3, (8,))
    torch.manual_seed(1)
    loss = ClassificationTask().training_step(network, (inputs, targets), SimpleNamespace(autocast=nullcontext))
    torch.manual_seed(1)
    each = network.members(inputs)
    own = torch.stack([torch.nn.functional.cross_entropy(each[:, m], targets) for m in range(4)]).mean()
    assert torch.allclose(loss, own)
    assert not torch.allclose(loss, torch.nn.functional.cross_entropy(each.mean(1), targets))


def test_a_model_file_without_members_or_wide_loads_as_the_one_network_it_was(tmp_path):
    import json

    import pandas as pd

    from lamina import api

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(80, 2, generator=generator)
    frame = pd.DataFrame({"a": x[:, 0].numpy(), "b": x[:, 1].numpy(), "y": (x.sum(1) > 0).numpy()})
    # the network such a file holds: one member, no linear path
    model = api.fit(frame, "y", out=tmp_path / "run", epochs=2, members=1, wide=False, progress=False)
    before = model.predict(frame)
    path = next((tmp_path / "run").rglob("model.json"))
    document = json.loads(path.read_text())
    assert document["architecture"]["hyperparameters"].pop("members") == 1
    assert document["architecture"]["hyperparameters"].pop("wide") is False
    path.write_text(json.dumps(document))
    again = api.load(tmp_path / "run")
    assert again.network.members_count == 1 and again.network.wide is None
    pd.testing.assert_frame_equal(again.predict(frame), before)


def test_small_tables_get_members_and_the_wide_path_unless_the_config_or_dp_sgd_says_otherwise():
    import lamina.nets.recipe as recipe
    from lamina.config import ModelConfig, TrainConfig

    def chosen(model: ModelConfig, train: TrainConfig, rows: int = 50) -> tuple[int, bool]:
        hyperparameters = recipe.choose_architecture(model, train, TABLE_EXAMPLE, {}, torch.zeros(rows), True)[1]
        return hyperparameters["members"], hyperparameters["wide"]

    private = TrainConfig(privacy="epsilon=3,delta=1e-5")
    assert chosen(ModelConfig(), TrainConfig()) == (recipe.SMALL_TABLE_MEMBERS, True)
    assert recipe.SMALL_TABLE_MEMBERS > 1
    assert chosen(ModelConfig(), TrainConfig(), recipe.ENSEMBLE_TABLE_ROWS - 1) == (recipe.SMALL_TABLE_MEMBERS, True)
    assert chosen(ModelConfig(), TrainConfig(), recipe.ENSEMBLE_TABLE_ROWS) == (1, False)
    assert chosen(ModelConfig(members=3, wide=False), TrainConfig()) == (3, False)
    assert chosen(ModelConfig(), private) == (1, False)  # opacus knows no adapters
    with pytest.raises(LaminaError, match="--privacy"):
        chosen(ModelConfig(members=8), private)



@pytest.mark.parametrize("setting", [{"members": 4}, {"numbers": "plr"}, {"wide": True}, {"linear_share": 0.5}])
def test_an_mlp_setting_given_for_another_network_is_refused_naming_it(setting):
    from lamina.config import ModelConfig, TrainConfig
    from lamina.nets.recipe import choose_architecture

    (name, value), = setting.items()
    with pytest.raises(LaminaError, match=f"{name}: {value} is a setting of the mlp, and this run's network is 'resnet'"):
        choose_architecture(ModelConfig(arch="resnet", **setting), TrainConfig(), {**TABLE_EXAMPLE, "images": ["x"]},
                            {}, torch.zeros(50), True)

def test_the_wide_path_adds_a_linear_function_of_the_encoded_row_per_member():
    torch.manual_seed(0)
    for members in (1, 4):
        network = build_network("mlp", TABLE_EXAMPLE, 3, **SMALL, members=members, wide=True).eval()
        encoded = network.encode(table_inputs(6))
        deep = network.decide(encoded)
        with torch.no_grad():  # outputs move by exactly the linear path's change, a linear function of the row
            if members == 1:
                network.wide.weight.add_(1.0)
                shift = encoded.sum(1, keepdim=True)
            else:
                network.wide[0].add_(1.0)
                shift = (encoded * network.adapter[0]).sum(1, keepdim=True) / members
            assert torch.allclose(network.decide(encoded) - deep, shift.expand(-1, 3), atol=1e-4)


def test_members_and_numbers_set_by_the_user_reach_the_trained_model(tmp_path):
    import pandas as pd

    from lamina import api

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(120, 2, generator=generator)
    frame = pd.DataFrame({"a": x[:, 0].numpy(), "b": x[:, 1].numpy(), "y": (x.sum(1) > 0).numpy()})
    model = api.fit(frame, "y", out=tmp_path / "run", epochs=2, members=3, numbers="plr", progress=False)
    chosen = model.architecture["hyperparameters"]
    # each column's normal score embedded, its 16 rank pieces unread
    assert (chosen["members"], chosen["numbers"], chosen["plr_scores"]) == (3, "plr", [0, 17])
    assert chosen["plr_unread"] == [*range(1, 17), *range(18, 34)]
    assert model.network.members(model.task.features_.transform(frame.head(4))).shape[1] == 3


def test_the_recipe_gives_plr_from_plr_rows_training_rows_and_a_setting_overrides_it():
    import lamina.nets.recipe as recipe
    from lamina.config import ModelConfig, TrainConfig

    def numbers(rows: int, model: ModelConfig) -> str:
        return recipe.choose_architecture(model, TrainConfig(), TABLE_EXAMPLE, {}, torch.zeros(rows), True)[1]["numbers"]

    assert numbers(recipe.PLR_ROWS - 1, ModelConfig()) == "plain"
    assert numbers(recipe.PLR_ROWS, ModelConfig()) == "plr"
    assert numbers(recipe.PLR_ROWS, ModelConfig(numbers="plain")) == "plain"
    assert numbers(10, ModelConfig(numbers="plr")) == "plr"
    assert recipe.choose_architecture(ModelConfig(), TrainConfig(privacy="epsilon=3,delta=1e-5"), TABLE_EXAMPLE, {},
                                      torch.zeros(recipe.PLR_ROWS), True)[1]["numbers"] == "plain"
