"""scikit-learn estimators around lamina.fit: `LaminaClassifier` and `LaminaRegressor` fit, predict and score like
any scikit-learn estimator, so they go into a `Pipeline`, `cross_val_score` or `GridSearchCV`.

They follow scikit-learn's estimator contract (https://scikit-learn.org/stable/developers/develop.html) and pass
its `check_estimator` suite: the constructor stores its arguments only; `fit(X, y)` validates with scikit-learn's
own `validate_data` and sets `n_features_in_` (and `feature_names_in_` for a DataFrame with string column names),
`classes_`, `n_iter_` and `model_`, the trained `lamina.Model`; `score` is accuracy or R² (ClassifierMixin,
RegressorMixin).

X is a 2-d array of numbers (read as lamina number columns), or a DataFrame; a DataFrame with text, category or
date columns goes to lamina as it is, each such column read by the kind lamina infers for it. Columns are named
after `feature_names_in_`, else x0, x1, ...

Training is lamina's: the rows are split into training and validation (`validation_fraction`, stratified by
class; early stopping and the architecture's choices follow the validation score; under 5,000 training rows the
members are cross-fitted, `folds`: the validation rows train too and out-of-fold predictions of every row judge the
epoch), nothing is written to disk,
and nothing is printed unless `verbose`. There is no test split: scoring is the caller's (cross_val_score). Small
data: lamina needs 10 rows and 3 per class; with fewer, each row is repeated (all equally often, so the loss
weighs rows as before) until there are, and the validation rows are then copies of training rows.
`sample_weight` is not supported.

Pickling an estimator (scikit-learn's contract, e.g. for joblib) carries the model as lamina's model files'
bytes, model.json and weights.safetensors, never as a pickle of torch objects; unpickling reads them through
lamina's checked model loader.
"""

from __future__ import annotations

import math
import numbers
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from lamina.api import resolve_config, train
from lamina.data.checks import MIN_ROWS, MIN_ROWS_PER_CLASS, target_size_problem
from lamina.model import MODEL_FILE, WEIGHTS_FILE, Model, write_model

TARGET = "target"  # the target column's name in the table lamina trains on (underscores added if X has one)


class _LaminaEstimator(BaseEstimator):
    """What both estimators share; the mixins give `score` and the estimator type."""

    task: str  # the lamina task trained: "classification" or "regression"

    def __init__(self, *, epochs="auto", batch_size="auto", lr="auto", width="auto", depth="auto", dropout="auto",
                 arch="auto", members="auto", numbers="auto", folds="auto", linear_share="auto", weight_decay=1e-4,
                 patience=8,
                 validation_fraction=0.15, time_budget=None, device="auto", random_state=None, verbose=False):
        self.epochs = epochs  # upper bound on passes over the training rows; auto: 60 (early stopping ends sooner)
        self.batch_size = batch_size  # rows per step; auto: grows with the rows
        self.lr = lr  # peak AdamW learning rate; auto: 2e-3
        self.width = width  # mlp: hidden units per layer; auto: 256
        self.depth = depth  # mlp: hidden layers; auto: 3
        self.dropout = dropout  # probability of zeroing a unit in training; auto: 0.3 for the mlp
        self.arch = arch  # a lamina architecture; auto: mlp for numbers and categories, gru for text alone
        self.members = members  # mlp: TabM-mini ensemble members sharing one network; auto: lamina's choice
        self.numbers = numbers  # mlp: "plain" floats or "plr" periodic embeddings; auto: plr from 10,000 rows
        self.folds = folds  # mlp members cross-fitted in this many folds; auto: 4 under 5,000 rows; 0: off
        self.linear_share = linear_share  # mlp: share of a ridge/logistic regression blended in, 0-1; auto: lamina's
        self.weight_decay = weight_decay  # decoupled L2 strength (AdamW)
        self.patience = patience  # epochs without validation improvement before stopping
        self.validation_fraction = validation_fraction  # share of the rows held out for early stopping, (0, 0.5)
        self.time_budget = time_budget  # wall-clock cap on training: seconds, or "90s", "5m"; None: no cap
        self.device = device  # "auto" takes a GPU when there is one
        self.random_state = random_state  # int, RandomState or None (a new seed each fit)
        self.verbose = verbose  # print lamina's progress bars

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # lamina's number encoder fills a missing value and adds a flag for it
        return tags

    # ---- fit -------------------------------------------------------------------------------------------------

    def fit(self, X, y):
        """Train on X [rows, features] (array-like or DataFrame) and y [rows]; returns self.
        Raises ValueError for input scikit-learn's validation refuses (and for a target of one class), and
        lamina.LaminaError for a setting lamina refuses (an unknown arch, a validation_fraction of 0.7...)."""
        X, y = self._validated(X, y, fitting=True)
        frame = self._frame(X)
        target = _free_name(frame.columns)
        frame[target] = self._encoded_target(y)
        frame = _repeated(frame, target, self.task == "classification")
        # A column of numbers is a number column, as scikit-learn reads it (lamina alone might read 0/1/2 as codes).
        numbers = {name: "number" for name in frame.columns[:-1] if _numbers(frame[name].dtype)}
        config = resolve_config(None, target=target, task=self.task, columns=numbers, seed=self._seed(),
                                valid_fraction=self.validation_fraction, epochs=self.epochs,
                                batch_size=self.batch_size, lr=self.lr, width=self.width, depth=self.depth,
                                dropout=self.dropout, arch=self.arch, members=self.members,
                                numbers=self.numbers, folds=self.folds, linear_share=self.linear_share,
                                weight_decay=self.weight_decay,
                                patience=self.patience, device=self.device,
                                time_budget=None if self.time_budget is None else str(self.time_budget))
        # The rows go in as the test table too: lamina then splits them two ways (training, validation) instead
        # of three, and with score=False that "test" table is never scored: scoring is the caller's.
        self.model_ = train(config, frame, frame, None, progress=bool(self.verbose), score=False)
        self.n_iter_ = self.model_.training["epochs_run"]
        return self

    def _validated(self, X, y=None, fitting: bool = False):
        """(X, y) checked by scikit-learn's validation; X stays a DataFrame when it holds non-number columns."""
        if _mixed(X):  # names and count only: lamina reads each column's kind
            validate_data(self, X, reset=fitting, skip_check_array=True)
            if fitting:
                y = check_array(column_or_1d(_required(y, self), warn=True), ensure_2d=False, input_name="y",
                                dtype="numeric" if self.task == "regression" else None)  # no NaN, no infinity
                check_consistent_length(X, y)
            return X, y
        options = {"ensure_all_finite": "allow-nan", "ensure_min_samples": 2 if fitting else 1}
        if not fitting:
            return validate_data(self, X, reset=False, **options), None
        return validate_data(self, X, y, y_numeric=self.task == "regression", **options)

    def _frame(self, X) -> pd.DataFrame:
        names = list(getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)]))
        if isinstance(X, pd.DataFrame):
            return X.set_axis(names, axis=1).reset_index(drop=True)
        return pd.DataFrame(X, columns=names)

    def _seed(self) -> int:
        if isinstance(self.random_state, (int, np.integer)) and 0 <= self.random_state < 2**32:
            return int(self.random_state)  # random_state=3 trains as lamina.fit(..., seed=3) seeds it
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _encoded_target(self, y: np.ndarray) -> np.ndarray:
        return y

    # ---- use -------------------------------------------------------------------------------------------------

    def _outputs(self, X) -> np.ndarray:
        """lamina's outputs for X: class probabilities [rows, classes] in lamina's order, or predictions [rows]."""
        check_is_fitted(self)
        X, _ = self._validated(X)
        return self.model_.predict_array(self._frame(X))

    # ---- pickling: lamina's model files as bytes, never torch objects ----------------------------------------

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the estimator keeps its model
        if "model_" in state:
            with tempfile.TemporaryDirectory() as folder:
                model = state["model_"]
                write_model(folder, model.network.state_dict(), model.to_json())
                state["model_"] = {name: (Path(folder) / name).read_bytes() for name in (MODEL_FILE, WEIGHTS_FILE)}
        return state

    def __setstate__(self, state):
        if isinstance(state.get("model_"), dict):
            with tempfile.TemporaryDirectory() as folder:
                for name in (MODEL_FILE, WEIGHTS_FILE):
                    (Path(folder) / name).write_bytes(state["model_"][name])
                model = Model.load(folder)
            model.directory = None  # the folder is gone: the model lives in memory, as a fitted one does
            state = {**state, "model_": model}
        super().__setstate__(state)


class LaminaClassifier(ClassifierMixin, _LaminaEstimator):
    """A lamina classification network as a scikit-learn classifier (binary or multiclass, labels of any type).

    Learnt: `classes_` [classes] (sorted, as np.unique gives them), `model_` (lamina.Model), `n_iter_` (epochs
    run), `n_features_in_`, `feature_names_in_` (DataFrames with string column names). Predictions follow
    lamina's decision rule: the likeliest class, or for two heavily imbalanced classes the threshold lamina
    chose on the validation rows (best F1).
    """

    task = "classification"

    def _encoded_target(self, y: np.ndarray) -> np.ndarray:
        if pd.isna(y).any():  # None among labels: np.unique below could only fail comparing it with them
            raise ValueError("Input y contains missing labels (NaN or None); drop those rows or label them.")
        # Labels np.unique can sort together: all text, or all numbers (an array of objects may mix them).
        kinds = {"text" if isinstance(v, str) else "number" if isinstance(v, numbers.Number) else type(v).__name__: v
                 for v in (y if y.dtype == object else [])}
        if len(kinds) > 1:  # scikit-learn would say "Unknown label type", as if y were continuous
            shown = ", ".join(f"{v!r} ({kind})" for kind, v in list(kinds.items())[:3])
            raise ValueError(f"Input y mixes labels of different types ({shown}); give labels of one type, such as "
                             "all text (y.astype(str)) or all numbers.")
        check_classification_targets(y)  # a continuous y: "Unknown label type"
        self.classes_, indices = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"LaminaClassifier needs at least 2 classes in y; it has one class only "
                             f"({self.classes_[0]!r}).")
        return indices  # lamina learns class indices; classes_ turns them back into the labels

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities [rows, classes], columns in the order of `classes_`."""
        outputs = self._outputs(X)
        probabilities = np.empty_like(outputs)
        probabilities[:, self._columns()] = outputs
        return probabilities

    def predict(self, X) -> np.ndarray:
        """The predicted label of each row [rows]."""
        outputs = self._outputs(X)
        return self.classes_[self._columns()[self.model_.task.predicted_indices(outputs)]]

    def _columns(self) -> np.ndarray:
        """Where each of lamina's classes (class indices, ordered as lamina orders them) goes in `classes_`."""
        return np.array([int(c) for c in self.model_.classes])


class LaminaRegressor(RegressorMixin, _LaminaEstimator):
    """A lamina regression network as a scikit-learn regressor of one target.

    Learnt: `model_` (lamina.Model), `n_iter_` (epochs run), `n_features_in_`, `feature_names_in_` (DataFrames
    with string column names). lamina standardises the target for training; predictions are on y's scale.
    """

    task = "regression"

    def _encoded_target(self, y: np.ndarray) -> np.ndarray:
        problem = target_size_problem("y", float(np.abs(y).max()))
        if problem:  # lamina's LaminaError says it of a column; scikit-learn's callers expect a ValueError
            raise ValueError(problem.replace("Target 'y'", "Input y", 1))
        return y

    def predict(self, X) -> np.ndarray:
        """The predicted value of each row [rows]."""
        return self._outputs(X).astype(float)


def _mixed(X) -> bool:
    """A DataFrame holding a column that is not numbers (text, category, dates): lamina reads it as it is."""
    return isinstance(X, pd.DataFrame) and not all(map(_numbers, X.dtypes))


def _numbers(dtype) -> bool:
    """Numbers, not yes/no: in a DataFrame lamina reads booleans as its binary kind."""
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _required(y, estimator):
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")
    return y


def _free_name(columns) -> str:
    name = TARGET
    while name in set(map(str, columns)):
        name += "_"
    return name


def _repeated(frame: pd.DataFrame, target: str, classes: bool) -> pd.DataFrame:
    """`frame` with every row repeated the same number of times, so that lamina's minimums hold: MIN_ROWS rows,
    and MIN_ROWS_PER_CLASS of each class. Equal repeats keep each row's share of the loss."""
    times = math.ceil(MIN_ROWS / len(frame))
    if classes:
        times = max(times, math.ceil(MIN_ROWS_PER_CLASS / frame[target].value_counts().min()))
    return frame if times == 1 else frame.iloc[np.tile(np.arange(len(frame)), times)].reset_index(drop=True)

