"""From the raw reviews to the tutorial's ``imdb.pkl`` and ``imdb.dict.pkl``.

    python -m lstm_sentiment.imdb_preprocess [SOURCE] --out DIR

As the tutorial's ``imdb_preprocess.py``: the first line of each review,
tokenized by the Moses tokenizer for English with its default escaping
(sacremoses, the maintained port of ``tokenizer.perl -l en -q``), lowercased
and split on whitespace; a dictionary from the training reviews, ids by
descending frequency from 2 (0 is padding, 1 unknown); labels 1 for pos and
0 for neg; train before test. SOURCE is an ``aclImdb`` folder, an
``aclImdb_v1.tar.gz`` archive or a URL (by default the official archive).
"""

import argparse
import collections
import hashlib
import json
import multiprocessing
import os
import pickle
import re
import sys
import urllib.parse

import sacremoses

from .checkpoint import atomic_write
from .fetch import (
    OFFICIAL_SHA256,
    OFFICIAL_URL,
    download,
    find_reviews_folder,
    is_url,
    read_reviews,
    review_paths,
    sha256_of,
)
from .imdb import DataError, data_dir
from .logs import log_to_stderr, logger, progress

# What decides the output besides the reviews; a change rebuilds cached outputs.
SETTINGS = {
    "format": 1,
    "tokenizer": f"sacremoses {sacremoses.__version__} MosesTokenizer(lang='en')",
    "escape": True,
    "lowercase": True,
    "first_line_only": True,
}


class MosesTokenizer(sacremoses.MosesTokenizer):
    """sacremoses' tokenizer with its character-class tests precomputed: same output, twice as fast.

    sacremoses rebuilds a set of thousands of characters on every ``islower``
    and ``isanyalpha`` call, which is most of its time on these reviews.
    """

    _lower = frozenset(sacremoses.MosesTokenizer.IsLower)
    _alpha = frozenset(sacremoses.MosesTokenizer.IsAlpha)

    def islower(self, text):
        return self._lower.issuperset(text)

    def isanyalpha(self, text):
        return not self._alpha.isdisjoint(text)


_tokenizer = None


def tokenize_text(text):
    """Moses-tokenized (with its default escaping) and lowercased ``text``, as one string."""
    global _tokenizer
    if _tokenizer is None:
        _tokenizer = MosesTokenizer(lang="en")
    return _tokenizer.tokenize(text, escape=True, return_str=True).lower()


def tokenize_review(review):
    """The first line of a review ``(name, bytes)``, as ``tokenize_text`` gives it."""
    name, data = review
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start}); reviews must be UTF-8") from None
    return tokenize_text(re.split("\r\n|\r|\n", text, maxsplit=1)[0].strip())  # readline()'s first line


def tokenize(reviews, processes=None):
    """``tokenize_review`` of every ``(name, bytes)``, in order, on ``processes`` cores (default: all)."""
    processes = processes or os.cpu_count() or 1
    logger.info("Tokenizing %d reviews with %d processes", len(reviews), processes)
    bar = dict(total=len(reviews), desc="tokenize", unit="review")
    if processes == 1:
        return [tokenize_review(r) for r in progress(reviews, **bar)]
    # fork where there is one: it needs no `if __name__ == "__main__":` guard in the user's script
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(processes) as pool:
        return list(progress(pool.imap(tokenize_review, reviews, chunksize=200), **bar))


def build_dict(sentences):
    """Word -> id by descending frequency, from 2; ties keep their order of first appearance."""
    wordcount = collections.Counter(w for ss in sentences for w in ss.split())
    logger.info("%d total words %d unique words", sum(wordcount.values()), len(wordcount))
    return {w: idx + 2 for idx, (w, _) in enumerate(wordcount.most_common())}


def grab_data(sentences, dictionary):
    """Each sentence as a list of word ids, 1 for words not in ``dictionary``."""
    return [[dictionary.get(w, 1) for w in ss.split()] for ss in sentences]


def output_paths(out):
    return os.path.join(out, "imdb.pkl"), os.path.join(out, "imdb.dict.pkl")


def _fingerprint(source):
    """What identifies the input: an archive's SHA-256, or a folder's review names, sizes and times."""
    if os.path.isfile(source):
        return {"sha256": sha256_of(source)}
    digest = hashlib.sha256()
    for (split, label), paths in sorted(review_paths(find_reviews_folder(source)).items()):
        for path in sorted(paths):
            st = os.stat(path)
            digest.update(f"{split}/{label}/{os.path.basename(path)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return {"listing_sha256": digest.hexdigest()}


def _manifest_path(out):
    return os.path.join(out, "imdb.manifest.json")


def _cached(out, manifest):
    """Whether ``out`` holds outputs made from the same input with the same settings."""
    try:
        with open(_manifest_path(out)) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    same = {k: saved.get(k) for k in ("fingerprint", "settings")} == {
        k: manifest[k] for k in ("fingerprint", "settings")
    }
    return same and all(os.path.isfile(p) for p in output_paths(out))


def _local_source(source, out):
    """A URL's archive downloaded into ``out`` (once); a local path as it is."""
    if not is_url(source):
        if not os.path.exists(source):
            raise DataError(f"{source}: no such file or folder (expected an aclImdb folder or archive)")
        return source
    name = os.path.basename(urllib.parse.urlparse(source).path) or "aclImdb_v1.tar.gz"
    archive = os.path.join(out, name)
    if os.path.isfile(archive):
        logger.info("Using the archive already downloaded at %s", archive)
    else:
        download(source, archive, sha256=OFFICIAL_SHA256 if source == OFFICIAL_URL else None)
    return archive


def preprocess(source=OFFICIAL_URL, out=None, processes=None):
    """Build ``out/imdb.pkl`` and ``out/imdb.dict.pkl`` from ``source``; returns their paths.

    Outputs made from the same input with the same settings are reused at once.
    """
    out = out or data_dir()
    os.makedirs(out, exist_ok=True)
    pkl_path, dict_path = output_paths(out)

    source = _local_source(source, out)
    manifest = {"source": os.path.abspath(source), "fingerprint": _fingerprint(source), "settings": SETTINGS}
    if _cached(out, manifest):
        logger.info("Using cached %s (made from the same %s)", pkl_path, source)
        return pkl_path, dict_path

    reviews = read_reviews(source)
    sentences = tokenize([(name, data) for split in ("train", "test") for name, _, data in reviews[split]], processes)
    n_train = len(reviews["train"])

    dictionary = build_dict(sentences[:n_train])
    splits = [
        (grab_data(part, dictionary), [label for _, label, _ in reviews[split]])
        for split, part in (("train", sentences[:n_train]), ("test", sentences[n_train:]))
    ]

    with atomic_write(pkl_path) as f:
        for split in splits:
            pickle.dump(split, f, pickle.HIGHEST_PROTOCOL)
    with atomic_write(dict_path) as f:
        pickle.dump(dictionary, f, pickle.HIGHEST_PROTOCOL)
    with atomic_write(_manifest_path(out), "w") as f:
        json.dump(manifest, f, indent=2)
    logger.info("Wrote %s (%d train, %d test reviews) and %s", pkl_path, n_train, len(reviews["test"]), dict_path)
    return pkl_path, dict_path


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.imdb_preprocess",
        description="Tokenize the IMDB reviews into the tutorial's imdb.pkl and imdb.dict.pkl.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("source", nargs="?", default=OFFICIAL_URL,
                        help="an extracted aclImdb folder, an aclImdb_v1.tar.gz archive, or a URL")
    parser.add_argument("--out", default=None,
                        help="folder for imdb.pkl and imdb.dict.pkl (default: $LSTM_SENTIMENT_DATA or ./data)")
    parser.add_argument("--processes", type=int, default=None,
                        help="tokenizer processes (default: one per core)")
    args = parser.parse_args(argv)
    if args.processes is not None and args.processes < 1:
        parser.error(f"--processes: {args.processes} is not allowed; it must be a positive integer")
    log_to_stderr()
    try:
        preprocess(args.source, args.out, args.processes)
    except DataError as e:
        logger.error("error: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
