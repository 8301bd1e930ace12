"""lamina.sklearn: LaminaClassifier and LaminaRegressor pass scikit-learn's own estimator checks, work in a
Pipeline, cross_val_score and GridSearchCV, read DataFrames by column kind, and pickle as model files."""

import io
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from lamina.sklearn import LaminaClassifier, LaminaRegressor, _repeated

# The checks fit a few hundred times on tables of 10-300 rows: small networks, a few epochs at a high rate (the
# checks ask for accuracy 0.83 on blobs and R² 0.5 on a one-signal regression, on the training rows).
QUICK = {"epochs": 8, "width": 32, "depth": 2, "lr": 1e-2}
FLOAT32 = ("lamina's networks compute in float32: a row predicted alone and in a batch differ by up to a few "
           "float32 epsilons (1.2e-7 relative; other BLAS kernels), above this check's 1e-7")


def expected_failures(estimator) -> dict[str, str]:
    # not strict: most fits stay within 1e-7. An ensemble's members (the small tables' default) batch the rows in
    # other kernels again, so reordering them moves probabilities by a float32 epsilon too.
    return {"check_methods_subset_invariance": FLOAT32, "check_methods_sample_order_invariance": FLOAT32}


@parametrize_with_checks([LaminaClassifier(**QUICK), LaminaRegressor(**QUICK)],
                         expected_failed_checks=expected_failures)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_a_pipeline_in_cross_val_score_and_grid_search_trains_lamina_with_the_searched_setting():
    X, y = load_iris(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), LaminaClassifier(random_state=0, **QUICK))
    assert cross_val_score(pipeline, X, y, cv=3).mean() > 0.8  # the majority class is a third of the rows
    # A rate of 1e-5 learns nothing in 8 epochs: the search must find that out. (Width alone no longer separates: on
    # so few rows the network has a linear path beside its dense layers, which fits iris with 4 units or 16.)
    grid = {"laminaclassifier__width": [4, 16], "laminaclassifier__lr": [1e-5, 1e-2]}
    search = GridSearchCV(pipeline, grid, cv=2).fit(X, y)
    assert search.best_params_["laminaclassifier__lr"] == 1e-2
    refit = search.best_estimator_[-1]
    width = search.best_params_["laminaclassifier__width"]
    assert refit.model_.architecture["hyperparameters"]["width"] == width  # the parameter reached lamina's network
    assert list(refit.classes_) == [0, 1, 2] and search.score(X, y) > 0.8



def test_members_and_numbers_reach_laminas_network():
    X, y = load_iris(return_X_y=True)
    fitted = LaminaClassifier(random_state=0, members=2, numbers="plr", **QUICK).fit(X, y)
    chosen = fitted.model_.architecture["hyperparameters"]
    assert (chosen["members"], chosen["numbers"]) == (2, "plr")
    assert fitted.get_params()["members"] == 2

def test_the_regressor_beats_the_mean_in_cross_validation():
    X, y = load_diabetes(return_X_y=True)
    scores = cross_val_score(LaminaRegressor(random_state=0, **QUICK), X, y, cv=3)  # R²: 0 for the mean
    assert scores.min() > 0.3


def test_a_dataframe_keeps_its_names_and_lamina_reads_its_text_columns(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue"], size=120)
    X = pd.DataFrame({"size": rng.integers(0, 3, size=120), "colour": colour, "member": rng.random(120) < 0.5})
    y = np.where(colour == "red", "stop", "go")  # only the category tells the classes apart
    # 16 epochs: 8 of 3 steps leave the small tables' 8-member ensemble at 0.92 (one network: 1.0); 16 reach 1.0.
    model = LaminaClassifier(random_state=0, **{**QUICK, "epochs": 16}).fit(X, y)
    assert list(model.feature_names_in_) == ["size", "colour", "member"] and model.n_features_in_ == 3
    kinds = {c.name: c.kind for c in model.model_.schema.features}
    assert kinds == {"size": "number", "colour": "category", "member": "binary"}  # 0/1/2 stay numbers
    assert model.score(X, y) == 1.0 and list(model.classes_) == ["go", "stop"]
    assert list(tmp_path.iterdir()) == [] and capsys.readouterr().out == ""  # no run folder, no progress bar


def test_a_pickled_estimator_holds_model_files_and_no_torch_object():
    X, y = load_iris(return_X_y=True)
    fitted = LaminaClassifier(random_state=0, **QUICK).fit(X, y)
    modules = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            modules.add(module)
            return super().find_class(module, name)

    restored = Recording(io.BytesIO(pickle.dumps(fitted))).load()
    assert not {m for m in modules if m.split(".")[0] == "torch"}, modules
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert restored.model_.directory is None


def test_rows_repeat_until_lamina_minimums_hold():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "target": ["a", "a", "a", "b"]})
    repeated = _repeated(frame, "target", classes=True)
    assert len(repeated) == 12 and repeated["x"].value_counts().eq(3).all()  # 'b' needs 3 rows: each row thrice
    assert len(_repeated(frame, "target", classes=False)) == 12  # 10 rows at least
    assert _repeated(pd.concat([frame] * 3), "target", classes=True).shape == (12, 2)  # enough already


def test_one_class_is_refused_and_a_small_table_fits():
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match="one class"):
        LaminaClassifier(**QUICK).fit(X, ["a"] * 4)
    model = LaminaClassifier(random_state=0, **QUICK).fit(X, ["a", "b", "a", "b"])
    assert model.predict_proba(X).shape == (4, 2) and set(model.predict(X)) <= {"a", "b"}


def test_a_target_near_1e100_predicts_finite_values_and_one_near_1e200_is_a_value_error_naming_y():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (3 * X[:, 0] + 10) * 1e100  # standardised in float32 before, its predictions overflowed to inf
    predictions = LaminaRegressor(random_state=0, **QUICK).fit(X, y).predict(X)
    assert np.isfinite(predictions).all() and np.corrcoef(predictions, y)[0, 1] > 0.8
    with pytest.raises(ValueError, match=r"Input y holds values up to [0-9.]+e\+20[0-9] in size.* logarithm"):
        LaminaRegressor(**QUICK).fit(X, y * 1e100)


@pytest.mark.parametrize("y", [np.array([1, "a"] * 10, dtype=object), pd.Series([2.5, "b", 1] * 7)],
                         ids=["object-array", "series"])
def test_labels_of_mixed_types_are_a_value_error_naming_y_and_the_fix(y):
    X = np.random.default_rng(0).normal(size=(len(y), 2))
    with pytest.raises(ValueError, match=r"Input y mixes labels of different types \(.*\(number\).*\(text\)\).*astype"):
        LaminaClassifier(**QUICK).fit(X, y)
