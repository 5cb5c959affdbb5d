import gzip
import os
import pickle

import numpy
import pytest

from lstm_sentiment.base.errors import DataError
from lstm_sentiment.imdb import load_data, prepare_data, read_dataset

from conftest import write_pkl


def test_prepare_data_pads_time_major_with_mask():
    x, mask, y = prepare_data([[5, 6, 7], [8], [9, 10]], [1, 0, 1])
    assert x.dtype == numpy.int64 and x.shape == (3, 3)
    assert mask.dtype == "float32"
    numpy.testing.assert_array_equal(x, [[5, 8, 9], [6, 0, 10], [7, 0, 0]])
    numpy.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 1], [1, 0, 0]])
    assert list(y) == [1, 0, 1]


def test_prepare_data_drops_sequences_not_strictly_shorter_than_maxlen():
    x, mask, y = prepare_data([[1, 2, 3], [4, 5], [6]], [0, 1, 0], maxlen=3)
    assert x.shape == (2, 2)  # [1, 2, 3] has length 3, not < 3: dropped, not cut
    numpy.testing.assert_array_equal(x, [[4, 6], [5, 0]])
    assert list(y) == [1, 0]


def test_prepare_data_returns_nones_when_nothing_is_left():
    assert prepare_data([[1, 2], [3, 4, 5]], [0, 1], maxlen=2) == (None, None, None)


def _dataset(tmp_path, name="d.pkl"):
    train_x = [[2] * n for n in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10)]
    train_x[0] = [2, 50, 3, 10, 4]  # ids >= n_words (10) below
    train_y = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    test_x = [[3] * n for n in (4, 2, 6)]
    test_x[1] = [99, 5]
    test_y = [1, 0, 1]
    return write_pkl(tmp_path / name, (train_x, train_y), (test_x, test_y)), train_x, train_y


def test_load_data_filters_splits_maps_unknown_and_sorts(tmp_path):
    path, train_x, train_y = _dataset(tmp_path)
    numpy.random.seed(7)
    train, valid, test = load_data(path, n_words=10, valid_portion=0.25, maxlen=9)

    # maxlen keeps training reviews strictly shorter than 9, and filters nothing else
    kept = [i for i, x in enumerate(train_x) if len(x) < 9]
    assert len(train[0]) + len(valid[0]) == len(kept) == 8
    assert len(test[0]) == 3

    # the split is the tutorial's: a permutation drawn after seeding
    numpy.random.seed(7)
    sidx = numpy.random.permutation(len(kept))
    n_train = int(numpy.round(len(kept) * 0.75))
    expected_valid = sorted(len(train_x[kept[s]]) for s in sidx[n_train:])
    assert [len(x) for x in valid[0]] == expected_valid
    assert len(train[0]) == n_train

    # ids >= n_words become 1 (unknown), in every split
    everything = [w for split in (train, valid, test) for x in split[0] for w in x]
    assert max(everything) < 10
    assert [1, 5] in test[0]
    assert [2, 1, 3, 1, 4] in train[0] + valid[0]  # 10 is unknown too
    numpy.random.seed(7)
    whole = load_data(path, n_words=None, valid_portion=0.25, maxlen=9)  # None: every id kept
    assert [2, 50, 3, 10, 4] in whole[0][0] + whole[1][0] and [99, 5] in whole[2][0]

    # every split sorted by length, labels following their reviews
    for x, y in (train, valid, test):
        assert [len(r) for r in x] == sorted(len(r) for r in x)
        assert len(x) == len(y)
    for x, y in zip(*train):
        assert y == train_y[[len(r) for r in train_x].index(len(x))]


def test_load_data_reads_gzip(tmp_path):
    path, _, _ = _dataset(tmp_path)
    with open(path, "rb") as f, gzip.open(path + ".gz", "wb") as g:
        g.write(f.read())
    numpy.random.seed(1)
    a = load_data(path, n_words=10)
    numpy.random.seed(1)
    b = load_data(path + ".gz", n_words=10)
    assert a == b


def test_a_flipped_byte_in_an_imdb_pkl_gz_is_an_error_or_changes_nothing(tmp_path):
    """The gzip CRC is checked (the file is read to its end): damage never reads as other reviews."""
    from lstm_sentiment.data.imdb import read_dataset, write_dataset

    rng = numpy.random.RandomState(1)
    train = ([list(rng.randint(2, 5000, size=50)) for _ in range(300)], list(rng.randint(0, 2, size=300)))
    test = ([list(rng.randint(2, 5000, size=50)) for _ in range(100)], list(rng.randint(0, 2, size=100)))
    good = tmp_path / "imdb.pkl.gz"
    write_dataset(str(good), train, test)
    expected = read_dataset(str(good))
    data, damaged, errors = good.read_bytes(), tmp_path / "damaged.pkl.gz", 0
    for at in range(20, len(data) - 8, max(1, len(data) // 120)):
        copy = bytearray(data)
        copy[at] ^= 0x5A
        damaged.write_bytes(bytes(copy))
        try:
            assert read_dataset(str(damaged)) == expected
        except DataError as e:
            assert "damaged.pkl.gz" in str(e)
            errors += 1
    assert errors > 100


def test_load_data_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "nope.pkl")
    with pytest.raises(DataError, match=r"nope.pkl: no such file \(expected the tutorial.s format"):
        load_data(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a pickle at all", "cannot read it as the tutorial's format"),
        (pickle.dumps(([[1, 2]], [0])), "cannot read it"),  # one pickle, not two
        (pickle.dumps({"a": 1}) + pickle.dumps(([[1]], [0])), "the train pickle is a dict"),
        (pickle.dumps(([[1, 2]], [0, 1])) + pickle.dumps(([[1]], [0])), "1 reviews but 2 labels"),
        (pickle.dumps(([1, 2], [0, 1])) + pickle.dumps(([[1]], [0])), "first train review is a int"),
    ],
)
def test_load_data_malformed_file_gets_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as e:
        load_data(str(path))
    assert str(path) in str(e.value)


GOOD_TRAIN, GOOD_TEST = ([[2, 3], [4]], [1, 0]), ([[5]], [1])


@pytest.mark.parametrize(
    "train, test, message",
    [
        (([[2, 3], []], [1, 0]), GOOD_TEST, "train review 1 is empty; every review needs a word"),
        (GOOD_TRAIN, ([[]], [1]), "test review 0 is empty"),
        (([[2, -3], [4]], [1, 0]), GOOD_TEST, r"train reviews have word ids that are not integers >= 0 \(-3\)"),
        (([[2, 3.5], [4]], [1, 0]), GOOD_TEST, r"not integers >= 0 \(float\)"),
        (GOOD_TRAIN, ([["good"]], [1]), "the test reviews are not all lists of word ids"),
        (([[2, 3], [4]], [1, -1]), GOOD_TEST, "train labels must be integers >= 0 .class numbers., not -1"),
        (([[2, 3], [4]], [1, 0.5]), GOOD_TEST, "not 0.5"),
        (
            ([[2, 3], [4]], [1, 10**12]),
            GOOD_TEST,
            "labels must be the classes 0 to 1000000000000, each present; no review has 0, 2, 3, ...",
        ),
        (([], []), GOOD_TEST, "the train set is empty"),
        (GOOD_TRAIN, ([], []), "the test set is empty"),
    ],
)
def test_bad_values_in_a_dataset_are_named_where_it_is_read(tmp_path, train, test, message):
    path = write_pkl(tmp_path / "bad.pkl", train, test)
    with pytest.raises(DataError, match=message):
        read_dataset(path)


def test_test_labels_that_no_training_review_has_are_a_warning(tmp_path, caplog):
    path = write_pkl(tmp_path / "odd.pkl", GOOD_TRAIN, ([[5], [6]], [2, 1]))
    assert read_dataset(path)[1] == ([[5], [6]], [2, 1])
    assert "odd.pkl: test labels [2] are classes no training review has: never predicted" in caplog.text


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_data_refuses_pickles_that_would_run_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Evil()) + pickle.dumps(([[1]], [0])))
    with pytest.raises(DataError, match="refusing to load"):
        load_data(str(path))


def test_load_data_accepts_numpy_arrays(tmp_path):
    train = ([numpy.array([2, 3]), numpy.array([4])], numpy.array([1, 0]))
    test = ([numpy.array([5, 6, 7])], numpy.array([1]))
    path = write_pkl(tmp_path / "np.pkl", train, test)
    numpy.random.seed(0)
    tr, va, te = load_data(path, valid_portion=0.5)
    assert te == ([[5, 6, 7]], [1])
    assert sorted(map(len, tr[0] + va[0])) == [1, 2]


@pytest.mark.slow
def test_load_data_on_the_real_reviews(real_imdb_pkl):
    numpy.random.seed(123)
    train, valid, test = load_data(real_imdb_pkl, n_words=10000, valid_portion=0.05, maxlen=100)
    # ../shared/data/README.md: 2,108 training reviews are shorter than 100 tokens
    assert (len(train[0]), len(valid[0]), len(test[0])) == (2003, 105, 25000)
    assert sum(test[1]) == 12500
    assert max(w for x in train[0] + test[0] for w in x) == 9999
    assert all(len(x) < 100 for x in train[0] + valid[0])


def test_load_data_without_sort_by_len_keeps_the_splits_order(tmp_path):
    path, train_x, _ = _dataset(tmp_path)
    numpy.random.seed(7)
    train, valid, test = load_data(path, n_words=100, valid_portion=0.3, sort_by_len=False)
    numpy.random.seed(7)
    sidx = numpy.random.permutation(len(train_x))
    n_train = int(numpy.round(len(train_x) * 0.7))
    assert train[0] == [train_x[s] for s in sidx[:n_train]]
    assert valid[0] == [train_x[s] for s in sidx[n_train:]]
    assert [len(x) for x in test[0]] == [4, 2, 6]  # as in the file
