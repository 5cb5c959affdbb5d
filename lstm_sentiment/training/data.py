"""The run's data as ``train_lstm`` reads it: the splits, and each epoch's minibatches.

No PyTensor here: the benchmark's PyTorch side takes its minibatches from
this module too, so that both sides train on what ``train_lstm`` trains on.
"""

import dataclasses
import functools
import hashlib
import itertools
import os

import numpy

from ..base.errors import OptionError
from ..base.logs import logger
from ..data.batches import (
    bucketed_minibatches_idx,
    drop_words,
    get_minibatches_idx,
    rank_by_reviews,
    renumber,
    truncate,
)
from ..data.datasets import get_dataset_file
from ..data.imdb import classes_beside, dictionary_beside, load_data, read_classes, read_dictionary
from ..model import files


@dataclasses.dataclass
class Splits:
    """The run's data: each split as (reviews, labels), the dataset's path, its word dictionary and its class
    names (None for IMDB's pkl: 0 negative, 1 positive)."""

    train: tuple
    valid: tuple
    test: tuple
    path: str
    dictionary: dict | None
    classes: list | None = None

    @property
    def ydim(self):
        """The number of classes: the dataset's class names, else the training labels' largest, plus one."""
        return len(self.classes) if self.classes else int(numpy.max(self.train[1])) + 1

    @property
    def sizes(self):
        return [len(self.train[0]), len(self.valid[0]), len(self.test[0])]

    @functools.cached_property
    def dictionary_json(self):
        """The word dictionary as the model's ``.dict.json`` holds it (None without one), encoded once a run."""
        return None if self.dictionary is None else files.dictionary_json(self.dictionary)

    @functools.cached_property
    def digest(self):
        """The SHA-256 of the splits' reviews and labels as the run reads them: a checkpoint records it, and
        a resume on other data (the same sizes, other words) is refused."""
        h = hashlib.sha256()
        for reviews, labels in (self.train, self.valid, self.test):
            h.update(numpy.array([len(r) for r in reviews], dtype=numpy.int64).tobytes())
            for start in range(0, len(reviews), 256):  # in blocks: no copy of the whole split at once
                words = itertools.chain.from_iterable(reviews[start : start + 256])
                h.update(numpy.fromiter(words, dtype=numpy.int64).tobytes())
            h.update(numpy.asarray(labels, dtype=numpy.int64).tobytes())
        return h.hexdigest()


def load_splits(options):
    """The dataset of ``options``, split, filtered and subset as the tutorial does."""
    path = get_dataset_file(options.dataset, options.data_dir, options.text_options())
    beside = dictionary_beside(path)
    dictionary = read_dictionary(beside) if beside != path and os.path.isfile(beside) else None
    named = classes_beside(path)
    classes = read_classes(named) if named != path and os.path.isfile(named) else None
    logger.info("Loading data from %s", path)
    by_reviews = options.vocab_by == "reviews"  # then the words are ranked again before the cut at n_words
    train, valid, test = load_data(
        path,
        n_words=None if by_reviews else options.n_words,
        valid_portion=options.valid_portion,
        maxlen=options.maxlen,
    )
    if not train[0] or not valid[0]:
        raise OptionError(
            f"maxlen: {options.maxlen} leaves {len(train[0])} training and {len(valid[0])} "
            f"validation reviews in {path}; raise maxlen (0 keeps every review)"
        )
    if by_reviews:
        train, valid, test, dictionary = _by_reviews((train, valid, test), dictionary, options.n_words)
    if options.test_size > 0:
        if options.test_size > len(test[0]):
            raise OptionError(f"test_size: {options.test_size} is larger than the test set ({len(test[0])} reviews)")
        # The test set is sorted by size, but we want to keep random size examples.
        idx = numpy.arange(len(test[0]))
        numpy.random.shuffle(idx)
        idx = idx[: options.test_size]
        test = ([test[0][n] for n in idx], [test[1][n] for n in idx])
    if options.truncate:

        def cut(split):
            return truncate(split[0], options.truncate, options.truncate_keep), split[1]

        if options.truncate_keep != "random":  # random windows are drawn for each minibatch, in training
            train = cut(train)
        if options.truncate_eval:
            valid, test = cut(valid), cut(test)
    return Splits(train=train, valid=valid, test=test, path=path, dictionary=dictionary, classes=classes)


def _by_reviews(splits, dictionary, n_words):
    """The splits and the dictionary with the words ranked by the training reviews that hold them
    (``vocab_by=reviews``), ids from n_words on then unknown. The validation reviews count too, as the
    tutorial's dictionary counts them: the ranks are the dataset's, the same whatever the seed's split."""
    ids = [max(review) for x, _ in splits for review in x if review] + list((dictionary or {}).values())
    new = rank_by_reviews(itertools.chain(splits[0][0], splits[1][0]), max(ids, default=1) + 1)
    kept = numpy.where(new < n_words, new, 1)  # renumbered and cut in one pass
    splits = [(renumber(x, kept), y) for x, y in splits]
    return (*splits, dictionary and {word: int(new[i]) for word, i in dictionary.items()})


def epoch_order(train, o):
    """A new shuffled order of the training reviews for one epoch (NumPy's global RNG): the tutorial's
    random minibatches, or, with ``bucket``, minibatches of similar length. Minibatch i is
    ``order[i * batch_size : (i + 1) * batch_size]``."""
    if o.bucket:
        lengths = [min(len(s), o.truncate or len(s)) for s in train[0]]
        kf = bucketed_minibatches_idx(lengths, o.batch_size, o.bucket)
    else:
        kf = get_minibatches_idx(len(train[0]), o.batch_size, shuffle=True)
    return numpy.concatenate([idx for _, idx in kf])


def minibatch(train, index, o):
    """The reviews and labels of one training minibatch, as the model sees them: a new random window of
    each long review (``truncate_keep=random``), then word dropout (NumPy's global RNG)."""
    reviews = [train[0][t] for t in index]
    if o.truncate and o.truncate_keep == "random":
        reviews = truncate(reviews, o.truncate, "random")  # a new window of each review in every epoch
    return drop_words(reviews, o.word_dropout), [train[1][t] for t in index]
