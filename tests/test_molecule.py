"""Molecules: SMILES sniffed and featurised with RDKit, graph networks, scaffold split, atom explanations."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from lamina.cli import main
from lamina.data.scaffold import scaffold
from lamina.data.schema import infer_column, infer_schema
from lamina.data.smiles import MAX_ATOMS
from lamina.data.split import split_rows
from lamina.errors import LaminaError
from lamina.features.molecule import ATOM, ATOM_FIELDS, MoleculeEncoder, screen_molecules

pytest.importorskip("rdkit")
pytest.importorskip("torch_geometric")

# Weights of the synthetic property: a weighted count of heteroatoms, which a sum-pooled GNN can learn exactly.
WEIGHTS = {"O": 1.0, "N": 0.5}
RINGS = ["c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCOC1", "c1ccc2ccccc2c1"]


def random_molecules(rows: int, seed: int = 0) -> pd.DataFrame:
    """A ring (one of five scaffolds) with a chain of C, N and O atoms; the target weighs its O and N atoms."""
    rng = np.random.default_rng(seed)
    smiles, values = [], []
    for _ in range(rows):
        chain = "".join(rng.choice(["C", "C", "N", "O"], size=rng.integers(1, 7)))
        ring = RINGS[rng.integers(len(RINGS))]
        text = f"{chain}{ring}"
        smiles.append(text)
        values.append(sum(WEIGHTS.get(atom, 0.0) for atom in text.upper() if atom in "CNO") - _ring_weight(ring))
    return pd.DataFrame({"smiles": smiles, "y": values})


def _ring_weight(ring: str) -> float:
    """The ring's own heteroatoms do not count: the property is the chain's."""
    return sum(WEIGHTS.get(atom, 0.0) for atom in ring.upper() if atom in "CNO")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    frame = random_molecules(240)
    model = lamina.fit(frame, "y", arch="gine", split="random", width=32, depth=3, dropout=0.0, epochs=60,
                       lr=5e-3, patience=60, progress=False)
    return model, frame, tmp_path_factory.mktemp("molecule")


def test_a_weighted_atom_count_is_learned_to_near_zero_error(trained):
    model, frame, _ = trained
    spread = frame["y"].std()
    assert model.metrics["test"]["rmse"] < 0.1 * spread, model.metrics
    assert model.metrics["test"]["rmse"] < 0.2 * model.metrics["baseline"]["rmse"]


def test_a_smiles_column_is_sniffed_and_a_column_of_codes_is_not():
    frame = random_molecules(60)
    assert infer_column(frame["smiles"]).kind == "molecule"
    codes = pd.Series(["CO", "NC", "CA", "NY", "SC", "IN"] * 10, name="state")
    assert infer_column(codes).kind != "molecule"
    hostile = frame["smiles"].copy()
    hostile[[0, 5]] = ["<script>alert(1)</script>", "not a molecule"]  # a few bad values: still molecules
    assert infer_column(hostile).kind == "molecule"
    forced = infer_schema(frame.assign(code=codes.to_numpy()), "y", overrides={"code": "molecule"})
    assert {c.name: c.kind for c in forced.features}["code"] == "molecule"


def test_salts_are_read_as_their_largest_fragment_and_counted():
    encoder = MoleculeEncoder("smiles")
    salt = encoder.transform(pd.Series(["CC(=O)O.[Na+].[Cl-]", "CC(=O)O"]))
    assert torch.equal(salt["molecule"][0], salt["molecule"][1])
    assert torch.equal(salt["fingerprint"][0], salt["fingerprint"][1])
    frame = pd.DataFrame({"smiles": ["CCO.Cl", "CCO", "c1ccccc1.O.O"]})
    _, findings = screen_molecules(frame, "smiles")
    assert [f.code for f in findings] == ["molecule_fragments"] and findings[0].message.startswith("2 molecule")


def test_unusual_atoms_are_other_and_an_empty_molecule_is_one_placeholder_atom():
    encoder = MoleculeEncoder("smiles")
    slots = encoder.transform(pd.Series(["[Pt]", "", None]))["molecule"]
    other = len(ATOM_FIELDS["element"]) + 1
    assert slots[0, 0, 0] == ATOM and slots[0, 0, 1] == other
    for row in (1, 2):  # the placeholder: an atom slot whose codes are all "no atom"
        assert slots[row, 0, 0] == ATOM and slots[row, 0, 1:].eq(0).all() and slots[row, 1:].eq(0).all()


def test_invalid_smiles_are_skipped_and_named_by_row_until_too_many():
    frame = random_molecules(100)
    frame.loc[[7, 42], "smiles"] = ["C1CC", "Xx(("]
    kept, findings = screen_molecules(frame, "smiles")
    assert len(kept) == 98 and 7 not in kept.index
    assert [f.message.split(":")[0] for f in findings] == ["Skipped row 7", "Skipped row 42"]
    frame.loc[range(10, 20), "smiles"] = "C1CC"
    with pytest.raises(LaminaError, match=r"(?s)12 of 100 SMILES.*row 7:.*row 10:.*row 18:"):
        lamina.fit(frame, "y", epochs=1, progress=False)


def test_a_molecule_over_the_atom_cap_is_skipped_and_named_and_predict_names_its_line():
    frame = random_molecules(60)
    frame.loc[3, "smiles"] = "C" * (MAX_ATOMS + 1)
    kept, findings = screen_molecules(frame, "smiles")
    assert len(kept) == 59 and 3 not in kept.index
    assert f"{MAX_ATOMS + 1} atoms, over the {MAX_ATOMS}" in findings[0].message
    with pytest.raises(LaminaError, match=r"Column 'smiles', data row 4 \(line 5 of a file with a header; record 3"):
        MoleculeEncoder("smiles").transform(frame["smiles"])


def test_scaffold_split_never_shares_a_scaffold_and_puts_the_largest_in_train():
    frame = random_molecules(300, seed=3)
    frame = pd.concat([frame, pd.DataFrame({"smiles": ["CCO", "CCCN", "OCCO"], "y": [0.0, 0.5, 2.0]})],
                      ignore_index=True)
    split = split_rows(frame, "y", "regression", 0.15, 0.15, seed=0, by="smiles")
    parts = [set(part["smiles"].map(scaffold)) for part in (split.train, split.valid, split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert sum(split.sizes().values()) == len(frame)
    largest = frame["smiles"].map(scaffold).value_counts().index[0]
    assert largest in parts[0]
    assert "scaffold" in split.description



def test_a_scaffold_split_that_leaves_a_part_empty_is_refused_before_training(tmp_path):
    # Chains have no ring (one "" scaffold): 100 of 105 rows are one group, which no part but training can take.
    smiles = ["CCO", "CCC", "c1ccccc1", "CC(=O)O", "CCN"] + ["CCCl"] * 100
    frame = pd.DataFrame({"smiles": smiles, "y": np.linspace(0, 1, len(smiles))})
    with pytest.raises(LaminaError, match=r"2 distinct scaffold\(s\).*leave no (validation|test).*--split random"):
        split_rows(frame, "y", "regression", 0.15, 0.15, seed=0, by="smiles")
    frame.to_csv(tmp_path / "mol.csv", index=False)
    assert main(["train", str(tmp_path / "mol.csv"), "--target", "y", "--epochs", "1", "--out",
                 str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()

def test_scaffold_is_the_default_for_molecules_alone_and_stated_in_the_model(trained):
    model, _, _ = trained
    assert model.training["split"].startswith("random")  # asked for
    alone = lamina.fit(random_molecules(80), "y", arch="fingerprint", epochs=1, width=8, depth=1, progress=False)
    assert alone.training["split"].startswith("scaffold")


def test_atom_and_bond_attributions_sum_to_the_output_change(trained):
    model, frame, _ = trained
    explanation = model.explain(frame.iloc[:2], importance=False)["attributions"]
    for atoms, bonds, output, start in zip(explanation["atoms"], explanation["bonds"], explanation["output"],
                                           explanation["baseline_output"], strict=True):
        total = sum(v for _, v in atoms) + sum(v for *_, v in bonds)
        assert abs(total - (output - start)) <= 0.01 * abs(output - start) + 2e-3
    assert explanation["atoms"][0][0][0] in {"C", "N", "O"}


def test_save_and_load_predict_identically(trained):
    model, frame, folder = trained
    model.save(folder / "model")
    loaded = lamina.load(folder / "model")
    pd.testing.assert_frame_equal(model.predict(frame), loaded.predict(frame))


def test_the_server_refuses_a_bad_smiles_naming_the_field_and_draws_a_good_one(trained):
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    model, _, _ = trained
    client = TestClient(create_app({"mol": model}, monitor=False))
    good = client.post("/predict", json={"smiles": "OCCc1ccccc1"})
    assert good.status_code == 200 and isinstance(good.json()["predictions"][0]["prediction"], float)
    for bad in ["C1CC", "C |$<script>alert(1)</script>$|", "\u0000", "x" * 5000, "C" * 5000]:
        answer = client.post("/predict", json={"smiles": bad})
        assert answer.status_code == 422 and "'smiles'" in answer.json()["error"]
    drawn = client.post("/explain", json={"smiles": "OCCc1ccccc1"}).json()["drawings"][0]
    svg = base64.b64decode(drawn, validate=True).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    page = client.get("/").text
    assert "image/svg+xml;base64," in page


def test_the_report_shows_drawings_only_as_base64_images():
    from lamina.evaluation.explanations import explanations_html

    hostile = "PHN2Zz4='><script>alert(1)</script>"
    html = explanations_html({"rows": [0], "attributions": {
        "columns": ["smiles"], "attributions": [[0.5]], "explained_output": ["value"], "output_unit": "u",
        "completeness_gap": 0.0, "drawings": [hostile]}})
    assert "<script>" not in html and "data:image/svg+xml;base64," in html


def test_auto_picks_the_fingerprint_mlp_for_few_molecules_and_attentivefp_beyond():
    from lamina.config import ModelConfig, TrainConfig
    from lamina.nets.recipe import FINGERPRINT_ROWS, choose_architecture

    spec = {"numbers": 0, "categories": [], "texts": {}, "images": {},
            "molecules": {"smiles": MoleculeEncoder("smiles").spec()}}
    for rows, wanted in ((FINGERPRINT_ROWS - 1, "fingerprint"), (FINGERPRINT_ROWS, "attentivefp")):
        arch, _ = choose_architecture(ModelConfig(), TrainConfig(), spec, {}, torch.zeros(rows), False)
        assert arch == wanted
    with pytest.raises(LaminaError, match="cannot read the molecule column"):
        choose_architecture(ModelConfig(arch="mlp"), TrainConfig(), spec, {}, torch.zeros(10), False)
