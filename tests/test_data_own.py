"""Labeled texts into the tutorial's format: splits, class names, caching, and nothing written on bad input."""

import json

import pytest

from lstm_sentiment.base.errors import DataError
from lstm_sentiment.data.datasets import get_dataset_file
from lstm_sentiment.data.imdb import classes_beside, dictionary_beside, read_classes, read_dataset, read_dictionary
from lstm_sentiment.data.own import TextOptions


def _csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def _words(pkl, x):
    words = {i: w for w, i in read_dictionary(dictionary_beside(pkl)).items()}
    return [" ".join(words.get(i, "<unknown>") for i in review) for review in x]


def test_a_test_file_gives_the_test_set_and_the_dictionary_comes_from_training_only(tmp_path):
    train = _csv(tmp_path / "train.csv", ["good film,pos", "bad film,neg", '"Good, good!",pos'])
    test = _csv(tmp_path / "test.csv", ["unseen words,neg"])
    pkl = get_dataset_file(train, str(tmp_path / "data"), TextOptions(test=test))
    (x, y), (tx, ty) = read_dataset(pkl)
    assert pkl == str(tmp_path / "data" / "train.pkl")
    assert _words(pkl, x) == ["good film", "bad film", "good , good !"] and y == [1, 0, 1]  # neg 0, pos 1
    assert tx == [[1, 1]] and ty == [0]  # words no training text has: unknown (1)
    assert read_dictionary(dictionary_beside(pkl))["good"] == 2  # the most frequent first
    assert read_classes(classes_beside(pkl)) == ["neg", "pos"]


def test_a_split_column_and_integer_labels(tmp_path):
    rows = ["a,10,train", "b,9,train", "c,2,train", "d,10,test"]
    pkl = get_dataset_file(_csv(tmp_path / "s.csv", rows, "text,label,split"), str(tmp_path / "data"))
    (x, y), (tx, ty) = read_dataset(pkl)
    assert read_classes(classes_beside(pkl)) == ["2", "9", "10"]  # by value, not by name
    assert y == [2, 1, 0] and ty == [2] and len(x) == 3 and len(tx) == 1


def test_without_a_test_set_a_portion_is_held_out_by_the_seed(tmp_path):
    rows = [f"text number {i},{'ab'[i % 2]}" for i in range(40)]
    source = _csv(tmp_path / "p.csv", rows)
    held = {}
    for seed in (1, 2):
        pkl = get_dataset_file(source, str(tmp_path / f"d{seed}"), TextOptions(test_portion=0.25, seed=seed))
        (x, _), (tx, _) = read_dataset(pkl)
        held[seed] = sorted(_words(pkl, x))  # the training texts: their numbers are in the dictionary
        assert len(x) == 30 and len(tx) == 10 and all(w.endswith("<unknown>") for w in _words(pkl, tx))
    assert held[1] != held[2]
    again = get_dataset_file(source, str(tmp_path / "d1"), TextOptions(test_portion=0.25, seed=1))
    assert sorted(_words(again, read_dataset(again)[0][0])) == held[1]


def test_the_outputs_are_cached_and_rebuilt_when_the_source_or_a_setting_changes(tmp_path, caplog):
    source, out = tmp_path / "c.csv", str(tmp_path / "data")
    _csv(source, [f"x y {i},{'ab'[i % 2]}" for i in range(20)])
    pkl = get_dataset_file(str(source), out)
    first = (tmp_path / "data" / "c.pkl").stat().st_mtime_ns
    with caplog.at_level("INFO", logger="lstm_sentiment"):
        get_dataset_file(str(source), out)
    assert "Using cached" in caplog.text and (tmp_path / "data" / "c.pkl").stat().st_mtime_ns == first
    get_dataset_file(str(source), out, TextOptions(lang="fr"))
    assert json.loads((tmp_path / "data" / "c.manifest.json").read_text())["settings"]["lang"] == "fr"
    _csv(source, [f"x y {i},{'abc'[i % 3]}" for i in range(30)])
    get_dataset_file(str(source), out, TextOptions(lang="fr"))
    assert read_classes(classes_beside(pkl)) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "rows, options, message",
    [
        (["a,x", "b,x", "c,x"], dict(test_portion=0.3), r"every training text has the label 'x'; a classifier needs"),
        (["a,x", "b,y"], dict(test="TEST"), r"test.csv, line 3: the test label 'z' is no training text's"),
        (["a,x", "b,y", "c,x"], dict(test_portion=1.5), r"test_portion: 1.5 is not allowed"),
    ],
)
def test_bad_splits_and_classes_are_named_and_nothing_is_written(tmp_path, rows, options, message):
    test = _csv(tmp_path / "test.csv", ["x,x", "y,z"])
    options = {k: test if v == "TEST" else v for k, v in options.items()}
    with pytest.raises(DataError, match=message):
        get_dataset_file(_csv(tmp_path / "t.csv", rows), str(tmp_path / "data"), TextOptions(**options))
    assert not list((tmp_path / "data").iterdir())


def test_a_saved_hugging_face_dataset_with_class_labels_and_splits(tmp_path):
    datasets = pytest.importorskip("datasets", reason="the datasets library (the hf extra) is not installed")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["no", "yes"])})
    train = datasets.Dataset.from_dict({"text": ["yes indeed", "no way", "yes yes"], "label": [1, 0, 1]}, features)
    test = datasets.Dataset.from_dict({"text": ["no"], "label": [0]}, features)
    datasets.DatasetDict(train=train, test=test).save_to_disk(str(tmp_path / "saved"))
    pkl = get_dataset_file(f"hf:{tmp_path / 'saved'}", str(tmp_path / "data"))
    (x, y), (tx, ty) = read_dataset(pkl)
    assert read_classes(classes_beside(pkl)) == ["no", "yes"] and y == [1, 0, 1] and ty == [0]
    assert _words(pkl, x) == ["yes indeed", "no way", "yes yes"] and _words(pkl, tx) == ["no"]
    datasets.Dataset.from_dict({"words": ["a"], "label": [0]}).save_to_disk(str(tmp_path / "other"))
    with pytest.raises(DataError, match=r"no column 'text' in it \(words, label\); name it with --text_column"):
        get_dataset_file(f"hf:{tmp_path / 'other'}", str(tmp_path / "data"))
