"""Recommendation: a synthetic world where each user group likes only its own item group, a planted rating
structure, the per-user time split, saving, cold start, serving, the report and bad input."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from fastapi.testclient import TestClient

import lamina
from lamina.cli import main
from lamina.data.interactions import clean_interactions, id_text, layout_of, split_interactions
from lamina.evaluation.ranking import coverage, popular_share, ranking_metrics
from lamina.run import RunFolder
from lamina.serving.server import create_app

GROUP_ITEMS = 20  # items per item group
PER_USER = 12  # interactions per user, all within the user's group's items


def two_groups(users=80, seed=0) -> pd.DataFrame:
    """Even users only ever take items 0-19, odd users only items 20-39, at random times."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        own = np.arange(GROUP_ITEMS) + GROUP_ITEMS * (user % 2)
        for item in rng.choice(own, PER_USER, replace=False):
            rows.append((user, int(item), int(rng.integers(0, 10**6))))
    return pd.DataFrame(rows, columns=["userId", "movieId", "timestamp"])


def planted_ratings(users=120, items=60, seed=0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """rating = 3 + user bias + item bias + noise (sd 0.3): the biases a ratings model should find."""
    rng = np.random.default_rng(seed)
    user_bias, item_bias = rng.normal(0, 0.6, users), rng.normal(0, 0.8, items)
    rows = []
    for user in range(users):
        for item in rng.choice(items, 25, replace=False):
            rows.append((user, item, 3 + user_bias[user] + item_bias[item] + rng.normal(0, 0.3), rng.random()))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "time"]), user_bias, item_bias


@pytest.fixture(scope="module")
def ranking_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("recommend") / "run"
    frame = two_groups()
    model = lamina.fit(frame, task="recommend", epochs=12, out=out, progress=False)
    return model, frame, out


@pytest.fixture(scope="module")
def ratings_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ratings") / "run"
    frame, user_bias, item_bias = planted_ratings()
    model = lamina.fit(frame, task="recommend", user="user", item="item", rating="rating", epochs=8, out=out,
                       progress=False)
    return model, frame, item_bias, out


def test_each_user_is_recommended_its_own_groups_items_and_never_what_it_had(ranking_run):
    model, frame, _ = ranking_run
    lists = model.recommend(range(80), k=5)
    group_of_user = lists["userId"].astype(int) % 2
    group_of_item = lists["movieId"].astype(int) // GROUP_ITEMS
    assert (group_of_user == group_of_item).mean() > 0.95
    had = set(zip(id_text(frame["userId"]), id_text(frame["movieId"]), strict=True))
    assert not any(pair in had for pair in zip(lists["userId"], lists["movieId"], strict=True))
    included = model.recommend([0], k=20, exclude_seen=False)  # with the seen items allowed back, they come first
    assert {m for u, m in had if u == "0"} <= set(included["movieId"])


def test_the_two_tower_network_also_keeps_each_group_to_its_items():
    model = lamina.fit(two_groups(), task="recommend", arch="two-tower", width=16, epochs=25,
                       batch_size=200, lr=0.03, progress=False)
    lists = model.recommend(range(80), k=5)
    assert (lists["userId"].astype(int) % 2 == lists["movieId"].astype(int) // GROUP_ITEMS).mean() > 0.95
    assert model.architecture["hyperparameters"] == {"width": 16, "depth": 1, "dropout": 0.1}


def test_ranking_metrics_beat_popularity_over_every_item(ranking_run):
    model, _, _ = ranking_run
    test, popular = model.metrics["test"], model.metrics["baseline"]
    assert test["hr@10"] > 0.9 and test["ndcg@10"] > popular["ndcg@10"] + 0.2
    assert model.metrics["candidates"].startswith("every item")
    assert model.training["sizes"]["test"] == 80  # leave one out: one test interaction per user
    sizes, training = model.training["sizes"], model.training
    assert sizes["valid"] == 80  # the epoch is chosen on one interaction per user, then trained on too:
    assert training["final_epochs"] == round(training["best_epoch"] * (sizes["train"] + 80) / sizes["train"])


def test_a_saved_recommender_loads_and_recommends_the_same(ranking_run):
    model, _, out = ranking_run
    loaded = lamina.load(out)
    pd.testing.assert_frame_equal(loaded.recommend([0, 1, 7], k=10), model.recommend([0, 1, 7], k=10))
    pd.testing.assert_frame_equal(loaded.similar(3), model.similar(3))


@pytest.mark.parametrize("damage", ["a user missing", "ids not text", "a rating range without ratings"])
def test_a_damaged_recommender_file_stops_with_a_clear_error(ranking_run, tmp_path, damage):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(ranking_run[2] / "model", folder)
    document = json.loads((folder / "model.json").read_text())
    state = document["task"]["state"]
    if damage == "a user missing":
        state["users"] = state["users"][1:]
    elif damage == "ids not text":
        state["items"] = list(range(len(state["items"])))
    else:
        state["rating_range"] = [1, 5]
    (folder / "model.json").write_text(json.dumps(document))
    with pytest.raises(lamina.LaminaError, match="damaged or incompatible"):
        lamina.load(folder)


def test_unknown_users_get_the_popularity_list_and_a_flag(ranking_run):
    model, frame, _ = ranking_run
    lists = model.recommend(["nobody", 0], k=5)
    cold = lists[lists["userId"] == "nobody"]
    assert not cold["known_user"].any() and lists[lists["userId"] == "0"]["known_user"].all()
    counts = id_text(frame["movieId"]).value_counts()
    assert cold["score"].tolist() == sorted(counts.to_numpy(), reverse=True)[:5]
    assert set(cold["movieId"]) <= set(counts[counts >= counts.iloc[4]].index)


def test_pairs_are_scored_and_an_unknown_item_is_named(ranking_run):
    model, _, _ = ranking_run
    scores = model.predict(pd.DataFrame({"userId": [0, 0], "movieId": [5, 25]}))
    assert scores["prediction"].iloc[0] > scores["prediction"].iloc[1]  # user 0 is in the group of items 0-19
    with pytest.raises(lamina.LaminaError, match="'?not-an-item"):
        model.predict(pd.DataFrame({"userId": [0], "movieId": ["not-an-item"]}))


def test_ids_written_as_numbers_or_text_are_the_same_id(ranking_run):
    model, _, _ = ranking_run
    pd.testing.assert_frame_equal(model.recommend([7], k=5), model.recommend(["7"], k=5))
    assert id_text(pd.Series([42.0, np.nan, 7.5])).tolist()[::2] == ["42", "7.5"]


def test_similar_items_come_from_the_same_group(ranking_run):
    model, _, _ = ranking_run
    similar = model.similar(3, k=5)
    assert (similar["movieId"].astype(int) < GROUP_ITEMS).all() and "3" not in set(similar["movieId"])


def test_the_ratings_model_recovers_a_planted_bias_structure(ratings_run):
    model, _, item_bias, _ = ratings_run
    metrics = model.metrics
    assert metrics["test"]["rmse"] < 0.5 * metrics["global_mean"]["rmse"]
    assert metrics["test"]["rmse"] < 0.45  # the noise alone has sd 0.3
    learnt = model.network.scorer.item_bias.weight.detach().view(-1).numpy()
    order = [int(i) for i in model.task.items_]
    assert np.corrcoef(learnt, item_bias[order])[0, 1] > 0.9


def test_rating_predictions_stay_in_the_rating_range_and_an_unknown_user_gets_the_biases(ratings_run):
    model, frame, _, _ = ratings_run
    pairs = model.predict(pd.DataFrame({"user": [0, "stranger"], "item": [5, 5]}))
    assert pairs["known_user"].tolist() == [True, False]
    scorer = model.network.scorer
    item = model.task.item_index_["5"]
    assert pairs["prediction"].iloc[1] == pytest.approx(float((scorer.bias + scorer.item_bias.weight[item, 0]).detach()))
    low, high = frame["rating"].min(), frame["rating"].max()
    everything = model.predict(frame[["user", "item"]])
    assert everything["prediction"].between(low, high).all()


def test_a_test_file_is_the_test_part_and_the_data_only_trains_and_validates(tmp_path):
    frame, _, _ = planted_ratings(users=40, items=30)
    test = frame.groupby("user").tail(3)
    strangers = pd.DataFrame({"user": ["newcomer", 0], "item": [1, "new-item"], "rating": [3.0, 4.0],
                              "time": [0.5, 0.5]})  # ids the training data lacks: left out, named
    model = lamina.fit(frame.drop(index=test.index), test=pd.concat([test, strangers]), task="recommend",
                       user="user", item="item", rating="rating", epochs=3, out=tmp_path / "run", progress=False)
    assert model.training["sizes"]["test"] == len(test) == 120
    assert model.training["sizes"]["train"] + model.training["sizes"]["valid"] == len(frame) - len(test)
    assert "newcomer" not in model.task.users_ and "new-item" not in model.task.items_
    checks = {c["code"]: c["message"] for c in json.loads(RunFolder(tmp_path / "run").read_text("checks.json"))}
    assert "2 test interaction(s)" in checks["test_ids_not_in_training"]
    assert "users newcomer; items new-item" in checks["test_ids_not_in_training"]


def test_the_time_split_never_tests_an_earlier_interaction_than_one_it_trains_on():
    frame = two_groups(users=40, seed=3)
    layout = layout_of(frame, None, None, None, None, implicit=False)
    data, _ = clean_interactions(frame, layout)
    for leave_one_out in (True, False):
        part = split_interactions(data, layout, 0.2, 0.2, leave_one_out, seed=0)
        for _user, rows in data.assign(part=part).groupby("userId"):
            assert rows.loc[rows["part"] == 0, "timestamp"].max() <= rows.loc[rows["part"] == 1, "timestamp"].min()
            assert rows.loc[rows["part"] == 1, "timestamp"].max() <= rows.loc[rows["part"] == 2, "timestamp"].min()
        assert (np.bincount(part) > 0).all()


def test_without_a_time_column_each_user_keeps_training_interactions_and_holds_some_out():
    frame = two_groups(users=30).drop(columns="timestamp")
    layout = layout_of(frame, None, None, None, None, implicit=False)
    data, _ = clean_interactions(frame, layout)
    part = split_interactions(data, layout, 0.2, 0.2, False, seed=0)
    per_user = data.assign(part=part).groupby("userId")["part"].agg(lambda p: np.bincount(p, minlength=3).tolist())
    assert all(counts == [8, 2, 2] for counts in per_user)  # 12 each: round(12 * 0.2) = 2 held out twice
    again = split_interactions(data, layout, 0.2, 0.2, False, seed=1)
    assert (again != part).any()  # a random, seeded choice, not the first rows


def test_naming_the_user_and_item_columns_picks_the_recommendation_task():
    model = lamina.fit(two_groups(users=20), user="userId", item="movieId", epochs=2, progress=False)
    assert model.task.name == "recommend" and model.task.layout_.time == "timestamp"  # inferred from its name


def test_columns_are_inferred_from_their_names_or_named_when_ambiguous():
    frame = pd.DataFrame({"user_id": [1], "product": [2], "stars": [5], "event_time": [0]})
    assert layout_of(frame, None, None, None, None, False).to_dict() == {
        "user": "user_id", "item": "product", "rating": "stars", "time": "event_time"}
    assert layout_of(frame, None, None, None, None, True).rating is None
    with pytest.raises(lamina.LaminaError, match="--item"):
        layout_of(frame.assign(movie=1), None, None, None, None, False)


def test_duplicate_pairs_keep_the_latest_and_single_interactions_are_named():
    frame = pd.DataFrame({"user": [1, 1, 1, 2, 2], "item": [10, 10, 11, 10, 12], "rating": [1, 5, 3, 4, 2],
                          "time": [2, 9, 1, 1, 1]})
    layout = layout_of(frame, None, None, None, None, False)
    data, findings = clean_interactions(frame, layout)
    assert data[(data["user"] == "1") & (data["item"] == "10")]["rating"].tolist() == [5]
    messages = {f.code: f.message for f in findings}
    assert "1 duplicate" in messages["duplicate_interactions"] and "latest" in messages["duplicate_interactions"]
    assert "(11, 12)" in messages["single_interaction_items"]


def test_a_rating_column_that_is_not_numeric_stops_with_its_name(tmp_path, capsys):
    frame = two_groups(users=10).assign(rating="good")
    frame.to_csv(tmp_path / "ratings.csv", index=False)
    code = main(["train", str(tmp_path / "ratings.csv"), "--task", "recommend", "--rating", "rating",
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "'rating'" in err and "'good'" in err and "Traceback" not in err


def test_the_cli_trains_and_recommends(tmp_path, capsys):
    two_groups(users=40).to_csv(tmp_path / "clicks.csv", index=False)
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "clicks.csv"), "--task", "recommend", "--user", "userId", "--item",
                 "movieId", "--epochs", "15", "--out", str(out), "--quiet"]) == 0
    assert "ndcg@10" in capsys.readouterr().out
    assert main(["predict", str(out), "--user", "4", "--top", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "userId,rank,movieId,score,known_user,source" and len(lines) == 4
    assert all(int(line.split(",")[2]) < GROUP_ITEMS for line in lines[1:])
    (tmp_path / "users.csv").write_text("userId\n4\n5\n")
    assert main(["predict", str(out), str(tmp_path / "users.csv"), "--top", "2"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5
    assert main(["predict", str(out), "--user", "4", "--top", "20", "--no-exclude-seen"]) == 0
    listed = {line.split(",")[2] for line in capsys.readouterr().out.strip().splitlines()[1:]}
    had = {str(i) for i in two_groups(users=40).query("userId == 4")["movieId"]}
    assert had <= listed  # the items user 4 had come back when not left out
    assert main(["predict", str(out), "--similar-to", "nothing"]) == 2
    assert "'nothing'" in capsys.readouterr().err


def test_the_server_recommends_from_its_example_and_answers_bad_requests_with_4xx(ranking_run):
    _, _, out = ranking_run
    client = TestClient(create_app({"clicks": lamina.load(out)}, monitor=False))
    example = client.get("/schema").json()["example"]
    answer = client.post("/recommend", json=example)
    assert answer.status_code == 200
    first = answer.json()["recommendations"][0]
    assert first["known_user"] and len(first["items"]) == 10
    cold = client.post("/recommend", json={"users": ["stranger"], "k": 3}).json()["recommendations"][0]
    assert not cold["known_user"] and "popularity" in cold["source"]
    for body in ({"users": []}, {"users": [0], "k": 0}, {"users": [0], "k": 10**6}, {"users": [[1]]}, {"x": 1}):
        assert client.post("/recommend", json=body).status_code == 422, body
    assert "recommend" in client.get("/").text


def test_the_report_shows_metrics_buckets_bias_and_examples_escaped(tmp_path):
    frame = two_groups(users=30)
    frame["movieId"] = frame["movieId"].map(lambda i: f"<b>{i}</b>")
    out = tmp_path / "run"
    lamina.fit(frame, task="recommend", epochs=3, out=out, progress=False)
    report = RunFolder(out).read_text("report.html")
    for heading in ("Test metrics", "Metrics by user activity", "Popularity bias", "Example recommendations"):
        assert f"<h2>{heading}</h2>" in report
    assert "<b>3</b>" not in report and "&lt;b&gt;3&lt;/b&gt;" in report
    metrics = json.loads(RunFolder(out).read_text("metrics.json"))
    assert metrics["examples"][0]["history"]


def test_ranking_metrics_on_lists_known_by_hand():
    top = np.array([[5, 1, 2], [3, 4, 6]])
    relevant = [{1, 9}, {7}]
    scores = ranking_metrics(top, relevant, 3)
    assert scores["hr@3"] == 0.5 and scores["recall@3"] == 0.25
    assert scores["ndcg@3"] == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)) / 2)
    assert scores["map@3"] == pytest.approx((1 / 2) / 2 / 2)  # one hit at rank 2 of two relevant, over 2 users
    assert coverage(top, 10) == 0.6
    popularity = np.zeros(10)
    popularity[[5, 3, 1]] = [10, 9, 8]
    assert popular_share(top, popularity, share=0.2) == pytest.approx(2 / 6)  # the head: items 5 and 3
    assert popular_share(top, popularity, share=0.01) == pytest.approx(1 / 6)  # at least one item: 5
    short = np.array([[5, 1, -1], [3, -1, -1]])  # lists cut short: a user with fewer items left than k
    assert coverage(short, 10) == 0.3 and popular_share(short, popularity, share=0.2) == pytest.approx(2 / 3)
    assert ranking_metrics(short, [{1}, {7}], 3)["hr@3"] == 0.5


def test_a_list_stops_at_the_users_last_unseen_item_and_says_so(ranking_run, capsys):
    model, _, out = ranking_run
    unseen = len(model.task.items_) - int(model.network.seen_mask(torch.tensor([0])).sum())
    lists = model.recommend([0, "nobody"], k=len(model.task.items_))
    mine = lists[lists["userId"] == "0"]
    assert mine["rank"].tolist() == list(range(1, unseen + 1)) and np.isfinite(lists["score"]).all()
    assert len(lists[lists["userId"] == "nobody"]) == len(model.task.items_)  # nothing seen: the whole catalogue
    assert lists.attrs["notes"] == [f"user '0' has only {unseen} unseen item(s), so its list stops there (k=40)"]
    client = TestClient(create_app({"clicks": lamina.load(out)}, monitor=False))
    answer = client.post("/recommend", json={"users": [0], "k": 40})
    assert answer.status_code == 200
    first = answer.json()["recommendations"][0]
    assert len(first["items"]) == unseen and f"only {unseen} unseen" in first["note"]
    assert main(["predict", str(out), "--user", "0", "--top", "40"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == unseen + 1 and "-inf" not in captured.out
    assert f"only {unseen} unseen" in captured.err


@pytest.mark.parametrize(("value", "quoted"), [("1e300", "1e+300"), ("inf", "inf"), ("-inf", "-inf"),
                                               ("1e20", "1e+20")])
def test_a_rating_too_large_to_learn_from_is_named_with_its_line(value, quoted):
    frame = pd.DataFrame({"user": [1, 2, 3], "item": [1, 2, 3], "rating": ["4", value, "5"]})
    frame["rating"] = pd.to_numeric(frame["rating"])
    with pytest.raises(lamina.LaminaError, match=rf"column 'rating' .* holds {re.escape(quoted)} on line 3"):
        clean_interactions(frame, layout_of(frame, None, None, None, None, False), "the training data")


def test_one_column_given_two_roles_stops_naming_both_flags(tmp_path, capsys):
    two_groups(users=10).to_csv(tmp_path / "clicks.csv", index=False)
    code = main(["train", str(tmp_path / "clicks.csv"), "--task", "recommend", "--user", "userId", "--item",
                 "userId", "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--user and --item both name the column 'userId'" in err and "Traceback" not in err
    with pytest.raises(lamina.LaminaError, match="--item and --rating both name the column 'movieId'"):
        layout_of(two_groups(users=2), None, "movieId", "movieId", None, False)
    with pytest.raises(lamina.LaminaError, match="--rating names 'movieId', the column named like item ids"):
        layout_of(two_groups(users=2), None, None, "movieId", None, False)


def test_a_bad_time_is_quoted_with_its_line_and_numbers_beside_dates_are_named():
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 3], "time": ["2020-01-01", "2020-01-02", "soon"]})
    layout = layout_of(frame, None, None, None, None, False)
    with pytest.raises(lamina.LaminaError, match="'soon' on line 4"):
        clean_interactions(frame, layout)
    frame["time"] = pd.Series(["2020-01-01", 1577836800, "2020-01-03"], dtype=object)
    with pytest.raises(lamina.LaminaError, match=r"mixes numbers \(1577836800 on line 3\) and dates"):
        clean_interactions(frame, layout)


def test_times_written_day_first_are_ordered_in_one_order_for_the_whole_column():
    # Read value by value, 01/02/2020 was 2 January and 13/02/2020 13 February: 03/02/2020 (3 March) came last.
    frame = pd.DataFrame({"user": [1, 1, 1], "item": [1, 2, 3], "time": ["13/02/2020", "03/02/2020", "01/02/2020"]})
    data, findings = clean_interactions(frame, layout_of(frame, None, None, None, None, False))
    assert data["item"].tolist() == ["3", "2", "1"]
    (said,) = [f for f in findings if f.code == "date_order"]
    assert said.level == "info" and "reads its dates day first" in said.message
    either = frame.assign(time=["01/03/2020", "02/01/2020", "03/02/2020"])  # every time reads either way
    layout = layout_of(either, None, None, None, None, False)
    assert clean_interactions(either, layout)[0]["item"].tolist() == ["1", "2", "3"], "month first: January first"
    data, findings = clean_interactions(either, layout, declared="day_first")  # --date-order day_first
    assert data["item"].tolist() == ["2", "3", "1"] and [f.level for f in findings if f.code == "date_order"] == ["info"]
    with pytest.raises(lamina.LaminaError, match=r"Column 'time', row 2 .*: '13/02/2020' can only be read day "
                                                 r"first .*, yet the column's dates are read month first: the order is "
                                                 r"set \(data.date_order: month_first\)"):
        clean_interactions(frame, layout, declared="month_first")


def test_top_and_k_must_be_whole_numbers_from_one(ranking_run, capsys):
    model, _, out = ranking_run
    assert main(["predict", str(out), "--user", "4", "--top", "0"]) == 2
    err = capsys.readouterr().err
    assert "--top 0" in err and "must be from 1" in err
    for k in (0, 2.5, True):
        with pytest.raises(lamina.LaminaError, match=rf"^k \(items per list\) .* got {k!r}"):
            model.recommend([0], k=k)
    with pytest.raises(lamina.LaminaError, match="got -1"):
        model.similar(3, k=-1)


def test_ids_that_are_not_text_or_numbers_are_refused_by_name(ranking_run):
    model, _, out = ranking_run
    for bad in (None, [1], float("nan"), True, " "):
        with pytest.raises(lamina.LaminaError, match=rf"^{re.escape(repr(bad))} is not a user id"):
            model.recommend([0, bad])
    client = TestClient(create_app({"clicks": lamina.load(out)}, monitor=False))
    for body in ({"users": [True]}, {"users": [0], "k": True}, {"users": [0], "exclude_seen": 1}):
        assert client.post("/recommend", json=body).status_code == 422, body


def test_blank_ids_and_unknown_items_in_a_prediction_file_name_the_line(ranking_run, tmp_path, capsys):
    _, _, out = ranking_run
    (tmp_path / "users.csv").write_text("userId,other\n4,a\n,b\n5,c\n")
    assert main(["predict", str(out), str(tmp_path / "users.csv"), "--top", "2"]) == 2
    assert f"Line 3 of the users file {tmp_path / 'users.csv'}: no userId" in capsys.readouterr().err
    (tmp_path / "pairs.csv").write_text("userId,movieId\n4,1\n4,nothing\n")
    assert main(["predict", str(out), str(tmp_path / "pairs.csv")]) == 2
    err = capsys.readouterr().err
    assert f"the file {tmp_path / 'pairs.csv'}" in err and "'nothing' (line 3)" in err


@pytest.mark.parametrize(("tensor", "value"), [("seen_items", 10**6), ("seen_items", -1),
                                                ("scorer.user_factors.weight", float("nan"))])
def test_doctored_weights_are_named_at_load(ranking_run, tmp_path, tensor, value):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(ranking_run[2] / "model", folder)
    weights = load_file(str(folder / "weights.safetensors"))
    weights[tensor].view(-1)[0] = value
    save_file(weights, str(folder / "weights.safetensors"))
    with pytest.raises(lamina.LaminaError, match=f"damaged.*'{re.escape(tensor)}'"):
        lamina.load(folder)


def test_rating_none_means_implicit_and_a_headerless_file_asks_for_a_header():
    frame = pd.DataFrame({"user": [1], "item": [2], "rating": [5]})
    assert layout_of(frame, None, None, "none", None, False).rating is None
    headerless = pd.DataFrame([[196, 242, 3, 881250949]], columns=["186", "302", "3", "891717742"])
    with pytest.raises(lamina.LaminaError, match="no header row"):
        layout_of(headerless, None, None, None, None, False)


def test_a_test_files_times_follow_the_data_files_order_or_settle_it():
    """Each file decided its own order: a test file written month first (02/13/2020) beside a data file proving day
    first was read month first, its times misordered against the training ones."""
    from lamina.api import prepare, resolve_config

    rng = np.random.default_rng(1)
    rows = 240
    frame = pd.DataFrame({"user": rng.integers(0, 20, rows), "item": rng.integers(0, 15, rows),
                          "time": [f"{d:02d}/{m:02d}/2020" for d, m in zip(rng.integers(1, 13, rows),
                                                                           rng.integers(1, 13, rows), strict=True)]})
    test = frame.head(20).assign(time="05/06/2021")
    config = resolve_config(task="recommend", user="user", item="item", time="time")
    proving = frame.assign(time=frame["time"].where(frame.index != 7, "13/02/2020"))
    with pytest.raises(lamina.LaminaError, match=r"Column 'time', row 4 .* of the test file: '02/13/2021' can only "
                                                 r"be read month first .*, yet the column's dates are read day first"):
        prepare(config, proving, test.assign(time=test["time"].where(test.index != 2, "02/13/2021")))
    settled = prepare(config, frame, test.assign(time=test["time"].where(test.index != 3, "14/06/2021")))
    (said,) = [f for f in settled.findings if f.code == "date_order"]
    assert "day first" in said.message and "the test file's '14/06/2021' in row 5" in said.message
