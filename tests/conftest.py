"""Shared fixtures: small datasets in the tutorial's format, written by the tests."""

import os
import pickle

import numpy
import pytest

MARKER = 3  # the word whose presence makes a review positive in the synthetic task


def marker_reviews(n, seed, n_words=40, min_len=3, max_len=25):
    """A task a correct model must learn: label 1 iff the review contains MARKER."""
    rng = numpy.random.RandomState(seed)
    xs, ys = [], []
    for i in range(n):
        length = rng.randint(min_len, max_len)
        review = [int(w) for w in rng.randint(MARKER + 1, n_words, size=length)]
        label = i % 2
        if label:
            review[rng.randint(length)] = MARKER
        xs.append(review)
        ys.append(label)
    return xs, ys


def write_pkl(path, train, test):
    """Write ``train`` then ``test`` as two consecutive pickles, the tutorial's imdb.pkl."""
    with open(path, "wb") as f:
        pickle.dump(train, f)
        pickle.dump(test, f)
    return str(path)


@pytest.fixture
def marker_pkl(tmp_path):
    """An imdb.pkl of the marker task: 800 training and 200 test reviews."""
    return write_pkl(tmp_path / "marker.pkl", marker_reviews(800, 0), marker_reviews(200, 1))


@pytest.fixture(scope="session")
def real_imdb_pkl():
    """The real reviews in the tutorial's format: $LSTM_SENTIMENT_IMDB_PKL, set by .ci/run."""
    path = os.environ.get("LSTM_SENTIMENT_IMDB_PKL")
    if not path:
        pytest.skip("LSTM_SENTIMENT_IMDB_PKL is unset: no real imdb.pkl(.gz) on this machine")
    if not os.path.isfile(path):
        pytest.fail(f"LSTM_SENTIMENT_IMDB_PKL={path} is not a file")
    return path
