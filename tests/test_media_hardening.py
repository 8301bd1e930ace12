"""Pictures and sounds read the way a person means them, and never as an attacker would like (issues 15, 16):
decompression bombs, links out of a folder, base64 as clients write it, missing pictures in any position, the
same pixels from a file and from a request for every Pillow mode, EXIF orientation, content sniffing, OS
clutter, flat folders to predict, and the file named on every prediction."""

from __future__ import annotations

import base64
import io
import math
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFile

import lamina
import test_images
from lamina.api import prepare
from lamina.cli import main
from lamina.config import Config
from lamina.data.audio import inspect_audio, read_samples
from lamina.data.images import MIN_PIXEL_LIMIT, decode, image_from_base64, pixel_limit, read_images
from lamina.data.media import library_message
from lamina.data.read import read_table
from lamina.errors import LaminaError
from lamina.features.audio import AudioEncoder
from lamina.serving.server import create_app
from lamina.serving.sources import find_models
from test_audio import recordings, tone
from test_images import IMAGE_FAST, make_image_folder

soundfile = pytest.importorskip("soundfile")
image_run = test_images.image_run  # the stripes model test_images trains (a module fixture: once here too)


def bomb_png(width: int, height: int) -> bytes:
    """A 1-bit all-black PNG of width × height pixels, compressed row by row so that making it never holds
    the picture in memory (a 12000×12000 one is about 20 KB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, row = zlib.compressobj(9), b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the bits
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # bit depth 1, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sounds")
    folder = recordings(root / "clips", per_class=12)
    model = lamina.fit(folder, out=root / "run", progress=False, epochs=3, width=8)
    return root, folder, model


def served(root, run="run") -> TestClient:
    return TestClient(create_app(find_models(root / run), monitor=False), raise_server_exceptions=False)


def probabilities(answer) -> list[dict]:
    assert answer.status_code == 200, answer.text
    return [p["probabilities"] for p in answer.json()["predictions"]]


# ---- decompression bombs (issue 15 item 1, issue 16 item 14) -------------------------------------------

def test_the_pixel_limit_grows_with_the_model_side_between_a_floor_and_pillows_own_limit():
    assert pixel_limit("auto") == pixel_limit(64) == pixel_limit(16) == MIN_PIXEL_LIMIT == 24_000_000
    assert pixel_limit(128) == (64 * 128) ** 2 == 67_108_864
    assert pixel_limit(224) == Image.MAX_IMAGE_PIXELS == 89_478_485


def test_a_bomb_sent_to_the_server_is_refused_from_its_header_naming_field_and_limit(image_run, monkeypatch):
    root, _, model = image_run
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self.size))  # no decoding
    client = served(root)
    for side in (12000, 20000):  # above the model's limit; above twice Pillow's (where Pillow itself refuses)
        answer = client.post("/predict", json={"records": [{"image": b64(bomb_png(side, side))}] * 4})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert "field 'image'" in error and "over the limit of 24,000,000" in error, error
    assert "20000×2000 pixels" in client.post("/explain", json={"image": b64(bomb_png(20000, 2000))}).json()["error"]
    assert decoded == [], "no pixel of a bomb was decoded"
    assert model.features.encoders["image"].size_ == 16 and pixel_limit(16) == 24_000_000


def test_the_pictures_of_one_request_are_bounded_together(image_run, monkeypatch):
    root, folder, _ = image_run
    picture = b64((folder / "vertical" / "0.png").read_bytes())  # 16 × 16 = 256 pixels
    monkeypatch.setattr("lamina.features.image.REQUEST_PIXELS", 3 * 256)
    client = served(root)
    assert client.post("/predict", json={"records": [{"image": picture}] * 3}).status_code == 200
    refused = client.post("/predict", json={"records": [{"image": picture}] * 4})
    assert refused.status_code == 422 and "1,024 pixels together, over the limit of 768" in refused.json()["error"]


def test_an_oversized_picture_in_a_training_folder_is_skipped_and_listed_under_the_servers_limit(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=30)
    (folder / "vertical" / "huge.png").write_bytes(bomb_png(20000, 10000))  # 24 KB, 200 megapixels
    (folder / "vertical" / "large.png").write_bytes(bomb_png(7000, 4000))  # 28 megapixels: over 24
    (folder / "vertical" / "fine.png").write_bytes(bomb_png(5000, 4000))  # 20 megapixels: kept
    prepared = prepare(Config().with_overrides(target="label"), read_table(folder), None)
    skipped = {f.message for f in prepared.findings if f.code == "image_skipped"}
    assert len(skipped) == 2 and all("over the limit of 24,000,000" in m for m in skipped), skipped
    assert any("huge.png: 200,000,000 pixels, over" in m for m in skipped) and any("7000×4000" in m for m in skipped)
    assert len(prepared.frame) == 61
    bigger = prepare(Config().with_overrides(target="label", image_size=128), read_table(folder), None)
    assert [f.message for f in bigger.findings if f.code == "image_skipped"] == [
        next(m for m in skipped if "huge.png" in m).replace("24,000,000", "67,108,864")], "the limit follows --image-size"


def test_predicting_a_bomb_file_names_the_file_and_the_limit(image_run, tmp_path):
    root, _, _ = image_run
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "bomb.png").write_bytes(bomb_png(12000, 12000))
    with pytest.raises(LaminaError, match=r"bomb\.png: 12000×12000 pixels .* over the limit of 24,000,000"):
        lamina.api.predict(root / "run", tmp_path / "new")


def test_a_long_recording_sent_to_the_server_is_refused_from_its_header(audio_run):
    root, _, _ = audio_run
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(8000 * 601, np.int16), 8000, format="FLAC")  # 10 minutes of silence: 14 KB
    answer = served(root).post("/predict", json={"audio": b64(buffer.getvalue())})
    assert answer.status_code == 422 and "a clip of 601 s, over the limit of 600 s" in answer.json()["error"]


# ---- links out of a folder (issue 15 item 3) ------------------------------------------------------

@pytest.mark.parametrize("link", ["file", "class folder", "subfolder"])
def test_a_link_leading_out_of_an_image_folder_is_refused_and_named(tmp_path, link):
    folder = make_image_folder(tmp_path / "photos", per_class=5)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes((folder / "vertical" / "0.png").read_bytes())
    where = {"file": (folder / "vertical" / "passwd.png", outside / "secret.png"),
             "class folder": (folder / "etc", outside),
             "subfolder": (folder / "vertical" / "more", outside)}[link]
    where[0].symlink_to(where[1])
    with pytest.raises(LaminaError, match=f"{where[0].name} is a link to .*outside.*, outside the folder"):
        read_table(folder)


def test_a_link_leading_out_of_an_audio_folder_is_refused_and_links_inside_are_read(tmp_path):
    folder = recordings(tmp_path / "clips", per_class=4)
    (folder / "low" / "again.wav").symlink_to(folder / "low" / "1.wav")  # inside, in its own class: read
    (folder / "low" / "loop").symlink_to(folder / "low")  # a loop: each folder read once
    frame = read_table(folder)
    assert list(frame.columns) == ["audio", "label"] and len(frame) == 9
    soundfile.write(tmp_path / "elsewhere.wav", tone(500, 0.3, 8000, seed=0), 8000)
    (folder / "high" / "leak.wav").symlink_to(tmp_path / "elsewhere.wav")
    with pytest.raises(LaminaError, match="leak.wav is a link to .*elsewhere.wav, outside the folder"):
        read_table(folder)
    (folder / "high" / "leak.wav").unlink()
    (folder / "high" / "self.wav").symlink_to(folder / "high" / "self.wav")
    with pytest.raises(LaminaError, match="self.wav is a link that leads back to itself"):
        read_table(folder)


# ---- base64 as clients write it, and missing pictures (issue 15 items 9, 10) ---------------------------

def test_base64_wrapped_in_lines_and_data_urls_are_the_same_picture(image_run):
    root, folder, _ = image_run
    data = (folder / "vertical" / "3.png").read_bytes()
    plain = b64(data)
    forms = [base64.encodebytes(data).decode(),  # 76 characters a line, as MIME and `base64` write it
             base64.encodebytes(data).decode().replace("\n", "\r\n"), f"data:image/png;base64,{plain}",
             f"DATA:image/png;charset=x;BASE64,{base64.encodebytes(data).decode()}"]
    client = served(root)
    answer = probabilities(client.post("/predict", json={"records": [{"image": f} for f in [plain, *forms]]}))
    assert all(p == answer[0] for p in answer)
    assert [image_from_base64(f, "test") for f in forms] == [data] * 4
    refused = client.post("/predict", json={"image": "data:image/png," + plain})
    assert refused.status_code == 422 and "data URL without ';base64'" in refused.json()["error"]


@pytest.mark.parametrize("route", ["predict", "explain"])
@pytest.mark.parametrize("media", ["image", "audio"])
def test_a_missing_picture_or_recording_is_a_missing_value_in_any_position(image_run, audio_run, media, route):
    """A null picture is a missing value wherever it sits in a batch (the Python API reads it as one); a record
    with nothing but nulls (a picture model's `image: null`) is a 422 naming it, never a 500 or a guess."""
    root, folder, model = image_run if media == "image" else audio_run
    file = next((folder / ("vertical" if media == "image" else "low")).iterdir())
    sent = b64(file.read_bytes())
    client = served(root)
    alone = client.post(f"/{route}", json={"records": [{media: sent}]})
    assert alone.status_code == 200, alone.text
    for records in ([{media: None}], [{media: sent}, {media: None}], [{media: None}, {media: sent}]):
        refused = client.post(f"/{route}", json={"records": records})
        empty = next(row for row, record in enumerate(records) if record[media] is None)
        assert refused.status_code == 422 and f"record {empty}: every field is null or blank" in refused.json()["error"]
    expected = model.predict_array(pd.DataFrame({media: [None, str(file), None]}))
    assert np.allclose(expected[0], expected[2]) and not np.allclose(expected[0], expected[1])
    if route == "predict":
        got = [list(p.values()) for p in probabilities(alone)]
        assert np.allclose(got[0], expected[1], atol=1e-5), "a picture's answer does not depend on its neighbours"


# ---- the same pixels from a file and from a request (issue 15 item 11), upright (issue 16 item 11) ------

def gradient() -> Image.Image:
    """A smooth colour picture whose grey version reaches pure white (so 16-bit and float greys, scaled by
    their brightest pixel, keep their values)."""
    x, y = np.meshgrid(np.arange(20), np.arange(16))
    pixels = np.stack([x * 12, y * 15, 255 - x * 6], axis=2).astype(np.uint8)
    pixels[0, 0] = 255
    return Image.fromarray(pixels)


# Every mode Pillow opens from a file (with a format that stores it), and how close its pixels must come
# to the source's on average: lossless modes exactly, lossy or quantised ones within the levels given.
MODES = [("1", "PNG", 0), ("1", "TIFF", 0), ("L", "PNG", 0), ("LA", "PNG", 0), ("I", "TIFF", 0),
         ("I;16", "PNG", 0), ("I;16B", "TIFF", 0), ("F", "TIFF", 0), ("P", "PNG", 2), ("P", "GIF", 2),
         ("PA", "TIFF", 2), ("RGB", "PNG", 0), ("RGB", "JPEG", 2), ("RGBA", "PNG", 0), ("RGBA", "WEBP", 0),
         ("CMYK", "TIFF", 0), ("CMYK", "JPEG", 4), ("YCbCr", "TIFF", 2), ("LAB", "TIFF", 2)]


def saved(mode: str, form: str) -> tuple[bytes, Image.Image]:
    """The gradient in `mode`, as a `form` file (palettes chosen for the picture, WebP lossless)."""
    source = (gradient().quantize(256) if mode in ("P", "PA") else gradient()).convert(mode)
    buffer = io.BytesIO()
    source.save(buffer, form, **{"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}.get(form, {}))
    return buffer.getvalue(), source


@pytest.mark.parametrize(("mode", "form", "tolerance"), MODES, ids=[f"{m}-{f}" for m, f, _ in MODES])
def test_a_file_and_its_base64_decode_to_the_same_right_pixels_in_every_mode(tmp_path, mode, form, tolerance):
    data, source = saved(mode, form)
    path = tmp_path / f"picture.{form.lower()}"
    path.write_bytes(data)
    with Image.open(path) as opened:
        assert opened.mode in (mode, "RGB" if form == "WEBP" else mode, "P" if form == "GIF" else mode)
    grey = mode in ("1", "L", "LA", "I", "I;16", "I;16B", "F")
    for channels in (1, 3):
        from_file = decode(str(path), 16, channels)
        from_request = decode(image_from_base64(b64(data), "test"), 16, channels)
        assert from_file.shape == (channels, 16, 16) and np.array_equal(from_file, from_request)
        reference = (source.convert("L") if mode == "1" else gradient().convert("L" if grey or channels == 1 else "RGB"))
        if grey and channels == 3:
            reference = reference.convert("RGB")
        expected = np.asarray(reference.resize((20, 16)).crop((2, 0, 18, 16)), dtype=np.int16)
        expected = expected[None] if expected.ndim == 2 else expected.transpose(2, 0, 1)
        assert np.abs(from_file.astype(np.int16) - expected).mean() <= tolerance, (mode, form, channels)


def test_served_probabilities_equal_lamina_predict_on_the_same_files_in_every_mode(image_run, tmp_path):
    root, _, _ = image_run
    names = []
    for mode, form, _ in MODES:
        names.append(f"{mode.replace(';', '_')}-{form}.{form.lower()}")
        (tmp_path / names[-1]).write_bytes(saved(mode, form)[0])
    pd.DataFrame({"image": names}).to_csv(tmp_path / "new.csv", index=False)
    predicted = lamina.api.predict(root / "run", tmp_path / "new.csv")
    answer = served(root).post("/predict", json={"records": [{"image": b64((tmp_path / n).read_bytes())} for n in names]})
    classes = ["horizontal", "vertical"]
    got = np.array([[p[c] for c in classes] for p in probabilities(answer)])
    assert np.allclose(got, predicted[[f"proba_{c}" for c in classes]].to_numpy(), atol=1e-6)
    assert len({tuple(np.round(row, 6)) for row in got}) > 1, "the pictures differ, so must their answers"


# EXIF Orientation values and the transposition that stores an upright picture under each (its inverse is
# what a viewer applies): 2 mirrored, 3 upside down, 4 flipped, 5-8 turned a quarter with or without a mirror.
STORED_AS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_a_photo_stored_rotated_with_an_exif_orientation_is_read_upright(tmp_path, orientation):
    upright = gradient()
    exif = Image.Exif()
    exif[0x0112] = orientation  # the Orientation tag
    upright.transpose(STORED_AS[orientation]).save(tmp_path / "phone.png", exif=exif)
    upright.save(tmp_path / "upright.png")
    expected = decode(str(tmp_path / "upright.png"), 16, 3)
    assert np.array_equal(decode(str(tmp_path / "phone.png"), 16, 3), expected)
    sent = image_from_base64(b64((tmp_path / "phone.png").read_bytes()), "test")
    assert np.array_equal(decode(sent, 16, 3), expected)
    assert not np.array_equal(decode(np.asarray(upright.transpose(STORED_AS[orientation])), 16, 3), expected)


# ---- content sniffing, clutter, flat folders, file names (issue 16 items 10, 13, 16, 17) -----------------

def test_jfif_jpe_and_unknown_suffixes_are_pictures_by_content_and_mp3_is_audio(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=12, formats=("jpg",))
    for index, path in enumerate(sorted(folder.rglob("*.jpg"))):
        path.rename(path.with_suffix([".jfif", ".jpe", ".photo", ""][index % 4]))
    frame = read_table(folder)
    assert list(frame.columns) == ["image", "label"] and len(frame) == 24
    schema = prepare(Config().with_overrides(target="label"), frame, None).schema
    assert [(c.name, c.kind) for c in schema.features] == [("image", "image")]
    table = pd.DataFrame({"picture": [Path(p).relative_to(tmp_path.resolve()) for p in frame["image"]],
                          "label": frame["label"]})
    table.to_csv(tmp_path / "pictures.csv", index=False)
    assert read_table(tmp_path / "pictures.csv")["picture"].map(lambda p: p.startswith("/")).all(), "resolved"
    sounds = tmp_path / "sounds"
    for label, hz in (("low", 300), ("high", 1500)):
        (sounds / label).mkdir(parents=True)
        for i in range(12):
            soundfile.write(sounds / label / f"{i}.mp3", tone(hz, 0.4, 8000, seed=i), 8000, format="MP3")
    clips = read_table(sounds)
    assert list(clips.columns) == ["audio", "label"]
    schema = prepare(Config().with_overrides(target="label"), clips, None).schema
    assert [(c.name, c.kind) for c in schema.features] == [("audio", "audio")]


@pytest.mark.parametrize("outside", ["relative", "absolute"])
def test_pictures_known_by_content_are_kept_inside_the_tables_folder_too(tmp_path, outside):
    folder = make_image_folder(tmp_path / "photos", per_class=6)
    (tmp_path / "table").mkdir()
    names = []
    for path in sorted(folder.rglob("*.png")):
        path.rename(path.with_suffix(".photo"))
        names.append(f"../photos/{path.parent.name}/{path.stem}.photo" if outside == "relative"
                     else str(path.with_suffix(".photo").resolve()))
    pd.DataFrame({"picture": names, "label": [n.split("/")[-2] for n in names]}).to_csv(
        tmp_path / "table" / "t.csv", index=False)
    with pytest.raises(LaminaError, match=r"column 'picture': path .*\.photo' points outside the table's folder"):
        read_table(tmp_path / "table" / "t.csv")


def test_operating_system_clutter_is_ignored_and_said_once(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=12)
    png = (folder / "vertical" / "0.png").read_bytes()
    (folder / "vertical" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 not a picture")
    (folder / "horizontal" / "desktop.ini").write_text("[.ShellClassInfo]")
    (folder / "horizontal" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "__MACOSX" / "vertical").mkdir(parents=True)
    (folder / "__MACOSX" / "vertical" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / "vertical" / ".ipynb_checkpoints").mkdir()
    (folder / "vertical" / ".ipynb_checkpoints" / "0-checkpoint.png").write_bytes(png)
    frame = read_table(folder)
    assert sorted(frame["label"].unique()) == ["horizontal", "vertical"] and len(frame) == 24
    prepared = prepare(Config().with_overrides(target="label"), frame, None)
    notes = [f.message for f in prepared.findings if f.code == "files_ignored"]
    assert len(notes) == 1 and notes[0].startswith("Ignored 5 operating-system")
    for name in ("__MACOSX/", "horizontal/desktop.ini", "horizontal/.DS_Store", "vertical/Thumbs.db",
                 "vertical/.ipynb_checkpoints/"):
        assert name in notes[0], name
    assert not [f for f in prepared.findings if f.code == "image_skipped"]


def test_predict_reads_a_flat_folder_and_names_each_file(image_run, tmp_path):
    root, folder, _ = image_run
    flat = tmp_path / "new_photos"
    flat.mkdir()
    for path in sorted(folder.rglob("1*.png")):
        (flat / f"{path.parent.name}-{path.name}").write_bytes(path.read_bytes())
    (flat / "Thumbs.db").write_bytes(b"clutter")
    assert main(["predict", str(root / "run"), str(flat), "--out", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns[:2]) == ["image", "prediction"] and len(written) == 22
    truth = written["image"].str.contains("/vertical-").map({True: "vertical", False: "horizontal"})
    assert (written["prediction"] == truth).mean() >= 0.8
    with pytest.raises(LaminaError, match="has no class subfolders"):
        lamina.fit(flat, progress=False, **IMAGE_FAST)


def test_audio_predictions_from_a_folder_or_a_path_column_name_each_file(audio_run, tmp_path):
    root, folder, model = audio_run
    assert main(["predict", str(root / "run"), str(folder), "--out", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns[:2]) == ["audio", "prediction"]
    assert written["audio"].tolist() == read_table(folder)["audio"].tolist()
    pd.DataFrame({"audio": [str(p.relative_to(folder)) for p in sorted(folder.rglob("*.wav"))]}).to_csv(
        folder / "clips.csv", index=False)
    from_table = lamina.api.predict(root / "run", folder / "clips.csv")
    assert from_table["audio"].tolist() == [str(p.resolve()) for p in sorted(folder.rglob("*.wav"))]


# ---- pipes, devices, links between classes, NaN pixels, bounded audio, library messages (issue 19) -------

def test_pipes_in_class_folders_are_never_opened_and_named_in_the_findings(tmp_path):
    photos = make_image_folder(tmp_path / "photos", per_class=12)
    os.mkfifo(photos / "vertical" / "fifo.png")  # opening it would block for ever: nobody writes to it
    clips = recordings(tmp_path / "clips", per_class=12)
    os.mkfifo(clips / "low" / "fifo.wav")
    for folder, name, rows in ((photos, "vertical/fifo.png", 24), (clips, "low/fifo.wav", 24)):
        frame = read_table(folder)
        assert len(frame) == rows and not frame.iloc[:, 0].str.contains("fifo").any()
        prepared = prepare(Config().with_overrides(target="label"), frame, None)
        notes = [f.message for f in prepared.findings if f.code == "files_ignored"]
        assert notes == [f"Skipped 1 entry(ies) that are no regular file ({name} (a named pipe (FIFO))): a pipe, "
                         "socket or device is never opened, as reading one can block forever."]


@pytest.mark.parametrize("media", ["image", "audio"])
def test_a_pipe_or_device_in_a_path_column_is_skipped_named_or_refused_never_read(tmp_path, media):
    if media == "image":
        make_image_folder(tmp_path / "files", per_class=30)
        names = [f"files/{o}/{i}.png" for o in ("horizontal", "vertical") for i in range(30)]
    else:
        recordings(tmp_path / "files", per_class=30)
        names = [f"files/{o}/{i}.{'wav' if i % 2 else 'flac'}" for o in ("low", "high") for i in range(30)]
    suffix = Path(names[0]).suffix
    os.mkfifo(tmp_path / f"pipe{suffix}")
    table = pd.DataFrame({"file": [*names, f"pipe{suffix}"], "label": [n.split("/")[1] for n in names] + ["x"]})
    table.to_csv(tmp_path / "t.csv", index=False)
    prepared = prepare(Config().with_overrides(target="label"), read_table(tmp_path / "t.csv"), None)
    skipped = [f.message for f in prepared.findings if f.code == f"{media}_skipped"]
    assert skipped == [f"Skipped {(tmp_path / f'pipe{suffix}').resolve()}: a named pipe (FIFO), not a file lamina "
                       "reads."], skipped
    assert len(prepared.frame) == 60
    (tmp_path / f"zero{suffix}").symlink_to("/dev/zero")  # a device that reads forever, through a link
    table.loc[60, "file"] = f"zero{suffix}"
    table.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(LaminaError, match=rf"row 62, column 'file': path 'zero\{suffix}' points outside"):
        read_table(tmp_path / "t.csv")
    zero = "/dev/zero"  # reached otherwise (a model's predict, the API): refused from its metadata, unread
    with pytest.raises(ValueError, match="a device, not a file lamina reads"):
        decode(zero, 16, 1) if media == "image" else read_samples(zero)
    if media == "audio":
        assert inspect_audio(zero).problem == "a device, not a file lamina reads"


def test_a_link_to_another_class_folder_is_refused_naming_files_and_both_classes(tmp_path):
    folder = make_image_folder(tmp_path / "photos", per_class=6)
    (folder / "horizontal" / "loop").symlink_to("../vertical")  # every vertical picture, labelled horizontal too
    with pytest.raises(LaminaError) as refused:
        read_table(folder)
    message = str(refused.value)
    assert message.startswith(f"6 file(s) in {folder} lie under two classes at once")
    assert ("horizontal/loop/0.png (class 'horizontal') and vertical/0.png (class 'vertical'); " in message
            and "; and 1 more. Remove the link" in message), message
    (folder / "horizontal" / "loop").unlink()
    (folder / "horizontal" / "same.png").symlink_to(folder / "vertical" / "2.png")  # one file, not a folder
    with pytest.raises(LaminaError, match=r"^1 file\(s\) .* horizontal/same.png \(class 'horizontal'\) and "
                                          r"vertical/2.png \(class 'vertical'\)\. Remove"):
        read_table(folder)


def test_nan_pixels_of_a_float_picture_are_black_without_a_warning(tmp_path):
    pixels = np.array([[np.nan, 2.0, 4.0, 8.0]] * 4, np.float32)
    Image.fromarray(pixels, mode="F").save(tmp_path / "float.tiff")
    np.save(tmp_path / "floats.npy", np.stack([pixels / 8] * 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "invalid value encountered in cast" fails the test
        decoded = decode(str(tmp_path / "float.tiff"), 4, 1)
        arrays = read_images(tmp_path / "floats.npy", "training")["image"]
    assert decoded.tolist() == [[[0, 64, 128, 255]] * 4]  # 2/8, 4/8, 8/8 of 255, rounded
    assert arrays[0].tolist() == [[0, 64, 128, 255]] * 4


def long_silence(seconds: int, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(rate * seconds, np.int16), rate, format="FLAC")
    return buffer.getvalue()


def test_a_request_decodes_only_what_the_model_reads_of_each_clip(audio_run, monkeypatch):
    root, _, model = audio_run
    sent = long_silence(599)  # under the 600 s a clip may last, 10 KB
    read, original = [], soundfile.SoundFile.read
    monkeypatch.setattr(soundfile.SoundFile, "read",
                        lambda clip, *a, **k: read.append(len(samples := original(clip, *a, **k))) or samples)
    answer = served(root).post("/predict", json={"records": [{"audio": b64(sent)}] * 4})
    assert answer.status_code == 200, answer.text
    needed = math.ceil(model.features.encoders["audio"].seconds_ * 8000)
    assert needed < 8000 and read == [needed] * 4, "the check reads headers; the encoder the model's seconds"


def test_the_clips_of_one_request_are_bounded_together_naming_the_limit(audio_run, monkeypatch):
    root, _, model = audio_run
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(900, 0.25, 48000, seed=0, channels=2), 48000, format="WAV")  # 0.25 s at 48 kHz
    assert model.features.encoders["audio"].seconds_ > 0.25, "the model reads all of it"
    monkeypatch.setattr("lamina.features.audio.REQUEST_SECONDS", 0.5)
    client = served(root)
    assert client.post("/predict", json={"records": [{"audio": b64(buffer.getvalue())}] * 2}).status_code == 200
    refused = client.post("/predict", json={"records": [{"audio": b64(buffer.getvalue())}] * 3})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == ("Field 'audio': the clips sent hold 0.8 s of audio to decode together (counted "
                                       "as 48 kHz stereo), over the limit of 0.5 s a request; send fewer clips at a "
                                       "time.")


def test_messages_from_a_reading_library_name_the_field_or_file_never_an_object(audio_run, tmp_path):
    root, _, _ = audio_run
    answer = served(root).post("/predict", json={"audio": b64(b"RIFF\x00\x00not really audio")})
    assert answer.status_code == 422
    assert answer.json()["error"] == "record 0, field 'audio': not audio soundfile can read (Format not recognised.)."
    with pytest.raises(LaminaError) as refused:
        AudioEncoder("clip").load_state({"rate": 8000, "seconds": 1, "mean": [0], "std": [1]}).transform(
            pd.Series([b"not audio"]))
    assert str(refused.value) == ("Column 'clip': 1 recording(s) cannot be read, so no prediction can be made for "
                                  "them: row 0: Format not recognised. Replace each with a readable file or remove it "
                                  "(its row from a table), then run again.")
    assert library_message(OSError("cannot identify image file <_io.BytesIO object at 0x7f3a2c1d>")) == (
        "cannot identify image file the file")
