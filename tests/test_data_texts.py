"""Labeled texts of one's own, as read: CSV and TSV, JSON Lines, class folders; every bad input named."""

import json

import pytest

from lstm_sentiment.base.errors import DataError
from lstm_sentiment.data.texts import classes, is_texts_source, read_texts


def test_a_csv_is_read_by_its_header_with_quotes_newlines_a_bom_and_crlf(tmp_path):
    path = tmp_path / "t.csv"
    rows = [
        "id,label,text",
        '1,pos,"Great, truly great."',
        '2,neg,"Two lines:\r\nthe second ""quoted"""',
        "3,pos,plain text",
    ]
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    got = read_texts(str(path))
    assert got.texts == ["Great, truly great.", 'Two lines:\r\nthe second "quoted"', "plain text"]
    assert got.labels == ["pos", "neg", "pos"] and got.splits == [None] * 3
    assert got.places == [f"{path}, line {n}" for n in (2, 3, 5)]  # the quoted newline: row 3 ends on line 4


def test_a_tsv_and_other_columns(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("review\tstars\nGood\t9\nBad, really\t2\n", encoding="utf-8")
    got = read_texts(str(path), text_column="review", label_column="stars")
    assert got.texts == ["Good", "Bad, really"] and got.labels == ["9", "2"]


def test_json_lines_keep_integer_labels_and_a_split(tmp_path):
    path = tmp_path / "t.jsonl"
    records = [{"text": "a\u2028b", "label": 3, "split": "train"}, {"text": "c", "label": 10, "split": "test"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n", encoding="utf-8")
    got = read_texts(str(path))
    assert got.texts == ["a\u2028b", "c"] and got.labels == [3, 10] and got.splits == ["train", "test"]
    assert classes([10, 3, 9]) == ["3", "9", "10"] and classes(["b", "a", "b"]) == ["a", "b"]


def test_class_folders_with_and_without_train_and_test(tmp_path):
    for name, text in (("spam/1.txt", "buy now"), ("ham/2.txt", "hello\nfriend"), ("ham/3.txt", "see you")):
        (tmp_path / "flat" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "flat" / name).write_text(text, encoding="utf-8")
        (tmp_path / "split" / "train" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "split" / "train" / name).write_text(text, encoding="utf-8")
    (tmp_path / "split" / "test" / "spam").mkdir(parents=True)
    (tmp_path / "split" / "test" / "spam" / "9.txt").write_text("cheap pills", encoding="utf-8")
    flat = read_texts(str(tmp_path / "flat"))
    assert flat.labels == ["ham", "ham", "spam"] and flat.texts == ["hello\nfriend", "see you", "buy now"]
    split = read_texts(str(tmp_path / "split"))
    assert split.splits == ["train"] * 3 + ["test"] and split.texts[-1] == "cheap pills"
    assert is_texts_source(str(tmp_path / "flat")) and is_texts_source("x.CSV") and is_texts_source("hf:imdb")
    assert not is_texts_source("data/imdb.pkl")


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("t.csv", b"text,label\n", r"t.csv: no labeled text in it"),
        ("t.csv", b"", r"t.csv: the file is empty"),
        ("t.csv", b"words,label\nhi,1\n", r"t.csv: no column 'text' in the header \('words', 'label'\); name the "),
        ("t.csv", b"text,label\nhi,1\nho,2,3\n", r"t.csv, line 3: 3 fields where the header has 2"),
        (
            "t.csv",
            b"text,label\nhi,1\n\xff\xfe,2\n",
            r"t.csv, line 3: not UTF-8 text \(invalid start byte at byte 16\)",
        ),
        ("t.csv", b"text,label\n  ,1\n", r"t.csv, line 2: the text is empty"),
        ("t.csv", b"text,label\nhi,\n", r"t.csv, line 2: the label is empty"),
        ("t.csv", b"text,label,split\nhi,1,dev\n", r"t.csv, line 2: the split 'dev' is neither"),
        ("t.jsonl", b'{"text": "a", "label": 1}\n{"text": "b"}\n', r"t.jsonl, line 2: no key 'label'"),
        ("t.jsonl", b'{"text": "a", "label": 1}\n[1, 2]\n', r"t.jsonl, line 2: a JSON list, not an object"),
        ("t.jsonl", b'{"text": "a", "label": 1}\n{"text": "b",\n', r"t.jsonl, line 2: not JSON"),
        ("t.jsonl", b'{"text": "a", "label": true}\n', r"t.jsonl, line 1: the label True is neither"),
        ("t.jsonl", b'{"text": 5, "label": 1}\n', r"t.jsonl, line 1: the text is 5; give a text"),
    ],
)
def test_bad_input_is_named_with_its_file_and_line(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(DataError, match=message):
        read_texts(str(tmp_path / name))


def test_a_missing_file_and_a_text_file_that_is_not_utf8_in_a_class_folder(tmp_path):
    with pytest.raises(DataError, match=r"nope.csv: no such file"):
        read_texts(str(tmp_path / "nope.csv"))
    (tmp_path / "f" / "a").mkdir(parents=True)
    (tmp_path / "f" / "a" / "1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(DataError, match=r"1.txt, line 1: not UTF-8"):
        read_texts(str(tmp_path / "f"))
