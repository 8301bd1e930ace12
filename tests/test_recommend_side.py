"""Recommendation with side tables: a users table and an items table whose columns become the two towers'
features. A world of genres where each user takes only items of their preferred genre: a user absent from the
interactions but in the users table is recommended their genre's items; without the tables, popularity."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import lamina
from lamina.api import CHECKS
from lamina.cli import main
from lamina.run import RunFolder
from lamina.serving.server import create_app

CHROMIUM = "/usr/bin/chromium"
GENRES = ["action", "comedy", "drama", "horror"]
PER_GENRE = 15  # items of each genre
PER_USER = 10  # interactions per user, all of the user's genre
NEW_USERS = [f"new{i}" for i in range(8)]  # in the users table only


def genre_world(users=96, seed=0):
    """(interactions, users table, items table): user u prefers genre u % 4 and takes only its items."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({"movieId": np.arange(len(GENRES) * PER_GENRE),
                          "genre": np.repeat(GENRES, PER_GENRE)})
    items["title"] = [f"<i>{g} film</i> number {i}" for i, g in zip(items["movieId"], items["genre"], strict=True)]
    rows = []
    for user in range(users):
        own = np.flatnonzero(items["genre"] == GENRES[user % len(GENRES)])
        for item in rng.choice(own, PER_USER, replace=False):
            rows.append((user, int(item), int(rng.integers(0, 10**6))))
    interactions = pd.DataFrame(rows, columns=["userId", "movieId", "timestamp"])
    ids = [*range(users), *NEW_USERS]
    people = pd.DataFrame({"userId": ids, "favourite": [GENRES[i % len(GENRES)] for i in range(len(ids))]})
    return interactions, people, items


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("side")
    interactions, people, items = genre_world()
    paths = {}
    for name, frame in (("ratings", interactions), ("users", people), ("items", items)):
        paths[name] = folder / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return folder, paths, people, items


@pytest.fixture(scope="module")
def side_run(world):
    folder, paths, _, _ = world
    out = folder / "run"
    model = lamina.fit(paths["ratings"], task="recommend", users=str(paths["users"]), items=str(paths["items"]),
                       epochs=6, out=out, progress=False)
    return model, out


def _genre_share(lists: pd.DataFrame, people: pd.DataFrame, items: pd.DataFrame) -> float:
    genre_of = dict(zip(items["movieId"].astype(str), items["genre"], strict=True))
    favourite = dict(zip(people["userId"].astype(str), people["favourite"], strict=True))
    return float(np.mean([genre_of[i] == favourite[u] for u, i in zip(lists["userId"], lists["movieId"],
                                                                        strict=True)]))


def test_a_user_known_only_from_the_users_table_gets_their_genre(side_run, world):
    model, _ = side_run
    _, _, people, items = world
    assert model.architecture["arch"] == "two-tower"
    lists = model.recommend(NEW_USERS, k=5)
    assert (lists["source"] == "side features (user not in training)").all() and not lists["known_user"].any()
    assert _genre_share(lists, people, items) > 0.9
    assert set(lists.columns) >= {"genre", "title"}  # the items' side columns beside item and score
    genre_of = dict(zip(items["movieId"].astype(str), items["genre"], strict=True))
    assert lists["genre"].tolist() == [genre_of[i] for i in lists["movieId"]]
    known = model.recommend([0, "nobody"], k=5)
    assert known.groupby("userId")["source"].first().to_dict() == {"0": "model", "nobody": "popularity (unknown user)"}


def test_without_side_tables_a_new_user_gets_popularity(world):
    _, paths, _, _ = world
    model = lamina.fit(paths["ratings"], task="recommend", epochs=2, progress=False)
    lists = model.recommend(NEW_USERS[:2], k=5)
    assert (lists["source"] == "popularity (unknown user)").all()
    assert "genre" not in lists.columns


def test_save_and_load_give_identical_lists_and_pair_scores(side_run):
    model, out = side_run
    again = lamina.load(out)
    users = [0, 7, *NEW_USERS[:3], "nobody"]
    pd.testing.assert_frame_equal(model.recommend(users, k=6), again.recommend(users, k=6))
    pairs = pd.DataFrame({"userId": [0, "new1", "nobody"], "movieId": [3, 20, 40]})
    pd.testing.assert_frame_equal(model.predict(pairs), again.predict(pairs))
    assert again.predict(pairs)["source"].tolist() == ["model", "side features (user not in training)",
                                                       "popularity (unknown user)"]


def test_the_server_answers_with_side_columns(side_run):
    _, out = side_run
    client = TestClient(create_app({"films": lamina.load(out)}, monitor=False))
    answer = client.post("/recommend", json={"users": ["new2"], "k": 3}).json()["recommendations"][0]
    assert answer["source"].startswith("side features") and {"item", "score", "genre", "title"} <= set(
        answer["items"][0])


def test_the_cli_reads_side_tables(world, tmp_path, capsys):
    _, paths, _, _ = world
    out = tmp_path / "run"
    assert main(["train", str(paths["ratings"]), "--task", "recommend", "--user", "userId", "--item", "movieId",
                 "--users", str(paths["users"]), "--items", str(paths["items"]), "--epochs", "1", "--out",
                 str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), "--user", "new3", "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split(",")[:4] == ["userId", "rank", "movieId", "genre"] and len(lines) == 3
    document = json.loads((out / "model" / "model.json").read_text())
    assert document["task"]["state"]["sides"]["user"]["columns"] == {"favourite": "category"}


def _train_with(tmp_path, users: pd.DataFrame | None = None, items: pd.DataFrame | None = None):
    interactions, _, _ = genre_world(users=24)
    interactions.to_csv(tmp_path / "ratings.csv", index=False)
    tables = {}
    for name, frame in (("users", users), ("items", items)):
        if frame is not None:
            frame.to_csv(tmp_path / f"{name}.csv", index=False)
            tables[name] = str(tmp_path / f"{name}.csv")
    return lamina.fit(tmp_path / "ratings.csv", task="recommend", epochs=1, out=tmp_path / "run", progress=False,
                      **tables)


def test_a_side_table_without_the_id_column_is_named(tmp_path):
    with pytest.raises(lamina.LaminaError, match=r"users table \(users.csv\) has no column 'userId'"):
        _train_with(tmp_path, users=pd.DataFrame({"person": [1, 2], "favourite": ["a", "b"]}))


def test_duplicate_side_ids_are_named_whatever_their_spelling(tmp_path):
    items = pd.DataFrame({"movieId": ["7", "7.0", "8", " 9", "9"], "genre": ["a", "b", "a", "b", "a"]})
    with pytest.raises(lamina.LaminaError, match=r"2 item id\(s\) on more than one row: 7, 9"):
        _train_with(tmp_path, items=items)


def test_missing_side_rows_are_said_once_and_unknown_side_ids_are_fine(tmp_path):
    _, people, _ = genre_world(users=24)
    partial = pd.concat([people[people["userId"].astype(str) != "3"].iloc[:20],
                         pd.DataFrame({"userId": ["ghost"], "favourite": ["drama"]})])
    model = _train_with(tmp_path, users=partial)
    checks = json.loads(RunFolder(tmp_path / "run").read_text(CHECKS))
    said = [c["message"] for c in checks if "no row in" in c["message"]]
    assert len(said) == 1 and said[0].startswith("4 user(s)") and ": 3, 21, 22, 23;" in said[0]
    assert model.recommend(["ghost"], k=2)["source"].iloc[0].startswith("side features")


def test_the_playground_offers_the_most_active_users_escaped(tmp_path, monkeypatch):
    import lamina.tasks.recommend as recommend

    monkeypatch.setattr(recommend, "PICKER_USERS", 5)
    interactions, _, items = genre_world(users=24)
    extra = interactions[interactions["userId"] == 9].assign(timestamp=lambda f: f["timestamp"] + 1)
    extra["movieId"] = (extra["movieId"] + 1) % len(items)  # user 9 has the most interactions
    interactions = pd.concat([interactions, extra]).drop_duplicates(["userId", "movieId"])
    interactions["userId"] = interactions["userId"].map(lambda u: f"<b>'{u}'</b>" if u == 9 else u)
    out = tmp_path / "run"
    lamina.fit(interactions, task="recommend", epochs=1, out=out, progress=False)
    page = TestClient(create_app({"films": lamina.load(out)}, monitor=False)).get("/").text
    options = page.split("<datalist id='users'>")[1].split("</datalist>")[0]
    assert options.count("<option") == 5
    assert options.startswith("<option value='&lt;b&gt;&#x27;9&#x27;&lt;/b&gt;'>")  # the most active first
    assert "<b>'9'</b>" not in page and "id='list'" in page


@pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (.ci/run installs it)")
def test_the_playground_lists_a_picked_users_items_in_a_browser(side_run):
    from playwright.sync_api import sync_playwright

    from test_server_live import free_port

    _, out = side_run
    expected = lamina.load(out).recommend(["new1"], k=4)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "lamina.cli", "serve", str(out), "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page()
            page.goto(url)
            page.fill("#user", "new1")
            page.fill("#k", "4")
            page.click("#send")
            page.wait_for_selector("#list table")
            cells = [[c.text_content() for c in row.query_selector_all("td")]
                     for row in page.query_selector_all("#list tr")[1:]]
            header = [c.text_content() for c in page.query_selector_all("#list th")]
            planted = page.query_selector_all("#list i")  # the titles' <i> must show as text, not markup
            source = page.text_content("#source")
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert header[:3] == ["rank", "item", "score"] and {"genre", "title"} <= set(header)
    assert [row[1] for row in cells] == expected["movieId"].tolist()
    assert [row[header.index("title")] for row in cells] == expected["title"].tolist() and not planted
    assert "side features" in source
