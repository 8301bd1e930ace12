import os
import signal

import pytest
import torch
from torch import nn

from lamina.training.batches import TensorBatches
from lamina.training.checkpoint import read
from lamina.training.trainer import Trainer, TrainingDiverged, TrainingInterrupted


def line_data(rows=256, seed=0, noise=0.05):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 1, generator=generator)
    return x, 3.0 * x + 1.0 + noise * torch.randn(rows, 1, generator=generator)


def mse(outputs, targets):
    return nn.functional.mse_loss(outputs, targets)


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1))


def test_any_module_on_any_iterable_of_batches_learns():
    x, y = line_data()
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]  # a plain list is enough
    module = nn.Linear(1, 1)
    trainer = Trainer(module, mse, epochs=60, lr=0.05, progress=False)
    history = trainer.fit(batches)
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 10
    assert module.weight.item() == pytest.approx(3.0, abs=0.1)
    assert module.bias.item() == pytest.approx(1.0, abs=0.1)


def test_dict_inputs_are_passed_to_the_module():
    class Adder(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(1, 1), nn.Linear(1, 1)

        def forward(self, inputs):
            return self.a(inputs["left"]) + self.b(inputs["right"])

    x, y = line_data()
    batches = TensorBatches({"left": x, "right": x}, y, 32, shuffle=True)
    history = Trainer(Adder(), mse, epochs=30, lr=0.05, progress=False).fit(batches)
    assert history[-1]["train_loss"] < 0.05


def test_early_stopping_restores_the_best_weights():
    x, y = line_data(rows=64, noise=1.0)
    valid_x, valid_y = line_data(rows=64, seed=1, noise=1.0)
    train = TensorBatches(x, y, 8, shuffle=True)
    valid = TensorBatches(valid_x, valid_y, 64)
    module = nn.Sequential(nn.Linear(1, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    trainer = Trainer(module, mse, epochs=60, lr=0.01, patience=3, progress=False)
    history = trainer.fit(train, valid)
    losses = [record["valid_loss"] for record in history]
    assert len(history) < 60, "stopped early"
    assert trainer.best_epoch_ == losses.index(min(losses)) + 1 < len(history)
    module.eval()
    with torch.no_grad():
        restored = mse(module(valid_x), valid_y).item()
    assert restored == pytest.approx(min(losses), rel=1e-5)


def test_a_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = line_data()
    calls = {"n": 0}

    def poisoned(outputs, targets):
        calls["n"] += 1
        loss = mse(outputs, targets)
        return loss * float("nan") if calls["n"] > 12 else loss  # 8 batches an epoch: epoch 2 diverges

    trainer = Trainer(small_net(), poisoned, epochs=5, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(TrainingDiverged, match=r"became nan in epoch 2.*Lower the learning rate"):
        trainer.fit(TensorBatches(x, y, 32, shuffle=True))
    _, meta = read(tmp_path / "last.safetensors")
    assert meta["epoch"] == 1 and not meta["finished"]


def _fit(checkpoint_dir, stop_at_step=None, resume=False):
    """Trains the same network on the same data; optionally sends itself SIGTERM at a step."""
    x, y = line_data(rows=300)
    valid_x, valid_y = line_data(rows=100, seed=1)
    steps = {"n": 0}

    def loss_fn(outputs, targets):
        steps["n"] += 1
        if steps["n"] == stop_at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        return mse(outputs, targets)

    module = small_net()
    trainer = Trainer(module, loss_fn, epochs=6, lr=0.01, warmup_epochs=1, clip_norm=1.0, patience=10,
                      checkpoint_dir=checkpoint_dir, seed=3, progress=False)
    trainer.fit(TensorBatches(x, y, 32, shuffle=True, seed=3), TensorBatches(valid_x, valid_y, 100), resume=resume)
    return module, trainer


def test_sigterm_mid_epoch_saves_and_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    reference, reference_trainer = _fit(tmp_path / "straight")
    with pytest.raises(TrainingInterrupted) as caught:
        # 9 training steps and 1 validation loss an epoch: call 22 is the 2nd step of epoch 3.
        _fit(tmp_path / "stopped", stop_at_step=22)
    _, meta = read(caught.value.checkpoint_path)
    assert (meta["epoch"], meta["batch"]) == (2, 2)
    resumed, resumed_trainer = _fit(tmp_path / "stopped", resume=True)

    def timeless(history):
        return [{k: v for k, v in record.items() if k != "seconds"} for record in history]

    assert timeless(resumed_trainer.history_) == timeless(reference_trainer.history_)
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    first, trainer = _fit(tmp_path)
    again, again_trainer = _fit(tmp_path, resume=True)
    assert len(again_trainer.history_) == len(trainer.history_)
    for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_time_budget_stops_training():
    x, y = line_data()
    trainer = Trainer(small_net(), mse, epochs=50, time_budget=1e-6, progress=False)
    history = trainer.fit(TensorBatches(x, y, 32, shuffle=True))
    assert len(history) == 1
    assert "time budget" in trainer.stop_reason_


def test_length_buckets_keep_similar_rows_together_and_still_shuffle():
    rows, size = 2000, 20
    lengths = torch.randint(1, 60, (rows,), generator=torch.Generator().manual_seed(0))
    batches = TensorBatches(torch.arange(rows), torch.zeros(rows), size, shuffle=True, lengths=lengths)
    seen = [index for index, _ in batches]
    spread = torch.tensor([float(lengths[i].max() - lengths[i].min()) for i in seen])
    assert spread.mean() < 5, "rows of a batch have nearly the same length (random batches: ~50 apart)"
    assert len(torch.cat(seen).unique()) == rows, "every row appears once per epoch"
    firsts = torch.tensor([float(lengths[i[0]]) for i in seen])
    assert not torch.equal(firsts, firsts.sort().values), "batches do not come shortest first"
    batches.set_epoch(1)
    assert not torch.equal(torch.cat(seen), torch.cat([index for index, _ in batches])), "each epoch differs"
