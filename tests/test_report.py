"""The report command, on small model files written by the package's own writer."""

import re
import subprocess
import sys

import matplotlib.image
import numpy
import pytest

from lstm_sentiment.base.errors import ModelFileError
from lstm_sentiment.model.files import member_params, write_model
from lstm_sentiment.report import curves_figure, plot, report

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
    write_model(
        path, params(), HISTORY, UPDATES, OPTIONS, early_stop=True, train_err=0.11, valid_err=0.2, test_err=0.22
    )
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
    options = dict(OPTIONS, valid_only=True)
    write_model(
        path, params(), history, UPDATES, options, early_stop=False, train_err=0.1, valid_err=0.2, test_err=0.23
    )
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


def test_an_ensembles_plot_draws_each_model_and_marks_the_ensembles_final_errors(tmp_path):
    path = str(tmp_path / "e.npz")
    second = {k: v + 1 for k, v in params().items()}
    updates = UPDATES + [u + 130 for u in UPDATES]  # the second model's, counted on from the first's 130
    history = HISTORY + [[v - 0.1, t] for v, t in HISTORY]
    models = [0] * 6 + [1] * 6
    arrays = member_params([params(), second])
    write_model(path, arrays, history, updates, OPTIONS, None, models, train_err=0.1, valid_err=0.09, test_err=0.12)
    ax = curves_figure(path).axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["model 1: validation error", "model 2: validation error"]
    for k, line in enumerate(lines):
        assert line.get_xdata().tolist() == updates[6 * k : 6 * k + 6]
        numpy.testing.assert_allclose(line.get_ydata(), [v for v, _ in history[6 * k : 6 * k + 6]])
    marks = {c.get_label(): c.get_offsets().tolist() for c in ax.collections}
    assert marks == {
        "the ensemble's validation error (0.090)": [[250, 0.09]],
        "the ensemble's test error (0.120)": [[250, 0.12]],
    }
    assert "ensemble: 2 models" in report(path)


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
    assert done.returncode == 2 and "c.xyz: name an image file ending in .png, .pdf, .svg" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["curves", "sub", "c.xyz", "missing/c.png"])
def test_plot_names_that_are_not_an_image_file_are_refused_before_the_report_and_nothing_is_written(
    model, tmp_path, capsys, name
):
    from lstm_sentiment.report import main

    (tmp_path / "sub").mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main([model, "--plot", str(tmp_path / name)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(f"error: {tmp_path / name}: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no curves.png for "curves"


def test_plot_writes_exactly_the_path_it_names_in_its_format(model, tmp_path):
    plot(model, str(tmp_path / "c.PDF"))
    assert (tmp_path / "c.PDF").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.PDF", "m.npz", "m.npz.json"]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(U=None), "these parameters are not in the archive: U"),
        (dict(lstm_W=params()["lstm_W"] * numpy.nan), "parameter 'lstm_W' holds values that are not finite"),
        (dict(Wemb=numpy.zeros((5, 4), "float32")), r"parameter 'Wemb' has shape \(5, 4\), but dim_proj=3"),
    ],
)
def test_report_checks_the_model_as_predict_does(tmp_path, change, message):
    path = str(tmp_path / "m.npz")
    write_model(path, {k: v for k, v in dict(params(), **change).items() if v is not None}, HISTORY, UPDATES, OPTIONS)
    with pytest.raises(ModelFileError, match=message):
        report(path)
    with pytest.raises(ModelFileError, match=message):
        plot(path, str(tmp_path / "c.png"))
