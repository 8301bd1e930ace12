"""Robustness audit: accuracy under FGSM and PGD attacks as a curve over the attack budget, with
checks that a model does not look robust by accident (gradient masking).

Tables are attacked in L∞ on the network's dense numeric input — the normal scores, piecewise-linear
pieces and date parts of `numbers` — in those standardised units. Categories and text are discrete
and are left as they are, which the report states. Image models are attacked in L∞ on the pixels of
their (first) image column, budgets counted as fractions of the 0–255 range, pixels kept in range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lamina.data.schema import PICTURE_KINDS

PGD_STEPS = 20  # projected-gradient steps; with a random start this defeats simple masking
PGD_STEP_FACTOR = 2.5  # step size = factor × budget / steps (Madry et al.)
MASKING_MARGIN = 0.05  # PGD this much weaker than FGSM or random noise suggests masked gradients


@dataclass(frozen=True)
class AttackSpace:
    """Which input an attack moves, in which unit its budget is counted, and the values it may take."""

    key: str  # the network input that is perturbed
    budgets: tuple[float, ...]  # L∞ radii of the curve, in `unit`
    large_budget: float  # a radius that should break any model that is not masking its gradients
    scale: float  # input units per budget unit
    low: float | None  # the smallest and largest value the input may take (pixels stay pixels)
    high: float | None
    description: str
    unit: str


TABLE_BUDGETS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)  # normal-score units of the numeric inputs
IMAGE_BUDGETS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)  # fractions of the 0–255 pixel range
TABLE_SPACE = AttackSpace("numbers", TABLE_BUDGETS, 5.0, 1.0, None, None,
                          "L∞ on the standardised numeric inputs (categories and text unchanged)", "normal-score units")


IMAGE_UNIT = "fraction of the pixel range"


def image_space(column: str) -> AttackSpace:
    return AttackSpace(f"image:{column}", IMAGE_BUDGETS, 0.5, 255.0, 0.0, 255.0,
                       f"L∞ on the pixels of {column!r} (other columns unchanged)", IMAGE_UNIT)


def attack_space(model) -> AttackSpace:
    """Images are attacked on their pixels when the model reads images; tables on their numeric inputs."""
    images = [c.name for c in model.schema.features if c.kind in PICTURE_KINDS]
    return image_space(images[0]) if images else TABLE_SPACE


def _loss_gradient(network: nn.Module, inputs: dict, targets: torch.Tensor, space: AttackSpace,
                   values: torch.Tensor) -> torch.Tensor:
    values = values.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(network({**inputs, space.key: values}), targets)
    (gradient,) = torch.autograd.grad(loss, values)
    return gradient


def _within(space: AttackSpace, values: torch.Tensor) -> torch.Tensor:
    return values if space.low is None else values.clamp(space.low, space.high)


def fgsm(network: nn.Module, inputs: dict, targets: torch.Tensor, budget: float,
         space: AttackSpace = TABLE_SPACE) -> torch.Tensor:
    clean = inputs[space.key].float()
    step = budget * space.scale * _loss_gradient(network, inputs, targets, space, clean).sign()
    return _within(space, clean + step).detach()


def pgd(network: nn.Module, inputs: dict, targets: torch.Tensor, budget: float, steps: int = PGD_STEPS,
        generator: torch.Generator | None = None, space: AttackSpace = TABLE_SPACE) -> torch.Tensor:
    """Projected gradient descent from a random start inside the L∞ ball."""
    clean = inputs[space.key].float()
    radius = budget * space.scale
    start = (torch.rand(clean.shape, generator=generator) * 2 - 1).to(clean.device) * radius
    values = _within(space, clean + start)
    step = PGD_STEP_FACTOR * radius / steps
    for _ in range(steps):
        gradient = _loss_gradient(network, inputs, targets, space, values)
        values = _within(space, clean + (values + step * gradient.sign() - clean).clamp(-radius, radius))
    return values.detach()


def random_noise(inputs: dict, budget: float, generator: torch.Generator,
                 space: AttackSpace = TABLE_SPACE) -> torch.Tensor:
    clean = inputs[space.key].float()
    signs = torch.randint(0, 2, clean.shape, generator=generator).float() * 2 - 1
    return _within(space, clean + signs * budget * space.scale)


def _accuracy(network: nn.Module, inputs: dict, space: AttackSpace, values: torch.Tensor,
              targets: torch.Tensor) -> float:
    with torch.no_grad():
        return float((network({**inputs, space.key: values}).argmax(dim=1) == targets).float().mean())


def robustness_curve(model, frame, budgets=None, seed: int = 0) -> dict:
    """Clean, FGSM, PGD and random-noise accuracy at each budget, and the gradient-masking checks."""
    if not model.target.is_classification:
        return {"applicable": False, "reason": "attacks on accuracy need a classification model"}
    space = attack_space(model)
    frame, truth = model.labelled(frame)
    inputs = model.features.transform(frame)
    if inputs[space.key].shape[1] == 0:
        return {"applicable": False, "reason": "the model has no numeric inputs to perturb"}
    targets = torch.from_numpy(np.array(truth))  # a writable copy
    network = model.network.eval()
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for budget in [*(budgets or space.budgets), space.large_budget]:
        attacked = {
            "fgsm": fgsm(network, inputs, targets, budget, space),
            "pgd": pgd(network, inputs, targets, budget, generator=generator, space=space),
            "random": random_noise(inputs, budget, generator, space),
        }
        curve.append({"budget": budget,
                      **{name: _accuracy(network, inputs, space, values, targets) for name, values in attacked.items()}})
    large = curve.pop()
    suspicious = [p["budget"] for p in curve if p["pgd"] > min(p["fgsm"], p["random"]) + MASKING_MARGIN]
    return {
        "applicable": True, "space": space.description, "unit": space.unit, "rows": len(frame),
        "clean": curve[0]["pgd"], "curve": curve, "large_budget": large,
        "masking_suspected_at": suspicious,
        "note": ("PGD is at least as strong as FGSM and random noise at every budget" if not suspicious else
                 "PGD is weaker than a cruder attack at some budgets: gradients may be masked; do not trust "
                 "the robust accuracy there"),
    }


def budget_label(budget: float, unit: str) -> str:
    """Pixel budgets read as k/255, the way papers state them; others as decimals."""
    return f"{round(budget * 255)}/255" if unit == IMAGE_UNIT else f"{budget:.2f}"


def robustness_text(result: dict) -> str:
    if not result["applicable"]:
        return f"Robustness audit not applicable: {result['reason']}."
    lines = [f"Robustness on {result['rows']} rows, {result['space']}",
             f"  {'budget':>7} {'FGSM acc':>9} {'PGD acc':>9} {'noise acc':>10}"]
    lines += [f"  {budget_label(p['budget'], result['unit']):>7} {p['fgsm']:>9.4f} {p['pgd']:>9.4f} "
              f"{p['random']:>10.4f}" for p in result["curve"]]
    large = result["large_budget"]
    lines.append(f"  sanity: at budget {budget_label(large['budget'], result['unit'])} PGD accuracy is {large['pgd']:.4f} "
                 "(the unperturbed categories and text can keep it above zero)")
    lines.append(f"  {result['note']}")
    return "\n".join(lines)


class PGDAdversary:
    """For adversarial training: replaces each batch's attacked input (numbers, or an image column's pixels)
    by PGD examples in half the batch, so the model keeps seeing clean rows too."""

    def __init__(self, budget: float, space: AttackSpace = TABLE_SPACE, steps: int = 7, seed: int = 0):
        self.budget, self.space, self.steps = budget, space, steps
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, network: nn.Module, inputs: dict, targets: torch.Tensor) -> dict:
        was_training = network.training
        network.eval()  # attack the network as it predicts; batch norm statistics stay untouched
        adversarial = pgd(network, inputs, targets, self.budget, self.steps, self.generator, self.space)
        network.train(was_training)
        half = len(targets) // 2
        clean = inputs[self.space.key]
        return {**inputs, self.space.key: torch.cat([clean[:half].to(adversarial.dtype), adversarial[half:]])}
