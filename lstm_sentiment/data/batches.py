"""Minibatches: the tutorial's ``get_minibatches_idx``, unknown words, the vocabulary's ranks, and length order."""

import itertools

import numpy


def get_minibatches_idx(n, minibatch_size, shuffle=False):
    """Split ``range(n)`` into minibatches of indices, shuffled by numpy's global RNG.

    Returns a list of ``(minibatch number, indices)`` pairs, so that it can be
    walked more than once (the tutorial's ``zip`` was spent after one pass).
    """
    idx_list = numpy.arange(n, dtype="int32")
    if shuffle:
        numpy.random.shuffle(idx_list)
    minibatches = [idx_list[start : start + minibatch_size] for start in range(0, n, minibatch_size)]
    return list(enumerate(minibatches))


def map_unknown(seqs, n_words):
    """Each sequence with the word ids >= ``n_words`` replaced by 1 (unknown)."""
    return [[1 if w >= n_words else w for w in seq] for seq in seqs]


VOCAB_BY = ("count", "reviews")


def rank_by_reviews(train_x, size):
    """New word ids for ids below ``size``: ``new[old]``, the words ranked by the number of reviews of
    ``train_x`` (an iterable of reviews) that hold them (ties by the old id, which ranks by count), 0
    (padding) and 1 (unknown) kept.
    The first ``n_words`` are then the words of the most reviews: a name that one movie's reviews repeat
    ranks by its few reviews, not by its many places."""
    reviews = numpy.zeros(size, dtype="int64")
    for review in train_x:
        reviews[list(set(review))] += 1  # each of the review's words once
    ids = numpy.arange(2, size)
    order = ids[numpy.lexsort((ids, -reviews[2:]))]  # most reviews first, then the old order
    new = numpy.arange(size, dtype="int64")
    new[order] = ids
    return new


def renumber(seqs, new):
    """Each sequence with its word ids replaced by ``new[id]``, as lists of Python ints (one int object per
    id, shared: a list per review costs its pointers only)."""
    table = numpy.asarray(new).tolist()
    return [[table[w] for w in seq] for seq in seqs]


def length_order(seqs):
    """The indices of ``seqs`` from shortest to longest (stable): batches in this order pad little."""
    return sorted(range(len(seqs)), key=lambda i: len(seqs[i]))


def sorted_minibatches(seqs, minibatch_size):
    """``get_minibatches_idx`` over ``seqs`` in length order: evaluation batches with little padding."""
    order = numpy.asarray(length_order(seqs), dtype="int64")
    return [(n, order[idx]) for n, idx in get_minibatches_idx(len(seqs), minibatch_size)]


KEEP = ("head", "tail", "random")


def truncate(seqs, length, keep="head"):
    """Each sequence longer than ``length`` cut to ``length`` words: its first (``keep="head"``), its
    last (``"tail"``), or a window drawn from numpy's global RNG (``"random"``)."""
    if keep not in KEEP:
        raise ValueError(f"truncate: keep must be one of {KEEP}, not {keep!r}")
    cut = []
    for s in seqs:
        if len(s) > length:
            extra = len(s) - length
            start = 0 if keep == "head" else extra if keep == "tail" else numpy.random.randint(extra + 1)
            s = s[start : start + length]
        cut.append(s)
    return cut


def drop_words(seqs, p):
    """Each word replaced by the unknown word (1) with probability ``p``, drawn from numpy's global RNG:
    word dropout, so that training cannot lean on any one word."""
    if p == 0 or not seqs:
        return seqs
    lengths = [len(s) for s in seqs]
    words = numpy.fromiter(itertools.chain.from_iterable(seqs), dtype="int64", count=sum(lengths))
    words[numpy.random.rand(len(words)) < p] = 1  # one draw for the batch: the draws of review after review
    return [part.tolist() for part in numpy.split(words, numpy.cumsum(lengths)[:-1])]


def bucketed_minibatches_idx(lengths, minibatch_size, pool):
    """Shuffled minibatches of reviews of similar length, drawn from numpy's global RNG.

    The reviews are shuffled and cut into pools of ``pool`` minibatches; each
    pool is sorted by length (stable) and cut into minibatches, so that a
    minibatch pads little; then the full minibatches are shuffled, and the one
    short minibatch, if any, comes last. Same seed, same minibatches. Returns
    ``(minibatch number, indices)`` pairs, like ``get_minibatches_idx``.
    """
    lengths = numpy.asarray(lengths)
    idx_list = numpy.random.permutation(len(lengths)).astype("int32")
    size = pool * minibatch_size
    batches = []
    for start in range(0, len(idx_list), size):
        chunk = idx_list[start : start + size]
        chunk = chunk[numpy.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + minibatch_size] for i in range(0, len(chunk), minibatch_size)]
    full = [b for b in batches if len(b) == minibatch_size]
    short = [b for b in batches if len(b) < minibatch_size]
    full = [full[i] for i in numpy.random.permutation(len(full))]
    return list(enumerate(full + short))
