import gzip
import os
import pickle
import subprocess
import sys

import numpy
import pytest
import sacremoses

from lstm_sentiment.base.errors import DataError
from lstm_sentiment.data import preprocess as preprocessing
from lstm_sentiment.data.tokenize import moses_tokenizer, tokenize_review
from lstm_sentiment.imdb import load_data
from lstm_sentiment.imdb_preprocess import build_dict, grab_data, preprocess

from conftest import REVIEWS, make_acl_imdb


def read_outputs(out):
    with open(os.path.join(out, "imdb.pkl"), "rb") as f:
        train, test = pickle.load(f), pickle.load(f)
    with open(os.path.join(out, "imdb.dict.pkl"), "rb") as f:
        dictionary = pickle.load(f)
    return train, test, dictionary


TRICKY = [
    'Mr. Smith went to Washington. He said: "I\'d do it again" & left.',
    "The U.S.A. is big. e.g. this, i.e. that; No. 5 and no. 6.",
    "3.5 stars... It's <br />a 'cult' film (1977) - really!? 50% off @ $9.99",
    "Ça ne va pas. Élan vital. ÉCOLE. naïve café Mr. Ōno. A. B. c.",
    "Ends with abbreviation etc.",
    "Made in the U.S.A. The end. Seen on T.V. Really. J.R.R. Tolkien wrote it.",
    "A.B.C. Ça va. Inc. Élan. Prof. ÉCOLE. 9.5. Great!",
]


@pytest.mark.parametrize("text", TRICKY + [t for texts in REVIEWS.values() for t in texts])
def test_fast_tokenizer_gives_the_same_tokens_as_sacremoses(text):
    plain = sacremoses.MosesTokenizer(lang="en").tokenize(text, escape=True, return_str=True)
    assert moses_tokenizer().tokenize(text, escape=True, return_str=True) == plain


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_tokenize_review_reads_the_first_line_tokenized_escaped_and_lowercased(newline):
    data = f'I\'d SEE it & "again".<br />Fine.{newline}Second line.'.encode()
    assert tokenize_review(("0_9.txt", data)) == ("i &apos;d see it &amp; &quot; again &quot; . &lt; br / &gt; fine .")


def test_build_dict_orders_by_frequency_then_first_appearance():
    d = build_dict(["b a c", "a c d", "a e"])
    assert d == {"a": 2, "c": 3, "b": 4, "d": 5, "e": 6}
    assert grab_data(["a zz e"], d) == [[2, 1, 6]]


def test_preprocess_writes_the_tutorials_format(acl_imdb, tmp_path):
    out = str(tmp_path / "out")
    pkl, dict_pkl = preprocess(str(acl_imdb), out=out, processes=1)
    assert (pkl, dict_pkl) == (os.path.join(out, "imdb.pkl"), os.path.join(out, "imdb.dict.pkl"))
    (train_x, train_y), (test_x, test_y), dictionary = read_outputs(out)

    assert train_y == [1, 1, 1, 0, 0] and test_y == [1, 0]  # pos first, train before test
    inverse = {i: w for w, i in dictionary.items()}
    words = lambda ids: " ".join(inverse.get(i, "<unk>") for i in ids)
    assert words(train_x[0]) == "a wonderful film . &lt; br / &gt; &lt; br / &gt; i &apos;d see it again &amp; again ."
    assert words(train_x[2]) == "great great film , 10 / 10 ."  # first line only
    # the dictionary comes from the training reviews alone, ids by descending frequency
    assert "zzyzx" not in dictionary and "splendid" not in dictionary
    counts = numpy.bincount([i for x in train_x for i in x])[2:]
    assert counts.min() > 0 and (numpy.diff(counts) <= 0).all()
    assert words(test_x[1]) == "<unk> &amp; <unk> : <unk> <unk> again ."  # dull, boring, zzyzx, never
    assert sorted(dictionary.values()) == list(range(2, len(dictionary) + 2))

    numpy.random.seed(0)
    train, valid, test = load_data(pkl, n_words=10000, valid_portion=0.2)
    assert len(train[0]) + len(valid[0]) == 5 and len(test[0]) == 2


def test_reviews_are_read_in_sorted_name_order(tmp_path):
    reviews = {
        (s, label): [f"review {s} {label} {i}" for i in range(12)]
        for s in ("train", "test")
        for label in ("pos", "neg")
    }
    folder = make_acl_imdb(tmp_path, reviews)
    preprocess(str(folder), out=str(tmp_path / "out"), processes=1)
    (train_x, _), _, dictionary = read_outputs(str(tmp_path / "out"))
    inverse = {i: w for w, i in dictionary.items()}
    numbers = [int(inverse[x[-1]]) for x in train_x[:12]]
    assert numbers == sorted(range(12), key=lambda i: f"{i}_8.txt")  # 0, 1, 10, 11, 2, ...


def test_parallel_and_serial_give_the_same_bytes(acl_imdb, tmp_path):
    preprocess(str(acl_imdb), out=str(tmp_path / "one"), processes=1)
    preprocess(str(acl_imdb), out=str(tmp_path / "two"), processes=2)
    for name in ("imdb.pkl", "imdb.dict.pkl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_archive_and_folder_give_the_same_outputs(acl_imdb, acl_archive, tmp_path):
    preprocess(str(acl_imdb), out=str(tmp_path / "folder"), processes=1)
    preprocess(str(acl_archive), out=str(tmp_path / "archive"), processes=1)
    assert read_outputs(str(tmp_path / "folder")) == read_outputs(str(tmp_path / "archive"))
    assert not (tmp_path / "archive" / "aclImdb").exists()  # read in place, not extracted


def test_unchanged_input_is_reused_and_a_change_rebuilds(acl_imdb, tmp_path, monkeypatch, caplog):
    out = tmp_path / "out"
    preprocess(str(acl_imdb), out=str(out), processes=1)
    built = (out / "imdb.pkl").stat().st_mtime_ns
    caplog.set_level("INFO", logger="lstm_sentiment")

    preprocess(str(acl_imdb), out=str(out), processes=1)
    assert (out / "imdb.pkl").stat().st_mtime_ns == built
    assert "Using cached" in caplog.text

    (acl_imdb / "test" / "neg" / "0_2.txt").write_text("Now a different, longer review text.")
    preprocess(str(acl_imdb), out=str(out), processes=1)
    _, (test_x, _), _ = read_outputs(str(out))
    assert len(test_x[1]) == 8

    rebuilt = (out / "imdb.pkl").stat().st_mtime_ns
    monkeypatch.setitem(preprocessing.SETTINGS, "format", 999)
    preprocess(str(acl_imdb), out=str(out), processes=1)
    assert (out / "imdb.pkl").stat().st_mtime_ns != rebuilt


def test_missing_source_gets_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="nowhere: no such file or folder"):
        preprocess(str(tmp_path / "nowhere"), out=str(tmp_path / "out"))


def test_wrong_layout_names_what_is_missing(tmp_path):
    folder = make_acl_imdb(tmp_path, {k: v for k, v in REVIEWS.items() if k != ("test", "neg")})
    with pytest.raises(DataError, match="no reviews in test/neg"):
        preprocess(str(folder), out=str(tmp_path / "out"))


@pytest.mark.parametrize("processes", [1, 2])
def test_a_review_that_is_not_utf8_is_named_and_nothing_is_written(acl_imdb, tmp_path, processes):
    bad = acl_imdb / "train" / "neg" / "1_2.txt"
    bad.write_bytes(b"caf\xe9 latin-1 text")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"1_2.txt: not UTF-8 text .* at byte 3"):
        preprocess(str(acl_imdb), out=str(out), processes=processes)
    assert not (out / "imdb.pkl").exists() and not (out / "imdb.dict.pkl").exists()


@pytest.mark.slow
def test_command_line(acl_archive, tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.imdb_preprocess", str(acl_archive), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "Reading the reviews in" in done.stderr and "Tokenizing 7 texts" in done.stderr
    assert read_outputs(str(out))[0][1] == [1, 1, 1, 0, 0]

    done = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.imdb_preprocess", str(tmp_path / "no.tar.gz")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "no.tar.gz: no such file or folder" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_real_archive_gives_the_expected_counts(real_preprocessed):
    pkl, dict_pkl = real_preprocessed
    with open(pkl, "rb") as f:
        (train_x, train_y), (test_x, test_y) = pickle.load(f), pickle.load(f)
    with open(dict_pkl, "rb") as f:
        dictionary = pickle.load(f)
    assert (len(train_x), len(test_x)) == (25000, 25000)
    assert sum(train_y) == sum(test_y) == 12500
    # ../shared/data/README.md: one-process sacremoses 0.2.0 over the training reviews
    assert sum(map(len, train_x)) == 7113749
    assert len(dictionary) == 101744
    assert sum(len(x) < 100 for x in train_x) == 2108


@pytest.mark.slow
def test_the_real_archive_matches_the_reference_pickles(real_preprocessed):
    reference = os.environ.get("LSTM_SENTIMENT_IMDB_PKL")
    if not reference:
        pytest.skip("LSTM_SENTIMENT_IMDB_PKL is unset: no reference imdb.pkl.gz to compare with")
    pkl, dict_pkl = real_preprocessed
    with open(pkl, "rb") as ours, gzip.open(reference, "rb") as theirs:
        for _ in range(2):
            a, b = pickle.load(ours), pickle.load(theirs)
            assert a[0] == b[0] and list(a[1]) == list(b[1])
    with open(dict_pkl, "rb") as ours, gzip.open(reference.replace("imdb.pkl", "imdb.dict.pkl"), "rb") as theirs:
        assert pickle.load(ours) == pickle.load(theirs)
