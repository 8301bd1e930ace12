import os
import signal
from itertools import pairwise

import pytest
import torch
from torch import nn

from lamina.training.batches import TensorBatches
from lamina.training.checkpoint import read, write_atomically
from lamina.training.step import TrainingStep
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


def test_the_progress_lines_name_the_network_a_task_labels(capsys):
    """A table task labels its network with its architecture, as a forecast labels each candidate it trains."""
    from tests.conftest import make_table

    import lamina

    x, y = line_data(64)
    Trainer(nn.Linear(1, 1), mse, epochs=2, label="linear").fit([(x, y)])
    one = Trainer(nn.Linear(1, 1), mse, epochs=1)
    one.fit([(x, y)])
    assert one.stop_reason_ == "the one epoch done", "not 'all 1 epochs done'"
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["linear", "linear", "epoch 1/1"], lines
    lamina.fit(make_table(120), "y", epochs=1, width=8, depth=1, arch="mlp", members=1)
    assert capsys.readouterr().err.startswith("mlp  epoch 1/1  "), "the table run names its architecture"
    lamina.fit(make_table(120), "y", epochs=1, width=8, depth=1)  # a small table's cross-fitted ensemble, said
    assert capsys.readouterr().err.startswith("mlp, 8 members, 4 folds  epoch 1/1  ")


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


# ---- a step of one's own: two optimisers, a GAN on a 1-D Gaussian --------------------------------

DATA_MEAN, DATA_STD = 4.0, 1.25
NOISE = 4  # generator input width


class GAN(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.generator = nn.Sequential(nn.Linear(NOISE, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))
        self.discriminator = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))


class GANStep(TrainingStep):
    """Non-saturating GAN: a discriminator step on real vs generated rows, then a generator step."""

    monitor = "valid_mean_gap"  # |generated mean - data mean|, on fixed noise

    def __init__(self, stop_at_step=None):
        self.calls, self.stop_at_step = 0, stop_at_step

    def optimizers(self, module, lr, weight_decay):
        # Adam's usual GAN momentum (beta1 0.5): a slower-moving average follows the moving adversary better.
        return {name: torch.optim.Adam(getattr(module, name).parameters(), lr, betas=(0.5, 0.999))
                for name in ("discriminator", "generator")}

    def training_step(self, module, real, trainer):
        self.calls += 1
        if self.calls == self.stop_at_step:
            os.kill(os.getpid(), signal.SIGTERM)
        bce = nn.functional.binary_cross_entropy_with_logits
        fake = module.generator(torch.randn(len(real), NOISE, device=real.device))
        with trainer.autocast():
            real_logits, fake_logits = module.discriminator(real), module.discriminator(fake.detach())
            d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
        trainer.backward(d_loss)
        trainer.optimizer_step("discriminator")
        with trainer.autocast():
            fake_logits = module.discriminator(fake)
            g_loss = bce(fake_logits, torch.ones_like(fake_logits))
        trainer.backward(g_loss)
        trainer.optimizer_step("generator")
        return g_loss

    def validate(self, module, batches, trainer):
        real = torch.cat(list(batches))
        noise = torch.randn(len(real), NOISE, generator=torch.Generator().manual_seed(0)).to(real.device)
        return {"valid_mean_gap": abs(float(module.generator(noise).mean() - real.mean()))}


def gaussian_rows(rows, seed):
    return DATA_MEAN + DATA_STD * torch.randn(rows, 1, generator=torch.Generator().manual_seed(seed))


def _fit_gan(checkpoint_dir=None, stop_at_step=None, resume=False, epochs=40):
    train = list(gaussian_rows(512, 0).split(64))  # batches that are plain tensors, no targets
    module = GAN()
    trainer = Trainer(module, step=GANStep(stop_at_step), epochs=epochs, lr=5e-3, warmup_epochs=1,
                      clip_norm=5.0, checkpoint_dir=checkpoint_dir, seed=1, progress=False)
    trainer.fit(train, [gaussian_rows(256, 1)], resume=resume)
    return module, trainer


def test_a_gan_with_two_optimisers_learns_the_data_mean_through_the_trainer():
    module, trainer = _fit_gan()
    with torch.no_grad():
        generated = module.generator(torch.randn(4096, NOISE, generator=torch.Generator().manual_seed(9)))
    assert generated.mean().item() == pytest.approx(DATA_MEAN, abs=0.3)
    assert 0.3 < generated.std().item() < 2.5, "the generator spreads its rows rather than collapsing"
    gaps = [record["valid_mean_gap"] for record in trainer.history_]
    assert trainer.best_score_ == min(gaps) and gaps[-1] < gaps[0] / 5, "learnt, not only picked the best epoch"
    for name, optimizer in trainer.optimizers_.items():
        assert float(optimizer.state[getattr(module, name)[0].weight]["step"]) == 40 * 8, name


def test_a_gan_checkpoint_holds_both_optimisers_and_resumes_exactly(tmp_path):
    reference, reference_trainer = _fit_gan(tmp_path / "straight", epochs=6)
    with pytest.raises(TrainingInterrupted) as caught:
        _fit_gan(tmp_path / "stopped", stop_at_step=21, epochs=6)  # 8 steps an epoch: mid-epoch 3
    tensors, meta = read(caught.value.checkpoint_path)
    assert (meta["epoch"], meta["batch"]) == (2, 5)
    for name in ("discriminator", "generator"):
        assert any(key.startswith(f"optim.{name}.0.exp_avg") for key in tensors), name
        assert meta["schedules"][name]["last_epoch"] == 21
    resumed, resumed_trainer = _fit_gan(tmp_path / "stopped", resume=True, epochs=6)

    def timeless(history):
        return [{k: v for k, v in record.items() if k != "seconds"} for record in history]

    assert timeless(resumed_trainer.history_) == timeless(reference_trainer.history_)
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_one_optimiser_step_returns_its_loss_and_the_trainer_does_the_rest():
    class FedTargets(TrainingStep):
        """Batches are dicts; the module sees the previous target beside the input, as a seq2seq decoder does."""

        def training_step(self, module, batch, trainer):
            with trainer.autocast():
                return mse(module(torch.cat([batch["x"], batch["previous"]], dim=1)), batch["y"])

    x, y = line_data(rows=320)
    previous = torch.roll(y, 1)
    rows = [{"x": x[i:i + 32], "previous": previous[i:i + 32], "y": y[i:i + 32] + previous[i:i + 32]}
            for i in range(0, 320, 32)]
    module = nn.Linear(2, 1)
    trainer = Trainer(module, step=FedTargets(), epochs=40, lr=0.05, patience=5, progress=False)
    history = trainer.fit(rows[:8], rows[8:])
    assert history[-1]["valid_loss"] < 0.01, "the default validation record: the step's loss on held-out rows"
    assert module.weight.detach().squeeze().tolist() == pytest.approx([3.0, 1.0], abs=0.1)


def test_a_checkpoint_from_before_named_optimisers_still_resumes(tmp_path):
    reference, reference_trainer = _fit(tmp_path / "straight")
    with pytest.raises(TrainingInterrupted) as caught:
        _fit(tmp_path / "stopped", stop_at_step=22)
    # Rewritten in the layout of lamina before named optimisers: one under `optim.`, meta "optimizer"/"schedule".
    tensors, meta = read(caught.value.checkpoint_path)
    assert not any(key.startswith("optim.0.") for key in tensors)
    tensors = {key.replace("optim.main.", "optim.", 1): tensor for key, tensor in tensors.items()}
    meta["optimizer"], meta["schedule"] = meta.pop("optimizers")["main"], meta.pop("schedules")["main"]
    write_atomically(caught.value.checkpoint_path, tensors, meta)
    resumed, resumed_trainer = _fit(tmp_path / "stopped", resume=True)
    assert [r["valid_loss"] for r in resumed_trainer.history_] == [r["valid_loss"] for r in reference_trainer.history_]
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


class Unsized:
    """Batches without len(): the Trainer then runs without a schedule."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)


def test_fitting_again_with_more_epochs_carries_on_with_the_same_optimiser():
    x, y = line_data()
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    straight = small_net()
    Trainer(straight, mse, epochs=4, lr=0.01, progress=False).fit(Unsized(batches))
    split = small_net()
    trainer = Trainer(split, mse, epochs=2, lr=0.01, progress=False)
    trainer.fit(Unsized(batches))
    optimizer = trainer.optimizer_
    trainer.epochs = 4
    history = trainer.fit(Unsized(batches))
    assert trainer.optimizer_ is optimizer and [record["epoch"] for record in history] == [1, 2, 3, 4]
    for a, b in zip(straight.state_dict().values(), split.state_dict().values(), strict=True):
        assert torch.equal(a, b), "two fits of 2 + 2 epochs are one of 4: same optimiser state, same random stream"

    # With a schedule, the cosine stretches over the new length and carries on from where it stands.
    trainer = Trainer(small_net(), mse, epochs=2, lr=0.01, progress=False)
    assert trainer.fit(batches)[-1]["lr"] == 0.0
    trainer.epochs = 4
    four_epochs = Trainer(small_net(), mse, epochs=4, lr=0.01, progress=False).fit(batches)
    assert [r["lr"] for r in trainer.fit(batches)[2:]] == [r["lr"] for r in four_epochs[2:]]


def test_settled_parameters_train_in_the_first_epochs_only_and_frozen_ones_after_theirs():
    x, y = line_data()
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    module = small_net()
    first, last = module[0], module[3]
    seen = []
    trainer = Trainer(module, mse, epochs=5, lr=0.01, progress=False,
                      settle=([first.weight, last.bias], 0.4), freeze=([last.weight, last.bias], 1),
                      callbacks=[lambda _record: seen.append([p.detach().clone() for p in module.parameters()])])
    trainer.fit(batches)
    changed = [[not torch.equal(a, b) for a, b in zip(before, after, strict=True)] for before, after in pairwise(seen)]
    # parameters: first.weight (settled 2), first.bias (free), last.weight (frozen 1), last.bias (both)
    assert changed == [[True, True, True, True],  # epoch 2: last.bias trains where both windows let it
                       [False, True, True, False], [False, True, True, False], [False, True, True, False]]
    assert all(p.requires_grad for p in module.parameters())  # the fitted module comes back trainable
    assert trainer.settled_epochs_ == 2

    # The window is a share of the epochs as they stand (a time budget's plan changes them); the count says how many
    # epochs the settled parameters really trained, here none in the first, which the freeze holds.
    module = small_net()
    trainer = Trainer(module, mse, epochs=2, lr=0.01, progress=False, settle=([module[3].bias], 0.5),
                      freeze=([module[3].bias], 1))
    trainer.fit(batches)
    assert trainer.settled_epochs_ == 0
    trainer.epochs = 6  # the window grows to 3 epochs: the bias trains in the third
    trainer.fit(batches)
    assert trainer.settled_epochs_ == 1


def test_a_trainer_takes_a_loss_or_a_step_exactly():
    with pytest.raises(TypeError, match="exactly one"):
        Trainer(nn.Linear(1, 1))
    with pytest.raises(TypeError, match="exactly one"):
        Trainer(nn.Linear(1, 1), mse, step=TrainingStep())
