import json

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from lamina.api import check, resolve_config
from lamina.cli import main
from lamina.data.series import SeriesLayout, layout_of, regular_series, season_of, time_order
from lamina.errors import LaminaError
from lamina.evaluation.backtest import naive_scale, residual_quantiles, seasonal_naive, smape
from lamina.nets.build import build_network

forecast = lamina.forecast

DAY = 24  # hourly steps per season


def hourly(steps=480, level=10.0, seed=0, start="2024-01-01"):
    """A daily cycle on a slow trend, with a little noise: seasonal naive is decent, a model can do better."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    values = level + 3 * np.sin(2 * np.pi * t / DAY) + 0.02 * t + rng.normal(0, 0.3, steps)
    return pd.DataFrame({"when": pd.date_range(start, periods=steps, freq="h"), "load": values})


@pytest.fixture(scope="module")
def linear_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("forecast") / "run"
    frame = hourly()
    model = forecast(frame, "when", "load", 12, arch="linear", out=out, progress=False)
    return model, frame, out


def test_the_linear_forecaster_beats_seasonal_naive_and_its_interval_covers(linear_run):
    model, _, _ = linear_run
    scores = model.metrics
    assert scores["model"]["mase"] < 0.8 * scores["seasonal_naive"]["mase"]
    assert scores["model"]["mae"] < scores["seasonal_naive"]["mae"]
    assert 0.6 <= scores["interval_coverage"] <= 0.97  # an 80% interval from validation residuals
    assert scores["origins"] == model.training["split"]["test_steps"] - 12 + 1  # every origin whose horizon fits
    assert len(scores["error_by_step"]["model"]) == 12


def test_predict_forecasts_the_steps_after_the_last_row(linear_run):
    model, frame, _ = linear_run
    result = model.predict(frame)
    assert list(result["when"]) == list(pd.date_range(frame["when"].iloc[-1], periods=13, freq="h")[1:])
    t = np.arange(len(frame), len(frame) + 12)
    truth = 10 + 3 * np.sin(2 * np.pi * t / DAY) + 0.02 * t
    assert np.abs(result["load"] - truth).mean() < 0.4  # the noise alone has a standard deviation of 0.3
    assert (result["load_lower"] <= result["load"]).all() and (result["load"] <= result["load_upper"]).all()


def test_a_saved_forecaster_loads_and_predicts_the_same(linear_run):
    model, frame, out = linear_run
    loaded = lamina.load(out)
    assert isinstance(loaded, lamina.Model) and loaded.task.name == "forecast"
    pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame))
    assert {"report.html", "test_predictions.csv", "history.csv", "metrics.json", "config.yaml", "checks.json"} <= {
        p.name for p in out.iterdir()}
    report = (out / "report.html").read_text()
    assert "seasonal naive" in report and "80% interval</text>" in report  # the interval band is drawn


def test_the_split_is_by_time_and_the_scaler_sees_only_the_training_part():
    frame = hourly(steps=300)
    frame.loc[250:, "load"] += 1000.0  # the test part (last 45 steps) lies far away; training must not see it
    model = forecast(frame, "when", "load", 6, arch="linear", valid_steps=45, test_steps=45, progress=False)
    training_rows = frame["load"].iloc[: 300 - 90]
    assert model.task.scaler_.mean_[""][0] == pytest.approx(training_rows.mean())
    assert pd.Timestamp(model.training["split"]["test_from"]) == frame["when"].iloc[255]


def test_seasonal_naive_repeats_the_last_season_before_each_origin():
    values = np.arange(20, dtype=float)[:, None]
    forecasts = seasonal_naive(values, np.array([8, 10]), horizon=6, season=4)
    assert forecasts[0, :, 0].tolist() == [4, 5, 6, 7, 4, 5]
    assert forecasts[1, :, 0].tolist() == [6, 7, 8, 9, 6, 7]


def test_metric_definitions_on_values_known_by_hand():
    assert smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])) == pytest.approx(100 * (100 / 150) / 2)
    periodic = np.tile([1.0, 5.0, 2.0], 4)[:, None]
    assert naive_scale(periodic, season=3)[0] == 1.0  # a perfect season: no error, scaled by 1 not divided by 0
    assert naive_scale(np.array([[0.0], [2.0], [4.0]]), season=1)[0] == pytest.approx(2.0)
    # Residuals 1..100, all positive (the model under-predicts): the interval still surrounds the forecast,
    # and its half-width is the 81st smallest residual, the conformal (n + 1) * 80% rank.
    truth, forecast_values = np.zeros((100, 1, 1)), -np.arange(1.0, 101.0).reshape(100, 1, 1)
    bounds = residual_quantiles(truth, forecast_values, level=0.8)
    assert bounds["lower"][0][0] == pytest.approx(-81.0) and bounds["upper"][0][0] == pytest.approx(81.0)


def test_the_season_follows_the_time_step():
    assert [season_of(step) for step in ("h", "D", "MS", "QS-OCT", "W-SUN", "15min")] == [24, 7, 12, 4, 52, 96]
    assert [season_of(step) for step in ("2W-SUN", "3MS", "5W-MON")] == [26, 4, 52]  # a year of them, when whole


@pytest.mark.parametrize(("freq", "step", "season"), [("D", "D", 7), ("W-MON", "W-MON", 52), ("2D", "2D", 7)])
def test_a_series_of_days_or_weeks_with_gaps_keeps_its_step_and_season(freq, step, season):
    """A daily series with two days missing was read as steps of '24h' with a season of 1 (an hourly step's): the
    seasonal-naive baseline became last-value naive and MASE was inflated; weekly '168h', season 1."""
    stamps = pd.date_range("2023-01-02", periods=120, freq=freq).delete([30, 31])
    frame = pd.DataFrame({"when": stamps.strftime("%Y-%m-%d"), "sales": np.arange(118.0)})
    layout = layout_of(frame, "when", ["sales"])
    assert (layout.step, season_of(layout.step)) == (step, season)
    assert len(regular_series(frame, layout)[0]) == 120


def test_several_series_with_a_covariate_share_one_network():
    parts = []
    for store, level in (("a", 10.0), ("b", 500.0)):
        part = hourly(steps=240, level=level, seed=len(parts)).assign(store=store)
        part["temperature"] = np.random.default_rng(1).normal(20, 2, len(part))
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    model = forecast(frame, "when", "load", 6, id="store", arch="mlp", width=16, epochs=10, progress=False)
    assert model.task.layout_.covariates == ["temperature"]  # every other numeric column, by default
    result = model.predict(frame)
    assert result.groupby("store").size().to_dict() == {"a": 6, "b": 6}
    levels = result.groupby("store")["load"].mean()
    assert 5 < levels["a"] < 25 and 450 < levels["b"] < 550  # each series forecast on its own scale


def test_several_targets_are_forecast_and_scored_each_in_its_own_unit(tmp_path):
    frame = hourly()
    frame["price"] = 100 - 20 * frame["load"] + np.random.default_rng(3).normal(0, 0.3, len(frame))
    model = forecast(frame, "when", ["load", "price"], 12, arch="linear", out=tmp_path / "run", progress=False)
    result = model.predict(frame)
    assert {"load", "load_lower", "load_upper", "price", "price_lower", "price_upper"} <= set(result.columns)
    assert 5 < result["load"].mean() < 25 and -400 < result["price"].mean() < -100  # each on its own scale
    per_target = model.metrics["per_target"]
    assert per_target["price"]["model"]["mae"] > 10 * per_target["load"]["model"]["mae"]  # price moves 20× load
    for scores in per_target.values():
        assert scores["model"]["mase"] < scores["seasonal_naive"]["mase"]
    pooled_mase = np.mean([scores["model"]["mase"] for scores in per_target.values()])
    assert model.metrics["model"]["mase"] == pytest.approx(pooled_mase)  # the headline MASE averages the targets
    assert "<h3>Per target</h3>" in (tmp_path / "run" / "report.html").read_text()


def test_a_recurrent_forecaster_learns_more_than_the_last_value(capsys):
    frame = hourly(steps=360)
    model = forecast(frame, "when", "load", 6, arch="gru", lookback=24, width=16, epochs=20)
    assert model.training["candidates"][0]["valid_mse"] < 0.5 * _last_value_mse(frame, 6, model)
    # Each epoch's line names the architecture, as a table run's do ("mlp  epoch 1/20"): a forecast's candidates
    # each train their own epochs, and the lines said "epoch 1/20" alone.
    lines = [line for line in capsys.readouterr().err.splitlines() if "epoch " in line]
    assert len(lines) == 20 and all(line.startswith("gru  epoch ") for line in lines), lines[:2]


def _last_value_mse(frame, horizon, model):
    """Validation MSE (standardised) of repeating the last observed value, over the same windows."""
    scaled = (frame["load"].to_numpy() - model.task.scaler_.mean_[""][0]) / model.task.scaler_.std_[""][0]
    valid_from = int((frame["when"] < pd.Timestamp(model.training["split"]["valid_from"])).sum())
    test_from = int((frame["when"] < pd.Timestamp(model.training["split"]["test_from"])).sum())
    errors = [scaled[o:o + horizon] - scaled[o - 1] for o in range(valid_from, test_from - horizon + 1)]
    return float(np.mean(np.square(errors)))


def test_gaps_are_filled_and_said_and_bad_rows_are_named():
    frame = hourly(steps=100)
    frame.loc[10, "load"] = np.nan
    holey = frame.drop(index=[20, 21])
    layout = layout_of(holey, "when", ["load"])
    regular, notes = regular_series(holey, layout)
    assert len(regular) == 100 and regular["load"].notna().all()
    # Each repair said once, and where: the two added stamps named, the one empty cell counted alone.
    added = [str(frame["when"].iloc[i]) for i in (20, 21)]
    assert notes == [f"2 missing time step(s) were added and their values interpolated ({', '.join(added)}).",
                     "1 missing value(s) of 'load' were interpolated."]
    duplicated = pd.concat([frame.iloc[:5], frame.iloc[[3]]], ignore_index=True)
    with pytest.raises(LaminaError, match=r"sharing a time stamp.*lines \[5, 7\]"):
        regular_series(duplicated, layout_of(duplicated, "when", ["load"]))
    words = frame.astype({"load": object})
    words.loc[7, "load"] = "n/a?"
    with pytest.raises(LaminaError, match=r"'load'.*line 9 holds 'n/a\?'"):
        layout_of(words, "when", ["load"])
    with pytest.raises(LaminaError, match="no column 'lod'.*Did you mean 'load'"):
        layout_of(frame, "when", ["lod"])


def test_stamps_written_day_first_are_read_day_first_in_training_and_in_a_later_history():
    """A daily series written 01/01/2020 ... 13/01/2020: pandas took the order from the first stamp (month first)
    and the run stopped at 13/01/2020, "not a date"."""
    days = pd.date_range("2020-01-01", periods=60, freq="D")
    frame = pd.DataFrame({"when": days.strftime("%d/%m/%Y"), "load": np.arange(60.0)})
    layout = layout_of(frame, "when", ["load"], day_first=time_order(frame, "when").day_first)
    assert (layout.step, layout.day_first) == ("D", True)
    assert regular_series(frame, layout)[0]["when"].tolist() == days.tolist()
    settings = resolve_config(task="forecast", time="when", horizon=3)
    (said,) = [f for f in check(frame, "load", settings)[1].findings if f.code == "date_order"]
    assert said.level == "info" and "'13/01/2020' in row 14 (counting the header as row 1)" in said.message
    # A later history of stamps that read either way is read as the training stamps were, by the saved layout.
    history = frame.head(10)
    saved = SeriesLayout.from_dict(json.loads(json.dumps(layout.to_dict())))
    assert regular_series(history, saved)[0]["when"].tolist() == days[:10].tolist()
    # A model that reads month first, given 13/02/2020 first: pandas took that order for the stamps after it too.
    month_first = SeriesLayout.from_dict({**layout.to_dict(), "day_first": False})
    later = pd.DataFrame({"when": ["13/02/2020", "05/02/2020"], "load": [1.0, 2.0]})
    with pytest.raises(LaminaError, match=r"Column 'when', line 2 of h: '13/02/2020' can only be read day first .*, "
                                          r"yet the column's dates are read month first.*`--date-order day_first`"):
        regular_series(later, month_first, "h")
    older = {k: v for k, v in layout.to_dict().items() if k != "day_first"}  # saved before the order was kept
    with pytest.raises(LaminaError, match="from 2020-01-01 00:00:00 to 2020-02-01"):  # month first, as before
        regular_series(history, SeriesLayout.from_dict(older))


def test_a_monthly_series_written_day_first_is_read_in_the_one_order_that_gives_a_regular_series():
    """01/01/2010, 01/02/2010...: every stamp reads either way. Read month first they were twelve days a year and
    the run stopped asking for thousands of made-up steps, without a word about the order. The one reading that
    gives a regular series is taken and said; where neither does, the error names the order assumed and the
    option, and the option sets it."""
    months = pd.date_range("2010-01-01", periods=60, freq="MS")
    frame = pd.DataFrame({"month": months.strftime("%d/%m/%Y"), "passengers": np.arange(60.0)})
    settings = resolve_config(task="forecast", time="month", horizon=12)
    prepared = check(frame, "passengers", settings)[1]
    (said,) = [f for f in prepared.findings if f.code == "date_order"]
    assert said.level == "info"
    assert said.message == ("Column 'month' reads its dates day first (01/02/2020 is 1 February): only that reading "
                            "gives a regular series (one step every month, on the first day), so the day comes first.")
    assert prepared.split is not None

    gappy = frame.drop(index=[20, 21])  # two months missing: neither reading is a regular series
    with pytest.raises(LaminaError, match=r"missing steps made up.*The dates of 'month' were read month first "
                                          r"\(01/02/2020 is 2 January\), as every one reads either way; .*"
                                          r"`data.date_order: day_first`.*\(--date-order\)"):
        check(gappy, "passengers", settings)
    declared = check(gappy, "passengers", resolve_config(settings, date_order="day_first"))[1]
    assert [f.level for f in declared.findings if f.code == "date_order"] == ["info"]
    assert any("2 missing time step(s) were added" in f.message for f in declared.findings)


def test_a_series_irregular_in_a_declared_date_order_says_it_was_declared_and_the_other_may_be_meant():
    """--date-order month_first on a monthly series written day first (01/02/2010 is 1 February): read as declared
    it is twelve days a year, and the grid error says the order was declared and that day first may be meant."""
    months = pd.date_range("2010-01-01", periods=60, freq="MS")
    frame = pd.DataFrame({"month": months.strftime("%d/%m/%Y"), "passengers": np.arange(60.0)})
    settings = resolve_config(task="forecast", time="month", horizon=12, date_order="month_first")
    with pytest.raises(LaminaError, match=r"The dates of 'month' were read month first \(01/02/2020 is 2 January\), "
                                          r"as declared \(data.date_order: month_first, --date-order\); if they are "
                                          r"written the other way round, the other order may be meant: "
                                          r"`--date-order day_first`"):
        check(frame, "passengers", settings)


def test_the_linear_forecaster_with_zero_weights_repeats_the_last_value():
    network = build_network("linear", {"lookback": 10, "channels": 3, "horizon": 4}, 2, reads="series")
    window = torch.randn(5, 10, 3)
    assert torch.allclose(network(window), window[:, -1:, :2].expand(5, 4, 2))


def test_the_cli_forecasts_predicts_and_refuses_table_commands(tmp_path, capsys):
    data = tmp_path / "load.csv"
    hourly(steps=240).to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(["forecast", str(data), "--time", "when", "--target", "load", "--horizon", "6", "--arch", "linear",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    shown = {line.split()[0]: line.split()[1:] for line in printed.splitlines()
             if line.split()[:1] and line.split()[0] in metrics["model"]}
    assert "mase" in shown, printed
    for name, (model_figure, naive_figure) in shown.items():  # the figures printed are the run's own, model first
        assert float(model_figure) == pytest.approx(metrics["model"][name], abs=6e-5), name
        assert float(naive_figure) == pytest.approx(metrics["seasonal_naive"][name], abs=6e-5), name
    assert {"report.html", "test_predictions.csv", "history.csv", "metrics.json", "config.yaml", "model"} <= {
        p.name for p in out.iterdir()}
    assert {"model.json", "weights.safetensors"} <= {p.name for p in (out / "model").iterdir()}
    assert str(out / "report.html") in printed
    assert main(["predict", str(out), str(data), "--out", str(tmp_path / "next.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "next.csv")) == 6
    assert main(["explain", str(out), str(data)]) == 2
    assert "this is a forecast model" in capsys.readouterr().err
    assert main(["forecast", str(data), "--time", "when", "--target", "load", "--horizon", "0"]) == 2


# ---- bad series: each kind refused with its line, or read the way a person means it ---------------------

def test_stamps_with_offsets_are_read_as_instants_whole_years_as_years_and_other_numbers_refused():
    # A daylight-saving change: the offset moves from +01:00 to +02:00, the instants stay an hour apart.
    stamps = ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00",
              "2024-03-31T04:00:00+02:00", "2024-03-31T05:00:00+02:00"]
    frame = pd.DataFrame({"when": stamps, "load": [1.0, 2, 3, 4, 5]})
    layout = layout_of(frame, "when", ["load"])
    regular, notes = regular_series(frame, layout)
    assert layout.step == "h" and len(regular) == 5 and notes == []
    assert regular["when"].iloc[0] == pd.Timestamp("2024-03-30 23:00")  # UTC
    years = pd.DataFrame({"year": range(1990, 2020), "sales": np.arange(30.0)})
    assert regular_series(years, layout_of(years, "year", ["sales"]))[0]["year"].iloc[0] == pd.Timestamp("1990-01-01")
    epoch = pd.DataFrame({"t": 1_700_000_000 + 3600 * np.arange(30), "sales": np.arange(30.0)})
    with pytest.raises(LaminaError, match="'t'.*holds numbers, not dates.*unit='s'"):
        layout_of(epoch, "t", ["sales"])
    words = frame.assign(when=["now", *stamps[1:]])
    with pytest.raises(LaminaError, match="line 2 holds 'now'"):
        layout_of(words, "when", ["load"])


def test_a_stray_stamp_decades_away_is_refused_before_any_grid_is_built():
    frame = hourly(steps=50)
    frame.loc[len(frame)] = [pd.Timestamp("2200-01-01"), 1.0]
    with pytest.raises(LaminaError, match=r"would need [\d,]+ missing steps.*from 2024-01-03 01:00:00 to 2200-01-01"):
        regular_series(frame, layout_of(frame, "when", ["load"]))


def test_a_history_off_the_models_grid_is_refused(linear_run):
    model, frame, _ = linear_run
    shifted = frame.assign(when=frame["when"] + pd.to_timedelta(30 * (frame.index % 2), unit="min"))
    with pytest.raises(LaminaError, match="off its grid of one step every hour.*2024-01-01 01:30:00 first"):
        model.predict(shifted)
    with pytest.raises(LaminaError, match="lacks the column\\(s\\) 'load'"):
        model.predict(frame.drop(columns="load"))


def test_columns_that_would_clash_with_the_forecast_output_are_refused():
    frame = hourly(steps=100)
    with pytest.raises(LaminaError, match="'step' would clash"):
        layout_of(frame.assign(step="a"), "when", ["load"], id="step")
    with pytest.raises(LaminaError, match="'load_lower' would clash"):
        layout_of(frame.assign(load_lower=frame["load"]), "when", ["load", "load_lower"])


def test_infinite_and_overflowing_values_are_refused_with_their_line():
    frame = hourly(steps=100)
    for value in (np.inf, 1e308):
        bad = frame.copy()
        bad.loc[30, "load"] = value
        with pytest.raises(LaminaError, match="'load'.*finite numbers.*line 32"):
            layout_of(bad, "when", ["load"])


def test_a_series_without_training_history_is_refused_by_name():
    early = hourly(steps=300).assign(shop="a")
    late = hourly(steps=300).assign(shop="b").iloc[260:]  # starts inside the validation part
    frame = pd.concat([early, late], ignore_index=True)
    with pytest.raises(LaminaError, match="Series 'b' has 0 time step\\(s\\) before the validation part"):
        forecast(frame, "when", "load", 6, id="shop", arch="linear", progress=False)


def test_forecast_settings_given_to_another_task_and_an_empty_target_are_refused():
    frame = hourly(steps=100)
    with pytest.raises(LaminaError, match=r"--time \(data.time\) is a setting of the tasks forecast and recommend, and this "
                                          "run's task is regression"):
        lamina.fit(frame.assign(x=1.0), "load", task="regression", time="when", horizon=6, progress=False)
    with pytest.raises(LaminaError, match="names no column"):
        lamina.fit(frame, ",", task="forecast", time="when", horizon=6, progress=False)


def test_a_day_first_forecaster_reads_a_year_first_history_as_written(tmp_path):
    """pandas' dayfirst over the whole column refused 2020-01-13 and read 2016-02-01 as 2 January: a model trained
    on DD/MM/YYYY stamps forecasts from an ISO history as from the same history written day first."""
    days = pd.date_range("2016-01-05", periods=60, freq="D")
    frame = pd.DataFrame({"when": days.strftime("%d/%m/%Y"), "load": np.sin(np.arange(60.0)) + 5})
    model = lamina.forecast(frame, "when", "load", 3, arch="linear", out=tmp_path / "run", progress=False,
                            epochs=2)
    assert model.task.layout_.day_first is True
    iso = frame.assign(when=days.strftime("%Y-%m-%d"))  # 2016-01-13 and 2016-02-01 among them
    pd.testing.assert_frame_equal(model.predict(iso), model.predict(frame))
    assert model.predict(iso)["when"].iloc[0] == days[-1] + pd.Timedelta(days=1)


def test_older_forecast_layouts_read_day_first_stamps_as_before_and_a_declared_order_is_saved(tmp_path):
    """A layout saved before the order was recorded read each stamp in the order that reads it (13/01/2020 day
    first), as the table encoder's models do; `--date-order day_first` on ISO data is saved and followed."""
    days = pd.date_range("2020-01-05", periods=20, freq="D")
    written = pd.DataFrame({"when": days.strftime("%d/%m/%Y"), "load": np.arange(20.0)})
    layout = layout_of(written, "when", ["load"], day_first=True)
    older = SeriesLayout.from_dict({k: v for k, v in layout.to_dict().items() if k != "day_first"})
    assert regular_series(written.tail(15), older)[0]["when"].tolist() == days[5:].tolist()  # 10/01/2020 to 24/01

    iso = written.assign(when=days.strftime("%Y-%m-%d"))
    declared = lamina.forecast(iso, "when", "load", 3, arch="linear", out=tmp_path / "run", progress=False,
                               epochs=2, date_order="day_first")
    saved = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert saved["task"]["state"]["layout"]["day_first"] is True
    assert declared.predict(written)["when"].iloc[0] == days[-1] + pd.Timedelta(days=1)
    assert lamina.forecast(iso, "when", "load", 3, arch="linear", out=tmp_path / "auto", progress=False,
                           epochs=2).task.layout_.day_first is None  # nothing decided: read as written


def test_the_held_out_actuals_are_written_as_the_file_wrote_them(tmp_path):
    """Not the float32 round trip of the scaled network labels (128.45 written 128.45000017822412)."""
    frame = hourly(steps=240, level=120.0).round({"load": 2})
    frame.to_csv(tmp_path / "load.csv", index=False)
    written = dict(line.split(",") for line in (tmp_path / "load.csv").read_text().splitlines()[1:])  # time → text
    forecast(tmp_path / "load.csv", "when", "load", 6, arch="linear", epochs=2, out=tmp_path / "run", progress=False)
    held = pd.read_csv(tmp_path / "run" / "test_predictions.csv", dtype=str)
    assert len(held) >= 6
    assert [written[when] for when in held["time"]] == held["actual"].tolist()


def test_a_grid_step_is_named_in_words():
    from lamina.data.series import step_words

    assert [step_words(step) for step in ("D", "15min", "MS", "3MS", "W-SUN", "2W-MON", "B")] == [
        "day", "15 minutes", "month, on the first day", "3 months, on the first day", "week, ending on Sunday",
        "2 weeks, ending on Monday", "business day"]


def test_a_column_kind_or_date_order_is_refused_where_the_task_does_not_read_it(tmp_path, capsys):
    """--column temp=ignore was read as a covariate anyway: a forecast picks its inputs with --covariates. A date
    order it does read (its time column's)."""
    frame = hourly(steps=200).assign(temp=np.arange(200.0))
    frame.to_csv(tmp_path / "s.csv", index=False)
    assert main(["train", str(tmp_path / "s.csv"), "--task", "forecast", "--target", "load", "--time", "when",
                 "--horizon", "6", "--column", "temp=ignore", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert "--column (data.columns) is a setting of the tasks anomaly, classification, recommend and regression, and " \
           "this run's task is forecast: it would be ignored." in error and not (tmp_path / "run").exists()
    config = resolve_config(None, task="forecast", target="load", time="when", horizon=6, date_order="day_first")
    from lamina.tasks.base import task_for

    assert task_for(config, frame).name == "forecast"
