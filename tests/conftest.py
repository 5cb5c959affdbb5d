"""Shared fixtures: small datasets in the tutorial's format, written by the tests."""

import os
import pathlib
import pickle
import platform

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


@pytest.fixture(params=[True, False], ids=["kernel", "scan"])
def fused(request):
    """Each test using it runs twice: with the compiled kernel (True), and with the tutorial's plain
    graph (scan, and ADADELTA as elementwise updates), which is what the model is without the kernel."""
    from lstm_sentiment.kernel.build import load, why_unavailable

    if request.param and load() is None:
        pytest.skip(f"the LSTM kernel is unavailable: {why_unavailable()}")
    return request.param


def kernel_paths():
    """The kernel's paths this CPU runs (LSTM_SENTIMENT_KERNEL), the widest first: avx512 and avx2 (x86
    with AVX-512, or AVX2 and FMA), then portable, which every CPU runs."""
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    flags = set(cpuinfo.read_text().split()) if x86 and cpuinfo.exists() else set()
    return [p for p, need in (("avx512", {"avx512f"}), ("avx2", {"avx2", "fma"})) if need <= flags] + ["portable"]


@pytest.fixture(params=kernel_paths())
def kernel_path(request, monkeypatch):
    """Each test using it runs once per kernel path this CPU has, on that path's library."""
    from lstm_sentiment.kernel import build

    monkeypatch.setenv("LSTM_SENTIMENT_KERNEL", request.param)
    build.load.cache_clear()
    if build.load() is None:
        pytest.fail(f"the {request.param} kernel is unavailable: {build.why_unavailable()}")
    yield request.param
    monkeypatch.undo()
    build.load.cache_clear()


@pytest.fixture
def marker_pkl(tmp_path):
    """An imdb.pkl of the marker task: 800 training and 200 test reviews."""
    return write_pkl(tmp_path / "marker.pkl", marker_reviews(800, 0), marker_reviews(200, 1))


def real_file(variable, what):
    """The path in $``variable`` (set by .ci/run); skips the test, saying why, when it is unset."""
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} is unset: no real {what} on this machine")
    if not os.path.isfile(path):
        pytest.fail(f"{variable}={path} is not a file")
    return path


@pytest.fixture(scope="session")
def real_imdb_pkl():
    """The real reviews in the tutorial's format."""
    return real_file("LSTM_SENTIMENT_IMDB_PKL", "imdb.pkl(.gz)")


# A few reviews as the real dataset has them: one line, HTML breaks, quotes, ampersands.
REVIEWS = {
    ("train", "pos"): [
        "A wonderful film.<br /><br />I'd see it again & again.",
        'Mr. Smith\'s best work: "great" acting, great story!',
        "Great great film, 10/10.\nA second line the tutorial never reads.",
    ],
    ("train", "neg"): [
        "Awful. I wasted 2 hours (and $10) on this mess...",
        "The U.S.A. deserves better films than this one.",
    ],
    ("test", "pos"): ["A great, gripping film; a splendid cast."],
    ("test", "neg"): ["Dull & boring: zzyzx never again."],
}


def make_acl_imdb(root, reviews=REVIEWS):
    """An aclImdb folder of ``reviews``, named <id>_<rating>.txt as the real one; returns its path."""
    folder = root / "aclImdb"
    for (split, label), texts in reviews.items():
        (folder / split / label).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            rating = 8 if label == "pos" else 2
            (folder / split / label / f"{i}_{rating}.txt").write_text(text, encoding="utf-8")
    (folder / "README").write_text("Large Movie Review Dataset (test fixture)\n")
    return folder


def make_archive(path, folder):
    """A .tar.gz of ``folder`` under the name aclImdb/, as the official archive."""
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return path


@pytest.fixture
def acl_imdb(tmp_path):
    return make_acl_imdb(tmp_path / "raw")


@pytest.fixture
def acl_archive(tmp_path, acl_imdb):
    return make_archive(tmp_path / "aclImdb_v1.tar.gz", acl_imdb)


@pytest.fixture(scope="session")
def real_imdb_archive():
    """The real archive, aclImdb_v1.tar.gz."""
    return real_file("LSTM_SENTIMENT_IMDB_ARCHIVE", "aclImdb_v1.tar.gz")


@pytest.fixture(scope="session")
def real_preprocessed(real_imdb_archive, tmp_path_factory):
    """The real archive preprocessed by this package: (imdb.pkl, imdb.dict.pkl) paths."""
    from lstm_sentiment.imdb_preprocess import preprocess

    return preprocess(real_imdb_archive, out=str(tmp_path_factory.mktemp("real")))


def word_task_reviews(seed, n_train=300, n_test=50):
    """Raw reviews a correct model must learn: positive ones say "excellent", negative ones "terrible"."""
    rng = numpy.random.RandomState(seed)
    filler = [
        "the",
        "a",
        "film",
        "movie",
        "was",
        "is",
        "and",
        "of",
        "to",
        "it",
        "this",
        "that",
        "plot",
        "actors",
        "story",
        "scene",
    ]

    def review(label):
        words = list(rng.choice(filler, size=rng.randint(4, 15)))
        words.insert(rng.randint(len(words)), "excellent" if label == "pos" else "terrible")
        return " ".join(words).capitalize() + "."

    return {
        (split, label): [review(label) for _ in range(n_train if split == "train" else n_test)]
        for split in ("train", "test")
        for label in ("pos", "neg")
    }


@pytest.fixture(scope="session")
def word_model(tmp_path_factory):
    """A model trained on the word task from raw reviews: (model path, data folder, reviews)."""
    from lstm_sentiment.train import train_lstm

    root = tmp_path_factory.mktemp("word")
    reviews = word_task_reviews(0)
    folder = make_acl_imdb(root, reviews)
    saveto = str(root / "model" / "m.npz")
    os.makedirs(os.path.dirname(saveto))
    errors = train_lstm(
        dataset=str(folder),
        data_dir=str(root / "data"),
        saveto=saveto,
        dim_proj=16,
        n_words=40,
        max_epochs=15,
        validFreq=20,
        maxlen=0,
    )
    assert errors[2] < 0.1, errors
    return saveto, str(root / "data"), reviews
