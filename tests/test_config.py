import argparse
import re

import pytest

from lamina import cli
from lamina.cli import TRAIN_SETTINGS, _parse_rows, build_parser
from lamina.config import (
    Config,
    DataConfig,
    ModelConfig,
    TrainConfig,
    TuneConfig,
    flat_setting_names,
    parse_duration,
)
from lamina.errors import LaminaError


def test_unknown_keys_name_the_closest_valid_one(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epoch: 5\n")
    with pytest.raises(LaminaError, match="unknown key 'epoch'. Did you mean 'epochs'"):
        Config.from_file(path)
    with pytest.raises(LaminaError, match="unknown key 'modle'. Did you mean 'model'"):
        Config.from_dict({"modle": {}})


def test_flat_overrides_find_their_section():
    config = Config().with_overrides(epochs=3, width=16, target="y", seed=4)
    assert (config.train.epochs, config.model.width, config.data.target, config.seed) == (3, 16, "y", 4)
    with pytest.raises(LaminaError, match="Unknown setting 'widht'.*'width'"):
        Config().with_overrides(widht=3)


def test_invalid_values_are_explained():
    with pytest.raises(LaminaError, match="model.dropout"):
        Config.from_dict({"model": {"dropout": 1.5}})


def test_a_saved_config_reads_back_the_same(tmp_path):
    config = Config().with_overrides(epochs=3, columns={"zip": "category"}, time_budget="5m")
    path = tmp_path / "config.yaml"
    path.write_text(config.to_yaml())
    assert Config.from_file(path) == config


def test_every_train_flag_is_a_config_setting():
    names = set(flat_setting_names())
    assert {key for _, key, _, _ in TRAIN_SETTINGS} <= names
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    flags = {a.dest for a in train._actions} - {"help", "debug", "data", "config", "out", "resume", "start", "quiet", "column",
                                                   "nproc"}  # how many processes run it: the checkpoints record it
    assert flags <= names | {"target", "test"}


def test_an_option_takes_auto_exactly_where_its_setting_does(capsys):
    settings = {}
    for section in (Config, DataConfig, ModelConfig, TrainConfig, TuneConfig):
        settings.update({key: section for key in section.model_fields})
    options = [s for group in ("TRAIN_SETTINGS", "FORECAST_SETTINGS", "RECOMMEND_SETTINGS", "ANOMALY_SETTINGS",
                               "TRANSLATE_SETTINGS") for s in getattr(cli, group) if s[2] is not str]  # text: any
    takes_auto = set()
    for flag, key, kind, _ in options:
        try:
            settings[key](**{key: "auto"})
            takes_auto.add(flag)
        except Exception:  # pydantic's ValidationError, or LaminaError for the data section's own checks
            pass
        try:
            read = kind("auto")
        except (ValueError, TypeError, argparse.ArgumentTypeError):
            read = None
        assert (read == "auto") == (flag in takes_auto), flag
    assert {"--members", "--epochs", "--lr", "--flip"} <= takes_auto and "--seed" not in takes_auto
    train = build_parser().parse_args(["train", "t.csv", "--target", "y", "--members", "auto", "--epochs", "3"])
    assert (train.members, train.epochs) == ("auto", 3)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "t.csv", "--valid-fraction", "abc"])
    assert "invalid float or 'auto' value: 'abc'" in capsys.readouterr().err  # both what the option takes


@pytest.mark.parametrize("setting, said", [("train:\n  epochs: true", "train.epochs: True is not accepted: true/false "
                                                                       "is no number; give a whole number or 'auto'"),
                                           ("train:\n  lr: false", "train.lr: False is not accepted"),
                                           ("seed: true", "seed: True is not accepted"),
                                           ("data:\n  test_fraction: true", "data.test_fraction: True is not accepted")])
def test_true_or_false_for_a_number_setting_is_refused_not_read_as_1_or_0(tmp_path, setting, said):
    (tmp_path / "run.yaml").write_text(setting + "\n")
    with pytest.raises(LaminaError, match=re.escape(said)):
        Config.from_file(tmp_path / "run.yaml")
    with pytest.raises(LaminaError, match="is not accepted: true/false is no number"):
        Config().with_overrides(members=True)
    assert Config.from_dict({"train": {"flip": True}}).train.flip is True, "a yes/no setting takes true"



@pytest.mark.parametrize("setting, said", [("model:\n  wide: 1", "model.wide: 1 is not accepted: give true or false"),
                                           ("model:\n  wide: 'yes'", "model.wide: 'yes' is not accepted"),
                                           ("train:\n  warmup_epochs: .inf", "train.warmup_epochs: Input should be a "
                                                                          "finite number"),
                                           ("train:\n  lr: .inf", "train.lr: Input should be a finite number"),
                                           ("train:\n  weight_decay: .inf", "train.weight_decay: Input should be a "
                                                                         "finite number")])
def test_a_number_for_a_yes_no_setting_and_an_infinite_number_are_refused(tmp_path, setting, said):
    (tmp_path / "run.yaml").write_text(setting + "\n")
    with pytest.raises(LaminaError, match=re.escape(said)):
        Config.from_file(tmp_path / "run.yaml")
    assert Config.from_dict({"model": {"wide": False}}).model.wide is False

@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1.5h", 5400), ("42", 42)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_a_bad_duration_says_how_to_write_one():
    with pytest.raises(LaminaError, match=r"--time-budget .soon. is not a duration. Give .*\(90s, 5m, 1.5h, 7d\)"):
        parse_duration("soon")


@pytest.mark.parametrize("setting", [{"batch_size": 0}, {"batch_size": -4}, {"seed": 2**70}, {"width": 10**9},
                                     {"horizon": True}, {"lookback": 0}])
def test_settings_outside_their_range_are_refused_by_name(setting):
    name = next(iter(setting))
    with pytest.raises(LaminaError, match=name):
        Config().with_overrides(**setting)


def test_a_device_the_machine_lacks_is_refused_by_name():
    import torch

    from lamina.training.trainer import resolve_device

    with pytest.raises(LaminaError, match="Unknown device 'nosuch'"):
        resolve_device("nosuch")
    if not torch.cuda.is_available():
        with pytest.raises(LaminaError, match="'cuda' is not on this machine"):
            resolve_device("cuda")


@pytest.mark.parametrize("text, rows", [("0,1,2", [0, 1, 2]), ("0:5", [0, 1, 2, 3, 4]), ("10-12", [10, 11, 12]),
                                        ("3, 0:2, 7-8", [3, 0, 1, 7, 8]), ("0:1000", list(range(1000)))])
def test_explain_rows_take_lists_and_ranges(text, rows):
    assert _parse_rows(text) == rows


@pytest.mark.parametrize("text, message", [("a", "'a' is not a row number or a range"),
                                           ("5:5", "the range '5:5' holds no row"), ("-1", "not a row number"),
                                           ("", "no row given"), (",", "no row given"), (" , ", "no row given"),
                                           ("0-999999999", "names 1,000,000,000 rows; explain at most 1,000"),
                                           ("0:1001", "names 1,001 rows"), ("0:600,600:1200", "names 1,200 rows"),
                                           ("5:", "'5:' is not a row number or a range"),
                                           ("9" * 5000, "is not a row number")])
def test_explain_rows_that_are_no_rows_are_named(text, message):
    with pytest.raises(LaminaError, match=message):
        _parse_rows(text)


def test_explain_rows_past_the_end_name_the_last_row():
    import pandas as pd

    from lamina.tasks.regression import RegressionTask

    frame = pd.DataFrame({"x": range(20), "y": range(20)})
    with pytest.raises(LaminaError, match="Row 20 is outside the data: its 20 rows are numbered from 0, the last is "
                                          "row 19. Give rows from 0 to 19"):
        RegressionTask().explain(None, frame, _parse_rows("18:25"), importance=False, repeats=1)


@pytest.mark.parametrize("argv", [["explain", "RUN", "DATA", "--rows="], ["explain", "RUN", "DATA", "--rows=,"]])
def test_explain_with_no_rows_exits_2_before_reading(argv, capsys):
    from lamina.cli import main

    assert main(argv) == 2
    assert "no row given" in capsys.readouterr().err


def test_the_train_help_names_every_format_read():
    from lamina.data.formats import COMPRESSED, SUPPORTED

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    data = next(action for action in train._actions if action.dest == "data")
    assert set(re.findall(r"(?<![\w.])\.\w+", data.help)) >= {*SUPPORTED, *COMPRESSED}


def test_config_errors_read_as_one_sentence_without_pydantic_prefixes():
    with pytest.raises(LaminaError) as caught:
        Config().with_overrides(privacy="epsilon=3")
    message = str(caught.value)
    assert message.startswith("Invalid settings in the options or keyword arguments given: train.privacy: --privacy "
                              "'epsilon=3'")
    assert "Value error" not in message and not message.endswith("..")


@pytest.mark.parametrize("setting, value, says", [
    ("epochs", "abc", "train.epochs='abc' is not accepted: give a whole number or 'auto'."),
    ("width", -3, "model.width=-3 is not accepted: give a value of at least 1 or 'auto'."),
    ("lr", "fast", "train.lr='fast' is not accepted: give a number or 'auto'."),
])
def test_a_setting_of_the_wrong_type_says_what_it_takes_in_one_sentence(setting, value, says):
    with pytest.raises(LaminaError) as caught:
        Config().with_overrides(**{setting: value})
    assert str(caught.value) == f"Invalid settings in the options or keyword arguments given: {says}"


@pytest.mark.parametrize("settings, says", [
    ({"max_grad_norm": 5.0}, "--max-grad-norm clips per-row gradients for --privacy, which is not given"),
    ({"privacy": "epsilon=3,delta=1e-5", "adversarial": "pgd"}, "--privacy and --adversarial cannot train together"),
])
def test_settings_that_cannot_work_together_are_refused(settings, says):
    with pytest.raises(LaminaError, match=re.escape(says)):
        Config().with_overrides(**settings)
    Config().with_overrides(privacy="epsilon=3,delta=1e-5", max_grad_norm=5.0)  # the clipping norm with privacy


@pytest.mark.parametrize("text", ["0s", "-5m", "0"])
def test_a_budget_without_time_is_refused(text):
    with pytest.raises(LaminaError, match="leaves no time"):
        parse_duration(text)


@pytest.mark.parametrize("command", [["tune", "t.csv", "--workers"], ["tune", "t.csv", "--trials"],
                                     ["train", "t.csv", "--nproc"], ["federate", "t.csv", "--rounds"]])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_counts_below_one_are_refused_by_the_parser(command, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args([*command, value])
    assert stopped.value.code == 2
    assert f"argument {command[-1]}" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["inf", "1e400s", "-inf"])
def test_an_endless_time_budget_is_refused(text):
    with pytest.raises(LaminaError, match="endless|leaves no time"):
        parse_duration(text)


def test_a_budget_given_as_a_number_is_seconds_in_yaml_and_keyword_arguments(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  time_budget: 300\ntune:\n  budget: 90.5\n")
    config = Config.from_file(path)
    assert parse_duration(config.train.time_budget) == 300.0 and parse_duration(config.tune.budget) == 90.5
    assert parse_duration(Config().with_overrides(time_budget=300).train.time_budget) == 300.0
    assert parse_duration("365d") == 365 * 86400.0
    with pytest.raises(LaminaError, match="time_budget.*not a duration"):
        Config().with_overrides(time_budget=True)


@pytest.mark.parametrize("budget", ["1e300h", "366d", 1e300])
def test_a_budget_longer_than_a_year_is_refused_saying_the_limit(budget):
    with pytest.raises(LaminaError, match=r"is longer than 365 days\. Give .*at most 365d"):
        Config().with_overrides(time_budget=budget)
