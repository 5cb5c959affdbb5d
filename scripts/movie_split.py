"""A split of IMDB's training reviews by movie, for tuning on movies the model has not seen.

    python scripts/movie_split.py PATH/TO/aclImdb_v1.tar.gz --out DIR [--reviews 2500] [--seed 0]

IMDB's test reviews are about other movies than its training reviews, but
the validation set that training holds out (``valid_portion``) is drawn at
random from the training reviews, so it shares their movies: what a model
learns of particular movies (titles, names, plots) lowers its validation
error and not its test error. This script writes ``DIR/imdb_movies.pkl``
(with its word dictionary beside it), in the tutorial's format: as the training set, the training reviews of every
movie but a random few; as the test set, the training reviews of those few
movies (at least ``--reviews`` of them). Train on it, and its "test" error
estimates the error on new movies without touching the real test set:

    python -m lstm_sentiment.train --config configs/full.json --dataset DIR/imdb_movies.pkl --saveto tuning.npz

The movie of each review comes from the archive's ``train/urls_pos.txt``
and ``train/urls_neg.txt``, whose line i is the IMDB page of the movie that
review i (file ``i_<rating>.txt``) is about.
"""

import argparse
import collections
import os
import pathlib
import re
import sys
import tarfile

import numpy

from lstm_sentiment.base.cli import run
from lstm_sentiment.base.errors import DataError
from lstm_sentiment.data.imdb import dictionary_beside, read_dataset, read_dictionary, write_dataset, write_dictionary
from lstm_sentiment.data.preprocess import preprocess

_REVIEW = re.compile(r"(?:.*/)?train/(pos|neg)/(\d+)_\d+\.txt$")
_URLS = re.compile(r"(?:.*/)?train/urls_(pos|neg)\.txt$")


def _train_files(source):
    """``(names, urls)``: the training reviews' names and ids by label, and the urls files' lines by label."""
    names, urls = {"pos": [], "neg": []}, {}

    def see(name, read):
        review, url_file = _REVIEW.match(name), _URLS.match(name)
        if review:
            names[review.group(1)].append((name, int(review.group(2))))
        elif url_file:
            urls[url_file.group(1)] = read().decode("utf-8").split()

    if os.path.isdir(source):
        for root, _, files in os.walk(source):
            for f in files:
                path = os.path.join(root, f)
                see(path, lambda path=path: pathlib.Path(path).read_bytes())
    else:
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    if member.isfile():
                        see(member.name, lambda member=member: tar.extractfile(member).read())
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataError(f"{source}: cannot read it as a .tar.gz archive ({e})") from e
    if set(urls) != {"pos", "neg"}:
        raise DataError(f"{source}: no train/urls_pos.txt and train/urls_neg.txt: cannot tell the movies apart")
    return names, urls


def movies_of_reviews(source):
    """The movie of each training review, in the order of the preprocessed training set (pos, then neg,
    each in sorted file name order)."""
    names, urls = _train_files(source)
    movies = []
    for label in ("pos", "neg"):
        for name, i in sorted(names[label]):
            if i >= len(urls[label]):
                raise DataError(f"{source}: {name} has no line in train/urls_{label}.txt")
            movies.append(re.sub(r"/usercomments$", "", urls[label][i]))
    return movies


def split_by_movie(movies, reviews, seed):
    """(kept, held) review indices: the reviews of random movies, at least ``reviews`` of them, are held."""
    count = collections.Counter(movies)
    distinct = sorted(count)
    held, n_held = set(), 0
    for i in numpy.random.RandomState(seed).permutation(len(distinct)):
        if n_held >= reviews:
            break
        held.add(distinct[i])
        n_held += count[distinct[i]]
    kept = [i for i, m in enumerate(movies) if m not in held]
    return kept, [i for i, m in enumerate(movies) if m in held]


def write_split(source, out, reviews, seed):
    """Preprocess ``source`` into ``out`` (or reuse it) and write ``out/imdb_movies.pkl``."""
    movies = movies_of_reviews(source)
    pkl, _ = preprocess(source, out=out)
    (x, y), _ = read_dataset(pkl)
    if len(movies) != len(x):
        raise DataError(f"{source}: {len(movies)} training reviews with a movie, but {pkl} has {len(x)}")
    kept, held = split_by_movie(movies, reviews, seed)
    path = os.path.join(out, "imdb_movies.pkl")
    write_dataset(path, ([x[i] for i in kept], [y[i] for i in kept]), ([x[i] for i in held], [y[i] for i in held]))
    write_dictionary(dictionary_beside(path), read_dictionary(dictionary_beside(pkl)))  # models trained on it read text
    n_held = len({movies[i] for i in held})
    print(f"{path}: {len(kept)} training reviews; {len(held)} held-out reviews of {n_held} other movies")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="aclImdb_v1.tar.gz, or the extracted aclImdb folder")
    parser.add_argument("--out", required=True, help="where imdb.pkl (preprocessed) and imdb_movies.pkl go")
    parser.add_argument("--reviews", type=int, default=2500, help="held-out reviews, at least (default 2500)")
    parser.add_argument("--seed", type=int, default=0, help="which movies are held out")
    args = parser.parse_args(argv)

    return run(write_split, args.source, args.out, args.reviews, args.seed)


if __name__ == "__main__":
    sys.exit(main())
