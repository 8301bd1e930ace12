"""Robustness audit: accuracy under FGSM and PGD attacks as a curve over the attack budget, with
checks that a model does not look robust by accident (gradient masking).

Tables are attacked in L∞ on the network's dense numeric input — the normal scores, piecewise-linear
pieces and date parts of `numbers` — in those standardised units. Categories and text are discrete
and are left as they are, which the report states.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BUDGETS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)  # L∞ radii, in normal-score units of the numeric inputs
LARGE_BUDGET = 5.0  # a radius that should break any model that is not masking its gradients
PGD_STEPS = 20  # projected-gradient steps; with a random start this defeats simple masking
PGD_STEP_FACTOR = 2.5  # step size = factor × budget / steps (Madry et al.)
MASKING_MARGIN = 0.05  # PGD this much weaker than FGSM or random noise suggests masked gradients
SPACE = "L∞ on the standardised numeric inputs (categories and text unchanged)"


def _loss_gradient(network: nn.Module, inputs: dict, targets: torch.Tensor, numbers: torch.Tensor) -> torch.Tensor:
    numbers = numbers.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(network({**inputs, "numbers": numbers}), targets)
    (gradient,) = torch.autograd.grad(loss, numbers)
    return gradient


def fgsm(network: nn.Module, inputs: dict, targets: torch.Tensor, budget: float) -> torch.Tensor:
    numbers = inputs["numbers"]
    return (numbers + budget * _loss_gradient(network, inputs, targets, numbers).sign()).detach()


def pgd(network: nn.Module, inputs: dict, targets: torch.Tensor, budget: float, steps: int = PGD_STEPS,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent from a random start inside the L∞ ball."""
    clean = inputs["numbers"]
    start = (torch.rand(clean.shape, generator=generator) * 2 - 1).to(clean.device) * budget
    numbers = clean + start
    step = PGD_STEP_FACTOR * budget / steps
    for _ in range(steps):
        gradient = _loss_gradient(network, inputs, targets, numbers)
        numbers = clean + (numbers + step * gradient.sign() - clean).clamp(-budget, budget)
    return numbers.detach()


def random_noise(inputs: dict, budget: float, generator: torch.Generator) -> torch.Tensor:
    clean = inputs["numbers"]
    return clean + (torch.randint(0, 2, clean.shape, generator=generator).float() * 2 - 1) * budget


def _accuracy(network: nn.Module, inputs: dict, numbers: torch.Tensor, targets: torch.Tensor) -> float:
    with torch.no_grad():
        return float((network({**inputs, "numbers": numbers}).argmax(dim=1) == targets).float().mean())


def robustness_curve(model, frame, budgets=BUDGETS, seed: int = 0) -> dict:
    """Clean, FGSM, PGD and random-noise accuracy at each budget, and the gradient-masking checks."""
    if not model.target.is_classification:
        return {"applicable": False, "reason": "attacks on accuracy need a classification model"}
    frame, truth = model.labelled(frame)
    inputs = model.features.transform(frame)
    if inputs["numbers"].shape[1] == 0:
        return {"applicable": False, "reason": "the model has no numeric inputs to perturb"}
    targets = torch.from_numpy(np.array(truth))  # a writable copy
    network = model.network.eval()
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for budget in [*budgets, LARGE_BUDGET]:
        curve.append({
            "budget": budget,
            "fgsm": _accuracy(network, inputs, fgsm(network, inputs, targets, budget), targets),
            "pgd": _accuracy(network, inputs, pgd(network, inputs, targets, budget, generator=generator), targets),
            "random": _accuracy(network, inputs, random_noise(inputs, budget, generator), targets),
        })
    large = curve.pop()
    suspicious = [p["budget"] for p in curve if p["pgd"] > min(p["fgsm"], p["random"]) + MASKING_MARGIN]
    return {
        "applicable": True, "space": SPACE, "rows": len(frame), "clean": curve[0]["pgd"], "curve": curve,
        "large_budget": large,
        "masking_suspected_at": suspicious,
        "note": ("PGD is at least as strong as FGSM and random noise at every budget" if not suspicious else
                 "PGD is weaker than a cruder attack at some budgets: gradients may be masked; do not trust "
                 "the robust accuracy there"),
    }


def robustness_text(result: dict) -> str:
    if not result["applicable"]:
        return f"Robustness audit not applicable: {result['reason']}."
    lines = [f"Robustness on {result['rows']} rows, {result['space']}",
             f"  {'budget':>7} {'FGSM acc':>9} {'PGD acc':>9} {'noise acc':>10}"]
    lines += [f"  {p['budget']:>7.2f} {p['fgsm']:>9.4f} {p['pgd']:>9.4f} {p['random']:>10.4f}" for p in result["curve"]]
    large = result["large_budget"]
    lines.append(f"  sanity: at budget {large['budget']} PGD accuracy is {large['pgd']:.4f} "
                 "(the unperturbed categories and text can keep it above zero)")
    lines.append(f"  {result['note']}")
    return "\n".join(lines)


class PGDAdversary:
    """For adversarial training: replaces each batch's numeric inputs by PGD examples (half the batch,
    so the model keeps seeing clean rows too)."""

    def __init__(self, budget: float, steps: int = 7, seed: int = 0):
        self.budget, self.steps = budget, steps
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, network: nn.Module, inputs: dict, targets: torch.Tensor) -> dict:
        was_training = network.training
        network.eval()  # attack the network as it predicts; batch norm statistics stay untouched
        adversarial = pgd(network, inputs, targets, self.budget, self.steps, self.generator)
        network.train(was_training)
        half = len(targets) // 2
        numbers = torch.cat([inputs["numbers"][:half], adversarial[half:]])
        return {**inputs, "numbers": numbers}
