"""The IMDB dataset in the tutorial's format: reading and writing it, splitting and padding.

An ``imdb.pkl`` file holds two consecutive pickles, ``(train_x, train_y)`` then
``(test_x, test_y)``: each review a list of word ids (0 padding, 1 unknown),
each label an int. ``imdb.dict.pkl`` holds the word -> id dictionary. ``.gz``
paths are read and written through gzip.
"""

import contextlib
import gzip
import itertools
import json
import os
import pickle
import re

import numpy

from ..base.errors import DataError
from ..base.files import atomic_write
from ..base.logs import logger
from .batches import length_order, map_unknown


def prepare_data(seqs, labels, maxlen=None, dtype="float32"):
    """Pad a minibatch into time-major arrays.

    Returns ``x`` (maxlen, n_samples) int64, ``mask`` of the same shape in
    ``dtype`` (1 on real steps) and the labels. With ``maxlen``, sequences not
    strictly shorter are dropped, never cut; ``(None, None, None)`` when none
    is left.
    """
    lengths = [len(s) for s in seqs]
    if maxlen is not None:
        kept = [(s, y, n) for s, y, n in zip(seqs, labels, lengths) if n < maxlen]
        if not kept:
            return None, None, None
        seqs, labels, lengths = (list(column) for column in zip(*kept))

    lengths = numpy.asarray(lengths, dtype="int64")
    real = numpy.arange(lengths.max())[:, None] < lengths  # (maxlen, n_samples): the real steps
    x = numpy.zeros(real.shape, dtype="int64")
    x.T[real.T] = numpy.fromiter(itertools.chain.from_iterable(seqs), dtype="int64", count=lengths.sum())
    return x, real.astype(dtype), labels


class _DataUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays only, so a file cannot run code."""

    allowed = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
        }
    )

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _open(path, mode):
    return gzip.open(path, mode) if str(path).endswith(".gz") else open(path, mode)


def read_pickles(path, count, what):
    """Read ``count`` consecutive pickles from ``path``; DataError saying it is not ``what``."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file (expected {what})")
    try:
        with _open(path, "rb") as f:
            unpickler = _DataUnpickler(f, encoding="latin1")
            objects = [unpickler.load() for _ in range(count)]
            while f.read(1 << 20):  # to the end: a .gz file checks its CRC there
                pass
            return objects
    except Exception as e:  # damaged bytes fail in any of the unpickler's ways (TypeError, KeyError, zlib.error...)
        raise DataError(f"{path}: cannot read it as {what}: {e}") from e


def write_pickles(path, *objects):
    """Write ``objects`` as consecutive pickles to ``path``, atomically (gzip if it ends in .gz)."""
    gz = str(path).endswith(".gz")
    with atomic_write(path) as f, gzip.GzipFile(fileobj=f, mode="wb") if gz else contextlib.nullcontext(f) as out:
        for obj in objects:
            pickle.dump(obj, out, pickle.HIGHEST_PROTOCOL)


DATASET = "the tutorial's format, two pickles (train_x, train_y) then (test_x, test_y)"


def _check_split(path, name, split):
    """Raise DataError unless ``split`` is an ``(x, y)`` pair of equal-length sequences."""
    expected = f"{path}: expected {DATASET} with each review a list of word ids"
    if not (isinstance(split, (tuple, list)) and len(split) == 2):
        raise DataError(f"{expected}; the {name} pickle is a {type(split).__name__}")
    x, y = split
    if len(x) != len(y):
        raise DataError(f"{expected}; the {name} set has {len(x)} reviews but {len(y)} labels")
    if len(x) and not hasattr(x[0], "__len__"):
        raise DataError(f"{expected}; the first {name} review is a {type(x[0]).__name__}")


def _check_values(path, name, x, y):
    """Raise DataError unless every review of the split is a non-empty list of word ids (integers
    >= 0) and every label an integer >= 0: anything else would train quietly on wrong numbers."""
    if not len(x):
        raise DataError(f"{path}: the {name} set is empty; it needs at least one review")
    lengths = [len(s) for s in x]
    if 0 in lengths:
        raise DataError(f"{path}: {name} review {lengths.index(0)} is empty; every review needs a word")
    try:
        lowest = min(map(min, x))
        total = sum(map(sum, x))  # an int unless some id is not: a float id makes the sum a float
    except TypeError as e:
        raise DataError(f"{path}: the {name} reviews are not all lists of word ids ({e})") from None
    if not isinstance(total, (int, numpy.integer)) or lowest < 0:
        bad = lowest if lowest < 0 else type(total).__name__
        raise DataError(f"{path}: the {name} reviews have word ids that are not integers >= 0 ({bad})")
    bad = [label for label in y if not (isinstance(label, (int, numpy.integer)) and label >= 0)]
    if bad:
        raise DataError(f"{path}: the {name} labels must be integers >= 0 (class numbers), not {bad[0]!r}")


def _check_classes(path, train_y, test_y):
    """Raise DataError unless the training labels are the classes 0..k-1, each present (a label of
    10**6 would build a classifier of a million classes); warn of test labels not among them."""
    classes = {int(label) for label in train_y}
    if len(classes) != max(classes) + 1:
        missing = list(itertools.islice((c for c in itertools.count() if c not in classes), 3))
        raise DataError(
            f"{path}: the training labels must be the classes 0 to {max(classes)}, each present; "
            f"no review has {', '.join(map(str, missing))}{', ...' if len(classes) + 3 < max(classes) + 1 else ''}"
        )
    unknown = sorted({int(label) for label in test_y} - classes)
    if unknown:
        logger.warning("%s: test labels %s are classes no training review has: never predicted", path, unknown[:5])


def read_dataset(path):
    """The ``(train, test)`` splits of an imdb.pkl, each an ``(x, y)`` pair, checked."""
    train, test = read_pickles(path, 2, DATASET)
    for name, split in (("train", train), ("test", test)):
        _check_split(path, name, split)
        _check_values(path, name, *split)
    _check_classes(path, train[1], test[1])
    return train, test


def write_dataset(path, train, test):
    """Write an imdb.pkl: ``train`` then ``test``, each an ``(x, y)`` pair."""
    write_pickles(path, train, test)


def dictionary_beside(path):
    """The path of the word dictionary beside a dataset (``imdb.dict.pkl`` for ``imdb.pkl``)."""
    return re.sub(r"\.pkl(\.gz)?$", r".dict.pkl\1", str(path))


def read_dictionary(path):
    """The word -> id dictionary of an ``imdb.dict.pkl``."""
    (dictionary,) = read_pickles(path, 1, "the tutorial's word dictionary (a pickled dict of word -> id)")
    if not isinstance(dictionary, dict):
        raise DataError(f"{path}: expected a pickled dict of word -> id, found a {type(dictionary).__name__}")
    return dictionary


def write_dictionary(path, dictionary):
    """Write an ``imdb.dict.pkl``, in the tutorial's format."""
    write_pickles(path, dictionary)


def classes_beside(path):
    """The path of the class names beside a dataset (``tickets.classes.json`` for ``tickets.pkl``)."""
    return re.sub(r"\.pkl(\.gz)?$", ".classes.json", str(path))


def read_classes(path):
    """The class names (class 0 first) of a ``.classes.json``."""
    try:
        with open(path, encoding="utf-8") as f:
            names = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read it as the class names of a dataset ({e})") from None
    if not (isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names)):
        raise DataError(f"{path}: expected a JSON list of two or more class names")
    return names


def write_classes(path, names):
    """Write a ``.classes.json``: the class names, class 0 first."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(list(names), f, ensure_ascii=False)


def load_data(path="imdb.pkl", n_words=100000, valid_portion=0.1, maxlen=None, sort_by_len=True):
    """Load the dataset and split off a validation set, as the tutorial does.

    ``maxlen`` filters the training set only (before the split); the split
    draws a ``numpy.random.permutation``; word ids >= ``n_words`` become 1
    (unknown; ``n_words=None`` keeps every id); with ``sort_by_len`` every
    split is sorted by review length, which makes evaluation batches need
    little padding.
    """
    train_set, test_set = read_dataset(path)
    if maxlen:
        kept = [i for i, x in enumerate(train_set[0]) if len(x) < maxlen]
        train_set = ([train_set[0][i] for i in kept], [train_set[1][i] for i in kept])

    # split the training set into training and validation sets
    train_set_x, train_set_y = train_set
    n_samples = len(train_set_x)
    sidx = numpy.random.permutation(n_samples)
    n_train = int(numpy.round(n_samples * (1.0 - valid_portion)))
    valid = ([train_set_x[s] for s in sidx[n_train:]], [train_set_y[s] for s in sidx[n_train:]])
    train = ([train_set_x[s] for s in sidx[:n_train]], [train_set_y[s] for s in sidx[:n_train]])

    def prepare(split):
        x, y = split[0] if n_words is None else map_unknown(split[0], n_words), list(split[1])
        if sort_by_len:
            order = length_order(x)
            x, y = [x[i] for i in order], [y[i] for i in order]
        return x, y

    return prepare(train), prepare(valid), prepare(test_set)
