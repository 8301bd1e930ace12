"""Differential privacy for training: DP-SGD (Abadi et al., 2016, "Deep Learning with Differential Privacy")
through Opacus, accounted with Rényi DP (Mironov, 2017).

What `DPSGD` does to a Trainer (its `privacy=` seam):
- batches: Poisson sampling, each training row joins each step independently with probability
  q = batch_size / rows (`PoissonBatches`), the sampling the RDP accountant's bound assumes;
- gradients: opacus computes per-row gradients (GradSampleModule hooks on the network), clips each row's
  to L2 norm `max_grad_norm` and adds Gaussian noise of standard deviation noise_multiplier × max_grad_norm
  to their sum (DPOptimizer around the Trainer's AdamW);
- budget: the noise multiplier is the smallest that keeps ε ≤ the target after the planned steps
  (epochs × steps per epoch); the batches stop once one more step would spend more than the target
  (a run given more epochs than planned stops there and says so), so the target is never exceeded.

A network must hold no BatchNorm (a row's output would depend on the other rows of its batch):
`private_network` replaces each by a one-group GroupNorm through opacus' ModuleValidator.fix, and a model records
that in its architecture (`"private": true`), so loading rebuilds the same layers.

What is protected: the training split's rows (row-level (ε, δ)-DP of the weights of every step). The
validation split that picks the best epoch is not: its rows are seen without noise.
"""

from __future__ import annotations

import math
import warnings

import torch
from pydantic import Field, StrictInt, StrictStr, model_validator
from torch import nn

from lamina.checked import Record
from lamina.errors import LaminaError
from lamina.privacy_target import Budget
from lamina.training.batches import TensorBatches, take_rows

ACCOUNTANT = "rdp"
EPSILON_TOLERANCE = 0.005  # how far below the target ε the calibrated noise may land, as a share of the target
# ...and at least this far (ε units): for a tiny target opacus' bisection on σ outlasted float precision and never
# ended (ε = 1e-16 at δ = 0.5).
LEAST_TOLERANCE = 1e-6


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """ε after `steps` noisy steps of Poisson rate `sample_rate` (RDP accountant; 0 before any step)."""
    from opacus.accountants import RDPAccountant

    if steps == 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(noise_multiplier, sample_rate, steps)]
    with warnings.catch_warnings():  # "optimal order is the largest alpha": the bound is valid, only looser
        warnings.simplefilter("ignore", UserWarning)
        return float(accountant.get_epsilon(delta))


def least_epsilon(delta: float) -> float:
    """The ε the RDP accountant certifies at `delta` with infinite noise: its Rényi divergences are all 0, and
    converting them to (ε, δ) still costs about log(1/δ) / (α − 1) at its largest order α (63). No training
    reaches an ε at or below this, whatever its noise, rows or steps."""
    import numpy as np
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = RDPAccountant.DEFAULT_ALPHAS
    with warnings.catch_warnings():  # "optimal order is the largest alpha": as in epsilon_spent
        warnings.simplefilter("ignore", UserWarning)
        return float(get_privacy_spent(orders=orders, rdp=np.zeros(len(orders)), delta=delta)[0])


def noise_multiplier_for(budget: Budget, sample_rate: float, steps: int) -> float:
    """The smallest Gaussian noise multiplier (σ / clipping norm) that keeps ε ≤ budget.epsilon after `steps`.
    Raises LaminaError when no noise reaches the target: at once when ε is at or below `least_epsilon` (opacus'
    own search would double σ up to 10⁶ first, tens of seconds), else when opacus' search gives up."""
    from opacus.accountants.utils import get_noise_multiplier

    floor = least_epsilon(budget.delta)
    if budget.epsilon <= floor:
        shown = float(f"{floor:.3g}")
        if shown <= floor:  # rounded up, so that the ε it advises lies above the floor
            shown += 10.0 ** (math.floor(math.log10(floor)) - 2)
        raise LaminaError(
            f"--privacy epsilon={budget.epsilon:g} is out of reach at delta={budget.delta:g}: with any amount of "
            f"noise the accountant certifies no ε below {floor:.6g} there. Raise epsilon above {shown:.3g}, or "
            "delta (it must stay well below 1 / training rows).")
    with warnings.catch_warnings():  # "optimal order is the largest alpha": as in epsilon_spent
        warnings.simplefilter("ignore", UserWarning)
        try:
            return float(get_noise_multiplier(target_epsilon=budget.epsilon, target_delta=budget.delta,
                                              sample_rate=sample_rate, steps=steps, accountant=ACCOUNTANT,
                                              epsilon_tolerance=max(EPSILON_TOLERANCE * budget.epsilon,
                                                                    LEAST_TOLERANCE)))
        except ValueError:  # opacus: "The privacy budget is too low." (no noise reaches ε within its search)
            raise LaminaError(
                f"--privacy epsilon={budget.epsilon:g} cannot be reached in {steps} steps at sampling rate "
                f"{sample_rate:.3g}: no amount of noise keeps ε that low. Raise epsilon, train fewer --epochs, "
                "give more rows, or a larger --batch-size.") from None


def refuse_loose_delta(budget: Budget, rows: int) -> None:
    """Raises LaminaError for δ ≥ 1 / rows: at such a δ, a mechanism that publishes a whole row in the clear, chosen
    at random, meets the (ε, δ) guarantee, which then promises nothing (Dwork and Roth 2014, section 2.3)."""
    if budget.delta >= 1 / rows:
        raise LaminaError(
            f"--privacy delta={budget.delta:g} is at or above 1 / {rows} training rows = {1 / rows:.3g}: a δ that "
            "large allows one row to be given away whole, so the guarantee would mean nothing. Give delta well "
            f"below {1 / rows:.3g}, e.g. {min(1e-5, 0.1 / rows):.1g}.")


def steps_within(budget: Budget, noise_multiplier: float, sample_rate: float, planned: int) -> int:
    """The most steps whose ε stays ≤ the target (at least `planned` when the noise was calibrated for them)."""
    low, high = 0, max(planned, 1)
    while epsilon_spent(noise_multiplier, sample_rate, high, budget.delta) <= budget.epsilon:
        low, high = high, 2 * high
    while high - low > 1:  # ε rises with the steps: bisect for the last step within the budget
        middle = (low + high) // 2
        if epsilon_spent(noise_multiplier, sample_rate, middle, budget.delta) <= budget.epsilon:
            low = middle
        else:
            high = middle
    return low


PRIVATE_KINDS = ("number", "category", "binary", "datetime")  # columns whose blocks opacus has per-row gradients for


def require_private_kinds(schema) -> None:
    """Refuses a schema (data.schema.Schema) with an input column DP-SGD cannot train (text, image, audio,
    molecule...), naming the column and its kind, before anything is trained or written."""
    refused = [column for column in schema.features if column.kind not in PRIVATE_KINDS]
    if refused:
        named = ", ".join(f"{column.name!r} ({column.kind})" for column in refused)
        raise LaminaError(f"--privacy trains tables of {', '.join(PRIVATE_KINDS)} columns, and the data has {named}. "
                          "Leave those columns out (--column NAME=ignore), or train without --privacy.")


def private_network(network: nn.Module) -> nn.Module:
    """A copy of `network` with every BatchNorm replaced by a one-group GroupNorm (opacus ModuleValidator.fix);
    raises LaminaError naming a layer opacus cannot compute per-row gradients for.

    One group normalises over all of a layer's features, as LayerNorm does. Opacus' default, min(32, channels)
    groups, gives a dense layer's BatchNorm1d one feature per group: each is normalised to 0 and the network
    learns nothing."""
    from opacus.validators import ModuleValidator

    bags = [name for name, layer in network.named_modules() if isinstance(layer, nn.EmbeddingBag)]
    if bags:  # opacus' per-row gradient of an EmbeddingBag needs offsets; lamina's text block feeds padded rows
        raise LaminaError(f"Differential privacy cannot train this network's text embeddings ({bags[0]}): opacus "
                          "has no per-row gradient for them. Leave the text columns out (--column NAME=ignore) or "
                          "train without --privacy.")
    fixed = ModuleValidator.fix(network, num_groups=1)
    problems = ModuleValidator.validate(fixed, strict=False)
    if problems:
        raise LaminaError(f"This network cannot be trained with differential privacy: {problems[0]} Train it "
                          "without --privacy, or choose another --arch (mlp is supported).")
    return fixed


class PoissonBatches:
    """The rows of a TensorBatches, drawn by Poisson sampling: each of `steps_per_epoch` steps takes every row
    independently with probability `sample_rate`. Epoch e's draws come from (seed, e), so a resumed run replays
    them. The last allowed step (`max_steps`, counted from the start of training) ends the iteration early.
    An empty draw (probability (1 - q)^rows, e^-batch_size: never in practice) is skipped but counted."""

    def __init__(self, batches: TensorBatches, max_steps: int):
        self.inputs, self.targets, self.seed = batches.inputs, batches.targets, batches.seed
        self.rows = batches.rows
        self.sample_rate = min(1.0, batches.batch_size / self.rows)
        self.steps_per_epoch = max(1, round(1 / self.sample_rate))
        self.max_steps = max_steps
        self.epoch = 0
        self.taken = 0  # steps drawn since the start of training (across resumes: from the epoch reached)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.taken = epoch * self.steps_per_epoch

    @property
    def exhausted(self) -> bool:
        return self.taken >= self.max_steps

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.taken = self.epoch * self.steps_per_epoch
        for _ in range(self.steps_per_epoch):
            if self.exhausted:
                return
            chosen = torch.rand(self.rows, generator=generator) < self.sample_rate
            self.taken += 1
            index = chosen.nonzero().view(-1).to(self.targets.device)
            if len(index):
                yield take_rows(self.inputs, index), self.targets[index]


class DPSGD:
    """The Trainer's privacy seam: `attach` before training, `detach` after, `record()` for model.json."""

    def __init__(self, budget: Budget, max_grad_norm: float = 1.0):
        """`max_grad_norm`: the L2 norm each row's gradient is clipped to (the noise scales with it)."""
        if not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
            raise LaminaError(f"--max-grad-norm {max_grad_norm} must be a number above 0 (1.0 is usual).")
        self.budget = budget
        self.max_grad_norm = max_grad_norm
        self.batches_: PoissonBatches | None = None

    def attach(self, module: nn.Module, optimizers: dict, train, epochs: int) -> tuple[dict, PoissonBatches]:
        """(optimisers, batches) to train `module` with DP-SGD for `epochs`: per-row gradient hooks on the module,
        each optimiser wrapped in opacus' DPOptimizer, `train` (a TensorBatches) drawn by Poisson sampling.
        Calibrates the noise the first time; a Trainer fitted again keeps it and its step count."""
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer

        if len(optimizers) != 1:
            raise LaminaError("Differential privacy trains networks with one optimiser; this task drives "
                              f"{len(optimizers)} ({', '.join(optimizers)}). Train it without --privacy.")
        if not isinstance(train, (TensorBatches, PoissonBatches)):
            raise LaminaError("Differential privacy needs training rows it can sample itself (a TensorBatches); "
                              "this task makes its own batches. Train it without --privacy.")
        if self.batches_ is None:
            self.batches_ = PoissonBatches(train, max_steps=0)
            refuse_loose_delta(self.budget, self.batches_.rows)
            self.planned_steps_ = epochs * self.batches_.steps_per_epoch
            self.noise_multiplier_ = noise_multiplier_for(self.budget, self.batches_.sample_rate, self.planned_steps_)
            self.batches_.max_steps = steps_within(self.budget, self.noise_multiplier_, self.batches_.sample_rate,
                                                   self.planned_steps_)
        # The hooks live on the module's own layers: the Trainer keeps calling (and checkpointing) the module.
        self._hooks = GradSampleModule(module, loss_reduction="mean")
        # Opacus' backward hooks on a first layer whose inputs need no gradient: expected, and harmless.
        warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed")
        expected = max(1, round(self.batches_.sample_rate * self.batches_.rows))
        wrapped = {name: DPOptimizer(getattr(optimizer, "original_optimizer", optimizer),
                                     noise_multiplier=self.noise_multiplier_, max_grad_norm=self.max_grad_norm,
                                     expected_batch_size=expected)
                   for name, optimizer in optimizers.items()}
        return wrapped, self.batches_

    def detach(self) -> None:
        """Removes the per-row gradient hooks (explanations and inference then run on the plain network)."""
        if getattr(self, "_hooks", None) is not None:
            self._hooks._close()
            self._hooks = None

    @property
    def exhausted(self) -> bool:
        """Whether the privacy budget is spent: one more step would take ε above the target."""
        return self.batches_ is not None and self.batches_.exhausted

    def record(self) -> dict:
        """What model.json keeps: the ε spent (≤ target_epsilon), δ, and how the noise was set."""
        batches = self.batches_
        steps = min(batches.taken, batches.max_steps) if batches else 0
        return {"mechanism": "DP-SGD (opacus)", "accountant": ACCOUNTANT, "sampling": "poisson",
                "epsilon": epsilon_spent(self.noise_multiplier_, batches.sample_rate, steps, self.budget.delta)
                if batches else 0.0,
                "delta": self.budget.delta, "target_epsilon": self.budget.epsilon,
                "noise_multiplier": self.noise_multiplier_ if batches else 0.0, "max_grad_norm": self.max_grad_norm,
                "sample_rate": batches.sample_rate if batches else 0.0, "steps": steps}


class PrivacyRecord(Record):
    """model.json's training.privacy, as DPSGD.record() writes it."""

    mechanism: StrictStr
    accountant: StrictStr
    sampling: StrictStr
    epsilon: float = Field(ge=0)  # spent
    delta: float = Field(gt=0, lt=1)
    target_epsilon: float = Field(gt=0)
    noise_multiplier: float = Field(ge=0)
    max_grad_norm: float = Field(gt=0)
    sample_rate: float = Field(ge=0, le=1)
    steps: StrictInt = Field(ge=0)

    @model_validator(mode="after")
    def _within_the_target(self) -> PrivacyRecord:
        if self.epsilon > self.target_epsilon:
            raise ValueError(f"the spent epsilon {self.epsilon} exceeds the target {self.target_epsilon}")
        return self


def spent_epsilon(record: dict) -> str:
    """The ε a PrivacyRecord spent, to 3 significant figures rounded toward 0: shown beside its target, a spent
    amount rounded up could read as more than the target it kept within (1.0051 of 1.0052 showed as 1.01)."""
    from decimal import ROUND_DOWN, Decimal

    spent = Decimal(repr(float(record["epsilon"])))
    if not spent:
        return "0"
    floored = spent.quantize(Decimal(1).scaleb(spent.adjusted() - 2), rounding=ROUND_DOWN)
    return f"{float(floored):.3g}"  # its 3 digits, written as :.3g writes them (1.23e-05, 120)


def privacy_text(record: dict) -> str:
    """One line for the CLI and the model card."""
    return (f"differential privacy: ε = {spent_epsilon(record)} spent of {record['target_epsilon']:g}, "
            f"δ = {record['delta']:g} ({record['mechanism']}, {record['accountant'].upper()} accountant, noise "
            f"multiplier {record['noise_multiplier']:.3g}, per-row clipping at {record['max_grad_norm']:g}, "
            f"{record['steps']} steps)")
