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
import stat
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
REVIEW_LIMIT = 1 << 20  # bytes read of a review: its first line is all that is used (the real ones: < 14 KB)


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


def _first_bytes(f, name, cut):
    """At most REVIEW_LIMIT bytes of the review file ``f``, ending on a whole UTF-8 character; when
    its first line is longer than that, ``name`` goes into the list ``cut``."""
    data = f.read(REVIEW_LIMIT + 1)
    if len(data) <= REVIEW_LIMIT:
        return data
    end = REVIEW_LIMIT
    while end > 0 and data[end] & 0xC0 == 0x80:  # not inside a character
        end -= 1
    if b"\n" not in data[:end] and b"\r" not in data[:end]:
        cut.append(name)
    return data[:end]


def _warn_cut(cut):
    if cut:
        logger.warning(
            "%d reviews have a first line longer than %d MiB; only their first %d MiB are read (the first: %s)",
            len(cut),
            REVIEW_LIMIT >> 20,
            REVIEW_LIMIT >> 20,
            cut[0],
        )


def _archive_reviews(archive):
    """``{(split, label): [(name, bytes)]}`` read in place, in one pass: nothing is written to disk."""
    logger.info("Reading the reviews in %s", archive)
    found, cut = {}, []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in progress(tar, desc="read", unit="member"):
                match = _REVIEW.match(_checked_name(member, archive))
                if match and member.isfile():
                    name = f"{archive}:{member.name}"
                    data = _first_bytes(tar.extractfile(member), name, cut)
                    found.setdefault(match.groups(), []).append((name, data))
            _check_end(tar, archive)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{archive}: cannot read it as a .tar.gz archive; it is truncated or corrupt ({e})") from e
    _warn_cut(cut)
    return found


def find_reviews_folder(folder):
    """The aclImdb folder given, or the one inside it."""
    inner = os.path.join(folder, "aclImdb")
    if not os.path.isdir(os.path.join(folder, "train")) and os.path.isdir(inner):
        return inner
    return folder


def review_paths(folder):
    """``({(split, label): [path, ...]}, skipped)``: the reviews of an aclImdb folder, and the paths
    of the ``.txt`` entries that are not regular files inside it (links out of it, FIFOs, devices)."""
    root = os.path.realpath(folder)
    groups, skipped = {}, []
    for split in SPLITS:
        for label in LABEL_FOLDERS:
            d = os.path.join(folder, split, label)
            if not os.path.isdir(d):
                continue
            for path in (os.path.join(d, n) for n in os.listdir(d) if n.endswith(".txt")):
                real = os.path.realpath(path)
                inside = os.path.commonpath([root, real]) == root
                (groups.setdefault((split, label), []) if inside and os.path.isfile(real) else skipped).append(path)
    return groups, skipped


def _read_regular(path, cut):
    """The first bytes of the review at ``path``, a regular file (checked on the open file, so a
    FIFO put there since the listing cannot block the read)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DataError(f"{path}: not a regular file; a review must be one")
        return _first_bytes(f, path, cut)


def _folder_reviews(folder):
    """``{(split, label): [(path, bytes)]}`` of an aclImdb folder."""
    folder = find_reviews_folder(folder)
    logger.info("Reading the reviews in %s", folder)
    groups, skipped = review_paths(folder)
    if skipped:
        logger.warning(
            "Skipped %d entries of %s that are not regular files inside it (links out of it, FIFOs, "
            "devices, folders): %s",
            len(skipped),
            folder,
            ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else ""),
        )
    found, cut = {}, []
    for group, paths in groups.items():
        for path in paths:
            try:
                found.setdefault(group, []).append((path, _read_regular(path, cut)))
            except OSError as e:
                raise DataError(f"{path}: cannot read it ({e.strerror})") from e
    _warn_cut(cut)
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
