"""Scaffold split (Bemis & Murcko 1996; MoleculeNet, Wu et al. 2018): molecules grouped by their ring-system
scaffold, each group assigned whole to train, validation or test, largest groups first. Test molecules then
have scaffolds the model never saw, a more honest estimate for new chemistry than a random split.
"""

from __future__ import annotations

import pandas as pd

from lamina.errors import LaminaError


def scaffold_column(choice: str, schema) -> str | None:
    """The molecule column whose scaffolds split the rows, or None for a random split. `choice` is the config's
    data.split: "auto" splits by scaffold when the only input is one molecule column (MoleculeNet's advice)."""
    molecules = [c.name for c in schema.features if c.kind == "molecule"]
    if choice == "scaffold":
        if not molecules:
            raise LaminaError("--split scaffold groups rows by their molecule's scaffold, and the data has no "
                              "molecule column. Declare one (--column NAME=molecule) or use --split random.")
        return molecules[0]
    only_molecule = choice == "auto" and len(schema.features) == 1 and molecules
    return molecules[0] if only_molecule else None


def scaffold(smiles) -> str:
    """The Bemis–Murcko scaffold's canonical SMILES ("" for a molecule without rings, or one RDKit cannot read)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    from lamina.data.smiles import parse

    molecule, _ = parse(smiles)
    if molecule is None or molecule.GetNumAtoms() == 0:
        return ""
    return MurckoScaffold.MurckoScaffoldSmiles(mol=molecule, includeChirality=False)


def scaffold_parts(frame: pd.DataFrame, column: str, fractions: tuple[float, ...]) -> list[pd.DataFrame]:
    """`frame` cut into len(fractions) + 1 parts: groups of one scaffold, largest first (ties: the first row's
    order), each into the first part it fits in: part 0 holds up to fractions[0] of the rows, parts 0 and 1
    together up to fractions[0] + fractions[1], ...; the last part takes what fits nowhere else. A group never straddles two parts; deterministic (MoleculeNet's split has no seed)."""
    groups = frame.groupby(frame[column].map(scaffold), sort=False).indices
    ordered = sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))
    limits = pd.Series(fractions).cumsum().mul(len(frame)).tolist()
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for rows in ordered:  # the first part it fits in without passing that part's share (as DeepChem's splitter)
        fits = (p for p, limit in enumerate(limits) if sum(len(q) for q in parts[:p + 1]) + len(rows) <= limit)
        parts[next(fits, len(limits))].extend(rows)
    return [frame.iloc[sorted(rows)] for rows in parts]
