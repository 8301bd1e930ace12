"""Robustness audit: accuracy under FGSM and PGD attacks as a curve over the attack budget, with
checks that a model does not look robust by accident (gradient masking).

Tables are attacked in L∞ on the network's dense numeric input — the normal scores, piecewise-linear
pieces and date parts of `numbers` — in those standardised units. Categories are discrete and are left
as they are, which the report states. Image models are attacked in L∞ on the pixels of their (first)
image column, budgets counted as fractions of the 0–255 range, pixels kept in range. Text read by a
sequence network (GRU, LSTM, Transformer, pretrained encoder) is attacked on its token embeddings, not
its words: L∞ on every real token's embedding vector (padding stays), budgets in standard deviations
of the embedding table's entries. An embedding attack bounds what a change of meaning-preserving
nuance could do; it is not a list of word swaps a person could type, which the report says.
"""

from __future__ import annotations

from collections.abc import Callable
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

    key: str  # the network input that is perturbed ("text:<column>": that column's token embeddings)
    budgets: tuple[float, ...]  # L∞ radii of the curve, in `unit`
    large_budget: float  # a radius that should break any model that is not masking its gradients
    scale: float  # input units per budget unit
    low: float | None  # the smallest and largest value the input may take (pixels stay pixels)
    high: float | None
    description: str
    unit: str


TABLE_BUDGETS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)  # normal-score units of the numeric inputs
IMAGE_BUDGETS = (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255)  # fractions of the 0–255 pixel range
TEXT_BUDGETS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0)  # standard deviations of the embedding table's entries
TABLE_SPACE = AttackSpace("numbers", TABLE_BUDGETS, 5.0, 1.0, None, None,
                          "L∞ on the standardised numeric inputs (categories and text unchanged)", "normal-score units")
IMAGE_UNIT = "fraction of the pixel range"
TEXT_UNIT = "embedding standard deviations"


def image_space(column: str) -> AttackSpace:
    return AttackSpace(f"image:{column}", IMAGE_BUDGETS, 0.5, 255.0, 0.0, 255.0,
                       f"L∞ on the pixels of {column!r} (other columns unchanged)", IMAGE_UNIT)


def text_space(column: str, embedding_spread: float) -> AttackSpace:
    return AttackSpace(f"text:{column}", TEXT_BUDGETS, 5.0, embedding_spread, None, None,
                       f"L∞ on the token embeddings of {column!r}, not on its words (other columns unchanged)",
                       TEXT_UNIT)


def attack_space(model) -> AttackSpace:
    """Images are attacked on their pixels when the model reads images; text read by a sequence network
    on its token embeddings; tables on their numeric inputs."""
    images = [c.name for c in model.schema.features if c.kind in PICTURE_KINDS]
    if images:
        return image_space(images[0])
    if getattr(model.network, "reads", None) == "text":
        from lamina.nets.mlp import module_key

        column = next(c.name for c in model.schema.features if c.kind == "text")
        weights = model.network.backbones[module_key(column)].embed.weight
        return text_space(column, float(weights.detach().float().std()))
    return TABLE_SPACE


@dataclass(frozen=True)
class Surface:
    """What an attack moves: the clean values, the network's outputs as a function of them, and which
    entries may move at all (1) or must stay (0), such as the padding after a text."""

    clean: torch.Tensor
    outputs: Callable[[torch.Tensor], torch.Tensor]
    movable: torch.Tensor | float = 1.0


def attack_surface(network: nn.Module, inputs: dict, space: AttackSpace) -> Surface:
    """`network` (in eval mode) on the encoded `inputs`, as a function of the input `space` names."""
    if space.key.startswith("text:"):
        from lamina.insight.embedded_text import embedded_text

        text = embedded_text(network, inputs, space.key.removeprefix("text:"))
        return Surface(text.embedded.float(), text.outputs, text.mask.unsqueeze(-1).float())
    return Surface(inputs[space.key].float(), lambda values: network({**inputs, space.key: values}))


def _loss_gradient(surface: Surface, targets: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    values = values.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(surface.outputs(values), targets)
    (gradient,) = torch.autograd.grad(loss, values)
    return gradient


def _project(space: AttackSpace, surface: Surface, values: torch.Tensor, radius: float) -> torch.Tensor:
    """`values` pulled back into the L∞ ball of `radius` around the clean values, onto the entries that may
    move, and into the input's range."""
    moved = surface.clean + (values - surface.clean).clamp(-radius, radius) * surface.movable
    return (moved if space.low is None else moved.clamp(space.low, space.high)).detach()


def fgsm(surface: Surface, targets: torch.Tensor, budget: float, space: AttackSpace = TABLE_SPACE) -> torch.Tensor:
    radius = budget * space.scale
    step = radius * _loss_gradient(surface, targets, surface.clean).sign()
    return _project(space, surface, surface.clean + step, radius)


def pgd(surface: Surface, targets: torch.Tensor, budget: float, space: AttackSpace = TABLE_SPACE,
        steps: int = PGD_STEPS, generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent from a random start inside the L∞ ball."""
    clean = surface.clean
    radius = budget * space.scale
    start = (torch.rand(clean.shape, generator=generator) * 2 - 1).to(clean.device) * radius
    values = _project(space, surface, clean + start, radius)
    step = PGD_STEP_FACTOR * radius / steps
    for _ in range(steps):
        values = _project(space, surface, values + step * _loss_gradient(surface, targets, values).sign(), radius)
    return values


def random_noise(surface: Surface, budget: float, generator: torch.Generator,
                 space: AttackSpace = TABLE_SPACE) -> torch.Tensor:
    radius = budget * space.scale
    signs = torch.randint(0, 2, surface.clean.shape, generator=generator).float() * 2 - 1
    return _project(space, surface, surface.clean + signs * radius, radius)


def _correct(surface: Surface, values: torch.Tensor, targets: torch.Tensor) -> int:
    with torch.no_grad():
        return int((surface.outputs(values).argmax(dim=1) == targets).sum())


def robustness_curve(model, frame, budgets=None, seed: int = 0) -> dict:
    """Clean, FGSM, PGD and random-noise accuracy at each budget, and the gradient-masking checks. The rows are
    attacked a pass at a time (training.batches.rows_per_pass: 128 pictures of 28 × 28 on a CPU), as an attack
    keeps every layer's activations for its gradients: all of a large picture set at once could fill the memory."""
    from lamina.training.batches import rows_per_pass, take_rows

    if not model.target.is_classification:
        return {"applicable": False, "reason": "attacks on accuracy need a classification model"}
    space = attack_space(model)
    frame, truth = model.labelled(frame)
    inputs = model.features.transform(frame)
    if space is TABLE_SPACE and inputs[space.key].shape[1] == 0:
        return {"applicable": False, "reason": "the model has no numeric inputs to perturb (categories are discrete)"}
    targets = torch.from_numpy(np.array(truth))  # a writable copy
    network = model.network.eval()
    step = rows_per_pass(inputs, next(network.parameters()).device)
    passes = [(attack_surface(network, take_rows(inputs, slice(start, start + step)), space),
               targets[start:start + step]) for start in range(0, len(targets), step)]  # built once for every budget
    generator = torch.Generator().manual_seed(seed)
    curve = []
    for budget in [*(budgets or space.budgets), space.large_budget]:
        correct = dict.fromkeys(("fgsm", "pgd", "random"), 0)
        for surface, truths in passes:
            attacked = {
                "fgsm": fgsm(surface, truths, budget, space),
                "pgd": pgd(surface, truths, budget, space, generator=generator),
                "random": random_noise(surface, budget, generator, space),
            }
            for name, values in attacked.items():
                correct[name] += _correct(surface, values, truths)
        curve.append({"budget": budget, **{name: count / len(targets) for name, count in correct.items()}})
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
                 "(inputs the attack leaves unchanged can keep it above zero)")
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
        surface = attack_surface(network, inputs, self.space)
        adversarial = pgd(surface, targets, self.budget, self.space, self.steps, self.generator)
        network.train(was_training)
        half = len(targets) // 2
        clean = inputs[self.space.key]
        return {**inputs, self.space.key: torch.cat([clean[:half].to(adversarial.dtype), adversarial[half:]])}


TABLE_ADVERSARIAL_BUDGET = 0.2  # L∞, normal-score units: about a fifth of a standard deviation
IMAGE_ADVERSARIAL_BUDGET = 8 / 255  # L∞, fraction of the pixel range: the usual CIFAR/MNIST-scale radius


def adversary_for(config, schema) -> PGDAdversary | None:
    """The PGD adversary `train.adversarial: pgd` asks for (None without it), on image pixels when the data
    has images, else on the standardised numeric inputs. Data it cannot attack (a quantity's target, neither numbers
    nor pixels) was refused before training (tasks.table.refuse_what_cannot_apply)."""
    if config.train.adversarial == "none":
        return None
    images = [c.name for c in schema.features if c.kind in PICTURE_KINDS]
    space = image_space(images[0]) if images else TABLE_SPACE
    budget = config.train.adversarial_budget
    if budget == "auto":
        budget = IMAGE_ADVERSARIAL_BUDGET if images else TABLE_ADVERSARIAL_BUDGET
    return PGDAdversary(budget, space, seed=config.seed)
