"""SMILES strings read by RDKit: a molecule, its largest fragment, and why a string is not one.

Reading, not featurising (features/molecule.py turns molecules into tensors): the split reads scaffolds from
the same molecules the encoder reads. RDKit is imported lazily: it is the `molecules` extra.
"""

from __future__ import annotations

import numpy as np

from lamina.errors import LaminaError

# Atoms a molecule may have: drug-like molecules have under 100, large natural products a few hundred; a graph
# of thousands of atoms (a polymer written out, a pasted string) makes featurising and the graph network's
# message passing crawl, so it is read as no molecule and named, like a SMILES RDKit cannot parse.
MAX_ATOMS = 500


def rdkit():
    """RDKit's Chem module, or a LaminaError saying how to install it."""
    try:
        from rdkit import Chem, RDLogger
    except ImportError:
        raise LaminaError("Molecule columns need RDKit: pip install 'lamina[molecules]'.") from None
    RDLogger.DisableLog("rdApp.*")  # parse failures are reported by lamina, naming the row
    return Chem


def parse(smiles) -> tuple[object | None, int]:
    """(the molecule's largest fragment, fragments it had); (None, 0) when RDKit cannot parse it. A missing
    value or an empty string is an empty molecule (0 atoms, 0 fragments)."""
    chem = rdkit()
    if smiles is None or (isinstance(smiles, float) and np.isnan(smiles)):
        return chem.Mol(), 0
    text = str(smiles).strip()
    # RDKit reads what follows a space as the molecule's name; a SMILES holds no space, so the value is not one.
    molecule = None if any(c.isspace() for c in text) else chem.MolFromSmiles(text, _smiles_options())
    if molecule is None or molecule.GetNumAtoms() > MAX_ATOMS:
        return None, 0
    fragments = len(chem.GetMolFrags(molecule))
    if fragments > 1:
        from rdkit.Chem.MolStandardize import rdMolStandardize

        molecule = rdMolStandardize.LargestFragmentChooser().choose(molecule)
    return molecule, fragments


def _smiles_options():
    """Plain SMILES: CXSMILES extensions (" |$label$|") would let a string name atoms with any text."""
    options = rdkit().SmilesParserParams()
    options.allowCXSMILES = False
    return options


def parse_problem(smiles) -> str:
    """Why RDKit cannot read `smiles` (its own words where it has them), for errors that name the value."""
    chem = rdkit()
    if any(c.isspace() for c in str(smiles).strip()):
        return "a SMILES holds no spaces"
    unsanitised = chem.MolFromSmiles(str(smiles).strip(), sanitize=False)
    if unsanitised is None:
        return "SMILES syntax"
    if unsanitised.GetNumAtoms() > MAX_ATOMS:
        return f"{unsanitised.GetNumAtoms()} atoms, over the {MAX_ATOMS} a molecule may have"
    problems = chem.DetectChemistryProblems(unsanitised)
    return problems[0].Message() if problems else "not a valid SMILES"
