"""--task generate: a conditional GAN on a toy set of two shapes (16×16 squares and crosses)."""

import base64
import io
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import lamina
from lamina.cli import main
from lamina.errors import LaminaError
from lamina.tasks import generate_quality
from lamina.tasks.generate import MAX_REQUEST, MIN_IMAGES

SIDE = 16
EPOCHS = 100  # 4 steps an epoch (280 training images, batches of 64)
WIDTH = 8  # channels of the discriminator's first layer


def shapes(n=400, seed=0):
    """uint8 [n, 16, 16] images of filled squares and of crosses (6 to 9 pixels wide, anywhere), and their names."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, SIDE, SIDE), np.uint8)
    for i in range(n):
        size = int(rng.integers(6, 10))
        top, left = rng.integers(1, SIDE - size, 2)
        if i % 2 == 0:
            images[i, top:top + size, left:left + size] = 255
        else:
            middle = size // 2
            images[i, top:top + size, left + middle - 1:left + middle + 1] = 255
            images[i, top + middle - 1:top + middle + 1, left:left + size] = 255
    return images, np.where(np.arange(n) % 2 == 0, "square", "cross")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    images, labels = shapes()
    np.savez(folder / "shapes.npz", x=images, y=labels)
    return folder / "shapes.npz"


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    """A run folder of the toy GAN, its scores computed with a cheaper classifier."""
    out = tmp_path_factory.mktemp("run") / "shapes"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate_quality, "CLASSIFIER_STEPS", 100)
        patch.setattr(generate_quality, "PER_CLASS", 50)
        model = lamina.fit(toy, task="generate", epochs=EPOCHS, width=WIDTH, out=out, progress=False)
    return model, out


def test_generated_images_of_each_requested_class_are_classified_as_that_class(toy, trained):
    from sklearn.linear_model import LogisticRegression

    model, _ = trained
    images, labels = shapes(seed=1)  # the judge learns from shapes the GAN never saw
    judge = LogisticRegression(max_iter=1000).fit(images.reshape(len(images), -1) / 255, labels)
    for name in ("square", "cross"):
        drawn = model.generate(100, label=name, seed=0)
        assert drawn.shape == (100, 1, SIDE, SIDE) and drawn.dtype == np.uint8
        assert (judge.predict(drawn.reshape(100, -1) / 255) == name).mean() > 0.9, name
    # The run's feature classifier tells the real shapes apart; real against real is the floor of the distances.
    assert model.metrics["classifier_test_accuracy"] > 0.9
    fd = model.metrics["fd"]
    assert fd["real"] < min(fd["generated"], fd["gaussian"])


def test_the_same_seed_draws_the_same_images_also_after_save_and_load(trained):
    model, out = trained
    first = model.generate(12, seed=7)
    assert np.array_equal(first, model.generate(12, seed=7))
    assert not np.array_equal(first, model.generate(12, seed=8))
    assert np.array_equal(first, lamina.load(out).generate(12, seed=7))
    # Without a class the classes come in turn: square, cross... in the model's (sorted) order.
    assert model.task.labels_of(3) == ["cross", "square", "cross"]


def test_an_unknown_class_is_refused_naming_the_classes(trained):
    model, _ = trained
    with pytest.raises(LaminaError, match=r"Unknown class 'circle'.*cross, square"):
        model.generate(4, label="circle")
    with pytest.raises(LaminaError, match="whole number from 1"):
        model.generate(0)


def test_the_report_shows_scores_grids_and_both_losses(trained):
    model, out = trained
    page = (out / "report.html").read_text()
    assert "Not Inception-FID, not comparable with papers" in page
    assert page.count("data:image/png;base64,") >= 2  # sample grids over training
    assert "discriminator" in page and "generator" in page and "Memorisation" in page
    collapsed = [row["class"] for row in model.metrics["per_class"] if row["diversity_ratio"] < 0.5]
    assert model.metrics["diversity"]["collapsed"] == collapsed
    assert ("Mode collapse: " in page) == bool(collapsed) and ("No mode collapse found" in page) != bool(collapsed)
    history = pd.read_csv(out / "history.csv")
    assert len(history) == EPOCHS and history[["discriminator_loss", "generator_loss"]].notna().all().all()


def test_lamina_generate_writes_a_grid_or_a_folder_and_never_over_a_file(trained, tmp_path, capsys):
    _, out = trained
    grid = tmp_path / "grid.png"
    assert main(["generate", str(out), "--n", "16", "--class", "cross", "--seed", "1", "--out", str(grid)]) == 0
    with Image.open(grid) as image:  # 8 a row, 2-pixel gaps
        assert image.size == (8 * (SIDE + 2) + 2, 2 * (SIDE + 2) + 2)
    assert main(["generate", str(out), "--n", "3", "--out", str(tmp_path / "images")]) == 0
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["0000_cross.png", "0001_square.png",
                                                                       "0002_cross.png"]
    assert main(["generate", str(out), "--n", "2", "--out", str(grid)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["generate", str(out), "--class", "circle", "--out", str(tmp_path / "x.png")]) == 2
    assert "cross, square" in capsys.readouterr().err
    assert main(["generate", str(out), "--n", "2", "--out", str(tmp_path / "g.jpg")]) == 2
    assert "PNG only" in capsys.readouterr().err and not (tmp_path / "g.jpg").exists()
    assert main(["generate", str(out), "--n", "1000000000", "--out", str(tmp_path / "many")]) == 2
    assert "from 1 to 10,000" in capsys.readouterr().err and not (tmp_path / "many").exists()


def test_post_generate_answers_pngs_and_bounds_n(trained):
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    model, _ = trained
    client = TestClient(create_app({"shapes": model}, monitor=False))
    answer = client.post("/generate", json={"n": 4, "class": "square", "seed": 3})
    assert answer.status_code == 200
    images = answer.json()["images"]
    assert [image["class"] for image in images] == ["square"] * 4
    pixels = [np.asarray(Image.open(io.BytesIO(base64.b64decode(image["png"])))) for image in images]
    assert np.array_equal(np.stack(pixels)[:, None], model.generate(4, label="square", seed=3))
    for body in ({"n": MAX_REQUEST + 1}, {"n": 0}, {"n": "4"}, {"n": 2, "class": "circle"}, {"n": 2, "seed": -1},
                 {"n": 2, "colour": "red"}):
        assert client.post("/generate", json=body).status_code == 422, body
    page = client.get("/").text
    assert "<option>square</option>" in page and "generate images" in page


def test_a_class_name_reaches_the_playground_escaped(trained):
    from lamina.serving.page import generate_page

    page = generate_page({"name": "m<i>", "route": "generate", "request": {"properties": {"n": {"maximum": 64}}},
                          "training": {"classes": ["<script>alert(1)</script>"]}})
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page and "m&lt;i&gt;" in page


def _trainer(task, prepared, folder, stop_at=None):
    """The toy GAN's Trainer with checkpoints in `folder`; SIGTERM sent to itself at training step `stop_at`."""
    from lamina.tasks.generate import GenerateTask
    from lamina.training.batches import TensorBatches
    from lamina.training.trainer import Trainer

    steps = {"n": 0}
    step = GenerateTask.training_step.__get__(task)  # the task's own step, not an earlier call's wrapper

    def stepping(module, batch, trainer):
        steps["n"] += 1
        if steps["n"] == stop_at:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(module, batch, trainer)

    task.training_step = stepping
    torch.manual_seed(0)
    network = task.build_network({"arch": "dcgan", "hyperparameters": {"width": 4, "latent": 8, "ema_decay": 0.9},
                                  "inputs": {"side": SIDE, "channels": 1, "classes": 2}})
    trainer = Trainer(network, step=task, epochs=3, lr=2e-4, checkpoint_dir=folder, seed=0, progress=False)
    batches = TensorBatches(prepared.images["train"], prepared.labels["train"], 64, shuffle=True, seed=0)
    return trainer, batches, TensorBatches(prepared.images["valid"], prepared.labels["valid"], 512)


def test_a_run_stopped_by_sigterm_resumes_both_players_to_the_uninterrupted_result(toy, tmp_path):
    from lamina.api import resolve_config
    from lamina.data.read import read_table
    from lamina.tasks.base import task_named
    from lamina.training.trainer import TrainingInterrupted

    config = resolve_config(task="generate", target="label", path=str(toy))
    task = task_named("generate")("generate")
    prepared = task.prepare(config, read_table(toy), None)
    straight, batches, valid = _trainer(task, prepared, tmp_path / "straight")
    straight.fit(batches, valid)
    stopped, batches, valid = _trainer(task, prepared, tmp_path / "stopped", stop_at=8)  # in epoch 2
    with pytest.raises(TrainingInterrupted):
        stopped.fit(batches, valid)
    resumed, batches, valid = _trainer(task, prepared, tmp_path / "stopped")
    resumed.fit(batches, valid, resume=True)
    assert set(resumed.optimizers_) == {"generator", "discriminator"}
    for name, tensor in straight.module.state_dict().items():  # both players, the average and the epoch's losses
        assert torch.equal(tensor, resumed.module.state_dict()[name]), name
    for name in ("generator", "discriminator"):
        first, second = straight.optimizers_[name].state_dict(), resumed.optimizers_[name].state_dict()
        for key, state in first["state"].items():
            assert all(torch.equal(state[k], second["state"][key][k]) for k in state), (name, key)

    def timeless(history):
        return [{k: v for k, v in record.items() if k != "seconds"} for record in history]

    assert timeless(resumed.history_) == timeless(straight.history_)


@pytest.mark.parametrize("table", [
    pd.DataFrame({"age": range(200), "income": ["low", "high"] * 100}),
    pd.DataFrame({"review": ["a fine film with a good plot"] * 200, "label": ["good"] * 200}),
])
def test_a_table_or_text_is_refused_naming_the_inputs_generation_takes(tmp_path, capsys, table):
    data = tmp_path / "data.csv"
    table.to_csv(data, index=False)
    assert main(["train", str(data), "--task", "generate", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "learns to draw images, and this data has none" in error
    assert "class folders" in error and "idx/.npz/.npy" in error and "CSV with a column of image paths" in error
    assert "Traceback" not in error


def test_too_few_images_are_refused_naming_the_minimum(tmp_path):
    images, labels = shapes(n=MIN_IMAGES - 10)
    np.savez(tmp_path / "few.npz", x=images, y=labels)
    with pytest.raises(LaminaError, match=f"holds {MIN_IMAGES - 10} usable image.*at least {MIN_IMAGES}"):
        lamina.fit(tmp_path / "few.npz", task="generate")


def test_images_without_labels_train_an_unconditional_generator(tmp_path):
    from lamina.api import resolve_config
    from lamina.data.read import read_table
    from lamina.model import Model
    from lamina.tasks.base import task_named
    from lamina.training.batches import TensorBatches
    from lamina.training.trainer import Trainer

    np.save(tmp_path / "plain.npy", shapes()[0])
    config = resolve_config(task="generate", target="label", path=str(tmp_path / "plain.npy"))
    task = task_named("generate")("generate")
    prepared = task.prepare(config, read_table(tmp_path / "plain.npy"), None)
    assert not task.conditional and sum(len(images) for images in prepared.images.values()) == 400
    architecture = {"arch": "dcgan", "hyperparameters": {"width": 4, "latent": 8, "ema_decay": 0.9},
                    "inputs": {"side": SIDE, "channels": 1, "classes": 0}}
    network = task.build_network(architecture)
    Trainer(network, step=task, epochs=1, progress=False).fit(
        TensorBatches(prepared.images["train"], prepared.labels["train"], 64, shuffle=True))
    model = Model(task, network.eval(), architecture)
    assert model.generate(5, seed=1).shape == (5, 1, SIDE, SIDE)
    with pytest.raises(LaminaError, match="without classes"):
        model.generate(5, label="square")
