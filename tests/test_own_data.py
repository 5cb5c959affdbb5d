"""Your own texts end to end: a three-class task learned through CSV, JSON Lines and class folders, and the
class names through the model's files, ``load_model``, ``predict`` and ``report``; bad input exits 2."""

import csv
import importlib.util
import json
import os
import pathlib

import numpy
import pytest

from lstm_sentiment import predict, report, train
from lstm_sentiment.data.datasets import get_dataset_file
from lstm_sentiment.data.imdb import classes_beside, dictionary_beside, read_classes, read_dataset, read_dictionary
from lstm_sentiment.data.own import TextOptions
from lstm_sentiment.train import train_lstm

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"

# Each class has its marker word; the rest of a text is filler shared by all classes.
MARKERS = {"red": "alpha", "green": "beta", "blue": "gamma"}
FILLER = ["the", "a", "film", "movie", "was", "is", "and", "of", "to", "it", "this", "plot", "story", "scene"]


def three_class_texts(seed, n):
    rng = numpy.random.RandomState(seed)
    rows = []
    for i in range(n):
        label = list(MARKERS)[i % 3]
        words = list(rng.choice(FILLER, size=rng.randint(4, 12)))
        words.insert(rng.randint(len(words)), MARKERS[label])
        rows.append((" ".join(words).capitalize() + ".", label))
    return rows


def write(kind, folder, rows):
    """The rows as a CSV file, a JSON Lines file or a folder of class folders; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        with open(folder / "texts.csv", "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([("text", "label"), *rows])
        return str(folder / "texts.csv")
    if kind == "jsonl":
        lines = [json.dumps({"text": t, "label": y}) for t, y in rows]
        (folder / "texts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return str(folder / "texts.jsonl")
    for i, (text, label) in enumerate(rows):
        (folder / "texts" / label).mkdir(parents=True, exist_ok=True)
        (folder / "texts" / label / f"{i}.txt").write_text(text, encoding="utf-8")
    return str(folder / "texts")


SMALL = dict(dim_proj=16, n_words=40, max_epochs=60, validFreq=50, patience=100, maxlen=0, batch_size=16)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "jsonl", "folder"])
def test_three_classes_are_learned_from_each_format(tmp_path, kind):
    train_rows, test_rows = three_class_texts(0, 450), three_class_texts(1, 90)
    source = write(kind, tmp_path / "train", train_rows)
    test = write(kind, tmp_path / "test", test_rows)
    saveto = str(tmp_path / "m.npz")
    errors = train_lstm(dataset=source, test=test, data_dir=str(tmp_path / "data"), saveto=saveto, **SMALL)
    assert errors[2] < 0.15, errors
    saved = json.loads((tmp_path / "m.npz.json").read_text())
    assert saved["classes"] == ["blue", "green", "red"] and saved["ydim"] == 3


@pytest.fixture(scope="module")
def three_class_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("three")
    source = write("csv", root, three_class_texts(0, 450) + [(t, y) for t, y in three_class_texts(1, 90)])
    saveto = str(root / "m.npz")
    errors = train_lstm(dataset=source, test_portion=0.2, data_dir=str(root / "data"), saveto=saveto, **SMALL)
    assert errors[2] < 0.15, errors
    return saveto


def test_class_names_go_through_load_predict_and_report(three_class_model, capsys):
    from lstm_sentiment import load_model

    model = load_model(three_class_model)
    assert model.classes == ["blue", "green", "red"]
    texts = ["A gamma film.", "The alpha plot.", "It is beta."]
    assert [model.classes[k] for k in model.predict(texts)] == ["blue", "red", "green"]
    assert predict.main(["--model", three_class_model, "--format", "json", *texts]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == ["blue", "red", "green"]
    assert all(set(line["probabilities"]) == {"blue", "green", "red"} for line in lines)
    assert report.main([three_class_model]) == 0
    out = capsys.readouterr().out
    assert "test set: 108 texts, accuracy" in out and "mean absolute error" not in out  # names, not numbers
    matrix = out[out.index("confusion matrix") :].splitlines()
    names = ["blue", "green", "red"]
    assert matrix[1].split() == names and [row.split()[0] for row in matrix[2:5]] == names
    counts = numpy.array([[int(v) for v in row.split()[1:]] for row in matrix[2:5]])
    assert counts.sum() == 108 and numpy.trace(counts) >= 0.85 * 108
    table = out[out.index(" precision ") : out.index("confusion matrix")].splitlines()[1:]
    precision = {line.split()[0]: line.split()[1] for line in table}
    assert precision == {n: f"{counts[k, k] / counts[:, k].sum():.4f}" for k, n in enumerate(names)}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"words,label\nhi,a\n", "texts.csv: no column 'text' in the header ('words', 'label'); name the column"),
        (b"text,label\nhi,a\nho,b,c\n", "texts.csv, line 3: 3 fields where the header has 2"),
        (b"text,label\nhi,a\n\xe9,b\n", "texts.csv, line 3: not UTF-8"),
        (b"text,label\nhi,a\nho,a\n", "every training text has the label 'a'"),
        (b"", "texts.csv: the file is empty"),
    ],
)
def test_bad_texts_are_one_line_exit_2_and_nothing_written(tmp_path, capsys, content, message):
    (tmp_path / "texts.csv").write_bytes(content)
    args = ["--dataset", str(tmp_path / "texts.csv"), "--data_dir", str(tmp_path / "data"), "--test_portion", "0.5"]
    assert train.main([*args, "--saveto", str(tmp_path / "m.npz")]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], errors
    assert sorted(os.listdir(tmp_path)) == ["data", "texts.csv"] and not os.listdir(tmp_path / "data")


def _imdb_to_csv():
    spec = importlib.util.spec_from_file_location("imdb_to_csv", SCRIPTS / "imdb_to_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def real_csvs(real_imdb_archive, tmp_path_factory):
    """The real archive as train.csv and test.csv (scripts/imdb_to_csv.py)."""
    return _imdb_to_csv().write_csvs(real_imdb_archive, str(tmp_path_factory.mktemp("csv")))


@pytest.mark.slow
def test_imdb_as_csv_gives_the_archives_word_ids_and_the_same_model(real_csvs, real_preprocessed, tmp_path):
    train_csv, test_csv = real_csvs
    pkl = get_dataset_file(train_csv, str(tmp_path / "data"), TextOptions(test=test_csv))
    assert read_dataset(pkl) == read_dataset(real_preprocessed[0])
    assert read_dictionary(dictionary_beside(pkl)) == read_dictionary(real_preprocessed[1])
    short = dict(dim_proj=16, n_words=2000, max_epochs=1, validFreq=50, maxlen=100)
    for name, path in (("csv", pkl), ("archive", real_preprocessed[0])):
        train_lstm(dataset=path, saveto=str(tmp_path / f"{name}.npz"), **short)
    with numpy.load(tmp_path / "csv.npz") as a, numpy.load(tmp_path / "archive.npz") as b:
        for key in ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b", "history_errs", "test_confusion"):
            numpy.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.slow
def test_the_star_ratings_are_an_eight_class_task_through_the_csv_path(real_csvs, tmp_path):
    """On 3,000 training and 1,000 test rows (from both ends: positive and negative reviews): the classes in
    order of stars, each text's class its rating in the archive's file name."""
    subset = []
    for path, n in zip(real_csvs, (3000, 1000)):
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        rows = rows[: n // 2 + 1] + rows[-n // 2 :]  # the header, positive reviews, then negative ones
        subset.append(tmp_path / os.path.basename(path))
        with open(subset[-1], "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(rows)
        stars = [int(r[2]) for r in rows[1:]]
        assert set(stars) <= {1, 2, 3, 4, 7, 8, 9, 10}
        assert all((s > 5) == (r[1] == "1") for s, r in zip(stars, rows[1:]))  # 7 to 10 stars: positive
    options = TextOptions(test=str(subset[1]), label_column="stars")
    pkl = get_dataset_file(str(subset[0]), str(tmp_path / "data"), options)
    names = read_classes(classes_beside(pkl))
    assert names == ["1", "2", "3", "4", "7", "8", "9", "10"]
    (_, y), (_, ty) = read_dataset(pkl)
    for path, labels in zip(subset, (y, ty)):
        with open(path, newline="", encoding="utf-8") as f:
            assert [names[k] for k in labels] == [r["stars"] for r in csv.DictReader(f)]
