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
    ],
    ids=["missing", "empty", "binary", "header-only", "not-utf8", "duplicate-names"],
)
def test_bad_files_get_a_message_naming_the_problem(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(LaminaError, match=expected) as caught:
        read_table(path, "training data")
    assert str(path) in str(caught.value)


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


def test_a_dataframe_with_any_index_is_numbered_by_position(table):
    shifted = table.set_axis(range(1000, 1000 + len(table)))
    frame = read_table(shifted)
    assert frame.index.tolist() == list(range(len(table)))
    assert shifted.index[0] == 1000  # the caller's frame keeps its index
