"""The target's rows: one label rule before checks, split and encoding, and every class in every split."""

import numpy as np
import pandas as pd
import pytest

import lamina
from lamina import api
from lamina.data.split import split_rows
from lamina.features.target import canonical_labels


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("rare", [3, 4, 5])
def test_every_class_that_passes_the_check_reaches_every_split(seed, rare):
    frame = pd.DataFrame({"x": range(100 + rare), "y": ["a"] * 60 + ["b"] * 40 + ["c"] * rare})
    split = split_rows(frame, "y", "multiclass", valid_fraction=0.15, test_fraction=0.15, seed=seed)
    for part in (split.train, split.valid, split.test):
        assert set(part["y"]) == {"a", "b", "c"}
    together = pd.concat([split.train, split.valid, split.test])
    assert sorted(together["x"]) == list(range(100 + rare)), "no row lost or counted twice"
    assert len(split.test) in (16, 17)  # about 15%: one row moved at most


@pytest.mark.parametrize("rows, test_given, expected", [(1_000, False, 150), (1_000, True, 150),
                                                          (60_000, True, 5_000), (60_000, False, 5_000)])
def test_auto_validates_on_15_percent_and_at_most_5000_rows(rows, test_given, expected):
    frame = pd.DataFrame({"x": range(rows), "y": ["a", "b"] * (rows // 2)})
    split = split_rows(frame, "y", "binary", "auto", 0.15, 0, test=frame.head(5) if test_given else None)
    assert len(split.valid) == expected
    assert ("at most 5,000 rows" in split.description) == (expected == 5_000)  # the report says why 8%, not 15%
    assert sorted(pd.concat([split.train, split.valid, split.test if not test_given else split.train.head(0)])["x"]) \
        == list(range(rows)), "no row lost or counted twice"
    given = split_rows(frame, "y", "binary", 0.15, 0.15, 0, test=frame.head(5) if test_given else None)
    assert len(given.valid) == round(0.15 * rows), "a fraction set by the user is kept as given"


@pytest.mark.parametrize("seed", range(5))
def test_with_a_test_file_every_class_reaches_train_and_valid(seed):
    frame = pd.DataFrame({"x": range(62), "y": ["a"] * 60 + ["c"] * 2})
    split = split_rows(frame, "y", "binary", 0.15, 0.15, seed, test=frame.head(5))
    assert set(split.train["y"]) == set(split.valid["y"]) == {"a", "c"}


def test_labels_are_read_by_one_rule():
    mixed = pd.Series([0, "0", 1, "1 ", None, 1.0], dtype=object)
    assert canonical_labels(mixed).tolist() == ["0", "0", "1", "1", None, "1"]
    spaced = canonical_labels(pd.Series(["yes", "yes ", " no", "  ", None]))
    assert spaced.tolist()[:3] == ["yes", "yes", "no"] and spaced.isna().tolist()[3:] == [True, True]
    empty = canonical_labels(pd.Series(["yes", "", "no"]))  # a DataFrame's empty string, already stripped
    assert empty.tolist()[::2] == ["yes", "no"] and empty.isna().tolist()[1]
    numbers = pd.Series([0, 1, 1])
    assert canonical_labels(numbers) is numbers, "numbers alone keep their type"


def test_labels_that_differ_by_spaces_or_type_are_one_class(tmp_path):
    from conftest import FAST, make_table

    frame = make_table(rows=200).drop(columns="comment")
    frame["y"] = frame["y"].where(np.arange(200) % 3 != 0, frame["y"] + " ")  # "yes " beside "yes"
    _, prepared, _ = api.check(frame, "y")
    assert prepared.schema.task == "binary"
    assert not [f for f in prepared.findings if f.level == "error"]
    model = lamina.fit(frame, "y", progress=False, **FAST)
    assert model.classes == ["no", "yes"]
    assert list(model.predict(frame.head(3)).columns) == ["prediction", "proba_no", "proba_yes"]
    numbers = frame.assign(y=[0 if v.strip() == "no" else "1" if i % 2 else 1 for i, v in enumerate(frame["y"])])
    model = lamina.fit(numbers, "y", progress=False, **FAST)  # was a TypeError in the split
    assert model.classes == ["0", "1"]
    assert list(model.predict(numbers.head(3)).columns) == ["prediction", "proba_0", "proba_1"]


def test_one_value_beside_blanks_is_learned(tmp_path):
    from conftest import FAST

    rng = np.random.default_rng(0)
    y = rng.choice(["churn", "stay"], size=300)
    frame = pd.DataFrame({"complained": np.where(y == "churn", "Y", None), "noise": rng.normal(size=300), "y": y})
    model = lamina.fit(frame, "y", progress=False, **{**FAST, "epochs": 15})
    assert model.schema.features[0].kind == "binary"
    assert model.metrics["test"]["accuracy"] == 1.0 > model.metrics["baseline"]["accuracy"] + 0.2
    shifted = frame.set_axis(range(1000, 1300))
    assert model.predict(shifted.head(4)).index.tolist() == [1000, 1001, 1002, 1003], "predictions join back"


def test_rows_are_named_by_position_whatever_the_dataframe_index():
    from conftest import make_table

    frame = make_table(rows=100).drop(columns="comment")
    frame.loc[5, "signal"] = np.inf
    frame.loc[5, "y"] = None
    _, prepared, _ = api.check(frame.set_axis(range(1002, 1102)), "y")
    messages = {f.code: f.message for f in prepared.findings}
    assert "(row(s) 7)" in messages["infinite_values"], "the 6th data row, counting the header as row 1"
    assert "first at row 7" in messages["target_missing"]


@pytest.mark.parametrize("rows, valid, test", [(1, 0.15, 0.15), (14, 0.49, 0.49), (1, 0.2, None)])
def test_fractions_that_leave_a_part_empty_are_refused_naming_the_part(rows, valid, test):
    from lamina.errors import LaminaError

    frame = pd.DataFrame({"x": np.arange(float(rows)), "y": np.arange(float(rows))})
    given = None if test is not None else frame.head(1)
    with pytest.raises(LaminaError, match=r"leave no (training|validation|test)"):
        split_rows(frame, "y", "regression", valid, test or 0.15, seed=0, test=given)
