"""scripts/movie_split.py: held-out reviews are those of whole movies, none of which is trained on."""

import importlib.util
import os

from lstm_sentiment.data.imdb import read_dataset

from conftest import REVIEWS, make_acl_imdb, make_archive

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "movie_split.py")

# the movie of each training review, by label and review id (line i of urls_<label>.txt)
MOVIES = {"pos": ["tt1", "tt2", "tt1"], "neg": ["tt3", "tt1"]}


def _script():
    spec = importlib.util.spec_from_file_location("movie_split", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source(tmp_path, urls=True):
    folder = make_acl_imdb(tmp_path / "raw")
    if urls:
        for label, movies in MOVIES.items():
            lines = [f"http://www.imdb.com/title/{m}/usercomments" for m in movies]
            (folder / "train" / f"urls_{label}.txt").write_text("\n".join(lines) + "\n")
    return make_archive(tmp_path / "aclImdb_v1.tar.gz", folder)


def test_movies_are_read_in_the_order_of_the_training_set(tmp_path):
    movies = _script().movies_of_reviews(str(_source(tmp_path)))
    assert [m.rsplit("/", 1)[1] for m in movies] == MOVIES["pos"] + MOVIES["neg"]  # pos, then neg, by id


def test_held_out_reviews_are_all_the_reviews_of_their_movies(tmp_path, capsys):
    script = _script()
    for seed in range(6):
        out = tmp_path / f"out{seed}"
        assert script.main([str(_source(tmp_path)), "--out", str(out), "--reviews", "2", "--seed", str(seed)]) == 0
        (train_x, train_y), (held_x, held_y) = read_dataset(str(out / "imdb_movies.pkl"))
        (all_x, all_y), _ = read_dataset(str(out / "imdb.pkl"))
        movies = script.movies_of_reviews(str(_source(tmp_path)))
        held = {m for m, x in zip(movies, all_x) if x in held_x}
        assert len(held_x) >= 2 and sorted(train_x + held_x) == sorted(all_x)
        assert held_x == [x for m, x in zip(movies, all_x) if m in held]  # every review of a held movie
        assert train_x == [x for m, x in zip(movies, all_x) if m not in held]
        assert held_y == [y for m, y in zip(movies, all_y) if m in held]
    assert "held-out reviews of" in capsys.readouterr().out


def test_an_archive_without_the_urls_files_is_one_line_and_status_2(tmp_path, capsys):
    status = _script().main([str(_source(tmp_path, urls=False)), "--out", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "urls_pos.txt" in err  # before any work
    assert not (tmp_path / "out").exists()
    assert len(REVIEWS[("train", "pos")]) == len(MOVIES["pos"])  # the fixture's reviews each have a movie
