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
    path = tmp_path / "table.xlsx"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LaminaError, match=r"unknown table format '.xlsx'.*\.csv"):
        read_table(path)


def test_a_dataframe_is_copied_not_changed(table):
    frame = read_table(table)
    frame.loc[0, "signal"] = 99.0
    assert table.loc[0, "signal"] != 99.0


def test_duplicate_names_in_a_dataframe_are_refused():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(LaminaError, match="duplicate column names"):
        read_table(frame)
