"""Artifacts saved by earlier versions of lamina keep loading and predicting the same."""

from pathlib import Path

import pandas as pd
import pytest

import lamina

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("version", sorted(p.name for p in GOLDEN.glob("format-*")))
def test_golden_artifact_loads_and_predicts_as_recorded(version):
    folder = GOLDEN / version
    model = lamina.load(folder / "model")
    predictions = model.predict(folder / "rows.csv")
    expected = pd.read_csv(folder / "expected.csv")
    assert (predictions["prediction"].to_numpy() == expected["prediction"].to_numpy()).all()
    probabilities = [c for c in expected.columns if c.startswith("proba_")]
    pd.testing.assert_frame_equal(predictions[probabilities], expected[probabilities], atol=1e-5, check_dtype=False)


def test_loading_and_predicting_never_unpickle(monkeypatch):
    import pickle

    import torch

    def refuse(*_args, **_kwargs):
        raise AssertionError("something was unpickled")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)
    folder = GOLDEN / "format-1"
    assert len(lamina.load(folder / "model").predict(folder / "rows.csv")) == 12
