import json

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import TypeAdapter

import lamina
from conftest import FAST
from lamina.data.dates import date_order, parse_dates, unreadable_in_order
from lamina.data.schema import Column, Schema, infer_column, infer_schema
from lamina.errors import LaminaError
from lamina.features.blocks import DENSE
from lamina.features.category import MISSING_INDEX, UNKNOWN_INDEX, BinaryEncoder, CategoryEncoder
from lamina.features.datetime import DatetimeEncoder
from lamina.features.drift import Bins
from lamina.features.kinds import (
    KINDS,
    ColumnSample,
    Kind,
    kind_named,
    register_kind,
    registered_kinds,
    sniff,
)
from lamina.features.numeric import NumberEncoder
from lamina.features.pipeline import FeaturePipeline
from lamina.features.text import TextEncoder
from lamina.serving.profile import build_profile, summarize


def test_one_outlier_does_not_squash_the_other_numbers():
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1e9])
    scores = NumberEncoder("x").fit(values).transform(values)[:, 0]
    assert np.all(np.diff(scores) > 0), "order is kept"
    gaps = np.diff(scores[:9])
    assert gaps.min() > 0.1, "ordinary values stay apart despite the 1e9"
    assert np.abs(scores).max() < 3.2


def test_missing_numbers_get_a_flag_and_the_median():
    train = pd.Series([1.0, 2.0, None, 4.0, 5.0])
    encoder = NumberEncoder("x").fit(train)
    out = encoder.transform(pd.Series([None, 3.0]))
    assert out.shape[1] == encoder.width
    assert out[:, -1].tolist() == [1.0, 0.0]
    assert out[0, 0] == pytest.approx(out[1, 0]), "missing is filled with the training median (3)"


def test_a_word_in_a_number_column_at_prediction_names_the_row():
    encoder = NumberEncoder("age").fit(pd.Series([1.0, 2.0, 3.0]))
    with pytest.raises(LaminaError, match="'age'.*'old'"):
        encoder.transform(pd.Series(["4", "old"]))


def test_unseen_and_rare_categories_share_the_unknown_bucket():
    train = pd.Series(["a", "a", "b", "b", "rare", None])
    encoder = CategoryEncoder("c").fit(train)
    out = encoder.transform(pd.Series(["a", "b", "rare", "never seen", None]))
    assert out[0] != out[1] and out[0] >= 2 and out[1] >= 2
    assert out[2] == UNKNOWN_INDEX and out[3] == UNKNOWN_INDEX
    assert out[4] == MISSING_INDEX


def test_category_spellings_of_one_number_agree():
    encoder = CategoryEncoder("c").fit(pd.Series([1, 1, 2, 2]))
    assert encoder.transform(pd.Series([1.0, "1", 2])).tolist() == encoder.transform(pd.Series([1, 1, 2])).tolist()


def test_an_exponent_past_decimals_range_is_an_unknown_category_not_a_crash():
    encoder = CategoryEncoder("c").fit(pd.Series(["1.5", "1.5", "2", "2"]))
    huge = ["1e999999999999999999999", "1e-999999999999999999999", "-1E+999999999999999999999"]
    assert encoder.transform(pd.Series(huge)).tolist() == [UNKNOWN_INDEX] * 3
    assert encoder.encode_values(huge).tolist() == [UNKNOWN_INDEX] * 3
    assert CategoryEncoder("c").fit(pd.Series(huge * 2)).cardinality == 5  # training on them too


def test_a_decimal_comma_names_its_number_but_a_possible_thousands_separator_does_not():
    from lamina.features.spelling import decimal_point

    assert [decimal_point(k) for k in ("1,5", "-0,0507", ",5", "12,5", "1,5e3")] == ["1.5", "-0.0507", ".5", "12.5",
                                                                                   "1.5e3"]
    assert [decimal_point(k) for k in ("1,500", "3,000", "-2,500", "1,2,3", "١,٥", "1.5")] == [
        "1,500", "3,000", "-2,500", "1,2,3", "١,٥", "1.5"]  # 1,500 is 1500 in a comma-separated English file
    encoder = CategoryEncoder("c").fit(pd.Series(["1.5", "1.5", "1500", "1500"]))
    assert encoder.transform(pd.Series(["1,5", "1,500"])).tolist() == [encoder.index_of("1.5"), UNKNOWN_INDEX]


def test_truth_values_however_cased_or_typed_reach_the_one_learnt():
    # A yes/no column read as booleans (True/False) and a request or a text table spelling "true"/"FALSE":
    # the server once scored "true" as an unknown value while the CLI read the same file right.
    for learnt in (pd.Series([True, False, True, False]), pd.Series(["true", "false", "true", "false"])):
        encoder = CategoryEncoder("flag").fit(learnt)
        truth, false = encoder.transform(pd.Series([True, False])).tolist()
        assert truth != false and min(truth, false) > 1, "both are known values, neither missing nor unknown"
        spelt = pd.Series(["true", "TRUE", "True", True, "false", "False", False])
        assert encoder.transform(spelt).tolist() == [truth] * 4 + [false] * 3
        assert encoder.encode_values(["true", False]).tolist() == [truth, false]
        assert encoder.transform(pd.Series(["yes"])).tolist() == [1], "other words stay unknown"


def test_a_yes_no_column_reads_every_usual_spelling_and_refuses_other_values():
    for learnt in ([True, False] * 3, ["Y", "N"] * 3, ["1", "0"] * 3, [1, 0] * 3, ["yes", "no"] * 3):
        encoder = BinaryEncoder("member").fit(pd.Series(learnt))
        truth, false = encoder.transform(pd.Series(learnt[:2])).tolist()
        assert truth != false and min(truth, false) > 1, learnt
        spelt = pd.Series(["TRUE", "yes", "Y", "t", "1", 1, 1.0, True, "false", "No", "n", "F", "0", 0, False, None, ""])
        assert encoder.transform(spelt).tolist() == [truth] * 8 + [false] * 7 + [MISSING_INDEX] * 2, learnt
        assert encoder.encode_values(["yes", 0, True, None]).tolist() == [truth, false, truth, MISSING_INDEX]
        if str(learnt[0]) in ("1", "0"):  # learnt as the numbers 0 and 1: a 2 is a pixel's or a count's, unknown
            assert encoder.transform(pd.Series([2, "banana", 1])).tolist() == [UNKNOWN_INDEX] * 2 + [truth], learnt
            assert encoder.encode_values([2.0, 0]).tolist() == [UNKNOWN_INDEX, false]
            continue
        with pytest.raises(LaminaError, match=r"Column 'member', row 4 \(counting the header as row 1\): 'banana' "
                                              r"is not a yes/no value; the column takes true/false, 1/0, yes/no"):
            encoder.transform(pd.Series(["yes", "no", "banana"]))
        with pytest.raises(LaminaError, match="Column 'member', record 1: 2 is not a yes/no value"):
            encoder.encode_values([True, 2])
    two_words = BinaryEncoder("sex").fit(pd.Series(["male", "female"] * 3))
    assert two_words.transform(pd.Series(["banana", "yes"])).tolist() == [UNKNOWN_INDEX] * 2, "no truths: a category"


def test_a_two_valued_column_learns_a_value_of_one_row_and_reads_nothing_else_as_it():
    """The demo's pixel_7_0 is inked in 1 training row of 1,221: left to the unknown bucket by the categories' rule
    of 2 rows, that 1 was read as unknown and every unknown value (a word, a 2, 0.4) as the 1."""
    encoder = BinaryEncoder("pixel_7_0").fit(pd.Series([0.0] * 1220 + [1.0]))
    assert encoder.vocabulary_ == ["0", "1"]
    zero, one = encoder.transform(pd.Series([0.0, 1.0])).tolist()
    assert zero != one and UNKNOWN_INDEX not in (zero, one)
    read = encoder.transform(pd.Series([0.4, 0.9, 2, 0.5, "abc"], dtype=object)).tolist()
    assert read == [zero, one] + [UNKNOWN_INDEX] * 3
    assert encoder.encode_values([0.4, 2]).tolist() == [zero, UNKNOWN_INDEX]
    assert CategoryEncoder("city").fit(pd.Series(["a"] * 9 + ["b"])).vocabulary_ == ["a"], "categories keep theirs"


def test_a_two_number_column_reads_a_number_as_the_learnt_value_it_is_nearer_to(tmp_path):
    """scikit-learn diabetes' standardised sex: a client sending 0.05068 (rounded by JSON from another language,
    or a CSV written to 6 digits) once got the unknown value, silently, on every path and in drift monitoring."""
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    high, low = 0.0506801187398187, -0.044641636506989
    rng = np.random.default_rng(0)
    sex = rng.choice([high, low], size=300)
    frame = pd.DataFrame({"sex": sex, "x": rng.normal(size=300)})
    frame["y"] = np.where(sex > 0, "a", "b")
    model = lamina.fit(frame, "y", out=tmp_path / "run", progress=False, **FAST)
    assert {c.name: c.kind for c in model.schema.features}["sex"] == "binary"
    rows = frame.head(40)
    exact = model.predict(rows)
    assert (exact["prediction"] == rows["y"]).mean() > 0.9, "the column is learnt"
    for rounded in (rows.assign(sex=rows["sex"].round(6)), rows.assign(sex=rows["sex"].round(6).astype(str))):
        pd.testing.assert_frame_equal(model.predict(rounded), exact)
    encoder = model.features.encoders["sex"]
    learnt = encoder.transform(pd.Series([high, low])).tolist()
    # Farther from both than half their gap, or on the midpoint: no known value, as an unseen category.
    assert encoder.transform(pd.Series([0.05068, -0.04464, 0.0, 1.0, -0.2, (high + low) / 2, "banana"])).tolist() \
        == [*learnt, learnt[1]] + [UNKNOWN_INDEX] * 4
    served = TestClient(create_app({"m": lamina.load(tmp_path / "run")}, monitor=False))
    answer = served.post("/predict", json={"records": [{"sex": 0.050680, "x": 0.1}, {"sex": high, "x": 0.1}]})
    first, second = answer.json()["predictions"]
    assert first == second
    drift = summarize(model.profile, rows.assign(sex=rows["sex"].round(6)), exact["prediction"])
    assert drift["columns"]["sex"] == summarize(model.profile, rows, exact["prediction"])["columns"]["sex"]
    assert drift["columns"]["sex"][-2:] == [0, 0], "no rounded value counts as other or missing"


def test_a_date_is_text_with_its_year_written_in_the_digits_0_to_9():
    written = {"2024-03-05": "2024-03-05", "2024/03/05 14:30": "2024-03-05 14:30", "20240305": "2024-03-05",
               "2024-03-05T14:30:00Z": "2024-03-05 14:30", "2024-03-05T16:30:00+02:00": "2024-03-05 14:30",
               "3/5/2024": "2024-03-05", "05-Mar-24": "2024-03-05", "5 March 2024": "2024-03-05",
               "Tue, 05 Mar 2024 14:30:00 GMT": "2024-03-05 14:30", "March 2024": "2024-03-01", "2024": "2024-01-01"}
    read = parse_dates(pd.Series(list(written), dtype=object))
    assert read.tolist() == [pd.Timestamp(v) for v in written.values()]
    # pandas reads each of these: from the clock ("now", "12:30", "Jan 5": this year), as year 1 ("1,5", "3 5"),
    # or from another script's digits.
    refused = ["now", "12:30", "Jan 5", "1,5", "3 5", "٢٠٢٤-٠٣-٠٥", "２０２４-０３-０５"]
    assert parse_dates(pd.Series(refused, dtype=object)).isna().all()
    with pytest.raises(LaminaError, match=r"Column 'day', row 3 \(counting the header as row 1\): '1,5' is not a "
                                          "date.*with the year written out and in the digits 0-9"):
        DatetimeEncoder("day").fit(pd.Series(["2024-03-05", "1,5", "2024-03-07"]))


def test_a_date_column_is_read_day_first_only_where_a_value_proves_it():
    ambiguous = pd.Series(["01/02/2020", "03/04/2021", "2020-01-02", None])
    encoder = DatetimeEncoder("day").fit(ambiguous)
    assert encoder.dates(ambiguous).tolist()[:3] == [pd.Timestamp(d) for d in ("2020-01-02", "2021-03-04", "2020-01-02")]
    proven = pd.Series(["01/02/2020", "13/04/2021", "2020-01-02", "5.6.21 14:30", "20200102", "2020-01-02T10:00Z"])
    encoder = DatetimeEncoder("day").fit(proven)
    day_first = [pd.Timestamp(d) for d in ("2020-02-01", "2021-04-13", "2020-01-02", "2021-06-05 14:30", "2020-01-02",
                                           "2020-01-02 10:00")]
    assert encoder.dates(proven).tolist() == day_first, "day first, and a year written first read as before"
    assert encoder.encode_values(["01/02/2020"]).tolist() == encoder.transform(pd.Series(["2020-02-01"])).tolist()
    state = json.loads(json.dumps(encoder.state()))
    assert DatetimeEncoder("day").load_state(state).dates(proven).tolist() == day_first, "predicting reads as trained"
    del state["day_first"]  # a model saved before the order was recorded read month first, and still does
    assert DatetimeEncoder("day").load_state(state).dates(proven).tolist()[0] == pd.Timestamp("2020-01-02")


def test_a_date_column_in_the_schemas_order_refuses_a_date_only_the_other_order_reads():
    """The schema's order (decided on the whole file) is kept: 13/02/2020 under month first is refused, not read
    day first beside 05/02/2020 read month first; a file that mixed both orders, and a model saved before the
    order was kept, read each value as pandas does."""
    new = pd.Series(["05/02/2020", "13/02/2020"], index=[7, 8])
    encoder = DatetimeEncoder("day", "month_first").fit(pd.Series(["01/02/2020", "03/04/2021"]))
    with pytest.raises(LaminaError, match=r"Column 'day', row 10 \(counting the header as row 1\): '13/02/2020' can "
                                          r"only be read day first \(1 such value\(s\)\), yet the column's dates are read month first"):
        encoder.dates(new)
    state = json.loads(json.dumps(encoder.state()))
    with pytest.raises(LaminaError, match="only be read day first"):
        DatetimeEncoder("day").load_state(state).dates(new)
    del state["strict"]  # saved before: read as before
    assert DatetimeEncoder("day").load_state(state).dates(new).tolist() == [pd.Timestamp("2020-05-02"),
                                                                             pd.Timestamp("2020-02-13")]
    mixed = DatetimeEncoder("day", "mixed").fit(pd.Series(["13/02/2020", "02/13/2020"]))
    assert mixed.dates(new).tolist() == [pd.Timestamp("2020-05-02"), pd.Timestamp("2020-02-13")]
    with pytest.raises(LaminaError, match=r"'02/13/2020' can only be read month first \(1 such value\(s\)\), yet the "
                                          r"column's dates are read day first"):
        DatetimeEncoder("day", "day_first").fit(pd.Series(["01/02/2020", "02/13/2020"]))


def test_a_refusal_under_an_assumed_date_order_says_it_was_assumed_and_names_the_option():
    """Every date learnt from read either way: the order was assumed, not how the data was written."""
    new = pd.Series(["13/02/2020"], index=[0])
    assumed = DatetimeEncoder("day", "month_first", assumed=True).fit(pd.Series(["01/02/2020", "03/04/2021"]))
    with pytest.raises(LaminaError, match=r"\(1 such value\(s\)\), yet the column's dates are read month first: an order "
                                          r"assumed, as every such date of the data this model learnt from reads "
                                          r"either way\..*train it with `--date-order day_first`"):
        DatetimeEncoder("day").load_state(json.loads(json.dumps(assumed.state()))).dates(new)
    proven = DatetimeEncoder("day", "month_first").fit(pd.Series(["01/02/2020", "03/24/2021"]))
    with pytest.raises(LaminaError, match=r"month first: the order this model learnt, proved by its data or declared"):
        proven.dates(new)


def test_a_day_first_date_columns_drift_bins_read_its_dates_day_first(tmp_path):
    """01/02/2020 in a day-first column is 1 February in the training profile's bins and in later rows' counts (the
    server's drift counts and `lamina monitor` summarise with the saved profile), as the encoder reads it."""
    from lamina.features.datetime import days
    from lamina.serving.monitor import offline_drift

    rng = np.random.default_rng(0)
    written = [f"{day}/{month:02d}/2020" for month in (1, 2) for day in range(13, 29)] * 4  # day over 12: day first
    frame = pd.DataFrame({"day": written, "x": rng.normal(size=len(written))})
    frame["y"] = np.where(frame["x"] > 0, "up", "down")
    model = lamina.fit(frame, "y", out=tmp_path / "run", progress=False, **FAST)
    assert model.profile["columns"]["day"]["reading"] == {"date_order": "day_first"}

    def bins(profile, *dates):
        rows = pd.DataFrame({"day": list(dates), "x": 0.0})
        return summarize(profile, rows, pd.Series(["up"] * len(dates)))["columns"]["day"]

    assert bins(model.profile, "01/02/2020") == bins(model.profile, "2020-02-01") != bins(model.profile, "2020-01-02")
    served = lamina.load(tmp_path / "run")
    assert bins(served.profile, "01/02/2020") == bins(served.profile, "2020-02-01")
    _, profile, counts = offline_drift(served, frame, pd.DataFrame({"day": ["01/02/2020"], "x": [0.0]}))
    assert counts["columns"]["day"] == bins(profile, "2020-02-01") != bins(profile, "2020-01-02")
    encoder = DatetimeEncoder("day", "day_first").fit(frame["day"])
    read = (encoder.dates(pd.Series(["01/02/2020"])) - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
    assert days(pd.Series(["01/02/2020"]), "day_first").tolist() == read.tolist()


def test_dates_become_cyclic_parts():
    values = pd.Series(["2024-01-01", "2024-12-31", "2024-07-01", None])
    encoder = DatetimeEncoder("d").fit(values)
    out = encoder.transform(values)
    month_sin, month_cos = out[:, 1], out[:, 2]
    assert np.hypot(month_sin[:3], month_cos[:3]) == pytest.approx([1, 1, 1])
    distance_new_year = np.hypot(month_sin[0] - month_sin[1], month_cos[0] - month_cos[1])
    distance_half_year = np.hypot(month_sin[0] - month_sin[2], month_cos[0] - month_cos[2])
    assert distance_new_year < distance_half_year, "December is next to January"
    assert out[3, -1] == 1.0 and out[0, -1] == 0.0


def test_text_tokenizer_survives_its_json_round_trip_and_pads_on_the_right():
    encoder = TextEncoder("t").fit(pd.Series(["good film", "bad film today"] * 5))
    texts = pd.Series(["Good FILM", "", None, "zebra"])
    first = encoder.transform(texts)
    again = TextEncoder("t").load_state(json.loads(json.dumps(encoder.state()))).transform(texts)
    assert np.array_equal(first, again)
    assert first.shape == (4, encoder.length_)
    assert encoder.pieces(first[0]) == ["[CLS]", "good", "film"], "lower-cased, start piece first"
    assert encoder.pieces(first[1]) == encoder.pieces(first[2]) == ["[CLS]"], "empty and missing: start piece only"
    assert "[UNK]" in encoder.pieces(first[3]), "letters never seen in training"
    assert (first[0, 3:] == encoder.pad_).all()


def test_the_pipeline_survives_a_json_round_trip(table):
    schema = infer_schema(table, "y")
    pipeline = FeaturePipeline(schema).fit(table)
    state = json.loads(json.dumps(pipeline.state()))
    again = FeaturePipeline.from_state(schema, state)
    first, second = pipeline.transform(table), again.transform(table)
    assert first.keys() == second.keys() == {"numbers", "categories", "text:comment"}
    for name in first:
        assert np.array_equal(first[name].numpy(), second[name].numpy()), name
    assert pipeline.spec()["numbers"] == first["numbers"].shape[1]


def test_a_missing_training_column_is_named(table):
    pipeline = FeaturePipeline(infer_schema(table, "y")).fit(table)
    with pytest.raises(LaminaError, match="'colour'"):
        pipeline.transform(table.drop(columns=["colour"]))


# ---- the kinds registry: every registered kind, and a kind added from outside src/ ----------------------

ROWS = 40


def check_kind(kind, folder):
    """A kind's example column sniffs back as the kind, encodes into its block, survives a JSON round trip
    of the encoder state, takes a server request value, and (when it declares one) has a drift summary."""
    values = kind.example(ROWS, folder).rename("x")
    column = infer_column(values)
    assert (column.kind, column.role) == (kind.name, "feature"), column.note
    frame = pd.DataFrame({"x": values, "y": np.resize(["a", "b"], ROWS)})
    schema = Schema([column, Column("y", "category", "target")], target="y", task="binary")
    pipeline = FeaturePipeline(schema).fit(frame)
    inputs = pipeline.transform(frame)
    assert {len(tensor) for tensor in inputs.values()} == {ROWS}
    assert pipeline.spec()[kind.block.spec_key], "the kind's block reads the column"
    again = FeaturePipeline.from_state(schema, json.loads(json.dumps(pipeline.state()))).transform(frame)
    assert all(torch.equal(inputs[name], again[name]) for name in inputs)

    request = TypeAdapter(kind.request_field).validate_python(kind.request_example(folder))
    decoded = request if kind.decode is None else kind.decode(request, "a test request")
    assert {len(tensor) for tensor in pipeline.transform(pd.DataFrame({"x": [decoded]})).values()} == {1}

    if kind.drift is not None:
        profile = build_profile(frame, {"x": kind.name}, frame["y"], "binary")
        assert sum(summarize(profile, frame, frame["y"])["columns"]["x"]) == ROWS


@pytest.mark.parametrize("name", sorted(registered_kinds()))
def test_every_registered_kind_sniffs_encodes_and_serves_its_example(name, tmp_path):
    check_kind(kind_named(name), tmp_path)


def percentages(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values.astype("string").str.rstrip("%"), errors="coerce").to_numpy(float, na_value=np.nan)


class PercentEncoder(NumberEncoder):
    """"12.5%" → 12.5, then encoded as any number."""

    def fit(self, values: pd.Series) -> NumberEncoder:
        return super().fit(pd.Series(percentages(values)))

    def transform(self, values: pd.Series) -> np.ndarray:
        return super().transform(pd.Series(percentages(values)))


class PercentKind(Kind):
    name = "percent"
    encoder = PercentEncoder
    block = DENSE
    drift = Bins("percent", percentages)

    @sniff(105)  # after strings that are plain numbers, before two distinct strings read as binary
    def shares(self, column: ColumnSample) -> str | None:
        return "shares written with %" if column.string_sample.str.fullmatch(r"\d+(\.\d+)?%").all() else None

    def example(self, rows: int, folder) -> pd.Series:
        return pd.Series([f"{share:.1f}%" for share in np.random.default_rng(0).uniform(0, 100, rows)])


@pytest.fixture
def percent_kind():
    register_kind(PercentKind)
    yield kind_named("percent")
    KINDS.pop("percent")


def test_a_new_kind_is_one_class_and_its_registration(percent_kind, tmp_path):
    check_kind(percent_kind, tmp_path)
    rng = np.random.default_rng(1)
    share = rng.uniform(0, 100, 300)
    frame = pd.DataFrame({"discount": [f"{s:.1f}%" for s in share], "noise": rng.normal(size=300),
                          "y": np.where(share > 50, "bought", "left")})
    model = lamina.fit(frame, target="y", progress=False, **FAST)
    assert {c.name: c.kind for c in model.schema.features}["discount"] == "percent"
    assert model.profile["columns"]["discount"]["kind"] == "percent"
    predictions = model.predict(frame)
    assert (predictions["prediction"] == frame["y"]).mean() > 0.8
    model.save(tmp_path / "model")
    pd.testing.assert_frame_equal(lamina.load(tmp_path / "model").predict(frame), predictions)


def test_an_unregistered_kind_is_named():
    with pytest.raises(LaminaError, match="Unknown column kind 'percent'.*Registered: audio, binary"):
        kind_named("percent")


def test_dates_whose_offset_changes_at_daylight_saving_train_predict_and_serve_as_instants(tmp_path):
    from fastapi.testclient import TestClient

    from lamina.data.dates import parse_dates
    from lamina.serving.server import create_app

    summer = parse_dates(pd.Series(["2024-03-31T03:00:00+02:00", "2024-03-31T01:00:00Z", "no date"]))
    assert summer.iloc[0] == summer.iloc[1] == pd.Timestamp("2024-03-31 01:00") and pd.isna(summer.iloc[2])
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2024-03-01", periods=300, freq="5h", tz="Europe/Paris")  # crosses 31 March
    frame = pd.DataFrame({"local": stamps.astype(str), "utc": stamps.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "x": rng.normal(size=300)})
    frame["y"] = np.where(frame["x"] > 0, "up", "down")
    model = lamina.fit(frame, "y", out=tmp_path / "run", progress=False, **FAST)  # the drift profile included
    assert {c.name: c.kind for c in model.schema.features} == {"local": "datetime", "utc": "datetime", "x": "number"}
    assert len(model.predict(frame.head(5))) == 5
    client = TestClient(create_app({"m": lamina.load(tmp_path / "run")}, monitor=False))
    answer = client.post("/predict", json={"local": "2024-10-27T02:30:00+01:00", "utc": "2024-10-27T01:30:00Z",
                                           "x": 0.5})
    assert answer.status_code == 200 and answer.json()["predictions"][0]["prediction"] in ("up", "down")


def test_a_number_reaches_the_zero_padded_code_that_spells_it():
    """Codes kept as text in training ("008") arrive as 8 from a frame read without dtypes or from JSON."""
    encoder = CategoryEncoder("code").fit(pd.Series(["008", "003", "008", "003", "A7", "A7"]))
    padded = encoder.transform(pd.Series(["008", "003"]))
    assert encoder.transform(pd.Series([8, 3])).tolist() == padded.tolist()
    assert encoder.transform(pd.Series([8.0, "3", "+8", "0003"])).tolist() == [*padded, *padded]
    assert encoder.transform(pd.Series([5, "8.5", "A07"])).tolist() == [UNKNOWN_INDEX] * 3
    ambiguous = CategoryEncoder("code").fit(pd.Series(["08", "008", "08", "008"]))
    assert ambiguous.transform(pd.Series([8, "08", "008"])).tolist() == [UNKNOWN_INDEX, 3, 2], "8: 08 or 008?"


def test_an_empty_or_blank_string_is_a_missing_category():
    """An empty CSV cell is read as missing, so "" and "  " sent later are missing too, never a value of their own."""
    encoder = CategoryEncoder("vip").fit(pd.Series(["Y", "Y", "", " ", None, "N", "N"]))
    assert encoder.vocabulary_ == ["N", "Y"]
    assert encoder.transform(pd.Series([None, "", "  ", np.nan])).tolist() == [MISSING_INDEX] * 4


def test_a_date_no_order_reads_proves_no_order_and_is_refused_as_no_date():
    """99/99/2020 and 13/13/2020 were "only day first", and one typo 31/31/2020 made a day-first column mixed, read
    month first wherever a date read either way."""
    typo = pd.Series(["13/02/2020", "05/03/2020", "31/31/2020"], name="day")
    order = date_order(typo)
    assert (order.day_first, order.proven, order.mixed) == (True, True, False)
    for nonsense in ("99/99/2020", "13/13/2020", "00/05/2020", "05/32/2020"):
        assert date_order(pd.Series([nonsense], name="day")) is None, nonsense
        assert unreadable_in_order(pd.Series([nonsense]), True).empty, nonsense
    encoder = DatetimeEncoder("day", "month_first").fit(pd.Series(["01/02/2020", "03/24/2021"]))
    with pytest.raises(LaminaError, match=r"row 3 \(counting the header as row 1\): '13/13/2020' is not a date"):
        encoder.dates(pd.Series(["01/02/2020", "13/13/2020"]))


def test_a_class_the_target_never_saw_is_named_with_its_row_and_the_class_it_resembles():
    """The adult test file spells '>50K.': the error named no row and gave no hint that a dot was the difference;
    then only the first of two misspelt classes was named, one typo a run."""
    from lamina.features.target import TargetEncoder

    encoder = TargetEncoder("binary", "income").fit(pd.Series(["<=50K", ">50K", "<=50K"]))
    with pytest.raises(LaminaError, match=r"Target 'income': 3 rows hold classes the model never saw in training "
                                          r"\(known: <=50K, >50K\)\. row 3 \(counting the header as row 1\): class "
                                          r"'>50K\.' Did you mean '>50K'.*row 4 \(counting the header as row 1\): "
                                          r"class '<=50K\.' Did you mean '<=50K'.*\. Evaluate on rows of known"):
        encoder.encode(pd.Series(["<=50K", ">50K.", "<=50K.", ">50K", ">50K."]))
