"""scripts/benchmark.py runs its measurements and reports them (PyTorch's side where it is installed)."""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "benchmark.py")


def _benchmark():
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("side, config", [("ours", "tutorial"), ("plain", "tutorial"), ("ours", "full")])
def test_our_worker_measures_every_figure(marker_pkl, capsys, side, config):
    bench = _benchmark()
    bench.worker(side, marker_pkl, 2, time.time(), cold=False, config=config)
    figures = json.loads(capsys.readouterr().out)
    from lstm_sentiment.kernel.build import load

    assert figures.pop("path") == (load().lstm_path().decode() if side == "ours" else "scan")
    assert set(figures) == set(bench.METRICS) - {"first_update_cold"}
    assert all(v > 0 for v in figures.values())


@pytest.mark.slow
def test_ours_runs_train_lstms_own_epoch(marker_pkl, tmp_path):
    """The full configuration's epoch (random windows, word dropout, buckets, Adam with a decaying rate) ends
    with the parameters that train_lstm's first epoch saves."""
    from lstm_sentiment import train_lstm

    bench = _benchmark()
    small = dict(truncate=10, dim_proj=8, batch_size=8, bucket=2, n_words=40)
    ours = bench.Ours(dataclasses.replace(bench.read_options("full", marker_pkl), **small))
    ours.epoch()
    options = dict(bench.read_options("full", marker_pkl).to_dict(), **small)
    train_lstm(**dict(options, saveto=str(tmp_path / "m.npz"), max_epochs=1))
    saved = numpy.load(tmp_path / "m.npz")
    for name, param in ours.training.model.tparams.items():
        numpy.testing.assert_array_equal(param.get_value(), saved[name], err_msg=name)
    assert ours.training.state.counters.eidx == 1 and 0 <= ours.test_error() <= 1


def test_a_baseline_must_be_a_checkout(marker_pkl, tmp_path):
    out = subprocess.run(
        [sys.executable, SCRIPT, "--data", marker_pkl, "--baseline", str(tmp_path)], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert out.stderr.strip() == f"benchmark: {tmp_path} holds no lstm_sentiment package; give a checkout's root"


@pytest.mark.slow
def test_table_and_last_line_of_the_full_configuration(marker_pkl, tmp_path):
    pytest.importorskip("torch", reason="PyTorch (the bench extra) is not installed")
    out = subprocess.run(
        [
            sys.executable,
            SCRIPT,
            "--data",
            marker_pkl,
            "--repeat",
            "1",
            "--threads",
            "1",
            "--config",
            "full",
            "--json",
            str(tmp_path / "b.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("configuration: full; threads: 1 on each side")
    assert lines[-1].startswith("ratio full_epoch=") and " eval_25k=" in lines[-1]
    results = json.loads((tmp_path / "b.json").read_text())
    assert set(results["ratio"]) == set(_benchmark().METRICS)


@pytest.mark.slow
def test_the_profile_accounts_for_the_epoch_part_by_part(marker_pkl, tmp_path):
    command = [sys.executable, SCRIPT, "--data", marker_pkl, "--profile", "--threads", "2", "--repeat", "2"]
    out = subprocess.run([*command, "--json", str(tmp_path / "p.json")], capture_output=True, text=True, check=True)
    bench, reviews = _benchmark(), _train_reviews(marker_pkl)
    lines = out.stdout.strip().splitlines()
    updates = -(-len(reviews) // 16)
    assert lines[0].startswith(f"profile of one training epoch, configuration tutorial: {updates} updates")
    assert [line.split()[0] for line in lines[2 : 3 + len(bench.ROWS)]] == [
        *(row.split()[0] for row in bench.ROWS),
        "epoch",
    ]
    profiles = json.loads((tmp_path / "p.json").read_text())
    runs = profiles.pop("runs")
    assert set(profiles) == set(runs) == {"1", "2"} and all(len(r) == 2 for r in runs.values())
    for n, p in profiles.items():  # the table's run: of two, the faster epoch
        assert p["wall"] == min(r["wall"] for r in runs[n])
    assert lines[-1].startswith("epoch, ms per update, each run: 1 thread ") and "2 threads against 1" in lines[-1]
    for p in profiles.values():
        parts = p["parts"]
        assert all(parts[row] > 0 for row in bench.PARTS), parts  # each part's Ops were found and timed
        assert parts["thunk overhead"] > 0 and parts["other PyTensor ops"] > 0, parts
        assert sum(parts.values()) == pytest.approx(p["wall"])
        assert p["updates"] == updates and p["steps"] == sum(len(s) for s in reviews)
        assert 0 < p["words"] < p["steps"]  # the kernel's products by words: fewer words than steps
        assert all(v > 0 for v in p["limits"].values())


def _train_reviews(path):
    """The training reviews of the tutorial's configuration: those under 100 words, 95% of them."""
    import numpy

    from lstm_sentiment.imdb import load_data

    numpy.random.seed(123)
    return load_data(path, n_words=10000, valid_portion=0.05, maxlen=100)[0][0]


@pytest.mark.slow
def test_pytorchs_side_runs_the_bidirectional_encoders_on_packed_reviews(marker_pkl, tmp_path):
    """PyTorch's model of ``bidirectional`` and ``pooling``: the classifier reads directions x poolings states,
    and a review's prediction does not depend on the padding its minibatch gives it."""
    torch = pytest.importorskip("torch", reason="PyTorch (the bench extra) is not installed")
    bench = _benchmark()
    o = dataclasses.replace(bench.read_options("tutorial", marker_pkl), bidirectional=True, pooling="mean_max")
    side = bench.Torch(o, 1)
    assert side.model.out.in_features == 4 * o.dim_proj
    side.epoch(first_only=True)
    side.model.eval()
    x = torch.tensor([[5, 5], [6, 7], [8, 0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    alone = side.model(x[:2, 1:], mask[:2, 1:])
    torch.testing.assert_close(side.model(x, mask)[1:], alone)
