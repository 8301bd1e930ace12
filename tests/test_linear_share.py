"""A linear model's share of a small table's prediction (training.linear_share): its inputs, its fit against
scikit-learn's, out-of-fold honesty, the share's choice, and the blended network as trained, saved and served."""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.errors import LaminaError
from lamina.features.numeric import PIECES, NumberEncoder
from lamina.training.linear_share import (
    EVEN_SHARE,
    PIECE_RANKS,
    choose_share,
    fit_linear,
    linear_share_text,
    out_of_fold_linear,
    value_projection,
)


def test_the_projection_reads_each_number_column_s_value_from_its_rank_pieces():
    values = pd.Series(np.random.default_rng(0).lognormal(size=500) * 40)  # skewed: scores are far from values
    encoder = NumberEncoder("x").fit(pd.concat([values, pd.Series([np.nan])]))  # a missing flag too
    assert encoder.width == 1 + PIECES + 1
    projection = value_projection([(0, encoder)], numbers=encoder.width, categories=2, width=encoder.width + 3)
    assert projection.shape == (encoder.width + 3, 1 + 1 + 2)  # the value, the flag, two embedding floats; no text
    at_piece_ranks = np.interp(PIECE_RANKS, encoder.ranks_, encoder.knots_)  # values where the map is exact
    low, spread = at_piece_ranks[0], at_piece_ranks[-1] - at_piece_ranks[0]
    encoded = np.hstack([encoder.transform(pd.Series(at_piece_ranks)), np.zeros((PIECES + 1, 3))])
    read = encoded @ projection  # (value − v(0)) / (v(1) − v(0)), exact at the piece ranks
    np.testing.assert_allclose(read[:, 0] - read[0, 0], (at_piece_ranks - low) / spread, atol=1e-6)
    assert projection[encoder.score_at, 0] == 0  # the normal score is not read: the value is
    between = encoder.transform(values) @ projection[:encoder.width, 0] * spread + low
    middle = (values > np.quantile(values, 0.1)) & (values < np.quantile(values, 0.9))
    np.testing.assert_allclose(between[middle], values[middle], rtol=0.05)  # linear between the piece ranks
    flag = np.zeros(encoder.width + 3)
    flag[encoder.width - 1] = 1
    assert (projection[:, 1] == flag).all()  # the missing flag as it is, then each category float
    assert projection[encoder.width, 2] == 1 and projection[encoder.width + 1, 3] == 1
    assert not projection[encoder.width + 2].any()  # a text float


@pytest.mark.parametrize("classes", [0, 2, 3])
def test_the_fitted_linear_model_predicts_as_scikit_learn_s(classes):
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lamina.training.linear_share import LOGISTIC_C, RIDGE_ALPHAS

    generator = np.random.default_rng(classes)
    inputs = generator.normal(size=(200, 4)) * [1, 10, 100, 0.1] + [0, 5, -50, 1]
    signal = inputs @ [1.0, 0.1, 0.01, 10.0]
    if classes:
        targets = np.digitize(signal + generator.normal(size=200), np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))
        reference = make_pipeline(StandardScaler(), LogisticRegression(C=LOGISTIC_C, max_iter=5000)).fit(inputs, targets)
        model = fit_linear(inputs, targets, classes, classification=True)
        probabilities = torch.softmax(torch.from_numpy(inputs @ model.weight + model.bias), 1).numpy()
        np.testing.assert_allclose(probabilities, reference.predict_proba(inputs), atol=1e-8)
        assert model.name.startswith("logistic regression")
    else:
        targets = signal + generator.normal(size=200)
        reference = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS)).fit(inputs, targets)
        model = fit_linear(inputs, targets, 1, classification=False)
        np.testing.assert_allclose((inputs @ model.weight + model.bias)[:, 0], reference.predict(inputs), atol=1e-8)
        assert model.name.startswith(f"ridge regression (alpha {reference[-1].alpha_:g}")
    assert fit_linear(inputs, np.zeros(200, dtype=int), 2, classification=True) is None  # a class without rows


def test_a_row_s_out_of_fold_output_never_read_its_own_target():
    generator = np.random.default_rng(1)
    inputs = generator.normal(size=(120, 3))
    targets = inputs @ [1.0, -2.0, 0.5] + generator.normal(size=120)
    folds = np.arange(120) % 4
    before = out_of_fold_linear(inputs, targets, folds, 1, classification=False)
    changed = targets.copy()
    changed[folds == 0] += 100.0  # fold 0's targets, wildly off
    after = out_of_fold_linear(inputs, changed, folds, 1, classification=False)
    np.testing.assert_allclose(after[folds == 0], before[folds == 0])  # fold 0 predicted without its targets
    assert not np.allclose(after[folds != 0], before[folds != 0])  # the others read them
    three = np.arange(120) % 3  # a fold of class-2 rows only: its model could not be fitted
    assert out_of_fold_linear(inputs, three, three, 3, classification=True) is None


def blend_case(rows: int, network_noise: float, linear_noise: float) -> tuple:
    """(the share chosen, the share of lowest mean loss) for outputs this far off targets [rows, 1]."""
    generator = torch.Generator().manual_seed(0)
    truth = torch.randn(rows, 1, generator=generator)
    network = truth + network_noise * torch.randn(rows, 1, generator=generator)
    linear = truth + linear_noise * torch.randn(rows, 1, generator=generator)
    share, losses = choose_share(network, linear, truth, lambda outputs, target: (outputs - target).squeeze(1) ** 2)
    assert losses["blend"] == (losses["even"] if share == EVEN_SHARE else losses["lowest"])
    return share, losses["lowest_share"]


def test_the_share_is_even_unless_another_is_better_by_more_than_a_standard_error():
    assert blend_case(400, 0.0, 2.0) == (0.0, 0.0)  # the linear model far worse: none
    assert blend_case(400, 2.0, 0.0) == (1.0, 1.0)  # the network far worse: the linear model alone
    assert blend_case(40, 0.5, 0.7) == (EVEN_SHARE, 0.35)  # a little worse on 40 rows: not clearly, even
    assert blend_case(100, 0.5, 0.7) == (0.3, 0.3)  # on 100 rows clearly enough
    assert blend_case(40, 0.0, 0.0) == (EVEN_SHARE, 0.0)  # both exact: every share ties, even


def nearly_linear(rows: int, seed: int = 0) -> pd.DataFrame:
    generator = np.random.default_rng(seed)
    x = generator.normal(size=(rows, 3))
    sex = generator.integers(0, 2, rows)
    y = 3 * np.exp(x[:, 0]) - 2 * x[:, 1] + 1.5 * sex + generator.normal(scale=0.5, size=rows)
    return pd.DataFrame({"a": np.exp(x[:, 0]), "b": x[:, 1], "c": x[:, 2], "sex": np.where(sex, "f", "m"), "y": y})


def test_a_small_table_blends_its_linear_model_as_chosen_and_serves_the_blend(tmp_path):
    from fastapi.testclient import TestClient

    from lamina import api
    from lamina.model import Model
    from lamina.serving.server import create_app

    frame = nearly_linear(160)
    model = api.fit(frame, "y", out=tmp_path / "run", epochs=4, progress=False)
    record = model.training["linear_share"]
    losses = record["out_of_fold_loss"]
    assert record["model"].startswith("ridge regression") and record["share"] > 0  # a linear table: it takes a share
    assert losses["blend"] < losses["network"]  # an even blend at least: the network alone did worst out of fold
    assert losses["blend"] in (losses["even"], losses["lowest"]) and losses["lowest"] <= losses["even"]
    network = model.network
    assert model.architecture["hyperparameters"]["linear_share"] == record["share"] == network.linear_share
    inputs = model.task.features_.transform(frame)
    with torch.no_grad():
        blended = network.eval()(inputs)
        kept = network.linear_model
        linear = kept(network.encode(inputs))
        network.linear_model = None  # the network alone
        alone = network(inputs)
        network.linear_model = kept
    np.testing.assert_allclose(blended, (1 - record["share"]) * alone + record["share"] * linear, atol=1e-5)
    loaded = Model.load(tmp_path / "run")  # the blend is the saved model's too, and its served answer
    pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame))
    records = frame.drop(columns="y").head(5).to_dict("records")
    served = TestClient(create_app({"m": loaded}, monitor=False)).post("/predict", json={"records": records})
    assert served.json()["predictions"] == loaded.task.response(loaded.predict(frame.head(5)))
    page = (tmp_path / "run" / "report.html").read_text()
    assert f"share {record['share']:g}" in page and "ridge regression" in page


def test_a_share_given_is_kept_and_zero_leaves_the_network_alone():
    from lamina import api

    frame = nearly_linear(160)
    fixed = api.fit(frame, "y", epochs=2, linear_share=0.3, progress=False)
    record = fixed.training["linear_share"]
    assert record["share"] == 0.3 and set(record["out_of_fold_loss"]) == {"network", "linear", "blend"}
    assert "takes the share 0.3 given in the settings" in linear_share_text(record)
    alone = api.fit(frame, "y", epochs=2, linear_share=0, progress=False)
    assert "linear_share" not in alone.training and alone.network.linear_model is None
    assert "linear_share" not in alone.architecture["hyperparameters"]
    split = api.fit(frame, "y", epochs=2, folds=0, progress=False)  # no out-of-fold rows to choose a share on
    assert "linear_share" not in split.training
    given = api.fit(frame, "y", epochs=2, folds=0, linear_share=1.0, progress=False)  # given: the linear model alone
    said = linear_share_text(given.training["linear_share"])
    assert "not judged out of fold" in said and "predicts as the linear model alone" in said
    network = given.network.eval()
    with torch.no_grad():
        inputs = given.task.features_.transform(frame)
        assert torch.allclose(network(inputs), network.linear_model(network.encode(inputs)), atol=1e-6)


def test_a_share_that_cannot_apply_is_refused_naming_why():
    from lamina import api

    frame = nearly_linear(160)
    with pytest.raises(LaminaError, match="linear_share: 0.5 cannot apply here: --numbers plr"):
        api.fit(frame, "y", epochs=1, linear_share=0.5, numbers="plr", progress=False)
    with pytest.raises(LaminaError, match="linear_share: 0.5 is a setting of the mlp, and this run's network is 'gru'"):
        api.fit(frame, "y", arch="gru", linear_share=0.5, progress=False)
    with pytest.raises(LaminaError, match="members: 2, linear_share: 0.5 are settings of the mlp"):
        api.fit(frame, "y", arch="transformer", members=2, linear_share=0.5, progress=False)
    with pytest.raises(LaminaError, match="no numeric column"):
        api.fit(frame[["sex", "y"]], "y", epochs=1, linear_share=0.5, progress=False)
    auto = api.fit(frame, "y", epochs=1, numbers="plr", progress=False)  # auto: the network alone, said nowhere
    assert "linear_share" not in auto.training
    classes = frame.assign(y=np.where(frame["y"] > 0, "high", "low"))  # auto: a classifier's network alone
    assert "linear_share" not in api.fit(classes, "y", epochs=1, progress=False).training


def test_a_classifier_is_calibrated_on_the_blend_of_both_models_out_of_fold_logits(monkeypatch):
    import lamina.tasks.classification as classification
    from lamina import api
    from lamina.evaluation.calibration import fit_temperature
    from lamina.tasks.table import TableTask
    from lamina.training.crossfit import FOLD_KEY, OutOfFold

    fitted, trained_on = [], []
    monkeypatch.setattr(classification, "fit_temperature",
                        lambda logits, truth: fitted.append((logits, truth)) or fit_temperature(logits, truth))
    blend = TableTask.blend_linear_model
    monkeypatch.setattr(TableTask, "blend_linear_model", lambda self, network, architecture, rows, share, prepared:
                        trained_on.append(rows) or blend(self, network, architecture, rows, share, prepared))
    frame = nearly_linear(160).assign(y=lambda f: np.where(f["y"] > f["y"].median(), "high", "low"))
    model = api.fit(frame, "y", epochs=3, linear_share=0.4, progress=False)
    logits, truth = fitted[-1]  # the temperature kept
    assert model.task.temperature_ == fit_temperature(logits, truth)
    (inputs, targets), = trained_on
    assert torch.equal(truth, targets) and len(truth) == model.training["cross_fit"]["rows"]
    network = model.network.eval()
    kept, network.linear_model = network.linear_model, None
    with torch.no_grad():
        network_alone = OutOfFold(network, 4)(inputs)  # each model's out-of-fold logits, as in the calibration
        encoded = network.encode(inputs).double().numpy()
    network.linear_model = kept
    projection = value_projection(model.task.features_.dense_encoders(), inputs["numbers"].shape[1],
                                  sum(e.embedding_dim for e in network.embeddings), network.encoded_width)
    linear = out_of_fold_linear(encoded @ projection, targets.numpy(), inputs[FOLD_KEY].numpy(), 2, True)
    np.testing.assert_allclose(logits, 0.6 * network_alone.double() + 0.4 * linear, atol=1e-5)
    with torch.no_grad():  # not the blend with the linear model fitted on every row, which read their labels
        assert not torch.allclose(logits.float(), OutOfFold(network, 4)(inputs), atol=1e-3)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_a_column_of_huge_or_tiny_values_is_read_by_the_linear_model_too(scale):
    from lamina import api

    frame = nearly_linear(160).assign(a=lambda f: f["a"] * scale)  # standardised raw values overflow / underflow
    model = api.fit(frame, "y", epochs=2, progress=False)
    record = model.training["linear_share"]
    assert "note" not in record and np.isfinite(list(record["out_of_fold_loss"].values())).all()
    weight = model.network.linear_model.weight  # column a's rank pieces carry its value
    pieces = [position for position in model.task.features_.number_layout()["pieces"] if position < 17]
    assert torch.isfinite(weight).all() and weight[0, pieces].abs().sum() > 0.1
    assert np.isfinite(model.predict(frame)["prediction"]).all()


def test_a_linear_model_that_fits_no_finite_numbers_is_left_out_and_the_run_completes(monkeypatch):
    import lamina.training.linear_share as linear_share
    from lamina import api

    fit = linear_share.fit_linear
    monkeypatch.setattr(linear_share, "fit_linear", lambda *args: (lambda model: model and linear_share.LinearModel(
        model.weight * np.nan, model.bias, model.name))(fit(*args)))
    model = api.fit(nearly_linear(160), "y", epochs=2, progress=False)
    assert model.training["linear_share"] == {"share": 0.0, "note": "the linear model's outputs were not finite numbers"}
    assert model.network.linear_model is None and "No linear model was blended in" in model.task.summary(model)


@pytest.mark.parametrize("record", ["x", [1], {"share": "x", "model": "m"}, {"share": 0.5}, {"share": 2, "model": "m"},
                                    {"share": 0.5, "model": "m", "out_of_fold_loss": {"network": 1.0}}])
def test_a_damaged_linear_share_record_stops_at_load(tmp_path, record):
    import json

    from lamina import api
    from lamina.model import Model

    folder = api.fit(nearly_linear(120), "y", epochs=1, progress=False).save(tmp_path / "m")
    document = json.loads((folder / "model.json").read_text())
    document["training"]["linear_share"] = record
    (folder / "model.json").write_text(json.dumps(document))
    with pytest.raises(LaminaError, match="damaged or incompatible model.*training.linear_share"):
        Model.load(folder)


def test_the_recipe_blends_only_a_cross_fitted_regressor_and_refuses_what_cannot_apply():
    from lamina.config import ModelConfig, TrainConfig
    from lamina.nets.recipe import linear_share_setting

    mlp = {"numbers": "plain", "members": 8}
    assert linear_share_setting(ModelConfig(), TrainConfig(), mlp, 4, 10, True, False) == "auto"
    assert linear_share_setting(ModelConfig(), TrainConfig(), mlp, 0, 10, True, False) == 0  # no out-of-fold rows
    assert linear_share_setting(ModelConfig(), TrainConfig(), mlp, 4, 10, True, True) == 0  # a classifier
    assert linear_share_setting(ModelConfig(), TrainConfig(), mlp, 4, 10, True, False, True) == 0
    assert linear_share_setting(ModelConfig(linear_share=0.3), TrainConfig(), mlp, 0, 10, True, True) == 0.3
    with pytest.raises(LaminaError, match="several processes would each fit one on their own rows"):
        linear_share_setting(ModelConfig(linear_share=0.3), TrainConfig(), mlp, 0, 10, True, False, True)
    with pytest.raises(LaminaError, match="it reads one target, and this run has several"):
        linear_share_setting(ModelConfig(linear_share=0.3), TrainConfig(), mlp, 4, 10, False, False)
    with pytest.raises(LaminaError, match="--privacy"):
        linear_share_setting(ModelConfig(linear_share=0.3), TrainConfig(privacy="epsilon=3,delta=1e-5"), mlp, 0, 10,
                             True, False)
