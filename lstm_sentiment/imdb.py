"""The IMDB dataset in the tutorial's format: loading, splitting and padding.

An ``imdb.pkl`` file holds two consecutive pickles, ``(train_x, train_y)`` then
``(test_x, test_y)``: each review a list of word ids (0 padding, 1 unknown),
each label an int. ``.gz`` paths are read through gzip.
"""

import gzip
import os
import pickle
import re

import numpy


class DataError(ValueError):
    """A dataset file that is missing or not in the tutorial's format."""


def data_dir():
    """The folder where datasets and caches go: ``$LSTM_SENTIMENT_DATA`` or ``./data``."""
    return os.environ.get("LSTM_SENTIMENT_DATA", "data")


ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def get_dataset_file(dataset="imdb", folder=None):
    """The path of the imdb.pkl to train on, building it first when needed.

    ``dataset`` is ``"imdb"`` (``imdb.pkl`` in the data folder, built there from
    the official archive when missing), an ``imdb.pkl`` path (``.gz`` too), an
    ``aclImdb`` folder, an ``aclImdb_v1.tar.gz`` archive or a URL; the last three
    are preprocessed into the data folder, reusing earlier outputs.
    """
    from .fetch import OFFICIAL_URL, is_url
    from .imdb_preprocess import preprocess

    folder = folder or data_dir()
    if dataset == "imdb":
        path = os.path.join(folder, "imdb.pkl")
        if os.path.isfile(path):
            return path
        dataset = OFFICIAL_URL
    if is_url(dataset) or os.path.isdir(dataset) or str(dataset).endswith(ARCHIVE_SUFFIXES):
        return preprocess(dataset, out=folder)[0]
    if not os.path.isfile(dataset):
        raise DataError(
            f"{dataset}: no such file or folder (expected an imdb.pkl, an aclImdb folder, "
            f"an aclImdb_v1.tar.gz archive or a URL)"
        )
    return dataset


def prepare_data(seqs, labels, maxlen=None):
    """Pad a minibatch into time-major arrays.

    Returns ``x`` (maxlen, n_samples) int64, ``mask`` of the same shape in
    floatX (1 on real steps) and the labels. With ``maxlen``, sequences not
    strictly shorter are dropped, never cut; ``(None, None, None)`` when none
    is left.
    """
    lengths = [len(s) for s in seqs]

    if maxlen is not None:
        kept = [(s, y, n) for s, y, n in zip(seqs, labels, lengths) if n < maxlen]
        if not kept:
            return None, None, None
        seqs, labels, lengths = (list(column) for column in zip(*kept))

    from .backend import config  # the package's floatX; imported here so that loading data needs no PyTensor

    n_samples = len(seqs)
    maxlen = numpy.max(lengths)

    x = numpy.zeros((maxlen, n_samples), dtype="int64")
    x_mask = numpy.zeros((maxlen, n_samples), dtype=config.floatX)
    for idx, s in enumerate(seqs):
        x[: lengths[idx], idx] = s
        x_mask[: lengths[idx], idx] = 1.0

    return x, x_mask, labels


class _DataUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only, so a file cannot run code."""

    allowed = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_pickles(path, count):
    """Read ``count`` consecutive pickles from ``path`` (gzip if it ends in .gz)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        unpickler = _DataUnpickler(f, encoding="latin1")
        return [unpickler.load() for _ in range(count)]


def _check_split(path, name, split):
    """Raise DataError unless ``split`` is an ``(x, y)`` pair of equal-length sequences."""
    expected = (
        f"{path}: expected the tutorial's format, two pickles (train_x, train_y) then "
        f"(test_x, test_y) with each review a list of word ids"
    )
    if not (isinstance(split, (tuple, list)) and len(split) == 2):
        raise DataError(f"{expected}; the {name} pickle is a {type(split).__name__}")
    x, y = split
    if len(x) != len(y):
        raise DataError(f"{expected}; the {name} set has {len(x)} reviews but {len(y)} labels")
    if len(x) and not hasattr(x[0], "__len__"):
        raise DataError(f"{expected}; the first {name} review is a {type(x[0]).__name__}")


def load_dictionary_beside(path):
    """The word -> id dictionary beside a dataset (``imdb.dict.pkl`` for ``imdb.pkl``), or None."""
    candidate = re.sub(r"\.pkl(\.gz)?$", r".dict.pkl\1", str(path))
    if candidate == str(path) or not os.path.isfile(candidate):
        return None
    try:
        (dictionary,) = read_pickles(candidate, 1)
    except (pickle.UnpicklingError, EOFError, OSError, ValueError) as e:
        raise DataError(f"{candidate}: cannot read it as the tutorial's word dictionary: {e}") from e
    if not isinstance(dictionary, dict):
        raise DataError(f"{candidate}: expected a pickled dict of word -> id, found a {type(dictionary).__name__}")
    return dictionary


def load_data(path="imdb.pkl", n_words=100000, valid_portion=0.1, maxlen=None, sort_by_len=True):
    """Load the dataset and split off a validation set, as the tutorial does.

    ``maxlen`` filters the training set only (before the split); the split
    draws a ``numpy.random.permutation``; word ids >= ``n_words`` become 1
    (unknown); with ``sort_by_len`` every split is sorted by review length,
    which makes evaluation batches need little padding.
    """
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such dataset file (expected an imdb.pkl in the tutorial's format)")
    try:
        train_set, test_set = read_pickles(path, 2)
    except (pickle.UnpicklingError, EOFError, OSError, ValueError, AttributeError, ImportError) as e:
        raise DataError(
            f"{path}: cannot read it as the tutorial's format, two pickles "
            f"(train_x, train_y) then (test_x, test_y): {e}"
        ) from e
    _check_split(path, "train", train_set)
    _check_split(path, "test", test_set)

    if maxlen:
        kept = [i for i, x in enumerate(train_set[0]) if len(x) < maxlen]
        train_set = ([train_set[0][i] for i in kept], [train_set[1][i] for i in kept])

    # split the training set into training and validation sets
    train_set_x, train_set_y = train_set
    n_samples = len(train_set_x)
    sidx = numpy.random.permutation(n_samples)
    n_train = int(numpy.round(n_samples * (1.0 - valid_portion)))
    valid_set_x = [train_set_x[s] for s in sidx[n_train:]]
    valid_set_y = [train_set_y[s] for s in sidx[n_train:]]
    train_set_x = [train_set_x[s] for s in sidx[:n_train]]
    train_set_y = [train_set_y[s] for s in sidx[:n_train]]
    test_set_x, test_set_y = test_set

    def remove_unk(x):
        return [[1 if w >= n_words else w for w in sen] for sen in x]

    def sort_split(x, y):
        if sort_by_len:
            order = sorted(range(len(x)), key=lambda i: len(x[i]))
            x, y = [x[i] for i in order], [y[i] for i in order]
        return x, list(y)

    train = sort_split(remove_unk(train_set_x), train_set_y)
    valid = sort_split(remove_unk(valid_set_x), valid_set_y)
    test = sort_split(remove_unk(test_set_x), test_set_y)
    return train, valid, test
