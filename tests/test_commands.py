"""Every command on damaged files: one line naming the problem, exit status 2, no traceback."""

import os
import pathlib
import signal
import subprocess
import sys
import time
import zipfile

import numpy
import pytest

from lstm_sentiment.base.cli import STOPPED
from lstm_sentiment.model.files import write_model

from conftest import marker_reviews, write_pkl
from test_report import OPTIONS, params


def damage(path, kind):
    """Damage the model at ``path`` (npz with its .json and .dict.json) in one way."""
    path = pathlib.Path(path)
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bad crc":  # a byte flipped inside the first member's stored data
        with zipfile.ZipFile(path) as z:
            info = z.infolist()[0]
        data = bytearray(path.read_bytes())
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
        data[start] ^= 0xFF
        path.write_bytes(bytes(data))
    elif kind == "wrong shapes":
        _rewrite(path, **params(dim=4))
    elif kind == "nan parameter":
        _rewrite(path, lstm_U=params()["lstm_U"] * numpy.nan)
    elif kind == "complex parameter":
        _rewrite(path, U=params()["U"] + 1j)
    elif kind == "missing parameter":
        _rewrite(path, U=None)
    elif kind == "history of another width":
        _rewrite(path, history_errs=numpy.zeros((2, 3)))
    elif kind == "bad json options":
        pathlib.Path(f"{path}.json").write_text("{not json")
    elif kind == "bad json dictionary":
        pathlib.Path(f"{path}.dict.json").write_text('["a", "list"]')


def _rewrite(path, **changes):
    """The npz's arrays with ``changes`` (None: left out), its companions' digests kept: only the arrays are wrong."""
    with numpy.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    numpy.savez(path, **{k: v for k, v in arrays.items() if v is not None})


KINDS = [
    "truncated",
    "empty",
    "bad crc",
    "wrong shapes",
    "nan parameter",
    "complex parameter",
    "missing parameter",
    "history of another width",
    "bad json options",
    "bad json dictionary",
]


@pytest.fixture
def model(tmp_path):
    path = str(tmp_path / "m.npz")
    write_model(
        path, params(), [[0.5, 0.5], [0.3, 0.4]], [10, 20], dict(OPTIONS, encoder="lstm"), {"good": 2, "bad": 3}
    )
    return path


def command(*args):
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_model_is_one_line_and_status_2_everywhere(model, kind, tmp_path):
    damage(model, kind)
    data = write_pkl(tmp_path / "d.pkl", marker_reviews(40, 0), marker_reviews(10, 1))
    runs = {
        "predict": ("lstm_sentiment.predict", "--model", model, "A good film."),
        "reload": (
            "lstm_sentiment.train",
            "--dataset",
            data,
            "--saveto",
            "",
            "--reload_model",
            model,
            "--dim_proj",
            "3",
            "--n_words",
            "5",
            "--max_epochs",
            "1",
        ),
    }
    if kind not in ("bad json dictionary",):  # report does not read the dictionary
        runs["report"] = ("lstm_sentiment.report", model)
    if kind in ("bad json options", "bad json dictionary"):
        del runs["reload"]  # training reads the parameters alone
    for name, args in runs.items():
        code, err = command(*args)
        assert code == 2, (name, err)
        assert "Traceback" not in err, (name, err)
        lines = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and os.path.basename(model) in lines[0], (name, err)


@pytest.mark.slow
def test_predict_without_text_and_with_a_bad_batch_size(model):
    done = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.predict", "--model", model],
        input="",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "standard input: no text to classify" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.predict", "--model", model, "--batch_size", "0", "Good."],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2 and "batch_size: 0 is not allowed" in done.stderr


def test_a_saveto_that_is_a_folder_is_refused_before_any_work(tmp_path):
    code, err = command("lstm_sentiment.train", "--saveto", str(tmp_path), "--dataset", "/nonexistent.pkl")
    assert code == 2 and "is a folder; name a file in it" in err and "Traceback" not in err


def test_a_dataset_with_bad_values_is_one_line_and_leaves_the_model_there_unchanged(model, tmp_path, capsys):
    from lstm_sentiment.train import main

    before = {p: pathlib.Path(p).read_bytes() for p in (model, f"{model}.json", f"{model}.dict.json")}
    reviews, labels = marker_reviews(40, 0)
    data = write_pkl(tmp_path / "d.pkl", (reviews, [*labels[:-1], 10**6]), marker_reviews(10, 1))
    assert main(["--dataset", data, "--saveto", model, "--dim_proj", "3", "--n_words", "5"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "d.pkl: the training labels must be the classes 0 to 1000000" in lines[0], err
    assert {p: pathlib.Path(p).read_bytes() for p in before} == before


@pytest.mark.slow
@pytest.mark.parametrize("after", [0.3, 0.6, 1.0, 2.0])
def test_ctrl_c_at_any_moment_of_the_start_is_one_line(tmp_path, after):
    data = write_pkl(tmp_path / "d.pkl", marker_reviews(40, 0), marker_reviews(10, 1))
    # 5000 epochs without early stopping: the run is still going when the signal comes
    args = ["--dataset", data, "--saveto", str(tmp_path / "m.npz"), "--patience", "100000"]
    proc = subprocess.Popen([sys.executable, "-m", "lstm_sentiment.train", *args], stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=600)[1]
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert err.rstrip().splitlines()[-1].endswith((STOPPED, "m.npz.checkpoint.npz")), err  # at once, or how to resume


@pytest.mark.slow
@pytest.mark.parametrize("variable, value", [("PYTENSOR_FLAGS", "mode=NOPE"), ("OMP_NUM_THREADS", "abc")])
def test_a_bad_environment_is_one_line_and_status_2(model, variable, value):
    for args in (("lstm_sentiment.train", "--saveto", ""), ("lstm_sentiment.predict", "--model", model, "Good.")):
        done = subprocess.run(
            [sys.executable, "-m", *args],
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, **{variable: value}),
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: pytensor cannot load with these settings: ")
        assert value.split("=")[-1] in done.stderr and variable in done.stderr
