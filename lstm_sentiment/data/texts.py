"""Labeled texts of your own: a CSV or TSV file, JSON Lines, a folder of class folders, or a Hugging Face
dataset, read into ``Labeled`` texts, checked as they are read.

Every problem is a DataError naming the file, the line where there is one,
and what to do. Labels are kept as read (strings, or integers); ``classes``
orders them: integers by value, anything else by name.
"""

import csv
import dataclasses
import io
import json
import os
import re

from ..base.errors import DataError

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
SPLITS = ("train", "test")


@dataclasses.dataclass
class Labeled:
    """Texts, their labels, where each came from (``file, line n``) and, where the source says, its split."""

    texts: list
    labels: list
    places: list
    splits: list

    def take(self, index):
        """The texts at ``index`` (positions), in that order."""
        return Labeled(*([column[i] for i in index] for column in (self.texts, self.labels, self.places, self.splits)))

    def part(self, split):
        """The texts of one split ("train" or "test")."""
        return self.take([i for i, s in enumerate(self.splits) if s == split])

    def __len__(self):
        return len(self.texts)

    def add(self, place, text, label, split=None):
        """One more text, checked: a non-empty text, a label (string or integer), a known split."""
        self.texts.append(_text(text, place))
        self.labels.append(_label(label, place))
        self.places.append(place)
        self.splits.append(_split(split, place) if split is not None else None)


def is_texts_source(source):
    """Whether ``source`` names labeled texts of one of these formats (by its suffix, ``hf:``, or a folder
    of class folders)."""
    source = str(source)
    suffix = os.path.splitext(source)[1].lower()
    return source.startswith("hf:") or suffix in TABLE_SUFFIXES or suffix in JSONL_SUFFIXES or _is_class_folder(source)


def read_texts(source, text_column="text", label_column="label"):
    """The ``Labeled`` texts of ``source``: a .csv or .tsv file with a header, a .jsonl file, a folder of
    class folders (with ``train`` and ``test`` folders of them, or not), or ``hf:NAME[:CONFIG]`` / ``hf:PATH``."""
    source = str(source)
    if source.startswith("hf:"):
        from .hub import read_hub

        texts = read_hub(source[3:], text_column, label_column)
    elif os.path.isdir(source):
        texts = _read_class_folders(source)
    else:
        data = _read_bytes(source)
        suffix = os.path.splitext(source)[1].lower()
        reader = _read_jsonl if suffix in JSONL_SUFFIXES else _read_table
        texts = reader(source, _decode(source, data), text_column, label_column)
    if not len(texts):
        raise DataError(f"{source}: no labeled text in it")
    return texts


def classes(labels):
    """The class names of ``labels`` in class order: integers (and strings of one, as a CSV holds them) by
    value, other names alphabetically."""
    distinct = {str(v) for v in labels}
    if all(re.fullmatch(r"-?\d+", v) for v in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def _read_bytes(path):
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (expected a .csv, .tsv or .jsonl file of labeled texts)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror})") from None
    if not data.strip():
        raise DataError(f"{path}: the file is empty; it needs a header and labeled texts")
    return data


def _decode(path, data):
    """The file's text (a UTF-8 BOM dropped); DataError naming the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}, line {line}: not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8"
        ) from None


def _label(value, place):
    """A label as read: an integer (not a bool), or a non-empty string (its spaces stripped)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{place}: the label {value!r} is neither a string nor an integer")
    if isinstance(value, str) and not value.strip():
        raise DataError(f"{place}: the label is empty; every text needs one")
    return value.strip() if isinstance(value, str) else value


def _text(value, place):
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{place}: the text is {'empty' if isinstance(value, str) else repr(value)}; give a text")
    return value


def _split(value, place):
    if value not in SPLITS:
        raise DataError(f"{place}: the split {value!r} is neither 'train' nor 'test'")
    return value


def _read_table(path, text, text_column, label_column):
    """A CSV (or TSV) file with a header: quoted fields may hold the delimiter, quotes and newlines."""
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=TABLE_SUFFIXES[os.path.splitext(path)[1].lower()])
    try:
        header = [name.strip() for name in next(rows)]
        columns = _columns(path, header, text_column, label_column)
        out, start = Labeled([], [], [], []), rows.line_num + 1
        for row in rows:
            place, start = f"{path}, line {start}", rows.line_num + 1
            if not row or row == [""]:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{place}: {len(row)} fields where the header has {len(header)}; quote fields "
                    f"that hold the delimiter"
                )
            out.add(place, *(row[c] if c is not None else None for c in columns))
    except csv.Error as e:
        raise DataError(f"{path}, line {rows.line_num}: not a well-formed CSV row ({e})") from None
    return out


def _columns(path, header, text_column, label_column):
    """The positions of the text, label and (if any) split columns in ``header``."""
    for name, flag in ((text_column, "text_column"), (label_column, "label_column")):
        if name not in header:
            raise DataError(
                f"{path}: no column {name!r} in the header ({', '.join(map(repr, header))}); name the column "
                f"with --{flag}"
            )
    return header.index(text_column), header.index(label_column), header.index("split") if "split" in header else None


def _read_jsonl(path, text, text_column, label_column):
    """One JSON object per line, with the text and label keys (and, optionally, "split"); blank lines skipped."""
    out = Labeled([], [], [], [])
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines: JSON strings may hold U+2028
        place = f"{path}, line {number}"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise DataError(f"{place}: not JSON ({e})") from None
        if not isinstance(record, dict):
            raise DataError(
                f"{place}: a JSON {type(record).__name__}, not an object with {text_column!r} and {label_column!r}"
            )
        for key, flag in ((text_column, "text_column"), (label_column, "label_column")):
            if key not in record:
                raise DataError(f"{place}: no key {key!r} in the object; name it with --{flag}")
        out.add(place, record[text_column], record[label_column], record.get("split"))
    return out


def _class_folders(folder):
    """The subfolders of ``folder`` that hold .txt files, by name."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise DataError(f"{folder}: cannot read it ({e.strerror})") from None
    found = []
    for name in names:
        sub = os.path.join(folder, name)
        if os.path.isdir(sub) and any(n.endswith(".txt") for n in os.listdir(sub)):
            found.append(name)
    return found


def _is_class_folder(source):
    """A folder of class folders (or of train/ and test/ folders of them), and not an aclImdb one."""
    if not os.path.isdir(source):
        return False
    if all(os.path.isdir(os.path.join(source, s)) for s in SPLITS):
        return not all(os.path.isdir(os.path.join(source, "train", c)) for c in ("pos", "neg"))
    return bool(_class_folders(source))


def _read_class_folders(folder):
    """Each .txt file of each class folder a text of that class; under train/ and test/ where they exist."""
    out = Labeled([], [], [], [])
    split_folders = all(os.path.isdir(os.path.join(folder, s)) for s in SPLITS)
    for split in SPLITS if split_folders else (None,):
        root = os.path.join(folder, split) if split else folder
        names = _class_folders(root)
        if not names:
            raise DataError(f"{root}: no class folders with .txt files in it; give one folder of texts per class")
        for name in names:
            for file in sorted(n for n in os.listdir(os.path.join(root, name)) if n.endswith(".txt")):
                path = os.path.join(root, name, file)
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError as e:
                    raise DataError(f"{path}: cannot read it ({e.strerror})") from None
                out.add(path, _decode(path, data), name, split)
    return out
