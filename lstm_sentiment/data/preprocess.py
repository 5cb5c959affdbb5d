"""From the raw reviews to the tutorial's ``imdb.pkl`` and ``imdb.dict.pkl``, built once and cached.

As the tutorial's ``imdb_preprocess.py``: the first line of each review,
tokenized (``tokenize.py``); a dictionary from the training reviews, ids by
descending frequency from 2 (0 is padding, 1 unknown); labels 1 for pos and
0 for neg; train before test.
"""

import collections
import hashlib
import json
import os
import urllib.parse

from ..base.errors import DataError
from ..base.files import atomic_write
from ..base.logs import logger
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
from .imdb import write_dataset, write_dictionary
from .tokenize import TOKENIZER, tokenize

# What decides the output besides the reviews; a change rebuilds cached outputs.
SETTINGS = {
    "format": 1,
    "tokenizer": TOKENIZER,
    "escape": True,
    "lowercase": True,
    "first_line_only": True,
}

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def default_data_dir():
    """The folder where datasets and caches go unless one is given: ``$LSTM_SENTIMENT_DATA`` or ``./data``."""
    return os.environ.get("LSTM_SENTIMENT_DATA", "data")


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
    for (split, label), paths in sorted(review_paths(find_reviews_folder(source))[0].items()):
        for path in sorted(paths):
            digest.update(listing_line(f"{split}/{label}/{os.path.basename(path)}", path))
    return {"listing_sha256": digest.hexdigest()}


def listing_line(name, path):
    """A file's line in a folder's fingerprint: its ``name``, size and modification time."""
    st = os.stat(path)
    return f"{name}:{st.st_size}:{st.st_mtime_ns}\n".encode()


def _manifest_path(out):
    return os.path.join(out, "imdb.manifest.json")


def cached(manifest_path, manifest, outputs):
    """Whether the manifest at ``manifest_path`` records the same input and settings as ``manifest``, and
    every one of ``outputs`` is there: outputs made from the same input are reused."""
    try:
        with open(manifest_path) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    keys = ("fingerprint", "settings")
    same = isinstance(saved, dict) and {k: saved.get(k) for k in keys} == {k: manifest[k] for k in keys}
    return same and all(os.path.isfile(p) for p in outputs)


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


def make_folder(out):
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise DataError(f"{out}: cannot make the data folder ({e.strerror}); give another folder") from e


def preprocess(source=OFFICIAL_URL, out=None, processes=None):
    """Build ``out/imdb.pkl`` and ``out/imdb.dict.pkl`` from ``source``; returns their paths.

    Outputs made from the same input with the same settings are reused at once.
    """
    out = out or default_data_dir()
    make_folder(out)
    pkl_path, dict_path = output_paths(out)

    source = _local_source(source, out)
    manifest = {"source": os.path.abspath(source), "fingerprint": _fingerprint(source), "settings": SETTINGS}
    if cached(_manifest_path(out), manifest, output_paths(out)):
        logger.info("Using cached %s (made from the same %s)", pkl_path, source)
        return pkl_path, dict_path

    reviews = read_reviews(source)
    sentences = tokenize([(name, data) for split in ("train", "test") for name, _, data in reviews[split]], processes)
    n_train = len(reviews["train"])

    dictionary = build_dict(sentences[:n_train])
    train, test = (
        (grab_data(part, dictionary), [label for _, label, _ in reviews[split]])
        for split, part in (("train", sentences[:n_train]), ("test", sentences[n_train:]))
    )
    write_dataset(pkl_path, train, test)
    write_dictionary(dict_path, dictionary)
    with atomic_write(_manifest_path(out), "w") as f:
        json.dump(manifest, f, indent=2)
    logger.info("Wrote %s (%d train, %d test reviews) and %s", pkl_path, n_train, len(reviews["test"]), dict_path)
    return pkl_path, dict_path
