"""scripts/movie_split.py: held-out reviews are those of whole movies, none of which is trained on."""

import importlib.util
import os

from lstm_sentiment.data.imdb import dictionary_beside, read_dataset, read_dictionary
from lstm_sentiment.data.preprocess import preprocess

from conftest import REVIEWS, make_acl_imdb, make_archive

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "movie_split.py")

# The movie of each training review, by label and review id (line i of urls_<label>.txt). Twelve
# positive reviews: file names sort 0, 1, 10, 11, 2, ...; each review names its movie in its text.
MOVIES = {"pos": [f"m{i % 5}" for i in range(12)], "neg": [f"m{(3 * i) % 7}" for i in range(5)]}


def _script():
    spec = importlib.util.spec_from_file_location("movie_split", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source(tmp_path, urls=True):
    reviews = {k: v for k, v in REVIEWS.items() if k[0] == "test"}
    for label, movies in MOVIES.items():
        reviews[("train", label)] = [f"Review {i} of the movie zz{m}, {label}." for i, m in enumerate(movies)]
    folder = make_acl_imdb(tmp_path / "raw", reviews)
    if urls:
        for label, movies in MOVIES.items():
            lines = [f"http://www.imdb.com/title/{m}/usercomments" for m in movies]
            (folder / "train" / f"urls_{label}.txt").write_text("\n".join(lines) + "\n")
    return make_archive(tmp_path / "aclImdb_v1.tar.gz", folder)


def _movies_named(pkl, reviews):
    """The movie each review names in its text (its word zz<movie>), read back through the dictionary."""
    words = {i: w for w, i in read_dictionary(dictionary_beside(pkl)).items()}
    return [next(words[w][2:] for w in r if words.get(w, "").startswith("zz")) for r in reviews]


def test_movies_are_read_in_the_order_of_the_preprocessed_training_set(tmp_path):
    source = _source(tmp_path)
    movies = _script().movies_of_reviews(str(source))
    pkl, _ = preprocess(str(source), out=str(tmp_path / "out"))
    (x, _), _ = read_dataset(pkl)
    assert [m.rsplit("/", 1)[1] for m in movies] == _movies_named(pkl, x)


def test_held_out_reviews_are_all_the_reviews_of_their_movies(tmp_path, capsys):
    script, source = _script(), _source(tmp_path)
    held_sets = set()
    for seed in range(6):
        out = tmp_path / f"out{seed}"
        assert script.main([str(source), "--out", str(out), "--reviews", "3", "--seed", str(seed)]) == 0
        pkl = str(out / "imdb_movies.pkl")
        (train_x, train_y), (held_x, held_y) = read_dataset(pkl)
        held, kept = _movies_named(pkl, held_x), _movies_named(pkl, train_x)
        assert len(held_x) >= 3 and len(train_x) + len(held_x) == 17
        assert not set(held) & set(kept)  # no movie on both sides
        held_sets.add(frozenset(held))
    assert len(held_sets) > 1  # the seed picks the movies
    assert "held-out reviews of" in capsys.readouterr().out


def test_an_archive_without_the_urls_files_is_one_line_and_status_2(tmp_path, capsys):
    status = _script().main([str(_source(tmp_path, urls=False)), "--out", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "urls_pos.txt" in err  # before any work
    assert not (tmp_path / "out").exists()
