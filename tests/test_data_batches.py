"""Minibatches: truncation of long reviews, length-bucketed shuffled minibatches, word dropout and the
vocabulary's ranks."""

import numpy
import pytest

from lstm_sentiment.data.batches import (
    bucketed_minibatches_idx,
    drop_words,
    get_minibatches_idx,
    rank_by_reviews,
    renumber,
    truncate,
)


def test_truncate_keeps_the_first_or_the_last_words_of_longer_reviews_only():
    seqs = [[1, 2, 3, 4, 5], [6, 7, 8], [9], []]
    assert truncate(seqs, 3, "head") == [[1, 2, 3], [6, 7, 8], [9], []]
    assert truncate(seqs, 3, "tail") == [[3, 4, 5], [6, 7, 8], [9], []]
    assert truncate(seqs, 1, "tail") == [[5], [8], [9], []]
    assert seqs == [[1, 2, 3, 4, 5], [6, 7, 8], [9], []]  # the input is left as it was


def test_random_windows_are_contiguous_cover_every_start_and_follow_the_seed():
    review = list(range(10))
    numpy.random.seed(0)
    windows = [truncate([review, [1, 2]], 4, "random") for _ in range(200)]
    assert all(short == [1, 2] for _, short in windows)  # shorter reviews are kept whole
    starts = {w[0] for w, _ in windows}
    assert starts == set(range(7))  # every window of 4 in 10 words, from 0 to 6
    assert all(w == review[w[0] : w[0] + 4] for w, _ in windows)
    numpy.random.seed(0)
    assert [truncate([review, [1, 2]], 4, "random") for _ in range(200)] == windows


def test_truncate_refuses_an_unknown_end():
    with pytest.raises(ValueError, match="keep must be one of"):
        truncate([[1, 2]], 1, "middle")


def test_word_dropout_replaces_words_by_the_unknown_word_at_its_rate_and_follows_the_seed():
    seqs = [list(range(2, 1002)), list(range(5, 505)), [7]]
    numpy.random.seed(3)
    dropped = drop_words(seqs, 0.3)
    assert [len(s) for s in dropped] == [1000, 500, 1]  # the same positions, some words now 1
    kept = [[w == v for w, v in zip(d, s)] for d, s in zip(dropped, seqs)]
    assert all(w == 1 for d, k in zip(dropped, kept) for w, same in zip(d, k) if not same)
    rate = 1 - numpy.mean(kept[0] + kept[1])
    assert 0.26 < rate < 0.34, rate  # 1,500 draws at 0.3: 4 standard deviations either side
    assert all(isinstance(w, int) for d in dropped for w in d)
    numpy.random.seed(3)
    assert drop_words(seqs, 0.3) == dropped
    assert drop_words(seqs, 0) is seqs and seqs[0][0] == 2  # off: nothing drawn, nothing changed


def test_rank_by_reviews_ranks_words_by_the_reviews_that_hold_them_then_by_their_old_ids():
    rng = numpy.random.RandomState(4)
    train = [list(rng.randint(2, 60, size=rng.randint(1, 30))) for _ in range(200)]
    train[0] = [65] * 500  # the most places, one review: it ranks by the one review
    new = rank_by_reviews(train, 70)
    reviews = {w: sum(w in set(r) for r in train) for w in range(2, 70)}
    expected = sorted(range(2, 70), key=lambda w: (-reviews[w], w))  # ids 60 to 69 but 65 are in no review
    assert [int(new[w]) for w in expected] == list(range(2, 70)) and list(new[:2]) == [0, 1]
    assert max(new[2:60]) < new[65] < min(new[60:65]) and new[65] < min(new[66:])
    assert renumber([[2, 7, 7], [1]], new) == [[int(new[2]), int(new[7]), int(new[7])], [1]]


def lengths_of(n, seed=0):
    return numpy.random.RandomState(seed).randint(1, 500, size=n)


def draw(lengths, batch, pool, seed):
    numpy.random.seed(seed)
    return [idx for _, idx in bucketed_minibatches_idx(lengths, batch, pool)]


def test_bucketed_minibatches_cover_every_review_once_with_one_short_batch_last():
    lengths = lengths_of(1003)
    batches = draw(lengths, 16, 10, 1)
    assert sorted(numpy.concatenate(batches).tolist()) == list(range(1003))
    assert [len(b) for b in batches[:-1]] == [16] * 62 and len(batches[-1]) == 1003 % 16


def test_bucketed_minibatches_pad_far_less_than_random_ones():
    lengths = lengths_of(4000)

    def padding(batches):
        return sum(int(lengths[b].max()) * len(b) - int(lengths[b].sum()) for b in batches) / lengths.sum()

    bucketed = padding(draw(lengths, 32, 50, 2))
    numpy.random.seed(2)
    random = padding([idx for _, idx in get_minibatches_idx(len(lengths), 32, shuffle=True)])
    assert random > 0.5 and bucketed < 0.05, (random, bucketed)
    for b in draw(lengths, 32, 50, 2)[:-1]:
        # a batch's lengths come from a sorted pool of 1,600 reviews: within a few words of each other
        assert lengths[b].max() - lengths[b].min() < 30


def test_bucketed_minibatches_are_shuffled_and_reproducible_from_the_seed():
    lengths = lengths_of(2000)
    a, b, c = draw(lengths, 20, 10, 7), draw(lengths, 20, 10, 7), draw(lengths, 20, 10, 8)
    assert all(numpy.array_equal(x, y) for x, y in zip(a, b))
    assert not all(numpy.array_equal(x, y) for x, y in zip(a, c))
    first = [int(lengths[batch].min()) for batch in a]
    assert first != sorted(first)  # the batches are not in length order: long and short alternate


def test_a_pool_of_everything_is_a_full_sort_with_equal_lengths_in_random_order():
    lengths = numpy.array([3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2])
    batches = draw(lengths, 4, 100, 3)
    assert sorted(tuple(sorted(set(lengths[b]))) for b in batches) == [(1,), (2,), (3,)]
