"""IMDB's reviews as CSV files of your own data: ``train.csv`` and ``test.csv`` from the archive.

    python scripts/imdb_to_csv.py PATH/TO/aclImdb_v1.tar.gz --out data/imdb_csv

Each row is one review: ``text`` (its first line, all that the tutorial
reads), ``label`` (1 positive, 0 negative) and ``stars`` (the rating in its
file name, ``<id>_<stars>.txt``: 1 to 4 or 7 to 10), in the order the
archive's preprocessing reads them (pos, then neg, by file name). Trained on
with ``--dataset OUT/train.csv --test OUT/test.csv``, they give the archive's
word ids and model; with ``--label_column stars``, an eight-class task.
"""

import argparse
import csv
import os
import re
import sys

from lstm_sentiment.base.cli import run
from lstm_sentiment.base.errors import DataError
from lstm_sentiment.base.files import atomic_write
from lstm_sentiment.data.fetch import read_reviews

_STARS = re.compile(r"_(\d+)\.txt$")


def rows(reviews):
    """``(text, label, stars)`` of each review ``(name, label, bytes)``."""
    for name, label, data in reviews:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        stars = _STARS.search(name)
        if stars is None:
            raise DataError(f"{name}: no rating in the file name (expected <id>_<stars>.txt)")
        yield re.split("\r\n|\r|\n", text, maxsplit=1)[0], label, int(stars.group(1))


def write_csvs(source, out):
    """``out/train.csv`` and ``out/test.csv`` from the archive or folder ``source``; returns their paths."""
    reviews = read_reviews(source)
    os.makedirs(out, exist_ok=True)
    paths = []
    for split in ("train", "test"):
        path = os.path.join(out, f"{split}.csv")
        with atomic_write(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(("text", "label", "stars"))
            writer.writerows(rows(reviews[split]))
        print(f"{path}: {len(reviews[split])} reviews")
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="aclImdb_v1.tar.gz, or the extracted aclImdb folder")
    parser.add_argument("--out", required=True, help="where train.csv and test.csv go")
    args = parser.parse_args(argv)
    return run(write_csvs, args.source, args.out)


if __name__ == "__main__":
    sys.exit(main())
