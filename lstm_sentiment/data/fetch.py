"""The raw IMDB reviews: download, verify, and read them from an archive or a folder.

Downloads go to a temporary file renamed only when complete (and, for the
official archive, only when its SHA-256 matches). Archives are read in place,
in one pass over their stream, and never extracted: nothing in an archive can
write anywhere, and an archive with a member that points outside its folder
or with a link is refused all the same.
"""

import hashlib
import http.client
import os
import posixpath
import re
import tarfile
import urllib.request
import zlib

from ..base.errors import DataError
from ..base.files import atomic_write
from ..base.logs import logger, progress

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"

SPLITS = ("train", "test")
LABEL_FOLDERS = ("pos", "neg")  # pos first, as the tutorial's imdb_preprocess.py
_REVIEW = re.compile(r"^aclImdb/(train|test)/(pos|neg)/[^/]+\.txt$")
_CHUNK = 1 << 20


def is_url(source):
    return str(source).startswith(("http://", "https://", "ftp://", "file://"))


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest, sha256=None):
    """Download ``url`` to ``dest`` with a progress bar; check ``sha256`` before renaming into place."""
    logger.info("Downloading %s to %s", url, dest)
    try:
        with atomic_write(dest) as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            digest, done = hashlib.sha256(), 0
            with progress(total=total, unit="B", unit_scale=True, desc="download") as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
            if total is not None and done != total:
                raise DataError(f"{url}: the download stopped after {done} of {total} bytes; try again")
            if sha256 is not None and digest.hexdigest() != sha256:
                raise DataError(
                    f"{url}: the download's SHA-256 is {digest.hexdigest()}, not the expected {sha256}; "
                    f"it is corrupt or not the official archive"
                )
    except (OSError, http.client.HTTPException) as e:
        raise DataError(
            f"{url}: cannot download it ({getattr(e, 'reason', e)}). Without internet, download "
            f"aclImdb_v1.tar.gz elsewhere and pass its path (or the extracted aclImdb folder)"
        ) from e
    return dest


def _checked_name(member, archive):
    """The member's normalised name; DataError for links and names that leave the archive's folder."""
    name = posixpath.normpath(member.name)
    if name.startswith("/") or name == ".." or name.startswith("../"):
        raise DataError(f"{archive}: member {member.name!r} points outside the archive's folder; refusing the archive")
    if member.issym() or member.islnk():
        raise DataError(f"{archive}: member {member.name!r} is a link; refusing the archive (links are never followed)")
    return name


def _check_end(tar, archive):
    """DataError unless all that follows the last member is the end-of-archive zeros: tarfile stops
    quietly at a damaged header, so the rest is read here, to the compressed stream's end and its
    checksum (a gzip file checks its CRC when it reaches its end)."""
    tar.fileobj.seek(tar.offset)
    while chunk := tar.fileobj.read(1 << 20):
        if chunk.count(0) != len(chunk):
            raise DataError(f"{archive}: damaged: a member's header after byte {tar.offset} is unreadable")


def _archive_reviews(archive):
    """``{(split, label): [(name, bytes)]}`` read in place, in one pass: nothing is written to disk."""
    logger.info("Reading the reviews in %s", archive)
    found = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in progress(tar, desc="read", unit="member"):
                match = _REVIEW.match(_checked_name(member, archive))
                if match and member.isfile():
                    review = (f"{archive}:{member.name}", tar.extractfile(member).read())
                    found.setdefault(match.groups(), []).append(review)
            _check_end(tar, archive)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{archive}: cannot read it as a .tar.gz archive; it is truncated or corrupt ({e})") from e
    return found


def find_reviews_folder(folder):
    """The aclImdb folder given, or the one inside it."""
    inner = os.path.join(folder, "aclImdb")
    if not os.path.isdir(os.path.join(folder, "train")) and os.path.isdir(inner):
        return inner
    return folder


def review_paths(folder):
    """``{(split, label): [path, ...]}`` of the reviews in an aclImdb folder."""
    groups = {}
    for split in SPLITS:
        for label in LABEL_FOLDERS:
            d = os.path.join(folder, split, label)
            if os.path.isdir(d):
                groups[split, label] = [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".txt")]
    return groups


def _folder_reviews(folder):
    """``{(split, label): [(path, bytes)]}`` of an aclImdb folder."""
    folder = find_reviews_folder(folder)
    logger.info("Reading the reviews in %s", folder)
    found = {}
    for group, paths in review_paths(folder).items():
        for path in paths:
            with open(path, "rb") as f:
                found.setdefault(group, []).append((path, f.read()))
    return found


def read_reviews(source):
    """``{split: [(name, label, bytes), ...]}`` from an aclImdb folder or archive.

    Labels are 1 for pos and 0 for neg; pos comes first, then neg, each in
    sorted file name order, as the tutorial's ``imdb_preprocess.py`` read them.
    """
    found = _archive_reviews(source) if os.path.isfile(source) else _folder_reviews(source)
    missing = [f"{split}/{label}" for split in SPLITS for label in LABEL_FOLDERS if not found.get((split, label))]
    if missing:
        raise DataError(
            f"{source}: not the layout of the Large Movie Review Dataset (aclImdb): no reviews in "
            f"{', '.join(missing)}; expected aclImdb/{{train,test}}/{{pos,neg}}/<id>_<rating>.txt"
        )
    return {
        split: [
            (name, 1 if label == "pos" else 0, data)
            for label in LABEL_FOLDERS
            for name, data in sorted(found[split, label])
        ]
        for split in SPLITS
    }
