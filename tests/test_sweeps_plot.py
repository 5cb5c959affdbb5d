"""The picture of a sweep, from its table and its trials' validations (no Ray needed)."""

import math

import pytest

from lstm_sentiment.base.errors import Error
from lstm_sentiment.sweeps import results
from lstm_sentiment.sweeps.plot import plot_sweep, sweep_figure
from lstm_sentiment.training.loop import Validation


def _sweep(out):
    rows = []
    for k, (status, lrate, optimizer) in enumerate(
        [("done", 1e-4, "adam"), ("stopped", 1e-2, "sgd"), ("failed", 1e-3, "sgd"), ("done", 3e-3, "adam")]
    ):
        folder = results.trial_folder(str(out), f"t{k}")
        (out / "trials" / f"t{k}").mkdir(parents=True)
        results.start_validations(folder)
        for u in range(1, 1 + (2 if status == "stopped" else 0 if status == "failed" else 6)):
            results.append_validation(folder, Validation(10 * u, 0, math.nan, 0.5 / u + 0.05 * k, math.nan))
        rows.append(results.trial_row(str(out), f"t{k}", 0, dict(lrate=lrate, optimizer=optimizer), status, 1.0))
    results.write_table(str(out), rows, ["lrate", "optimizer"])


def test_the_picture_draws_each_trials_validations_and_its_best_error_against_each_argument(tmp_path):
    _sweep(tmp_path)
    fig = sweep_figure(str(tmp_path))
    curves, lrate, optimizer = fig.axes
    lines = [(list(line.get_xdata()), list(line.get_ydata()), line.get_linestyle()) for line in curves.lines]
    solid = [(u, e) for u, e, style in lines if style == "-"]  # t0 and t3, done: 6 validations each
    assert solid == [([10 * u for u in range(1, 7)], [0.5 / u + 0.05 * k for u in range(1, 7)]) for k in (0, 3)]
    stopped = [(u, e) for u, e, style in lines if style == "--"]  # t1, stopped by ASHA: 2 validations
    assert stopped == [([10, 20], [0.5 / u + 0.05 for u in (1, 2)])]
    assert [(u, e) for u, e, style in lines if style == "None"] == [([20], [0.5 / 2 + 0.05])]  # its x
    assert len(lines) == 4  # the failed trial has no validation, so no curve
    best = {k: min(0.5 / u + 0.05 * k for u in range(1, 7 if k != 1 else 3)) for k in (0, 1, 3)}
    points = lrate.collections[0].get_offsets().tolist()
    assert points == [[1e-4, best[0]], [1e-2, best[1]], [3e-3, best[3]]] and lrate.get_xscale() == "log"
    assert [t.get_text() for t in optimizer.get_xticklabels()] == ["adam", "sgd"]
    assert optimizer.collections[0].get_offsets().tolist() == [[0, best[0]], [1, best[1]], [0, best[3]]]
    path = plot_sweep(str(tmp_path), str(tmp_path / "s.png"))
    assert path.endswith("s.png") and (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")


def test_a_picture_that_cannot_be_written_is_named_and_nothing_is_written(tmp_path):
    _sweep(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = {
        "nowhere/s.png": "the folder .*nowhere does not exist",
        "trials": "trials: a folder; name the image file to write, e.g. .*trials/plot.png",
        "curves": "curves: name an image file ending in .png, .pdf, .svg",
        "curves.xyz": "curves.xyz: name an image file ending in .png",
    }
    for name, message in cases.items():
        with pytest.raises(Error, match=message):
            plot_sweep(str(tmp_path), str(tmp_path / name))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no curves.png beside "curves"


@pytest.mark.parametrize("name, magic", [("s.pdf", b"%PDF"), ("S.SVG", b"<?xml"), ("s.jpeg", b"\xff\xd8")])
def test_the_picture_goes_to_exactly_the_path_named_in_the_format_its_extension_names(tmp_path, name, magic):
    _sweep(tmp_path)
    plot_sweep(str(tmp_path), str(tmp_path / name))
    assert (tmp_path / name).read_bytes().startswith(magic)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
