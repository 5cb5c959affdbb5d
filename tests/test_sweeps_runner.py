"""Sweeps on Ray Tune, started locally on 2 CPUs, on the marker task with a tiny model."""

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest

from conftest import marker_reviews, write_pkl

pytest.importorskip("ray.tune", reason="Ray Tune (the sweep extra) is not installed")
pytest.importorskip("optuna", reason="Optuna (the sweep extra) is not installed")

FIXED = dict(dim_proj=8, n_words=40, max_epochs=4, validFreq=8, patience=100, maxlen=0, dispFreq=1000)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The marker task, with the word dictionary that a model needs to read text."""
    folder = tmp_path_factory.mktemp("sweepdata")
    path = write_pkl(folder / "marker.pkl", marker_reviews(800, 0), marker_reviews(100, 1))
    with open(folder / "marker.dict.pkl", "wb") as f:
        pickle.dump({f"w{i}": i for i in range(2, 40)}, f)
    return path


def _space(tmp_path, data, search, seeds=2, **fixed):
    path = tmp_path / "space.json"
    fixed = {k: v for k, v in dict(FIXED, **fixed).items() if k not in search}
    path.write_text(json.dumps({"fixed": dict(fixed, dataset=data), "search": search, "seeds": seeds}))
    return str(path)


def _sweep(*args, background=False):
    command = [sys.executable, "-m", "lstm_sentiment.sweep", *args]
    if background:  # its output discarded: a full pipe would block it
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def _table(out):
    with open(os.path.join(out, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


SEARCH = {"optimizer": {"choice": ["adadelta", "sgd"]}, "dim_proj": {"choice": [4, 8]}}


@pytest.mark.slow
def test_a_sweep_of_six_trials_writes_its_table_and_each_trials_model(data, tmp_path):
    from lstm_sentiment import load_model

    out = str(tmp_path / "sweep")
    done = _sweep("--space", _space(tmp_path, data, SEARCH), "--trials", "6", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _table(out)
    assert len(rows) == 6 and len({r["trial"] for r in rows}) == 6
    assert list(rows[0])[:8] == ["trial", "seed", "status", "best_valid_err", "test_err", "updates", "seconds", "error"]
    assert list(rows[0])[8:] == ["optimizer", "dim_proj"]
    assert sorted(r["seed"] for r in rows) == ["0", "0", "0", "1", "1", "1"]  # 3 configurations, 2 seeds each
    assert all(r["status"] in ("done", "stopped") for r in rows), rows
    for r in rows:  # each trial's options are the drawn ones, with its seed
        with open(os.path.join(out, "trials", r["trial"], "model.npz.json")) as f:
            options = json.load(f)
        assert (options["optimizer"], str(options["dim_proj"]), str(options["seed"])) == (
            r["optimizer"],
            r["dim_proj"],
            r["seed"],
        )
    best = min(rows, key=lambda r: float(r["best_valid_err"]))
    model = load_model(os.path.join(out, "trials", best["trial"], "model.npz"))
    assert model.predict_proba_ids([[3, 5, 7], [9, 11]]).shape == (2, 2)
    assert "best configuration by validation error: " in done.stdout
    report = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.report", "--sweep", out, "--plot", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0 and report.stdout.splitlines()[0].split()[0] == "trial", report.stderr
    assert (tmp_path / "s.png").stat().st_size > 10_000


@pytest.mark.slow
def test_asha_stops_trials_that_cannot_learn(data, tmp_path):
    """Adam at a learning rate of 1e-8 stays at chance; at 0.01 it learns the marker task in 48 updates."""
    search = {"lrate": {"choice": [1e-8, 0.01]}}
    space = _space(tmp_path, data, search, seeds=1, optimizer="adam", validFreq=24, valid_portion=0.1)
    out = str(tmp_path / "sweep")
    done = _sweep("--space", space, "--trials", "6", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _table(out)
    stopped = [r for r in rows if r["status"] == "stopped"]
    assert stopped and all(float(r["lrate"]) == 1e-8 for r in stopped), rows
    assert all(float(r["best_valid_err"]) > 0.3 for r in stopped), rows
    longest = max(int(r["updates"]) for r in rows)
    assert all(int(r["updates"]) < longest for r in stopped)


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_and_ends_with_every_trial_done_once(data, tmp_path):
    out, space = str(tmp_path / "sweep"), _space(tmp_path, data, SEARCH)
    proc = _sweep("--space", space, "--trials", "6", "--out", out, background=True)
    deadline = time.time() + 600
    trials = os.path.join(out, "trials")
    while time.time() < deadline and proc.poll() is None:  # until a first trial has ended
        if os.path.isdir(trials) and any(
            os.path.exists(os.path.join(trials, t, "result.json")) for t in os.listdir(trials)
        ):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=600) == 130  # unfinished trials: status 130, and the command that continues
    first = {r["trial"]: r["status"] for r in _table(out)} if os.path.exists(os.path.join(out, "results.csv")) else {}
    assert "unfinished" in first.values() or len(first) < 6, first  # interrupted partway

    again = _sweep("--space", space, "--trials", "6", "--out", out, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    rows = _table(out)
    assert len(rows) == 6 and len({r["trial"] for r in rows}) == 6
    assert all(r["status"] in ("done", "stopped") for r in rows), rows
    refused = _sweep("--space", space, "--trials", "6", "--out", out)  # not --resume: the sweep is there
    assert refused.returncode == 2 and "already holds a sweep; continue it with --resume" in refused.stderr


@pytest.mark.slow
def test_a_trial_that_fails_is_recorded_with_its_error_and_the_sweep_goes_on(data, tmp_path):
    """maxlen 2 leaves no training review: train_lstm raises in those trials, not in the others."""
    out = str(tmp_path / "sweep")
    space = _space(tmp_path, data, {"maxlen": {"choice": [0, 2]}}, seeds=1, max_epochs=1)
    done = _sweep("--space", space, "--trials", "4", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _table(out)
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all(r["maxlen"] == "2" and "maxlen: 2 leaves 0 training" in r["error"] for r in failed), rows
    assert all(r["status"] == "done" for r in rows if r["maxlen"] == "0") and len(failed) < len(rows), rows
    assert f"trial {failed[0]['trial']} failed: " in done.stdout


def test_a_bad_space_file_is_one_line_before_anything_starts(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"search": {"optimizer": {"choice": ["adamw"]}}}))
    out = tmp_path / "sweep"
    done = _sweep("--space", str(path), "--trials", "2", "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {path}: optimizer: 'adamw' is not allowed; it must be one of ")
    assert not out.exists()
    path.write_text(json.dumps({"search": {"optimizer": {"choice": ["adam"]}}}))
    out.write_text("a file")
    done = _sweep("--space", str(path), "--trials", "2", "--out", str(out))
    assert done.returncode == 2 and done.stderr.startswith(f"error: --out: cannot make the folder {out}"), done.stderr
    assert out.read_text() == "a file"
