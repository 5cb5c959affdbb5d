"""Download, verify and extract, against a local HTTP server and archives the tests build."""

import hashlib
import http.server
import io
import os
import tarfile
import threading
import typing

import numpy
import pytest

from lstm_sentiment.base.errors import DataError
from lstm_sentiment.data.fetch import download, read_reviews
from lstm_sentiment.imdb import read_dataset
from lstm_sentiment.imdb_preprocess import preprocess

from conftest import REVIEWS, make_acl_imdb, make_archive


class _Handler(http.server.BaseHTTPRequestHandler):
    files: typing.ClassVar[dict] = {}  # path -> (declared length, body)

    def do_GET(self):
        if self.path not in self.files:
            self.send_error(404)
            return
        length, body = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1 serving ``server.files``; yields its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.files = {}
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def leftovers(folder):
    return [n for n in os.listdir(folder) if n.startswith(".")]


def test_download_checks_the_sha256_and_renames_when_complete(server, tmp_path):
    body = os.urandom(3_000_000)
    _Handler.files["/a.tar.gz"] = (len(body), body)
    dest = tmp_path / "a.tar.gz"
    download(f"{server}/a.tar.gz", str(dest), sha256=hashlib.sha256(body).hexdigest())
    assert dest.read_bytes() == body and not leftovers(tmp_path)


def test_download_with_a_wrong_sha256_leaves_nothing(server, tmp_path):
    _Handler.files["/a.tar.gz"] = (5, b"hello")
    with pytest.raises(DataError, match="SHA-256 is .* not the expected 00"):
        download(f"{server}/a.tar.gz", str(tmp_path / "a.tar.gz"), sha256="00" * 32)
    assert os.listdir(tmp_path) == []


def test_a_truncated_download_leaves_nothing(server, tmp_path):
    _Handler.files["/a.tar.gz"] = (1000, b"only part of it")
    with pytest.raises(DataError, match="a.tar.gz"):
        download(f"{server}/a.tar.gz", str(tmp_path / "a.tar.gz"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("path", ["/missing.tar.gz"])
def test_a_missing_or_unreachable_url_says_what_to_do(server, tmp_path, path):
    with pytest.raises(DataError, match="cannot download it .*Not Found.* pass its path"):
        download(f"{server}{path}", str(tmp_path / "x.tar.gz"))
    with pytest.raises(DataError, match="cannot download it"):
        download("http://127.0.0.1:9/x.tar.gz", str(tmp_path / "x.tar.gz"))  # nothing listens there
    assert os.listdir(tmp_path) == []


def test_preprocess_downloads_a_url_once(server, acl_archive, tmp_path):
    body = acl_archive.read_bytes()
    _Handler.files["/aclImdb_v1.tar.gz"] = (len(body), body)
    out = tmp_path / "data"
    preprocess(f"{server}/aclImdb_v1.tar.gz", out=str(out), processes=1)
    assert (out / "aclImdb_v1.tar.gz").read_bytes() == body
    assert len(read_dataset(out / "imdb.pkl")[0][0]) == 5
    _Handler.files.clear()  # a second run must not need the network
    preprocess(f"{server}/aclImdb_v1.tar.gz", out=str(out), processes=1)


def _tar_with(tmp_path, *members):
    """A .tar.gz of the fixture layout plus extra ``(TarInfo, data)`` members."""
    path = tmp_path / "crafted.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for label in ("pos", "neg"):
                data = b"A review."
                info = tarfile.TarInfo(f"aclImdb/{split}/{label}/0_5.txt")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name, data=b"x"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    "member, message",
    [
        (_file("../escaped.txt"), "'../escaped.txt' points outside the archive's folder; refusing the archive"),
        (_file("aclImdb/../../escaped.txt"), "points outside the archive's folder"),
        (_file("/tmp/escaped-absolute.txt"), "points outside the archive's folder"),
        (_link("aclImdb/train/pos/1_9.txt", "/etc/passwd"), "is a link; refusing the archive"),
        (_link("aclImdb/train/pos/2_9.txt", "aclImdb/README", tarfile.LNKTYPE), "is a link"),
    ],
)
def test_archive_members_that_escape_or_link_are_refused_and_nothing_is_written(tmp_path, member, message):
    archive = _tar_with(tmp_path, member)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        preprocess(str(archive), out=str(out), processes=1)
    assert os.listdir(out) == []
    assert sorted(os.listdir(tmp_path)) == ["crafted.tar.gz", "out"]
    assert not os.path.exists("/tmp/escaped-absolute.txt")


def test_only_the_labeled_reviews_are_read_pos_first_in_name_order(tmp_path):
    archive = _tar_with(
        tmp_path,
        _file("aclImdb/train/unsup/0_0.txt"),
        _file("aclImdb/train/labeledBow.feat"),
        _file("aclImdb/train/pos/10_7.txt", b"ten"),
        _file("aclImdb/train/pos/1_7.txt", b"one"),
    )
    reviews = read_reviews(str(archive))
    assert [(name.split(":")[-1], label) for name, label, _ in reviews["train"]] == [
        ("aclImdb/train/pos/0_5.txt", 1),
        ("aclImdb/train/pos/10_7.txt", 1),
        ("aclImdb/train/pos/1_7.txt", 1),
        ("aclImdb/train/neg/0_5.txt", 0),
    ]
    assert [data for _, _, data in reviews["train"]][1:3] == [b"ten", b"one"]


def test_truncated_and_corrupt_archives_get_a_clear_error(acl_archive, tmp_path):
    data = acl_archive.read_bytes()
    for name, content in (
        ("truncated.tar.gz", data[: len(data) // 2]),
        ("corrupt.tar.gz", b"\x1f\x8b" + os.urandom(500)),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        out = tmp_path / f"out-{name}"
        with pytest.raises(DataError, match=f"{name}: cannot read it as a .tar.gz archive; it is truncated or corrupt"):
            preprocess(str(path), out=str(out))
        assert os.listdir(out) == []


def test_a_flipped_byte_anywhere_in_an_archive_is_an_error_or_changes_nothing(tmp_path):
    """Read to the end, the gzip trailer included: damage never reads as fewer or other reviews."""
    rng = numpy.random.RandomState(0)
    reviews = {
        (split, label): [" ".join(rng.choice(["good", "bad", "film", "plot"], size=40)) for _ in range(60)]
        for split in ("train", "test")
        for label in ("pos", "neg")
    }
    archive = make_archive(tmp_path / "good.tar.gz", make_acl_imdb(tmp_path / "raw", reviews))
    whole = read_reviews(str(archive))
    data = bytearray(archive.read_bytes())
    damaged = tmp_path / "damaged.tar.gz"
    errors = 0
    for at in range(20, len(data) - 8, max(1, len(data) // 150)):
        copy = bytearray(data)
        copy[at] ^= 0x5A
        damaged.write_bytes(copy)
        try:
            read = read_reviews(str(damaged))
        except DataError as e:
            assert "damaged.tar.gz" in str(e)
            errors += 1
            continue
        assert {k: [(y, d) for _, y, d in v] for k, v in read.items()} == {
            k: [(y, d) for _, y, d in v] for k, v in whole.items()
        }
    assert errors > 100


def test_an_archive_of_another_layout_is_refused(tmp_path):
    path = tmp_path / "other.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info, data = _file("something/else.txt")
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(
        DataError, match="not the layout of the Large Movie Review Dataset .* no reviews in train/pos, "
    ):
        read_reviews(str(path))


@pytest.mark.parametrize("source", ["archive", "folder"])
def test_a_review_is_read_to_the_limit_only_and_a_cut_first_line_is_named(tmp_path, monkeypatch, caplog, source):
    from lstm_sentiment.data import fetch

    monkeypatch.setattr(fetch, "REVIEW_LIMIT", 64)
    long_line = "é" * 40  # 80 bytes: the limit falls inside a character
    reviews = dict(REVIEWS)
    reviews["train", "pos"] = [long_line, "short first line\n" + "x" * 200, "fine"]
    folder = make_acl_imdb(tmp_path / "raw", reviews)
    path = make_archive(tmp_path / "a.tar.gz", folder) if source == "archive" else folder
    read = {name.split("/")[-1]: data for name, _, data in read_reviews(str(path))["train"][:3]}
    assert read["0_8.txt"] == ("é" * 32).encode()  # whole characters, up to the 64 bytes read
    assert read["1_8.txt"].startswith(b"short first line\n") and len(read["1_8.txt"]) == 64
    assert read["2_8.txt"] == b"fine"
    cut = [r.getMessage() for r in caplog.records if "longer than" in r.getMessage()]
    assert len(cut) == 1 and cut[0].startswith("1 reviews have a first line longer") and "0_8.txt" in cut[0]


def test_a_folder_reads_regular_files_inside_it_only(tmp_path, caplog):
    folder = make_acl_imdb(tmp_path / "raw")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the dataset")
    pos = folder / "train" / "pos"
    (pos / "7_9.txt").symlink_to(secret)  # a link out of the folder
    (pos / "8_9.txt").symlink_to(pos / "0_8.txt")  # a link inside it: read
    os.mkfifo(pos / "9_9.txt")  # would block a plain open() for ever
    (pos / "10_9.txt").mkdir()
    read = read_reviews(str(folder))["train"]
    names = [os.path.basename(name) for name, label, _ in read if label == 1]
    assert names == ["0_8.txt", "1_8.txt", "2_8.txt", "8_9.txt"]
    assert b"outside" not in b"".join(data for _, _, data in read)
    (warning,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Skipped")]
    assert warning.startswith("Skipped 3 entries of") and "not regular files inside it" in warning
