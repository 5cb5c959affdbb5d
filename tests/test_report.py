import subprocess
import sys

import matplotlib.image
import numpy

from lstm_sentiment.report import plot, report


def test_report_lists_options_errors_best_row_and_history(word_model):
    path, _, _ = word_model
    text = report(path)
    with numpy.load(path) as f:
        errs, updates = f["history_errs"], f["history_updates"]
        final = float(f["test_err"])
    assert "optimizer adadelta" in text and "dim_proj 16" in text
    assert f"test_err {final:.4f}" in text
    rows = [line.split() for line in text.splitlines() if line.split() and line.split()[0].isdigit()]
    assert len(rows) == len(errs) == len(updates)
    for (i, u, v, t), (ev, et), eu in zip(rows, errs, updates):
        assert (int(u), float(v), float(t)) == (eu, round(ev, 4), round(et, 4))
    best = max(i for i in range(len(errs)) if errs[i, 0] == errs[:, 0].min())
    assert f"best validation: row {best} (update {updates[best]})" in text
    assert list(updates) == sorted(updates) and updates[0] == 20


def test_plot_writes_a_png_of_the_expected_size(word_model, tmp_path):
    out = tmp_path / "curves.png"
    plot(word_model[0], str(out))
    image = matplotlib.image.imread(str(out))
    assert image.shape[:2] == (500, 800)
    assert image[..., :3].std() > 0.05  # something is drawn


def test_a_theano_tutorial_model_is_reported_saying_what_is_missing(word_model, tmp_path):
    path, _, _ = word_model
    with numpy.load(path) as f:
        numpy.savez(tmp_path / "old.npz", **{k: f[k] for k in f.files if k not in ("history_updates", "early_stop")})
    text = report(str(tmp_path / "old.npz"))
    assert "options: none (" in text and "old.npz.json is missing" in text
    assert "update index of each validation: not recorded" in text
    plot(str(tmp_path / "old.npz"), str(tmp_path / "old.png"))
    assert (tmp_path / "old.png").exists()


def test_the_command(word_model, tmp_path):
    path, _, _ = word_model
    done = subprocess.run([sys.executable, "-m", "lstm_sentiment.report", path, "--plot", str(tmp_path / "c.png")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "history_errs:" in done.stdout and (tmp_path / "c.png").exists()
    done = subprocess.run([sys.executable, "-m", "lstm_sentiment.report", str(tmp_path / "none.npz")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "none.npz: no such model file" in done.stderr
