"""Integrated gradients on a molecule's atoms and bonds, drawn on the molecule with RDKit's SVG drawer.

The path runs from the graph whose atom and bond embeddings are all zero ("no chemistry": the molecule's
shape is kept, what its atoms and bonds are is not) to the molecule's own embeddings (nets.graph:
`embed`, then `read`); other columns keep their values. A slot's attribution is the sum over its
embedding's dimensions, so the atoms' and bonds' attributions of a row add up to the output change
(completeness), up to the integral's discretisation error that explain.py measures and refines.

Drawings are SVG from RDKit, sent base64-encoded for an <img> tag: a picture shown that way runs no script
and cannot break out of the page, whatever text the molecule carries.
"""

from __future__ import annotations

import base64

import pandas as pd
import torch

from lamina.data.smiles import parse
from lamina.errors import LaminaError
from lamina.features.molecule import ATOM, BOND
from lamina.nets.mlp import module_key

MOLECULE_BATCH = 512  # molecules per forward pass while integrating
DRAWING_SIDE = 320  # pixels


def explain_molecules(model, frame: pd.DataFrame, steps: int, integrate, explanation) -> dict:
    """`integrate` and `explanation` are explain.py's `_integrate` and `_explanation` (passed in: explain.py
    imports this module). Adds per row `atoms` [(symbol, attribution)], `bonds` [(atom, atom, attribution)]
    and `drawings` (base64 SVG)."""
    network = model.network.eval()
    if network.part != "molecule":
        raise LaminaError(f"Architecture {model.architecture['arch']!r} reads fingerprint bits, which name no atom; "
                          "explanations on atoms and bonds need a graph network (--arch attentivefp or gine).")
    column = next(c.name for c in model.schema.features if c.kind == "molecule")
    inputs = model.features.transform(frame)
    key = module_key(column)
    slots = inputs[f"molecule:{column}"]
    others = [name for name in inputs if name != f"molecule:{column}"]
    backbone = network.backbones[key]
    with torch.no_grad():
        embedded = backbone.embed(slots)

    def forward(vectors, graph, *rest):
        given = {key: backbone.read(vectors, graph)}
        return network({f"molecule:{column}": graph, **dict(zip(others, rest, strict=True))}, given)

    extra = (slots, *(inputs[name] for name in others))
    attributions, *outcome = integrate(model, forward, embedded, torch.zeros_like(embedded), steps, extra,
                                       MOLECULE_BATCH)
    per_slot = attributions.sum(dim=2)  # [rows, slots]
    atoms, bonds, drawings = [], [], []
    for value, row_slots, row_values in zip(frame[column].tolist(), slots, per_slot, strict=True):
        molecule, _ = parse(value)
        kinds = row_slots[:, 0]
        atom_values = row_values[kinds == ATOM].tolist()[:molecule.GetNumAtoms()]
        bond_values = row_values[kinds == BOND].tolist()
        atoms.append([(a.GetSymbol(), round(v, 6)) for a, v in zip(molecule.GetAtoms(), atom_values, strict=False)])
        bonds.append([(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), round(v, 6))
                      for b, v in zip(molecule.GetBonds(), bond_values, strict=True)])
        drawings.append(drawing(molecule, atom_values, bond_values))
    return {**explanation(model, [column], per_slot.sum(dim=1)[:, None], *outcome),
            "atoms": atoms, "bonds": bonds, "drawings": drawings}


def drawing(molecule, atom_values: list[float], bond_values: list[float] | None = None) -> str:
    """The molecule as base64 SVG, atoms and bonds shaded by their values (red: towards the explained output,
    blue: away); without values, the plain structure."""
    from rdkit.Chem.Draw import rdMolDraw2D

    canvas = rdMolDraw2D.MolDraw2DSVG(DRAWING_SIDE, DRAWING_SIDE)
    bond_values = bond_values or []
    strongest = max((abs(v) for v in [*atom_values, *bond_values]), default=0.0) or 1.0

    def colour(value: float) -> tuple[float, float, float]:
        share = min(1.0, abs(value) / strongest)
        return (1.0, 1 - share, 1 - share) if value > 0 else (1 - share, 1 - share, 1.0)

    if molecule.GetNumAtoms():
        rdMolDraw2D.PrepareAndDrawMolecule(
            canvas, molecule, highlightAtoms=list(range(len(atom_values))),
            highlightAtomColors={i: colour(v) for i, v in enumerate(atom_values)},
            highlightBonds=list(range(len(bond_values))),
            highlightBondColors={i: colour(v) for i, v in enumerate(bond_values)})
    canvas.FinishDrawing()
    return base64.b64encode(canvas.GetDrawingText().encode()).decode()
