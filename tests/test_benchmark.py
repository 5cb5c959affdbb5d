"""scripts/benchmark.py runs its measurements and reports them (PyTorch's side where it is installed)."""

import importlib.util
import json
import os
import subprocess
import sys
import time

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
    assert set(figures) == set(bench.METRICS) - {"first_update_cold"}
    assert all(v > 0 for v in figures.values())


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
