"""The run's configuration: typed, validated, unknown keys rejected, saved resolved.

A config file has four sections (`data`, `model`, `train`, `tune`) plus `seed` and `track`. Every CLI flag of
`lamina train` is a key here, so a run can be reproduced from its `config.yaml` alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lamina.checked import message
from lamina.errors import LaminaError, did_you_mean

Auto = Literal["auto"]
MAX_WIDTH = 16_384  # units or channels per layer: beyond, one layer's weights outgrow this kind of machine
MAX_DEPTH = 256  # layers or blocks
MAX_MEMBERS = 64  # ensemble members of one mlp: each multiplies the cost of a step


class _Section(BaseModel):
    # allow_inf_nan: an infinite learning rate, warm-up or budget trains nothing sensible (and an infinite warm-up
    # stopped on an OverflowError); every float setting is finite.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_truth_for_a_number(cls, value, info: ValidationInfo):
        """true/false given for a number (`epochs: true` in YAML) is refused: pydantic's lax int and float would
        read it as 1 or 0, and train one epoch."""
        if isinstance(value, bool):
            types = _types_of(cls.model_fields[info.field_name].annotation)
            if bool not in types and (int in types or float in types):
                wanted = "a whole number" if int in types else "a number"
                raise PydanticCustomError("truth_for_number", "{value} is not accepted: true/false is no number; give "
                                          "{wanted}{auto}", {"value": repr(value), "wanted": wanted,
                                                             "auto": " or 'auto'" if "auto" in types else ""})
        elif isinstance(value, (int, float, str)):
            types = _types_of(cls.model_fields[info.field_name].annotation)
            # A yes/no setting takes true or false: pydantic's lax bool would read 1, 'yes' or 'on' as true.
            if bool in types and not types & {int, float, str} and value not in types:
                raise PydanticCustomError("number_for_truth", "{value} is not accepted: give true or false{auto}",
                                          {"value": repr(value), "auto": " or 'auto'" if "auto" in types else ""})
        return value


def _types_of(annotation) -> set:
    """The types and literal values a field's annotation admits (unions, Annotated and Literal unpacked)."""
    if get_origin(annotation) is Annotated:
        return _types_of(get_args(annotation)[0])
    if get_origin(annotation) is Literal:
        return set(get_args(annotation))
    if get_args(annotation):  # a union (X | Y), or a generic (dict[str, str]): its members
        return {t for member in get_args(annotation) for t in _types_of(member)}
    return {annotation}


class DataConfig(_Section):
    path: str | None = None  # the training table; with `test` unset it is split three ways
    test: str | None = None  # an optional held-out test table
    target: str | None = None  # the column to predict; one or more, comma-separated, or "all" (table tasks: every number, category or yes/no column not in `columns`)
    task: str = "auto"  # a registered task (classification, regression, forecast...) or auto: inferred from the data
    columns: dict[str, str] = Field(default_factory=dict)  # overrides of inferred kinds: a registered kind or "ignore"
    # how dates written day and month before the year (01/02/2020) read, in every task: auto decides from the file
    # (data.dates.date_order: month first unless a value proves day first); a value the set order cannot read is refused
    date_order: Literal["auto", "day_first", "month_first"] = "auto"
    valid_fraction: Annotated[float, Field(gt=0, lt=0.5)] | Auto = "auto"  # share of rows held out for early stopping and calibration; auto: 0.15, at most 5,000 rows (data.split.valid_fraction_of)
    test_fraction: float = Field(0.15, gt=0, lt=0.5)  # share held out for the final, honest metrics
    split: Literal["auto", "random", "scaffold"] = "auto"  # scaffold: molecules' scaffolds kept whole; auto: scaffold when one molecule column is the only input
    sensitive: list[str] = Field(default_factory=list)  # columns audited for bias on the test split after training
    exclude_sensitive: bool = False  # keep the sensitive columns out of the model's inputs
    # Forecasting (task forecast; a horizon makes `auto` pick it):
    time: str | None = None  # the column of dates or times
    horizon: Annotated[int, Field(ge=1, strict=True)] | None = None  # steps ahead to forecast
    id: str | None = None  # the column telling several series apart (one network serves them all)
    covariates: list[str] | None = None  # columns read from the history beside the targets; None: every other numeric one
    season: Annotated[int, Field(ge=1, strict=True)] | None = None  # steps per season; None: from the time step (24 for hours, 12 for months...)
    valid_steps: Annotated[int, Field(ge=1, strict=True)] | None = None  # time steps that pick the epoch and architecture; None: 15%, ≥ horizon
    test_steps: Annotated[int, Field(ge=1, strict=True)] | None = None  # last time steps the backtest forecasts; None: 15%, ≥ horizon
    # Recommendation (task recommend; `time` above orders each user's interactions):
    user: str | None = None  # the column of user ids; None: inferred from the column names
    item: str | None = None  # the column of item ids; None: inferred from the column names
    rating: str | None = None  # the column of explicit ratings; None: inferred, or none (implicit feedback)
    implicit: bool = False  # learn to rank (BPR) even when a rating column exists
    users: str | None = None  # a users table (path) keyed by the user column; its other columns become features
    items: str | None = None  # an items table (path) keyed by the item column; its columns also show beside lists
    # Anomaly detection (task anomaly) and thresholds of a rare class (binary classification):
    contamination: Annotated[float, Field(gt=0, le=0.5)] | None = None  # share of training rows flagged as anomalies; None: from labels (best F1 or cost), else 0.05
    cost: str | None = None  # "fn=10,fp=1": prices of a missed positive and of a false alarm; the threshold minimises their sum on validation
    normal_only: bool = False  # anomaly with a target: the autoencoder learns from the normal rows only
    # Translation (task translate; `target` names the target column, or the target side of aligned files):
    source: str | None = None  # the column of source sentences; None: the other column of a two-column table
    source_file: str | None = None  # plain text, one source sentence a line, aligned with target_file (instead of path)
    target_file: str | None = None  # plain text, line i the translation of source_file's line i
    test_source_file: str | None = None  # held-out test pairs as two aligned files (instead of test)
    test_target_file: str | None = None
    valid_source_file: str | None = None  # validation pairs as two aligned files (else held out of the training pairs)
    valid_target_file: str | None = None

    @model_validator(mode="after")
    def _aligned_files_in_pairs(self) -> DataConfig:
        for one, other in (("source_file", "target_file"), ("test_source_file", "test_target_file"),
                           ("valid_source_file", "valid_target_file")):
            if (getattr(self, one) is None) != (getattr(self, other) is None):
                raise ValueError(f"--{one.replace('_', '-')} and --{other.replace('_', '-')} come together: aligned "
                                 "files are read in pairs")
        if self.source_file is not None and self.path is not None:
            raise ValueError("give the training pairs either as a table (DATA) or as two aligned files "
                             "(--source-file and --target-file), not both")
        if any(getattr(self, name) is not None for name in ("source_file", "test_source_file", "valid_source_file")):
            # Aligned files of sentences are translation's: they were read as a table whose task was inferred
            # (a classification of sentences under --target).
            if self.task == "auto":
                self.task = "translate"
            elif self.task != "translate":
                raise ValueError(f"aligned files of sentence pairs (--source-file, --target-file) are translation's "
                                 f"data, and the task is {self.task}: give --task translate, or a table as DATA")
        return self


class ModelConfig(_Section):
    arch: str = "auto"  # auto: resnet for image columns; attentivefp for molecules (fingerprint under 200 training molecules); for text: pretrained with a pretrained --init-from, else gru when text is the only input; else mlp
    width: Annotated[int, Field(ge=1, le=MAX_WIDTH)] | Auto = "auto"  # mlp: hidden units per layer (256); resnet: stem channels (16, 32 from 100k images); gru/lstm: units per direction (128); transformer: model dimensions (128)
    depth: Annotated[int, Field(ge=1, le=MAX_DEPTH)] | Auto = "auto"  # mlp: hidden layers (3); resnet: residual blocks on its first and last stage (1); gru/lstm: stacked layers (1); transformer: layers (2)
    dropout: Annotated[float, Field(ge=0, lt=1)] | Auto = "auto"  # probability of zeroing a unit before a layer in training (mlp 0.3, resnet 0.1, gru/lstm 0.3, transformer and pretrained 0.1)
    norm: Literal["batch", "layer", "none"] = "batch"  # mlp only; CNNs always use batch norm
    numbers: Literal["auto", "plain", "plr"] = "auto"  # mlp: plain (normal score + piecewise-linear rank) or plr (a periodic embedding of the normal score instead of the rank pieces, Gorishniy et al. 2022); auto: plr from 10,000 training rows (not under privacy)
    members: Annotated[int, Field(ge=1, le=MAX_MEMBERS)] | Auto = "auto"  # mlp: TabM-mini ensemble members sharing one network (Gorishniy et al. 2024); auto: 8 under 5,000 training rows (not under privacy), else 1
    wide: bool | Auto = "auto"  # mlp: a linear path from the inputs to the outputs beside the dense blocks (wide and deep, Cheng et al. 2016); auto: under 5,000 training rows (not under privacy)
    linear_share: Annotated[float, Field(ge=0, le=1)] | Auto = "auto"  # mlp: share of a ridge / logistic regression on the number, date and category columns blended into the outputs, (1 − share) · network + share · linear model (stacking, Breiman 1996); auto: for regression where members are cross-fitted (--folds), 0.5 unless another share of 0, 0.05 … 1 has a lower out-of-fold squared error by more than a standard error; else 0
    lookback: Annotated[int, Field(ge=1, strict=True)] | None = None  # forecasting: steps of history each forecast reads; None: 2 horizons or 3 seasons, the longer
    image_size: Annotated[int, Field(ge=4)] | Auto = "auto"  # pixels per side images are resized to; auto: median shorter side, at most 64


class TrainConfig(_Section):
    epochs: Annotated[int, Field(ge=1)] | Auto = "auto"  # upper bound; auto: 60 for tables (early stopping ends sooner), ≈2400 steps for images, 10 for text (3 pretrained)
    batch_size: Annotated[int, Field(ge=1)] | Auto = "auto"  # rows per step; auto scales with the data size (images ≤ 256, text 64, pretrained text 32)
    lr: Annotated[float, Field(gt=0)] | Auto = "auto"  # peak AdamW learning rate, reached after warm-up; auto: 2e-3, 5e-5 when fine-tuning a pretrained text encoder
    weight_decay: float = Field(1e-4, ge=0)  # decoupled L2 strength (AdamW)
    warmup_epochs: float = Field(1.0, ge=0)  # linear warm-up length, in epochs
    clip_norm: float | None = Field(1.0, gt=0)  # max global gradient L2 norm; None disables
    patience: int = Field(8, ge=1)  # epochs without validation improvement before stopping
    folds: Annotated[int, Field(ge=0, le=MAX_MEMBERS)] | Auto = "auto"  # mlp ensembles: cross-fitted members, member m trained without fold m mod folds of the training and validation rows, the epoch and calibration judged on out-of-fold predictions (k-fold bagging, Erickson et al. 2020); 0: off, a validation split instead; auto: 4 where the recipe gives members (under 5,000 training rows, not under privacy, adversarial training or several processes)
    time_budget: str | None = None  # wall-clock cap on training, e.g. "90s", "5m", "1h" (a number: seconds); checked after each epoch
    device: str = "auto"  # "auto" takes a GPU when there is one
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on a GPU only
    adversarial: Literal["none", "pgd"] = "none"  # pgd: train on PGD examples too (half of each batch)
    # L∞ radius of those examples; auto: 0.2 normal-score units for tables, 8/255 of the pixel range for images
    adversarial_budget: Annotated[float, Field(gt=0)] | Auto = "auto"
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] | Auto = "auto"  # target mass spread evenly over the classes; auto: 0.1 for images and translation, else 0
    crop_padding: Annotated[int, Field(ge=0)] | Auto = "auto"  # pixels of padding before the random crop of training images; auto ≈ side/28, at least 1
    flip: bool | Auto = "auto"  # random left-right flips; auto: only if mirrored images keep their class
    cutout: Annotated[int, Field(ge=0)] | Auto = "auto"  # side in pixels of a random square blanked per image; auto: side/4 below 10k images
    init_from: str | None = None  # a run/model folder or a .safetensors state dict whose backbone starts training
    freeze_backbone: int = Field(0, ge=0)  # epochs the transferred backbone is held fixed while the head learns
    privacy: str | None = None  # differential privacy target, "epsilon=3,delta=1e-5": DP-SGD (opacus), never above it
    max_grad_norm: float = Field(1.0, gt=0)  # with privacy: the L2 norm each row's gradient is clipped to

    @field_validator("time_budget", mode="before")
    @classmethod
    def _readable_time_budget(cls, value) -> str | None:
        return _checked_duration(value, "--time-budget")

    @field_validator("folds")
    @classmethod
    def _folds_leave_rows_out(cls, value):
        if value == 1:
            raise ValueError("1 fold leaves no row out of any member: give 2 or more, or 0 for none")
        return value

    @field_validator("privacy")
    @classmethod
    def _readable_privacy(cls, value: str | None) -> str | None:
        from lamina.privacy_target import parse_privacy

        if value is not None:
            try:
                parse_privacy(value)
            except LaminaError as error:
                raise ValueError(str(error)) from None
        return value

    @model_validator(mode="after")
    def _privacy_combinations(self) -> TrainConfig:
        # A clipping norm other than the default means the user meant DP-SGD; without --privacy it would be ignored.
        if self.privacy is None and self.max_grad_norm != type(self).model_fields["max_grad_norm"].default:
            raise ValueError("--max-grad-norm clips per-row gradients for --privacy, which is not given. Add "
                             "--privacy epsilon=...,delta=..., or drop --max-grad-norm")
        if self.privacy is not None and self.adversarial != "none":  # opacus' per-row hooks see no PGD activations
            raise ValueError("--privacy and --adversarial cannot train together. Drop one of them")
        return self


class Dimension(_Section):
    """One setting's search range in `lamina tune`: `low`..`high` (whole numbers when both are; `log` samples
    on a log scale) or a list of `choices`."""
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: list[int | float | str | bool] | None = None

    @model_validator(mode="after")
    def _range_or_choices(self) -> Dimension:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either low and high, or choices")
        if self.choices is not None and not self.choices:
            raise ValueError("choices is empty: list at least one value")
        if self.choices is None and not (self.low < self.high and (self.low > 0 or not self.log)):
            raise ValueError(f"low ({self.low}) must be below high ({self.high}), and above 0 on a log scale")
        return self


class TuneConfig(_Section):
    trials: int = Field(20, ge=1)  # trials of `lamina tune` in total, over all workers
    budget: str | None = None  # wall-clock cap on the study, e.g. "30m", "1h" (a number: seconds); trials running then finish
    pruner: Literal["median", "hyperband", "none"] = "median"  # stops trials whose validation score lags
    prune_after_trials: int = Field(3, ge=0)  # trials that finish before the median pruner stops any
    prune_after_epochs: int = Field(2, ge=0)  # epochs a trial runs before it can be pruned
    # Overrides of the architecture's search space (nets/build.py) by setting name; null drops a setting from it.
    space: dict[str, Dimension | None] = Field(default_factory=dict)

    @field_validator("budget", mode="before")
    @classmethod
    def _readable_budget(cls, value) -> str | None:
        return _checked_duration(value, "lamina tune --time-budget")


def _checked_duration(value, flag: str) -> str | None:
    """A duration setting as text, once parse_duration reads it: a number (YAML's `time_budget: 300`, Python's
    `time_budget=300`) is that many seconds, kept as its text; a wrong one is refused when the config is made
    (before any data is read or folder made), in parse_duration's words, as a field validator's ValueError."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # 300 → "300", 1.5 → "1.5", 1e300 → "1e+300" (refused below: too long)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{flag} {value!r} is not a duration. Give {DURATION_FORMS}.")
    try:
        parse_duration(value, flag)
    except LaminaError as error:
        raise ValueError(str(error)) from None
    return value


class Config(_Section):
    seed: int = Field(0, ge=0, lt=2**32)  # numpy and scikit-learn take seeds below 2**32
    track: Literal["none", "mlflow"] = "none"  # mlflow: log params, per-epoch metrics and the run's files (tracking.py)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> Config:
        _reject_unknown_keys(raw, cls, source)
        try:
            return cls.model_validate(raw)
        except ValidationError as error:
            raise LaminaError(f"Invalid settings in {source}: {'; '.join(_problems(error.errors()))}.") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Config:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise LaminaError(f"Config file {path} does not exist. Check the path.")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            raise LaminaError(f"Config file {path} is not valid YAML: {error}") from None
        if not isinstance(raw, dict):
            raise LaminaError(f"Config file {path} must hold a mapping of settings (key: value).")
        return cls.from_dict(raw, source=str(path))

    def with_overrides(self, **overrides) -> Config:
        """A copy with flat overrides applied: `epochs=5` finds its section by name."""
        raw = self.model_dump()
        for key, value in overrides.items():
            if value is None:
                continue
            if key in raw and not isinstance(raw[key], dict):
                raw[key] = value
                continue
            sections = [name for name, section in raw.items() if isinstance(section, dict) and key in section]
            if not sections:
                raise LaminaError(f"Unknown setting {key!r}.{did_you_mean(key, flat_setting_names())}")
            raw[sections[0]][key] = value
        return Config.from_dict(raw, source="the options or keyword arguments given")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.model_dump(), sort_keys=False)


# What a value must be, by pydantic error type: the alternatives of a union (a number or 'auto') are said as one.
EXPECTED = {"int_parsing": "a whole number", "int_type": "a whole number", "int_from_float": "a whole number",
            "float_parsing": "a number", "float_type": "a number", "string_type": "text", "bool_parsing": "true or false",
            "bool_type": "true or false", "greater_than_equal": "a value of at least {ge}",
            "greater_than": "a value above {gt}", "less_than_equal": "a value of at most {le}",
            "less_than": "a value below {lt}", "literal_error": "{expected}", "dict_type": "a mapping (name: value)",
            "list_type": "a list"}


def _problems(errors: list[dict]) -> list[str]:
    """One sentence per setting: 'train.epochs='abc' is not accepted: give a whole number or 'auto'', where pydantic
    says one line per member of a union, each named by a tag ('constrained-int', "literal['auto']")."""
    settings: dict[str, list[dict]] = {}
    for error in errors:
        where = ".".join(str(p) for p in error["loc"] if not _union_tag(p))
        settings.setdefault(where, []).append(error)
    said = []
    for where, found in settings.items():
        if any(e["type"] not in EXPECTED for e in found):  # a validator's own sentence, or a missing key
            said.append(f"{where}: {', '.join(dict.fromkeys(message(e) for e in found))}")
            continue
        wanted = " or ".join(dict.fromkeys(EXPECTED[e["type"]].format(**e.get("ctx", {})) for e in found))
        said.append(f"{where}={found[0]['input']!r} is not accepted: give {wanted}")
    return said


def _union_tag(part) -> bool:
    """Whether a pydantic error location part names a member of a union, not a setting."""
    return isinstance(part, str) and (any(c in part for c in "[-") or part in ("int", "float", "str", "bool"))


def flat_setting_names() -> list[str]:
    names = [name for name in Config.model_fields if name not in ("data", "model", "train", "tune")]
    for section in (DataConfig, ModelConfig, TrainConfig, TuneConfig):
        names.extend(section.model_fields)
    return names


def _reject_unknown_keys(raw: dict, model: type[BaseModel], where: str) -> None:
    for key, value in raw.items():
        field = model.model_fields.get(key)
        if field is None:
            raise LaminaError(
                f"{where}: unknown key {key!r}.{did_you_mean(str(key), model.model_fields)} "
                f"Valid keys: {', '.join(model.model_fields)}."
            )
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
            _reject_unknown_keys(value, annotation, f"{where} [{key}]")


DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}  # seconds in each unit a duration may end in
DURATION_FORMS = ("a number above 0 ending in s, m, h or d (90s, 5m, 1.5h, 7d) or a bare number of seconds (300), "
                  "at most 365d")
LONGEST_DURATION = 365 * 86400.0  # seconds: a year; a longer budget is a typo, and one of 1e300h printed 304 digits


def parse_duration(text: str | None, flag: str = "--time-budget", longest: float = LONGEST_DURATION) -> float | None:
    """'90s', '5m', '1.5h', '7d' or a bare number of seconds → seconds; None stays None. LaminaError naming `flag`
    (the option the text was given as), the text and the accepted forms when it is no duration, not above 0
    (0, negative, nan: nothing could start), endless (inf, 1e400s: no schedule can be planned for it) or longer
    than `longest` seconds (a year unless said: a budget past it is a slip, not a plan)."""
    if text is None:
        return None
    cleaned = str(text).strip().lower()
    try:
        unit = DURATION_UNITS.get(cleaned[-1:], None)
        seconds = float(cleaned[:-1]) * unit if unit else float(cleaned)
    except ValueError:
        raise LaminaError(f"{flag} {text!r} is not a duration. Give {DURATION_FORMS}.") from None
    if not seconds > 0:
        raise LaminaError(f"{flag} {text!r} leaves no time. Give {DURATION_FORMS}.")
    if math.isinf(seconds):
        raise LaminaError(f"{flag} {text!r} is endless. Give {DURATION_FORMS}, or drop {flag}.")
    if seconds > longest:
        raise LaminaError(f"{flag} {text!r} is longer than {longest / 86400:g} days. Give {DURATION_FORMS}, or drop "
                          f"{flag}.")
    return seconds
