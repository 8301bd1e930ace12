import re

import pandas as pd
import pytest

from lamina.data.read import read_table
from lamina.errors import LaminaError


def test_every_supported_format_reads_the_same_table(tmp_path, table):
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    table.to_parquet(tmp_path / "t.parquet", index=False)
    table.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    for name in ("t.csv", "t.tsv", "t.parquet", "t.jsonl"):
        frame = read_table(tmp_path / name)
        assert list(frame.columns) == list(table.columns), name
        assert len(frame) == len(table), name
        assert frame["signal"].to_numpy() == pytest.approx(table["signal"].to_numpy()), name


def test_question_mark_reads_as_missing(tmp_path):
    (tmp_path / "q.csv").write_text("a,b\n1, ?\n2,x\n")
    frame = read_table(tmp_path / "q.csv")
    assert frame["b"].isna().tolist() == [True, False]


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "does not exist"),
        (b"", r"empty \(0 bytes\)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
        (b"a,b,c\n", "no data rows"),
        (b"name,city\nJos\xe9,Paris\n", "line 2: byte 0xe9 is not UTF-8"),
        (b"a,b,a\n1,2,3\n", "duplicate column names: 'a'"),
        ("a\tb\n1\t2\n".encode("utf-16"), "is UTF-16 text. Re-save it as UTF-8"),
    ],
    ids=["missing", "empty", "binary", "header-only", "not-utf8", "duplicate-names", "utf16"],
)
def test_bad_files_get_a_message_naming_the_problem(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LaminaError, match=expected) as caught:
        read_table(path, "training data")
    assert str(path) in str(caught.value)


def test_a_missing_path_says_which_path_was_looked_for_and_what_is_expected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LaminaError) as caught:
        read_table("pictures/", "training data")
    said = str(caught.value)
    assert "The training data pictures does not exist" in said and "file or folder" in said
    assert f"(looked for {tmp_path / 'pictures'})" in said
    assert ".csv" in said and "a folder of pictures or recordings" in said


@pytest.mark.parametrize("lines", ["one line of prose here\n", "Hello there, how are you.\nThe cat sat down.\n"],
                         ids=["one-line", "commas-in-a-sentence"])
def test_a_txt_file_of_sentences_is_no_table_and_the_message_says_what_a_table_is(tmp_path, lines):
    path = tmp_path / "notes.txt"
    path.write_text(lines)
    with pytest.raises(LaminaError, match="holds lines of text, not a table") as caught:
        read_table(path, "training data")
    said = str(caught.value)
    assert str(path) in said and lines.split("\n")[0][:20] in said and "a header row naming the columns" in said
    assert "has a header" not in said
    (tmp_path / "table.txt").write_text("first name,age\nAda,36\n")  # a .txt table is read as one
    assert list(read_table(tmp_path / "table.txt").columns) == ["first name", "age"]


def test_unknown_format_names_the_supported_ones(tmp_path):
    path = tmp_path / "table.sav"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LaminaError, match=r"unknown table format '.sav'.*\.csv"):
        read_table(path)


def test_a_dataframe_is_copied_not_changed(table):
    frame = read_table(table)
    frame.loc[0, "signal"] = 99.0
    assert table.loc[0, "signal"] != 99.0


def test_duplicate_names_in_a_dataframe_are_refused():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(LaminaError, match="duplicate column names"):
        read_table(frame)
    # a cell of bytes (pd.read_sas gives them) is no text spelt missing: it had raised pandas' TypeError
    assert read_table(pd.DataFrame({"b": [b"x", b"?"], "y": [1, 2]}))["b"].tolist() == [b"x", b"?"]
    # names that are one only as text (as a file's header is): lamina.fit had crashed on 5 beside "5"
    for names in ([5, "5", "y"], ["a", " a", "y"]):
        with pytest.raises(LaminaError, match=r"^The data \(a DataFrame\) has duplicate column names"):
            read_table(pd.DataFrame([[1, 2, 3]], columns=names))


@pytest.mark.parametrize("separator", [";", "\t", "|", ","])
def test_the_separator_of_a_csv_file_is_sniffed(tmp_path, separator):
    lines = [separator.join(["x1", "x2", "cat", "y"])] + [separator.join([f"{i}.5", "2", "a b", str(i % 2)])
                                                          for i in range(6)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    frame = read_table(tmp_path / "t.csv")
    assert list(frame.columns) == ["x1", "x2", "cat", "y"]
    assert frame["x1"].tolist() == [i + 0.5 for i in range(6)]
    assert frame["cat"].tolist() == ["a b"] * 6


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".tsv.gz", ".parquet.gz"])
def test_compressed_tables_are_read(tmp_path, table, suffix):
    import bz2
    import gzip
    import lzma
    import zipfile

    inner = tmp_path / suffix.rsplit(".", 1)[0].join(["t", ""])
    if inner.suffix == ".parquet":
        table.to_parquet(inner, index=False)
    else:
        table.to_csv(inner, index=False, sep="\t" if inner.suffix == ".tsv" else ",")
    path = tmp_path / f"t{suffix}"
    raw = inner.read_bytes()
    if suffix.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(inner.name, raw)
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[suffix.rsplit(".", 1)[1]](raw))
    frame = read_table(path)
    assert list(frame.columns) == list(table.columns)
    assert frame["signal"].to_numpy() == pytest.approx(table["signal"].to_numpy())


def test_an_excel_workbook_is_read_from_its_first_sheet(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "t.xlsx"
    pd.DataFrame({"code": ["001", "002", "010"], "x": [1.5, 2.5, 3.5], "y": ["a", "b", "a"]}).to_excel(path, index=False)
    frame = read_table(path)
    assert frame.to_dict("list") == {"code": ["001", "002", "010"], "x": [1.5, 2.5, 3.5], "y": ["a", "b", "a"]}


def test_an_excel_workbook_without_openpyxl_names_the_install(tmp_path, monkeypatch):
    import sys

    path = tmp_path / "t.xlsx"
    path.write_bytes(b"PK")
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # import openpyxl now fails
    with pytest.raises(LaminaError, match=r"pip install 'lamina\[excel\]'"):
        read_table(path)


def test_codes_with_leading_zeros_stay_text(tmp_path):
    (tmp_path / "t.csv").write_text("code,amount,zip\n001,1,02134\n002,10,90210\n010,0,\n")
    frame = read_table(tmp_path / "t.csv")
    assert frame["code"].tolist() == ["001", "002", "010"]
    assert frame["zip"].tolist()[:2] == ["02134", "90210"] and frame["zip"].isna().tolist()[2]
    assert frame["amount"].tolist() == [1, 10, 0]  # numbers without leading zeros stay numbers


def test_an_unclosed_quote_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,label\ngood film,1\n"to be or not,0\nfine film,1\n"hello" there,1\nok,0\n')
    with pytest.raises(LaminaError, match=r"t\.csv, line 3: a quoted field opened on this line is not closed"):
        read_table(path)


def test_a_tab_file_with_stray_quotes_keeps_every_row(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text('text\tlabel\ngood film\t1\n"to be or not\t0\nfine film\t1\n5" screen\t1\n"hello" there\t0\n')
    frame = read_table(path)
    assert frame["label"].tolist() == [1, 0, 1, 1, 0]
    assert frame["text"].tolist() == ["good film", '"to be or not', "fine film", '5" screen', '"hello" there']


def test_quoted_fields_over_several_lines_are_one_row_each(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"line one\nline two, still",1\nplain,0\n"a ""quoted"" word",1\n')
    frame = read_table(path)
    assert frame["text"].tolist() == ["line one\nline two, still", "plain", 'a "quoted" word']
    assert frame["label"].tolist() == [1, 0, 1]


def test_a_one_column_file_keeps_a_quoted_empty_value_as_a_missing_row(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"word": ["alpha", None, "beta"]}).to_csv(path, index=False)  # the missing one is written ""
    assert path.read_text().splitlines() == ["word", "alpha", '""', "beta"]
    assert read_table(path)["word"].isna().tolist() == [False, True, False]
    path.write_text("word\nalpha\n  \n\nbeta\n")  # blank lines and lines of spaces are no rows, to pandas too
    assert read_table(path)["word"].tolist() == ["alpha", "beta"]


def test_a_dataframe_with_any_index_is_numbered_by_position(table):
    shifted = table.set_axis(range(1000, 1000 + len(table)))
    frame = read_table(shifted)
    assert frame.index.tolist() == list(range(len(table)))
    assert shifted.index[0] == 1000  # the caller's frame keeps its index


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zip"])
def test_a_decompression_bomb_stops_at_the_cap_without_expanding_whole(tmp_path, monkeypatch, suffix):
    import bz2
    import gzip
    import lzma
    import tracemalloc
    import zipfile

    from lamina.data import read

    monkeypatch.setattr(read, "MAX_DECOMPRESSED_BYTES", 2**20)  # 1 MiB, so a small bomb passes it
    inner = b"a,b\n" + b"0" * (32 * 2**20)  # 32 MiB of zeros
    path = tmp_path / f"bomb.csv{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("bomb.csv", inner)
    else:
        compress = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lambda raw: lzma.compress(raw, preset=1)}
        path.write_bytes(compress[suffix](inner))  # xz at preset 1: a 1 MiB dictionary, which its reader allocates
    assert path.stat().st_size < 2**20 // 4  # compressed, the bomb is small
    tracemalloc.start()
    try:
        with pytest.raises(LaminaError, match=r"bomb\.csv\.\w+ expands to more than 1 MiB when decompressed"):
            read_table(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # read a chunk at a time: far below the 32 MiB the file expands to


def test_a_decompression_bomb_exits_2_naming_the_file_and_limit(tmp_path, monkeypatch, capsys):
    import gzip

    from lamina.cli import main
    from lamina.data import read

    monkeypatch.setattr(read, "MAX_DECOMPRESSED_BYTES", 2**20)
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n" + b"0" * 2**21))
    assert main(["check", str(path)]) == 2
    assert f"{path} expands to more than 1 MiB" in capsys.readouterr().err


def test_a_compressed_table_below_the_cap_reads_whole(tmp_path, monkeypatch):
    import gzip

    from lamina.data import read

    monkeypatch.setattr(read, "MAX_DECOMPRESSED_BYTES", 2**20)
    monkeypatch.setattr(read, "DECOMPRESS_CHUNK_BYTES", 1000)  # many chunks, joined in order
    rows = [f"{i},{i % 7}" for i in range(50_000)]  # 600 KB: under the cap
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(("a,b\n" + "\n".join(rows) + "\n").encode()))
    frame = read_table(tmp_path / "t.csv.gz")
    assert frame["a"].tolist() == list(range(50_000))
    assert frame["b"].tolist() == [i % 7 for i in range(50_000)]


def test_a_damaged_compressed_file_is_named(tmp_path):
    import gzip

    path = tmp_path / "t.csv.gz"
    good = gzip.compress(b"a,b\n1,2\n" * 1000)
    path.write_bytes(good[:20] + bytes(b ^ 0xFF for b in good[20:40]) + good[40:])  # a corrupt deflate stream
    with pytest.raises(LaminaError, match=r"t\.csv\.gz could not be decompressed"):
        read_table(path)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["unix", "windows", "old-mac"])
def test_every_line_end_reads_the_same_table(tmp_path, end):
    text = end.join(["code,x,note", "001,0.1,a", f'002,0.2,"two{end}lines"', "010,0.3,c"]) + end
    (tmp_path / "t.csv").write_bytes(text.encode())
    frame = read_table(tmp_path / "t.csv")
    assert frame["code"].tolist() == ["001", "002", "010"]  # codes found at the start of every line
    assert frame["x"].tolist() == [0.1, 0.2, 0.3]
    assert frame["note"].tolist() == ["a", f"two{end}lines", "c"]  # a line end inside quotes is kept as written


def test_old_mac_line_ends_name_the_line_of_a_bad_byte(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"a,b\r1,x\r2,\xe9\r")
    with pytest.raises(LaminaError, match=r"t\.csv, line 3: byte 0xe9 is not UTF-8"):
        read_table(tmp_path / "t.csv")


def test_a_field_longer_than_csv_s_own_limit_is_read(tmp_path):
    long = "word " * 60_000  # 300 KB: above the csv module's 128 KiB field limit
    (tmp_path / "t.csv").write_text(f'text,y\n"{long}",1\nshort,0\n')
    frame = read_table(tmp_path / "t.csv")
    assert frame["text"].tolist() == [long, "short"]
    import csv

    assert csv.field_size_limit() == 131072  # the process-wide limit is given back


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_any_damage_to_a_table_is_a_lamina_error_or_a_table(tmp_path, suffix):
    import random

    rng = random.Random(0)
    base = {".csv": 'a,b,c\n1,"x y",0.5\n2,z,1.5\n', ".tsv": "a\tb\tc\n1\tx y\t0.5\n2\tz\t1.5\n",
            ".jsonl": '{"a": 1, "b": "x y"}\n{"a": 2, "b": "z"}\n'}[suffix].encode()
    pieces = [b'"', b"\r", b"\n", b"\r\n", b",", b";", b"\t", b"{", b"[", b"\xe9", b"\xff\xfe", b"\x00", b"?", b"0" * 5000]
    for case in range(150):
        damaged = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(damaged) + 1)
            damaged[at:at + rng.randint(0, 2)] = rng.choice(pieces)
        path = tmp_path / f"t{case}{suffix}"
        path.write_bytes(bytes(damaged))
        try:
            frame = read_table(path)
        except LaminaError as error:
            assert str(path) in str(error), (bytes(damaged), error)
        else:
            assert len(frame) > 0 and len(frame.columns) > 0


def test_json_lines_with_nested_values_name_the_line_and_column(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"x": 1, "y": "a"}\n{"x": [1, 2], "y": "b"}\n')
    with pytest.raises(LaminaError, match=r"t\.jsonl, line 2, column 'x': a nested array \(\[1, 2\]\).*own"):
        read_table(path)
    path.write_text('{"x": 1, "y": {"a": 1}}\n')
    with pytest.raises(LaminaError, match=r"line 1, column 'y': a nested object"):
        read_table(path)


@pytest.mark.parametrize("line, message", [("[1, 2]", r"line 2 holds a JSON array \(\[1, 2\]\), not an object"),
                                           ('"text"', "line 2 holds a JSON string"),
                                           ("null", "line 2 holds a JSON null"),
                                           ('{"x": 1', "line 2 is not valid JSON"),
                                           ('{"x": 1, "x": 2}', "line 2 gives the key 'x' twice"),
                                           ("[" * 100_000, "line 2 is not valid JSON")])
def test_json_lines_that_are_no_flat_object_are_named(tmp_path, line, message):
    path = tmp_path / "t.jsonl"
    path.write_text('{"x": 1, "y": "a"}\n' + line + "\n")
    with pytest.raises(LaminaError, match=message) as caught:
        read_table(path)
    assert str(path) in str(caught.value)


def test_json_lines_keep_text_and_read_every_line_end(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"zip": "02134", "x": 1.5, "ok": true}\r\n\r\n{"zip": "90210", "x": null}\r{"x": 2}')
    frame = read_table(path)
    assert frame["zip"].tolist()[:2] == ["02134", "90210"] and pd.isna(frame["zip"][2])  # text stays text
    assert frame["x"].tolist()[0] == 1.5 and pd.isna(frame["x"][1]) and frame["x"].tolist()[2] == 2
    assert list(frame.columns) == ["zip", "x", "ok"]


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_decimal_commas_read_as_numbers_where_commas_do_not_separate(tmp_path, separator):
    lines = [["x", "code", "words", "mixed", "ref", "y"], ["-1,21", "001", "a,b", "1,5", "007", "1"],
             ["2", "002", "c", "2.5", "1,5", "0"], ["0,5", "010", "d e", "many", "2", "1"],
             ["?", "011", "f", "3", "3", "0"], [" 1,5E-03", "012", "g", "4", "4", "1"]]
    (tmp_path / "t.csv").write_text("\n".join(separator.join(line) for line in lines) + "\n")
    frame = read_table(tmp_path / "t.csv")
    assert frame["x"].tolist()[:3] == [-1.21, 2.0, 0.5] and pd.isna(frame["x"][3]) and frame["x"][4] == 0.0015
    assert frame["code"].tolist() == ["001", "002", "010", "011", "012"]  # codes stay text
    assert frame["words"].tolist() == ["a,b", "c", "d e", "f", "g"]  # text with a comma stays text
    assert frame["mixed"].tolist() == ["1,5", "2.5", "many", "3", "4"]  # not every value a number: kept as written
    assert frame["ref"].tolist() == ["007", "1,5", "2", "3", "4"]  # a code with leading zeros: kept as written


def test_a_comma_separated_table_keeps_quoted_decimal_commas_as_text(tmp_path):
    (tmp_path / "t.csv").write_text('x,y\n"1,5",1\n"2,5",0\n')
    assert read_table(tmp_path / "t.csv")["x"].tolist() == ["1,5", "2,5"]


def test_an_excel_workbook_is_read_from_the_first_sheet_holding_a_table(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "t.xlsx"
    with pd.ExcelWriter(path) as workbook:
        pd.DataFrame({"About this file": []}).to_excel(workbook, sheet_name="Notes", index=False)
        pd.DataFrame().to_excel(workbook, sheet_name="Blank", index=False)
        pd.DataFrame({"x": [1.5, 2.5], "y": ["a", "b"]}).to_excel(workbook, sheet_name="Data", index=False)
        pd.DataFrame({"z": [9]}).to_excel(workbook, sheet_name="Later", index=False)
    with pytest.warns(UserWarning, match=r"t\.xlsx: read the sheet 'Data', the first that holds a table \(not "
                                         r"'Notes', 'Blank'\)"):
        frame = read_table(path)
    assert frame.to_dict("list") == {"x": [1.5, 2.5], "y": ["a", "b"]}


def test_an_excel_workbook_without_a_table_lists_its_sheets(tmp_path):
    pytest.importorskip("openpyxl")
    path = tmp_path / "t.xlsx"
    with pd.ExcelWriter(path) as workbook:
        pd.DataFrame({"About this file": []}).to_excel(workbook, sheet_name="Notes", index=False)
        pd.DataFrame({"x": [], "y": []}).to_excel(workbook, sheet_name="Header only", index=False)
    with pytest.raises(LaminaError, match=r"t\.xlsx holds no table: none of its sheets \('Notes', 'Header only'\)"):
        read_table(path)


def test_the_readme_names_every_format_read(tmp_path):
    from pathlib import Path

    from lamina.data.formats import COMPRESSED, SUPPORTED
    from lamina.data.read import MAX_DECOMPRESSED_BYTES

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    paragraph = readme[readme.index("Tables may be"):].split("\n\n")[0]
    named = set(re.findall(r"(?<![\w.])\.\w+", paragraph.replace("`", " ")))
    assert named >= {*SUPPORTED, *COMPRESSED}, {*SUPPORTED, *COMPRESSED} - named
    assert f"{MAX_DECOMPRESSED_BYTES / 2**30:g} GiB" in paragraph


def test_a_file_with_duplicate_names_is_named_as_written(tmp_path):
    (tmp_path / "h2.csv").write_text("a,a,y\n1,2,3\n")
    with pytest.raises(LaminaError, match=f"^{re.escape(str(tmp_path / 'h2.csv'))} has duplicate column names"):
        read_table(tmp_path / "h2.csv")


def test_digits_other_than_ascii_beside_a_decimal_comma_stay_text(tmp_path):
    (tmp_path / "s.csv").write_text("grade;num\n1,5;\u0661,\u0665\n3;0\n", encoding="utf-8")
    table = read_table(tmp_path / "s.csv")  # pandas reads no Arabic-Indic digits: the column had crashed the reader
    assert table["grade"].tolist() == [1.5, 3.0] and table["num"].tolist() == ["\u0661,\u0665", "0"]


@pytest.mark.parametrize("records", [{"age": 41, "region": "north"}, [{"age": 41}], 5, None])
def test_records_or_other_objects_given_as_data_are_refused_naming_what_to_give(records):
    # A dict of one record (as the server takes it) once failed in pathlib: "expected str, bytes or os.PathLike".
    with pytest.raises(LaminaError, match=r"prediction data is a \w+: give a path .* or a pandas DataFrame"):
        read_table(records, "prediction data", unlabelled=True)
