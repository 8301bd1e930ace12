"""Every value that reaches a page is escaped, whatever its source: a run whose model.json, metrics.json and
checks.json carry HTML in every descriptive string field and name (and in the run folder's own name) gives
a report.html, a served playground, a drift.html and a model_card.md without a single live element from them.
(A number field holding text is refused when the model loads: tests/test_model.py holds that.)"""

import json
import shutil
from collections import Counter
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from markdown_it import MarkdownIt

import lamina
from conftest import FAST, make_table
from lamina.cli import main
from lamina.serving.server import create_app
from lamina.serving.sources import find_models

# Closes a script, opens one, comments out the rest of a script (<!--<script>), and an element with a handler.
PAYLOAD = "</script><script>alert(1)</script><!--<script><img src=x onerror=alert(1)>\"'><svg onload=alert(1)>&amp;"


class Elements(HTMLParser):
    """The elements, handler attributes and comments a browser would build from a page."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.handlers, self.comments, self.scripts, self._in_script = Counter(), [], [], [], False
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data

    def handle_comment(self, data):
        self.comments.append(data)


def poisoned(value):
    """Every string in `value` replaced by the payload."""
    if isinstance(value, dict):
        return {k: poisoned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [poisoned(v) for v in value]
    return PAYLOAD if isinstance(value, str) else value


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A trained run, its descriptive fields then overwritten with the payload as an attacker with the files would."""
    trained = tmp_path_factory.mktemp("escaping") / "run"
    lamina.fit(make_table(rows=300), target="y", out=trained, progress=False, **FAST)
    run = trained.with_name("run<img src=x onerror=alert(1)>")
    shutil.move(trained, run)
    model_json = run / "model" / "model.json"
    document = json.loads(model_json.read_text())
    training = poisoned(document["training"])
    training["validation"]["mode"] = document["training"]["validation"]["mode"]  # min or max: other text stops the load
    training["sizes"][PAYLOAD] = 1  # a part of the split named by the payload, beside train / valid / test
    metric_names = {name: f"{PAYLOAD}{i}" for i, name in enumerate(document["metrics"]["test"])}
    for part in ("test", "baseline"):
        document["metrics"][part] = {metric_names[k]: v for k, v in document["metrics"][part].items()}
    document.update(training=training, lamina_version=PAYLOAD)
    for column in document["task"]["state"]["schema"]["columns"]:
        column["note"] = PAYLOAD
    for entry in [*document["profile"]["columns"].values(), document["profile"]["prediction"]]:
        if "categories" in entry:
            entry["categories"] = [f"{PAYLOAD}{i}" for i, _ in enumerate(entry["categories"])]
    model_json.write_text(json.dumps(document))
    (run / "metrics.json").write_text(json.dumps(document["metrics"]))
    (run / "checks.json").write_text(json.dumps([{"level": "warning", "code": PAYLOAD, "message": PAYLOAD}]))
    return run


def assert_no_live_markup(page: str, scripts: int = 0) -> Elements:
    elements = Elements(page)
    assert PAYLOAD not in page, "the payload appears unescaped"
    assert elements.tags["script"] == scripts and not elements.tags["img"] and not elements.handlers
    assert not elements.comments
    return elements


def test_the_report_escapes_every_field(run):
    assert main(["report", str(run)]) == 0
    report = (run / "report.html").read_text()
    assert_no_live_markup(report)
    assert report.count("&lt;/script&gt;&lt;script&gt;alert(1)") >= 10, "the values are shown, as text"


def test_the_served_page_escapes_every_field_and_embeds_its_schema_as_inert_json(run):
    client = TestClient(create_app(find_models(run), monitor=False))
    page = client.get("/").text
    elements = assert_no_live_markup(page, scripts=2)
    assert "<" not in elements.scripts[0] and "&" not in elements.scripts[0]
    assert json.loads(elements.scripts[0]) == client.get("/schema").json()
    assert page.count("&lt;/script&gt;&lt;script&gt;alert(1)") >= 4, "sizes, split, metric names shown as text"


def test_the_drift_page_and_the_model_card_escape_every_field(run):
    records = make_table(rows=60, seed=7).drop(columns="y").to_dict(orient="records")
    with TestClient(create_app(find_models(run), monitor=True)) as client:  # shut down: summaries written
        assert client.post("/predict", json={"records": records}).status_code == 200
    assert main(["monitor", str(run), "--window", "1h"]) == 0
    drift = (run / "drift.html").read_text()
    assert_no_live_markup(drift)
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in drift, "profiled categories shown as text"
    assert main(["card", str(run)]) == 0
    card = MarkdownIt("commonmark").render((run / "model_card.md").read_text())  # raw HTML allowed, as on GitHub
    assert_no_live_markup(card)
