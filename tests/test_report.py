"""The report command, on small model files written by the package's own writer."""

import re
import subprocess
import sys

import matplotlib.image
import numpy
import pytest

from lstm_sentiment.model.files import write_model, write_options
from lstm_sentiment.report import plot, report

HISTORY = [[0.5, 0.52], [0.31, 0.33], [0.2, 0.24], [0.25, 0.27], [0.2, 0.22], [0.28, 0.3]]
UPDATES = [20, 40, 60, 80, 100, 120]
OPTIONS = dict(dim_proj=3, n_words=5, ydim=2, optimizer="adadelta", batch_size=16, maxlen=100, use_dropout=True)


def params(dim=3, n_words=5):
    rng = numpy.random.RandomState(0)
    shapes = dict(
        Wemb=(n_words, dim), lstm_W=(dim, 4 * dim), lstm_U=(dim, 4 * dim), lstm_b=(4 * dim,), U=(dim, 2), b=(2,)
    )
    return {k: rng.randn(*s).astype("float32") for k, s in shapes.items()}


@pytest.fixture
def model(tmp_path):
    path = str(tmp_path / "m.npz")
    write_model(path, params(), HISTORY, UPDATES, early_stop=True, train_err=0.11, valid_err=0.2, test_err=0.22)
    write_options(path, OPTIONS)
    return path


def test_report_lists_options_errors_best_row_and_history(model):
    text = report(model)
    assert "optimizer adadelta" in text and "dim_proj 3" in text
    assert "final: train_err 0.1100  valid_err 0.2000  test_err 0.2200" in text
    rows = [line.split() for line in text.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [(int(i), int(u), float(v), float(t)) for i, u, v, t in rows] == [
        (i, u, v, t) for i, (u, (v, t)) in enumerate(zip(UPDATES, HISTORY))
    ]
    # two rows tie for the lowest validation error: training kept the later one
    assert "best validation: row 4 (update 100): valid_err 0.2000 test_err 0.2200" in text


def test_a_valid_only_history_shows_its_test_errors_as_not_computed(tmp_path):
    path = str(tmp_path / "v.npz")
    history = [[v, float("nan")] for v, _ in HISTORY]
    write_model(path, params(), history, UPDATES, early_stop=False, train_err=0.1, valid_err=0.2, test_err=0.23)
    write_options(path, dict(OPTIONS, valid_only=True))
    text = report(path)
    assert "best validation: row 4 (update 100): valid_err 0.2000 test_err -" in text
    assert "    4      100     0.2000          -" in text and "nan" not in text
    assert "final: train_err 0.1000  valid_err 0.2000  test_err 0.2300" in text
    out = tmp_path / "v.png"
    plot(path, str(out))
    assert matplotlib.image.imread(str(out))[..., :3].std() > 0.05


def test_plot_writes_a_png_of_the_expected_size(model, tmp_path):
    out = tmp_path / "curves.png"
    plot(model, str(out))
    image = matplotlib.image.imread(str(out))
    assert image.shape[:2] == (500, 800)
    assert image[..., :3].std() > 0.05  # something is drawn


def test_a_theano_tutorial_model_is_reported_saying_what_is_missing(tmp_path):
    path = tmp_path / "old.npz"
    numpy.savez(path, history_errs=numpy.array(HISTORY), **params())  # no options, no history_updates
    text = report(str(path))
    assert "options: none (" in text and "old.npz.json is missing" in text
    assert "from its arrays: dim_proj 3, n_words 5" in text
    assert "update index of each validation: not recorded" in text
    assert "final: none yet" in text
    plot(str(path), str(tmp_path / "old.png"))
    assert matplotlib.image.imread(str(tmp_path / "old.png")).shape[:2] == (500, 800)


def test_a_history_of_the_wrong_width_is_refused(tmp_path):
    path = tmp_path / "odd.npz"
    for errs in (numpy.zeros(5), numpy.zeros(6), numpy.zeros((2, 3)), numpy.zeros((1, 2, 2))):
        numpy.savez(path, history_errs=errs, **params())
        with pytest.raises(ValueError, match=re.escape(f"odd.npz: history_errs has shape {errs.shape}, not (n, 2)")):
            report(str(path))


@pytest.mark.slow
def test_the_command(model, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.report", model, "--plot", str(tmp_path / "c.png")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "history_errs: 6 validations" in done.stdout and (tmp_path / "c.png").stat().st_size > 1000
    done = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.report", model, "--plot", str(tmp_path / "c.xyz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "c.xyz: cannot write the plot there" in done.stderr
    assert "Traceback" not in done.stderr
