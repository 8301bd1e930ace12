"""A molecule column (SMILES strings) → graph tensors and Morgan fingerprints, featurised once with RDKit.

The tensors are the cache, as pictures are for images: training slices batches from them every epoch and
never parses a SMILES again. Each molecule becomes a run of *slots* in one int16 tensor
[rows, slots, SLOT_WIDTH]: its atoms first (slot kind ATOM, then one code per atom field), then its bonds
(slot kind BOND, the positions of its two atoms, then one code per bond field), zero-padded. An atom's
position in its row is its slot. A code is 1 + the value's place in the field's vocabulary, the last code
is "other" (an unusual element, a charge of +4), and 0 is "no atom": the one placeholder atom a missing
or empty molecule gets, so every row has a node to pool.

Salts and mixtures (several fragments, "CCO.[Na+].[Cl-]") are read as their largest fragment (by heavy
atoms, RDKit's LargestFragmentChooser); `screen_molecules` says how many were, and skips rows whose SMILES
RDKit cannot parse, naming them, while they are under MAX_BAD_SHARE of the rows.
RDKit is imported lazily: it is the `molecules` extra.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pydantic import Field, StrictInt

from lamina.checked import Record, checked
from lamina.data.checks import Finding
from lamina.data.smiles import parse, parse_problem, rdkit
from lamina.errors import LaminaError
from lamina.features.blocks import MOLECULE
from lamina.features.kinds import TEXT_FIELD, ColumnSample, Kind, register_kind, sniff

ATOM, BOND = 1, 2  # slot kinds; 0 is padding
# Vocabularies of the atom and bond fields (Duvenaud et al. 2015, Xiong et al. 2020 for AttentiveFP);
# a value outside them is coded "other".
ATOM_FIELDS = {
    "element": ["C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "Na", "K", "Ca", "Li", "Mg",
                "Al", "Fe", "Zn", "Cu", "Sn", "As", "Hg", "H"],
    "degree": [0, 1, 2, 3, 4, 5],  # bonded heavy neighbours
    "formal_charge": [-2, -1, 0, 1, 2],
    "aromatic": [False, True],
    "hybridisation": ["SP", "SP2", "SP3", "SP3D", "SP3D2"],
    "hydrogens": [0, 1, 2, 3, 4],  # attached hydrogens, implicit and explicit
    "in_ring": [False, True],
}
BOND_FIELDS = {
    "type": ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"],
    "conjugated": [False, True],
    "in_ring": [False, True],
}
SLOT_WIDTH = 1 + max(len(ATOM_FIELDS), 2 + len(BOND_FIELDS))
FINGERPRINT_RADIUS = 2  # bonds; Morgan radius 2 is ECFP4
FINGERPRINT_BITS = 2048
MAX_BAD_SHARE = 0.05  # invalid SMILES beyond this share of the rows stop the run
SHOWN_BAD = 10  # invalid rows listed when the run stops
SMILES_SAMPLE = 200  # values RDKit parses to judge a column (the cheap character test sees SAMPLE_ROWS)
SNIFF_PARSE_SHARE = 0.5  # share of sampled values that must parse; more invalid ones are then named (screen_molecules)
SNIFF_MEDIAN_ATOMS = 3  # heavy atoms of the median sampled molecule: "CO" and "NC" are also state codes
SMILES_CHARACTERS = re.compile(r"^[A-Za-z0-9@+\-\[\]()=#$:/\\.%*~]+$")  # OpenSMILES' alphabet


class MoleculeEncoder:
    """SMILES → {"molecule": int16 [rows, slots, SLOT_WIDTH], "fingerprint": uint8 [rows, FINGERPRINT_BITS]}.
    Nothing is learned from the data: the vocabularies are fixed, and stored so a model reads molecules the
    way it was trained to."""

    def __init__(self, name: str):
        self.name = name
        self.atom_fields_ = ATOM_FIELDS
        self.bond_fields_ = BOND_FIELDS
        self.radius_, self.bits_ = FINGERPRINT_RADIUS, FINGERPRINT_BITS

    def fit(self, series: pd.Series) -> MoleculeEncoder:
        return self

    def transform(self, series: pd.Series) -> dict[str, torch.Tensor]:
        """Raises LaminaError naming the row (the record of a request) and value of a SMILES RDKit cannot parse."""
        from rdkit.Chem import rdFingerprintGenerator

        generator = rdFingerprintGenerator.GetMorganGenerator(radius=self.radius_, fpSize=self.bits_)
        slots, bits = [], np.zeros((len(series), self.bits_), np.uint8)
        for row, value in enumerate(series.tolist()):
            molecule, _ = parse(value)
            if molecule is None:
                # Counted for both readers: a file's line (under its header) and a request's record (from 0).
                raise LaminaError(f"Column {self.name!r}, data row {row + 1} (line {row + 2} of a file with a header; "
                                  f"record {row} of a request): {str(value)[:200]!r} is not a molecule RDKit can read "
                                  f"({parse_problem(value)}). Correct or remove that row's SMILES.")
            slots.append(self.slots(molecule))
            if molecule.GetNumAtoms():
                bits[row] = generator.GetFingerprintAsNumPy(molecule)
        graph = np.zeros((len(series), max((len(s) for s in slots), default=1), SLOT_WIDTH), np.int16)
        for row, rows_slots in enumerate(slots):
            graph[row, :len(rows_slots)] = rows_slots
        return {"molecule": torch.from_numpy(graph), "fingerprint": torch.from_numpy(bits)}

    def slots(self, molecule) -> np.ndarray:
        """One molecule's slots [atoms + bonds, SLOT_WIDTH] (one placeholder atom when it has no atom)."""
        atoms = [[ATOM, *(_code(values, value) for values, value in zip(self.atom_fields_.values(),
                                                                       _atom_values(atom), strict=True))]
                 for atom in molecule.GetAtoms()] or [[ATOM] + [0] * len(self.atom_fields_)]
        bonds = [[BOND, bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(),
                  *(_code(values, value) for values, value in zip(self.bond_fields_.values(), _bond_values(bond),
                                                                  strict=True))]
                 for bond in molecule.GetBonds()]
        table = np.zeros((len(atoms) + len(bonds), SLOT_WIDTH), np.int16)
        for slot, codes in enumerate(atoms + bonds):
            table[slot, :len(codes)] = codes
        return table

    def spec(self) -> dict:
        """Codes per field (vocabulary + "no atom" + "other") and fingerprint bits: what the networks size
        their embeddings and first layer by."""
        return {"atom_codes": [len(v) + 2 for v in self.atom_fields_.values()],
                "bond_codes": [len(v) + 2 for v in self.bond_fields_.values()],
                "fingerprint_bits": self.bits_}

    def state(self) -> dict:
        return {"atom_fields": self.atom_fields_, "bond_fields": self.bond_fields_, "radius": self.radius_,
                "bits": self.bits_}

    def load_state(self, state: dict) -> None:
        stored = checked(MoleculeState, state)
        self.atom_fields_, self.bond_fields_ = stored.atom_fields, stored.bond_fields
        self.radius_, self.bits_ = stored.radius, stored.bits


class MoleculeState(Record):
    """The vocabularies a molecule column was featurised with, and its Morgan fingerprint's radius and bits."""
    atom_fields: dict[str, list[str | int | bool]]
    bond_fields: dict[str, list[str | int | bool]]
    radius: StrictInt = Field(ge=0, le=8)
    bits: StrictInt = Field(gt=0, le=1 << 16)


def _atom_values(atom) -> tuple:
    return (atom.GetSymbol(), atom.GetDegree(), atom.GetFormalCharge(), atom.GetIsAromatic(),
            str(atom.GetHybridization()), atom.GetTotalNumHs(), atom.IsInRing())


def _bond_values(bond) -> tuple:
    return str(bond.GetBondType()), bond.GetIsConjugated(), bond.IsInRing()


def _code(values: list, value) -> int:
    """1 + the value's place in the vocabulary; len + 1 ("other") for a value outside it."""
    try:
        return 1 + values.index(value)
    except ValueError:
        return len(values) + 1


def screen_molecules(frame: pd.DataFrame, column: str, where: str = "") -> tuple[pd.DataFrame, list[Finding]]:
    """(`frame` without the rows whose SMILES RDKit cannot parse, findings naming them and counting the salts
    read as their largest fragment). Raises LaminaError listing the first SHOWN_BAD when more than
    MAX_BAD_SHARE of the rows are invalid. `where`: "test " for the test file, so a finding says which."""
    bad, mixtures = [], 0
    for row, value in frame[column].items():
        molecule, fragments = parse(value)
        if molecule is None:
            bad.append(f"row {row}: {str(value)[:80]!r} ({parse_problem(value)})")
        mixtures += fragments > 1
    if len(bad) > MAX_BAD_SHARE * len(frame):
        shown = "\n  - ".join(bad[:SHOWN_BAD])
        raise LaminaError(f"{len(bad)} of {len(frame)} {where}SMILES in column {column!r} are not molecules RDKit "
                          f"can read (more than {MAX_BAD_SHARE:.0%}); first ones:\n  - {shown}\nCorrect them, or "
                          "check that the column holds SMILES.")
    findings = [Finding("warning", "molecule_skipped", f"Skipped {where}{line}: not a valid SMILES.", column)
                for line in bad]
    if mixtures:
        findings.append(Finding("info", "molecule_fragments", f"{mixtures} {where}molecule(s) in column {column!r} "
                                "hold several fragments (salts, solvents); each is read as its largest fragment.",
                                column))
    valid = frame[column].map(lambda value: parse(value)[0] is not None) if bad else None
    return (frame[valid.to_numpy(bool)] if bad else frame), findings


def screen_molecule_files(frame: pd.DataFrame, test: pd.DataFrame | None, column: str):
    """screen_molecules on the training table and on the test table when there is one:
    (frame, test, findings)."""
    frame, findings = screen_molecules(frame, column)
    if test is not None and column in test.columns:
        test, test_findings = screen_molecules(test, column, "test ")
        findings += test_findings
    return frame, test, findings


@register_kind
class MoleculeKind(Kind):
    """Molecules written as SMILES. Read as graphs (atoms and bonds) and Morgan fingerprints; a request
    sends the SMILES string. Not profiled for drift."""

    name = "molecule"
    encoder = MoleculeEncoder
    block = MOLECULE
    request_field = TEXT_FIELD

    @sniff(125)
    def smiles(self, column: ColumnSample) -> str | None:
        """Strings without spaces, in SMILES' alphabet, that RDKit reads as molecules of a few atoms or more."""
        strings = column.string_sample.str.strip()
        # A few values outside SMILES' alphabet (a pasted tag, a name) do not stop the sniff: screen_molecules
        # then skips and names them, and stops the run past MAX_BAD_SHARE.
        if len(strings) == 0 or strings.str.match(SMILES_CHARACTERS).mean() < 1 - MAX_BAD_SHARE:
            return None
        try:
            chem = rdkit()
        except LaminaError:  # without RDKit, SMILES stay strings (and the kind can still be forced, which says why)
            return None
        parsed = [chem.MolFromSmiles(s) for s in strings.iloc[:SMILES_SAMPLE]]
        atoms = [m.GetNumHeavyAtoms() for m in parsed if m is not None]
        if len(atoms) < SNIFF_PARSE_SHARE * len(parsed) or np.median(atoms) < SNIFF_MEDIAN_ATOMS:
            return None
        return "SMILES strings (RDKit reads them as molecules)"

    def example(self, rows: int, folder: Path) -> pd.Series:
        smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "OC(=O)c1ccccc1C(=O)O", "C1CCCCC1N"]
        return pd.Series([smiles[i % len(smiles)] for i in range(rows)])
