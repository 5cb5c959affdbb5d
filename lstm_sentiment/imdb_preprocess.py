"""The preprocessing command: the tutorial's ``imdb_preprocess.py``, from the raw reviews to
``imdb.pkl`` and ``imdb.dict.pkl`` (the code is in ``data/``).

    python -m lstm_sentiment.imdb_preprocess [SOURCE] --out DIR

SOURCE is an ``aclImdb`` folder, an ``aclImdb_v1.tar.gz`` archive or a URL
(by default the official archive).
"""

import argparse
import sys

from .base.cli import run
from .data.fetch import OFFICIAL_URL
from .data.preprocess import build_dict, grab_data, preprocess
from .data.tokenize import tokenize, tokenize_text

__all__ = ["build_dict", "grab_data", "main", "preprocess", "tokenize", "tokenize_text"]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.imdb_preprocess",
        description="Tokenize the IMDB reviews into the tutorial's imdb.pkl and imdb.dict.pkl.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "source",
        nargs="?",
        default=OFFICIAL_URL,
        help="an extracted aclImdb folder, an aclImdb_v1.tar.gz archive, or a URL",
    )
    parser.add_argument(
        "--out", default=None, help="folder for imdb.pkl and imdb.dict.pkl (default: $LSTM_SENTIMENT_DATA or ./data)"
    )
    parser.add_argument("--processes", type=int, default=None, help="tokenizer processes (default: one per core)")
    args = parser.parse_args(argv)
    if args.processes is not None and args.processes < 1:
        parser.error(f"--processes: {args.processes} is not allowed; it must be a positive integer")
    return run(preprocess, args.source, args.out, args.processes)


if __name__ == "__main__":
    sys.exit(main())
