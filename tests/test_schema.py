import re

import numpy as np
import pandas as pd
import pytest

from lamina.data.schema import DROP_RULES, infer_column, infer_schema, infer_task
from lamina.errors import LaminaError
from lamina.features.blocks import PICTURE
from lamina.features.kinds import kind_named, sniff_steps


def kinds(schema):
    return {c.name: (c.kind, c.role) for c in schema.columns}


def test_every_column_kind_is_inferred(table):
    table["row_id"] = np.arange(len(table))
    table["constant"] = 7
    table["code"] = [f"X{i:05d}" for i in range(len(table))]
    schema = infer_schema(table, "y")
    assert kinds(schema) == {
        "signal": ("number", "feature"),
        "skewed": ("number", "feature"),
        "colour": ("category", "feature"),
        "member": ("binary", "feature"),
        "day": ("datetime", "feature"),
        "comment": ("text", "feature"),
        "row_id": ("ignore", "dropped"),
        "constant": ("ignore", "dropped"),
        "code": ("ignore", "dropped"),
        "y": ("category", "target"),
    }
    assert schema.task == "binary"
    notes = {c.name: c.note for c in schema.dropped}
    assert "ID-like" in notes["row_id"] and "constant" in notes["constant"] and "ID-like" in notes["code"]


@pytest.mark.parametrize("name", ["PolicyNumber", "invoice_no", "customer_id"])
def test_a_distinct_whole_number_on_every_row_named_as_a_key_is_dropped_and_a_measurement_is_not(name):
    """PolicyNumber (a different whole number on each of 600 rows, not consecutive in a sample) was a number
    feature, and flagged rows 'because of' it."""
    values = np.random.default_rng(0).choice(np.arange(1, 20_000), 300, replace=False)
    frame = pd.DataFrame({name: values, "income": values * 3 + 7, "y": ["a", "b"] * 150})
    assert kinds(infer_schema(frame, "y"))[name] == ("ignore", "dropped")
    assert kinds(infer_schema(frame, "y"))["income"] == ("number", "feature")


@pytest.mark.parametrize("name, values", [
    ("acct_id", [str(1234567890123456789012345 + i) for i in range(40)]),  # past int64: as floats, one number
    ("part_id", [f"{100 + i}E16" for i in range(40)]),  # an ID read as the text the file holds (data.read)
    ("row", [str(7 + i) for i in range(12)]),  # consecutive, in a table too small for the distinct-text rule
])
def test_whole_numbers_written_as_text_distinct_on_every_row_are_keys_as_numbers_are(name, values):
    """A 25-digit account number was a number feature (numbers stored as text), its values collapsing as floats."""
    frame = pd.DataFrame({name: values, "amount": [str(i % 5) for i in range(len(values))],
                          "y": ["a", "b"] * (len(values) // 2)})
    schema = infer_schema(frame, "y")
    assert kinds(schema)[name] == ("ignore", "dropped") and schema.identifiers[0].name == name
    assert kinds(schema)["amount"][0] == "number"


def test_written_keys_are_the_float_columns_dropped_as_ids_but_declared_ones():
    from lamina.data.schema import written_keys

    frame = pd.DataFrame({"part_id": [1.56e18 + i * 1e16 for i in range(30)], "count_id": range(30),
                          "price": np.linspace(0, 1, 30), "y": [0.5 + i for i in range(30)]})
    assert written_keys(frame) == ["part_id"]  # count_id is read as integers, written so
    assert written_keys(frame, {"part_id"}) == []


def test_overrides_win_over_inference(table):
    schema = infer_schema(table, "y", overrides={"colour": "text", "signal": "ignore"})
    assert kinds(schema)["colour"] == ("text", "feature")
    assert kinds(schema)["signal"] == ("ignore", "dropped")


def test_override_of_an_unknown_column_names_the_closest():
    frame = pd.DataFrame({"colour": ["a", "b"] * 10, "y": [0, 1] * 10})
    with pytest.raises(LaminaError, match="'color'.*Did you mean 'colour'"):
        infer_schema(frame, "y", overrides={"color": "category"})


@pytest.mark.parametrize(
    "values, task",
    [
        (["a", "b"] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        ([0, 1, 2, 3] * 10, "multiclass"),
        (list(np.linspace(0, 1, 40)), "regression"),
        (list(range(40)), "regression"),
    ],
)
def test_task_follows_the_target(values, task):
    assert infer_task(pd.Series(values), "y") == task


def test_missing_target_column_names_the_closest_columns():
    frame = pd.DataFrame({"income": [1, 2], "age": [3, 4]})
    with pytest.raises(LaminaError, match="'incme' is not in the data. Did you mean 'income'"):
        infer_schema(frame, "incme")


def test_target_with_no_values_is_refused():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [None, None, None]})
    with pytest.raises(LaminaError, match="no values"):
        infer_schema(frame, "y")


def test_target_with_a_single_class_is_refused():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "a", "a"]})
    with pytest.raises(LaminaError, match="single value \\('a'\\)"):
        infer_schema(frame, "y")


def test_regression_on_text_target_is_refused():
    with pytest.raises(LaminaError, match="non-numbers"):
        infer_task(pd.Series(["a", "b", "c"]), "y", "regression")


def test_mixed_numbers_and_words_name_the_column_and_row():
    values = pd.Series([str(v) for v in range(30)] + ["unknown"], name="age")
    with pytest.raises(LaminaError, match=r"'age'.*'unknown' at row 32.*data: columns: \{age: category\}"):
        infer_column(values)


def test_no_two_sniff_steps_share_an_order():
    """Ties would let the order kinds happen to be imported in decide a column's kind."""
    orders = [step.order for step in [*DROP_RULES, *sniff_steps()]]
    assert len(orders) == len(set(orders)), sorted(orders)


def test_the_schema_says_audio_and_the_audio_kind_chooses_to_be_read_as_a_picture():
    column = infer_column(pd.Series(["a.wav", "b.flac"] * 10, name="clip"))
    assert (column.kind, column.note) == ("audio", "audio file paths")
    assert kind_named("audio").block is PICTURE


def test_a_column_kind_set_in_the_config_must_be_registered():
    frame = pd.DataFrame({"zip": ["1000", "2000", "3000"] * 5, "y": [0, 1, 1] * 5})
    assert infer_schema(frame, "y", overrides={"zip": "category"}).columns[0].kind == "category"
    with pytest.raises(LaminaError, match="Unknown column kind 'categroy'.*Did you mean 'category'"):
        infer_schema(frame, "y", overrides={"zip": "categroy"})


def test_words_are_not_only_what_spaces_separate():
    chinese = ["这家餐厅的菜很好吃", "服务太慢了我不会再来", "价格便宜味道也不错", "环境干净服务员很热情"]
    thai = ["ร้านอาหารนี้อร่อยมาก", "บริการช้ามากไม่ประทับใจ", "ราคาถูกและรสชาติดี", "ห้องสะอาดพนักงานใจดี"]
    utterances = [f"{verb} {thing}" for verb in ("play", "dim", "stop", "open", "find") for thing in
                  ("jazz", "kitchen", "music", "door", "lights", "news")]
    frame = pd.DataFrame({"zh": [f"{t}{i}" for i, t in enumerate(chinese * 8)][:30],
                          "th": [f"{t}{i}" for i, t in enumerate(thai * 8)][:30],
                          "say": utterances, "y": ["a", "b"] * 15})
    assert kinds(infer_schema(frame, "y"))["zh"] == ("text", "feature")
    assert kinds(infer_schema(frame, "y"))["th"] == ("text", "feature")
    said = infer_column(frame["say"])
    assert (said.kind, said.note) == ("text", "short distinct phrases, 2.0 words per value on average")
    repeated = infer_column(pd.Series(["New York", "San Francisco", "Los Angeles"] * 10, name="city"))
    assert repeated.kind == "category", "repeated two-word values stay categories"
    assert infer_column(pd.Series([f"X{i:05d}" for i in range(30)], name="code")).kind == "ignore"


def test_one_value_beside_blanks_is_binary_not_constant():
    flag = infer_column(pd.Series(["Y", None, None, "Y"] * 10, name="flag"))
    assert (flag.kind, flag.role) == ("binary", "feature")
    assert infer_column(pd.Series([1.0, np.nan] * 10, name="paid")).kind == "binary"
    assert infer_column(pd.Series(["Y"] * 40, name="full")).note == "constant (every value is 'Y')"


def test_zero_padded_codes_are_categories_not_numbers():
    codes = infer_column(pd.Series(["001", "002", "010"] * 10, name="code"))
    assert codes.kind == "category"
    assert infer_column(pd.Series(["1", "2", "10", "0.5"] * 10, name="n")).kind == "number"


@pytest.mark.parametrize("values, shown", [([1, 1, 1], "(1)"), ([2.5, 2.5], "(2.5)"), (["a", "a"], "('a')"),
                                           ([1, 1, None], "(1.0)")])
def test_a_single_valued_target_shows_its_value_plainly(values, shown):
    with pytest.raises(LaminaError, match=re.escape(shown)) as caught:
        infer_task(pd.Series(values), "y")
    assert "np." not in str(caught.value)


def test_a_damaged_date_order_in_a_saved_schema_stops_the_model_at_load(tmp_path):
    """A date order the model cannot read in ("sideways", 3, a list, "MIXED") loaded silently and read the dates
    month first; it is a damaged model, named by its key, as other damaged records are."""
    import json
    import shutil

    import lamina
    from conftest import FAST

    rng = np.random.default_rng(0)
    when = [f"{d:02d}/{m:02d}/2020" for d, m in zip(rng.integers(1, 29, 80), rng.integers(1, 13, 80), strict=True)]
    frame = pd.DataFrame({"when": when, "x": rng.normal(size=80), "y": rng.normal(size=80)})
    lamina.fit(frame, "y", out=tmp_path / "run", progress=False, **FAST)
    document = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    (index,) = [i for i, c in enumerate(document["task"]["state"]["schema"]["columns"]) if c["name"] == "when"]
    assert document["task"]["state"]["schema"]["columns"][index]["date_order"] == "day_first"
    for n, damage in enumerate(["sideways", 3, ["day_first"], "MIXED"]):
        copy = tmp_path / f"copy{n}"
        shutil.copytree(tmp_path / "run" / "model", copy)
        document["task"]["state"]["schema"]["columns"][index]["date_order"] = damage
        (copy / "model.json").write_text(json.dumps(document))
        with pytest.raises(LaminaError, match=rf"holds a damaged or incompatible model \(task\.state\.schema\.columns\."
                                              rf"{index}\.date_order: null, 'day_first', 'month_first' or 'mixed' "
                                              rf"belongs there \(it is {re.escape(repr(damage))}\)"):
            lamina.load(copy)
