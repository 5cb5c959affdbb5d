"""Minibatches: the tutorial's ``get_minibatches_idx``, unknown words, and length order."""

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


def length_order(seqs):
    """The indices of ``seqs`` from shortest to longest (stable): batches in this order pad little."""
    return sorted(range(len(seqs)), key=lambda i: len(seqs[i]))


def sorted_minibatches(seqs, minibatch_size):
    """``get_minibatches_idx`` over ``seqs`` in length order: evaluation batches with little padding."""
    order = numpy.asarray(length_order(seqs), dtype="int64")
    return [(n, order[idx]) for n, idx in get_minibatches_idx(len(seqs), minibatch_size)]
