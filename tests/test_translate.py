"""Translation (tasks/translate.py): a toy language learned to a high BLEU, saved and loaded translating the same,
and the bad-input rules of sentence pairs (data/pairs.py) and the subword vocabulary (features/subwords.py)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest
import torch

import lamina
from lamina.cli import main
from lamina.data.pairs import clean_pairs, long_pairs, read_lines, read_pair_files
from lamina.errors import LaminaError
from lamina.features.subwords import BOS, EOS, PAD, Subwords
from lamina.training.batches import TokenBatches

# A toy language: each of eight words has its own translation, word order kept.
LEXICON = {"red": "rot", "blue": "blau", "cat": "Katze", "dog": "Hund", "runs": "rennt", "sleeps": "schläft",
           "big": "groß", "small": "klein"}


def toy_pairs(count: int, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = [rng.choice(list(LEXICON)) for _ in range(rng.randint(2, 4))]
        rows.append((" ".join(words), " ".join(LEXICON[w] for w in words)))
    return pd.DataFrame(rows, columns=["en", "de"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("translate") / "run"
    # batch_size is tokens a batch for translation: ~20 pairs, 45 steps an epoch (12 s on one CPU thread)
    model = lamina.fit(toy_pairs(1200), "de", task="translate", source="en", arch="gru", width=64, depth=1,
                       dropout=0.0, epochs=8, lr=5e-3, batch_size=128, progress=False, out=out)
    return model, out


def test_a_toy_translation_is_learned_far_above_copying_the_source(trained):
    model, _ = trained
    assert model.metrics["test"]["bleu"] > 90, model.metrics
    assert model.metrics["baseline"]["bleu"] < 20  # copying an English sentence is no German one
    assert "nrefs:1|case:mixed|eff:no|tok:13a" in model.metrics["signature"]["bleu"]
    assert model.training["validation"]["metric"] == "valid_bleu"  # the epoch kept is the best by BLEU
    assert model.translate(["big red dog runs", ""], beam=1) == ["groß rot Hund rennt", ""]


def test_saved_and_loaded_it_translates_the_same_and_predict_reads_sentences(trained, tmp_path, capsys):
    model, out = trained
    sentences = ["small cat sleeps", "blue dog runs big", "red red cat"]
    loaded = lamina.load(out)
    assert loaded.translate(sentences, beam=3) == model.translate(sentences, beam=3)
    (tmp_path / "sentences.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    assert main(["predict", str(out), str(tmp_path / "sentences.txt"), "--beam", "2"]) == 0
    table = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert table["translation"].tolist() == model.translate(sentences, beam=2)
    with pytest.raises(LaminaError, match="beam must be a whole number from 1"):
        loaded.translate(sentences, beam=11)
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "sacreBLEU on detokenised" in report and "The worst by sentence chrF" in report
    assert report.count("Cross-attention, test sentence") == 3  # a heat-map each


def test_the_server_translates_refuses_bad_requests_and_shows_a_text_box(trained):
    from fastapi.testclient import TestClient

    from lamina.serving.server import create_app

    model, _ = trained
    client = TestClient(create_app({"toy": model}, monitor=False))
    answer = client.post("/translate", json={"texts": ["small dog runs"], "beam": 1})
    assert answer.status_code == 200
    assert answer.json()["translations"] == model.translate(["small dog runs"], beam=1)
    for body in ({"texts": []}, {"texts": ["a"], "beam": 11}, {"texts": "a dog"}, {"texts": ["a"], "other": 1},
                 {"texts": ["x" * 20_001]}, {"texts": ["a"] * 65}):
        assert client.post("/translate", json=body).status_code == 422, body
    page = client.get("/").text
    assert "id='texts'" in page and "Test BLEU" in page and "A man rides a bike." in page
    for prefix, route in itertools.product(("", "/models/toy"), ("predict", "explain", "transcribe")):
        wrong = client.post(f"{prefix}/{route}", json={"texts": ["small dog runs"]})  # other models' routes: a 404
        assert wrong.status_code == 404, wrong.text  # naming the one to use
        assert f"toy is a translate model: it has no /{route}; send POST {prefix}/translate, e.g. " in \
            wrong.json()["error"], wrong.text


def test_small_data_counts_patience_in_steps_splits_by_the_fractions_and_plans_a_time_budget(tmp_path):
    import math

    from lamina.tasks.translate import PATIENCE_STEPS

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # every setting at its default: 120 pairs are 2 optimiser steps an epoch
        model = lamina.fit(toy_pairs(120), "de", task="translate", source="en", time_budget="3s", progress=False,
                           out=tmp_path / "run")
    finally:
        torch.set_num_threads(threads)
    training = model.training
    # --valid-fraction and --test-fraction's defaults (0.15 each), as every task splits
    assert {k: training["sizes"][k] for k in ("train", "valid", "test")} == {"train": 84, "valid": 18, "test": 18}
    assert training["split"].startswith("random: 70% train, 15% valid, 15% test")
    # --patience's 8 epochs would be 16 steps, while validation BLEU sits at 0 for hundreds
    steps = training["steps_per_epoch"]
    assert steps <= 4 and training["patience"] == math.ceil(PATIENCE_STEPS / steps) > 100
    budget = training["time_budget"]  # planned from the first epochs' speed, like table and image runs
    assert budget["seconds"] == 3 and budget["recipe_epochs"] >= 750 and budget["planned_epochs"] is not None
    assert training["epochs_run"] <= budget["planned_epochs"] and budget["used_seconds"] <= 3
    report = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "Time budget 3 s" in report and "the learning-rate schedule was planned for" in report
    assert f"Early stopping&#x27;s patience: {training['patience']} epochs" in report


@pytest.mark.parametrize("flag", [["--adversarial", "pgd"], ["--flip", "yes"], ["--image-size", "32"],
                                  ["--split", "scaffold"]])
def test_settings_of_table_and_image_models_are_refused_not_ignored(tmp_path, capsys, flag):
    toy_pairs(20).to_csv(tmp_path / "pairs.csv", index=False)
    assert main(["train", str(tmp_path / "pairs.csv"), "--task", "translate", "--source", "en", "--target", "de",
                 *flag, "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert f"{flag[0]} (" in error and "is a setting of the tasks" in error and "this run's task is translate" in error
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_fractions_that_leave_no_training_pairs_are_refused(tmp_path, capsys):
    toy_pairs(30).to_csv(tmp_path / "pairs.csv", index=False)
    assert main(["train", str(tmp_path / "pairs.csv"), "--task", "translate", "--source", "en", "--target", "de",
                 "--valid-fraction", "0.49", "--test-fraction", "0.49", "--out", str(tmp_path / "run")]) == 2
    assert "leave no training pairs" in capsys.readouterr().err


def test_misaligned_files_are_refused_with_both_line_counts(tmp_path):
    (tmp_path / "train.en").write_text("a cat\na dog\nthe bird\n", encoding="utf-8")
    (tmp_path / "train.de").write_text("eine Katze\nein Hund\n", encoding="utf-8")
    with pytest.raises(LaminaError, match=r"train.en has 3 lines and the target file .*train.de has 2"):
        read_pair_files(tmp_path / "train.en", tmp_path / "train.de", "en", "de")
    assert main(["train", "--task", "translate", "--source-file", str(tmp_path / "train.en"),
                 "--target-file", str(tmp_path / "train.de"), "--out", str(tmp_path / "run")]) == 2


def test_empty_sides_are_counted_dropped_and_named_by_line(tmp_path):
    sources = [f"sentence {i}" for i in range(14)]
    targets = [f"Satz {i}" for i in range(14)]
    sources[3], targets[7], targets[9] = "  ", "", ""
    (tmp_path / "a.en").write_text("\n".join(sources) + "\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("\n".join(targets) + "\n", encoding="utf-8")
    frame = read_pair_files(tmp_path / "a.en", tmp_path / "a.de", "en", "de")
    kept, findings = clean_pairs(frame, "en", "de", "the files")
    assert len(kept) == 11 and "sentence 3" not in kept["en"].tolist()
    assert [f.code for f in findings] == ["empty_pairs"]
    assert "3 pair(s)" in findings[0].message and "lines 4, 8, 10" in findings[0].message
    assert "1 with an empty source, 2 with an empty target" in findings[0].message
    with pytest.raises(LaminaError, match="2 pair\\(s\\) of the table have text on both sides"):
        clean_pairs(pd.DataFrame({"en": ["a", "b", None], "de": ["x", "y", "z"]}), "en", "de", "the table")


def test_text_that_is_not_utf8_names_its_line_and_the_iconv_fix(tmp_path):
    path = tmp_path / "train.de"
    path.write_bytes(b"eine Katze\nein Hund\n" + "schläft\n".encode("latin-1"))
    with pytest.raises(LaminaError, match=r"line 3: byte 0xe4 is not UTF-8.*iconv -f latin1 -t utf-8"):
        read_lines(path, "target")


def test_the_longest_pairs_are_left_out_of_training_and_said_so():
    source = np.r_[np.full(300, 8), [200, 9]]
    target = np.r_[np.full(300, 10), [12, 400]]
    kept, longest_source, longest_target, findings = long_pairs(source, target)
    assert kept.tolist() == [True] * 300 + [False, False]
    assert (longest_source, longest_target) == (8, 10)
    assert "2 training pair(s) longer than the 99th percentile (8 source or 10 target" in findings[0].message
    assert long_pairs(source[:300], target[:300])[3] == []


def test_subwords_keep_the_agreed_ids_and_decode_to_the_text():
    frame = toy_pairs(60)
    subwords = Subwords().fit(frame["en"].tolist(), frame["de"].tolist())
    assert subwords.shared_  # both sides are written in Latin letters
    target = subwords.encode(["groß rot Hund", "Katze"], "target", 50)
    assert target[:, 0].tolist() == [BOS, BOS]
    assert target[1].tolist()[-1] == PAD and EOS in target[1].tolist()
    assert subwords.decode([[i for i in row if i not in (BOS, EOS, PAD)] for row in target.tolist()]) == \
        ["groß rot Hund", "Katze"]
    source = subwords.encode(["red cat runs big small dog"], "source", 4)  # cut to 4 tokens, EOS kept
    assert source.shape == (1, 4) and source[0, -1] == EOS
    again = Subwords.from_state(subwords.state())
    assert torch.equal(again.encode(["red cat"], "source", 50), subwords.encode(["red cat"], "source", 50))


def test_token_batches_fit_the_budget_and_cover_every_row_once_an_epoch():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(2, 30, (300,), generator=generator)
    source = (torch.arange(32) < lengths.unsqueeze(1)).long() * 5
    target = (torch.arange(40) < (lengths + 3).unsqueeze(1)).long() * 7
    batches = TokenBatches(source, target, tokens=200, shuffle=True, seed=1)
    seen = []
    for epoch in range(2):
        batches.set_epoch(epoch)
        rows = [batch["index"] for batch in batches]
        assert len(rows) == len(batches)
        for batch in batches:
            assert batch["source"].numel() <= 200 or len(batch["source"]) == 1
            assert batch["target"].shape[1] == int((batch["target"] != PAD).sum(1).max())
        seen.append(torch.cat(rows))
        assert sorted(seen[-1].tolist()) == list(range(300))
    assert not torch.equal(seen[0], seen[1])  # each epoch its own order
    padding = np.mean([float((b["target"] == PAD).float().mean()) for b in batches])
    assert padding < 0.1  # rows of like length together


def test_the_report_and_the_playground_escape_hostile_sentences_and_names(trained, tmp_path):
    import json
    import shutil

    from fastapi.testclient import TestClient

    from lamina.evaluation.report import write_report
    from lamina.serving.server import create_app
    from lamina.serving.sources import find_models
    from test_escaping import PAYLOAD, Elements, assert_no_live_markup

    _, out = trained
    run = tmp_path / "run<img src=x onerror=alert(1)>"
    shutil.copytree(out, run)
    held_out = pd.read_csv(run / "test_predictions.csv", keep_default_na=False)
    held_out[["source", "reference", "translation"]] = f"big dog {PAYLOAD}"
    held_out.to_csv(run / "test_predictions.csv", index=False)
    model_json = run / "model" / "model.json"
    document = json.loads(model_json.read_text())
    document["task"]["state"].update(source=PAYLOAD, target=f"{PAYLOAD}2")
    document["training"]["split"] = PAYLOAD
    model_json.write_text(json.dumps(document))
    assert_no_live_markup(write_report(run).read_text(encoding="utf-8"))
    page = TestClient(create_app(find_models(run), monitor=False)).get("/").text
    elements = Elements(page)
    assert elements.tags["script"] == 1 and not elements.tags["img"] and elements.handlers == ["onsubmit"]


def test_only_line_ends_split_aligned_files_not_unicode_separators_inside_a_sentence(tmp_path):
    # \u2028, \x0c and \x85 are line breaks to str.splitlines but not to wc or paste: splitting there would
    # shift every later pair by one without a word.
    source, target = tmp_path / "train.en", tmp_path / "train.de"
    source.write_text("a\u2028dog runs\nthe cat\r\nsleeps\rnow\n", encoding="utf-8")
    target.write_text("ein hund\x0c rennt\ndie katze\x85\r\nschläft\rjetzt\n", encoding="utf-8")
    assert read_lines(source, "source") == ["a\u2028dog runs", "the cat", "sleeps", "now"]
    pairs = read_pair_files(source, target)
    assert len(pairs) == 4 and pairs.iloc[1].tolist() == ["the cat", "die katze\x85"]


def test_a_folder_of_pictures_is_refused_as_sentence_pairs(tmp_path, capsys):
    """`--task translate` on class folders of pictures trained a model translating file paths into class names."""
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / "pics" / label).mkdir(parents=True)
        for i in range(12):
            Image.new("L", (8, 8), color=i * 20).save(tmp_path / "pics" / label / f"{i}.png")
    assert main(["train", str(tmp_path / "pics"), "--task", "translate", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert "holds image files, not sentences: translation reads two columns of text" in error, error
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_too_few_pairs_are_counted_and_refused(tmp_path, capsys):
    """It said "The files a.en and a.de holds 2 pair(s)"."""
    (tmp_path / "a.en").write_text("the cat\nthe dog\n\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("die Katze\nder Hund\nder Vogel\n", encoding="utf-8")
    assert main(["train", "--task", "translate", "--source-file", str(tmp_path / "a.en"), "--target-file",
                 str(tmp_path / "a.de"), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert f"2 pair(s) of the files {tmp_path / 'a.en'} and {tmp_path / 'a.de'} have text on both sides; at least " \
           "10 are needed" in error, error


def test_aligned_files_are_translation_s_data_whatever_else_is_given(tmp_path, capsys):
    """Without --task they were read as a table and `--target y` made a classification of sentences."""
    from lamina.api import resolve_config

    assert resolve_config(None, source_file="a.en", target_file="a.de").data.task == "translate"
    with pytest.raises(LaminaError, match="aligned files of sentence pairs .* are translation's data, and the task "
                                          "is regression: give --task translate"):
        resolve_config(None, source_file="a.en", target_file="a.de", task="regression")
    pairs = toy_pairs(40)
    (tmp_path / "a.en").write_text("\n".join(pairs["en"]) + "\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("\n".join(pairs["de"]) + "\n", encoding="utf-8")
    assert main(["check", "--source-file", str(tmp_path / "a.en"), "--target-file", str(tmp_path / "a.de"),
                 "--target", "y"]) == 0
    assert "task translate" in capsys.readouterr().out


@pytest.mark.parametrize("flag", [["--column", "en=category"], ["--date-order", "day_first"]])
def test_column_kinds_and_date_orders_are_refused_not_ignored(tmp_path, capsys, flag):
    """Translation reads its two text columns as they are: a declared kind or a date order was accepted and
    ignored."""
    toy_pairs(20).to_csv(tmp_path / "pairs.csv", index=False)
    assert main(["train", str(tmp_path / "pairs.csv"), "--task", "translate", "--source", "en", "--target", "de",
                 *flag, "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert f"{flag[0]} (data." in error and "this run's task is translate: it would be ignored" in error, error
    assert not (tmp_path / "run").exists()
