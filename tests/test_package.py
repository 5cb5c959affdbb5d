"""The package's structure: layers whose imports point down, no import circles, nothing global."""

import ast
import json
import pathlib
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "lstm_sentiment"
# Each room, and the rooms below it that it may import from.
LAYERS = ["base", "data", "kernel", "model", "training", "sweeps"]
MAY_IMPORT = {
    "base": set(),
    "data": {"base"},
    "kernel": {"base"},
    "model": {"base", "data", "kernel"},
    "training": {"base", "data", "kernel", "model"},
    "sweeps": {"base", "training"},  # never model or kernel directly: a trial is a train_lstm run
}


def modules():
    """Every module of the package, by dotted name."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def room_imports(path):
    """The rooms (``data``, ``model``, ...) that the module at ``path`` imports from."""
    rooms = set()
    depth = len(path.relative_to(PACKAGE).parts) - 1  # 0: top level, 1: inside a room
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = (node.module or "").split(".")
            target = parts[0] if node.level > depth else path.relative_to(PACKAGE).parts[0]
            rooms.add(target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lstm_sentiment."):
            rooms.add(node.module.split(".")[1])
    return rooms


@pytest.mark.parametrize("room", LAYERS)
def test_imports_point_down(room):
    for path in sorted((PACKAGE / room).glob("*.py")):
        above = room_imports(path) - MAY_IMPORT[room] - {room}
        assert not above, f"{path.name} in {room}/ imports from {sorted(above)}, above or beside it"


def run(code, **env):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_each_module_imports_alone():
    """In a fresh process each: a circle of imports fails for the module that closes it."""
    procs = {
        m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True) for m in modules()
    }
    failed = {m: p.communicate(timeout=600)[1].strip().splitlines()[-1:] for m, p in procs.items()}
    assert {m: e for m, e in failed.items() if procs[m].returncode} == {}
    assert len(procs) > 20


def test_the_data_layer_runs_without_pytensor():
    out = run(
        "import sys, lstm_sentiment.imdb as imdb\n"
        "x, mask, y = imdb.prepare_data([[3, 4], [5]], [1, 0])\n"
        "print(x.shape, 'pytensor' in sys.modules)"
    )
    assert out.split() == ["(2,", "2)", "False"]


PROBE = r"""
import json, sys
import numpy, pytensor, pytensor.tensor as pt

def mine():
    x = pt.matrix("x")
    y = pt.inc_subtensor(pt.zeros((5, 3))[pt.as_tensor([0, 2, 0])], x)  # an embedding's gradient
    f = pytensor.function([x], y.sum(axis=1))
    return {"floatX": pytensor.config.floatX, "mode": str(pytensor.config.mode),
            "linker": pytensor.config.linker, "ldflags": pytensor.config.blas__ldflags,
            "ops": sorted(type(n.op).__name__ for n in f.maker.fgraph.toposort()),
            "value": f(numpy.ones((3, 3))).tolist()}

before = mine()
import importlib, pkgutil, lstm_sentiment
for m in sys.argv[1:]:
    importlib.import_module(m)
from lstm_sentiment import train_lstm
sys.path.insert(0, "tests")
from conftest import marker_reviews, write_pkl
path = write_pkl(sys.argv[0] + ".pkl", marker_reviews(80, 0), marker_reviews(20, 1))
errors = train_lstm(dataset=path, saveto="", max_epochs=1, dim_proj=8, n_words=40, validFreq=5)
print(json.dumps({"before": before, "after": mine(), "trained": list(map(float, errors))}))
"""


def test_importing_and_training_change_nothing_for_other_pytensor_code(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    done = subprocess.run(
        [sys.executable, str(script), *modules()], capture_output=True, text=True, timeout=600, cwd=PACKAGE.parent
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["after"] == got["before"]
    assert "ScatterAdd" not in got["before"]["ops"] and got["before"]["floatX"] == "float64"
    assert len(got["trained"]) == 3


def test_a_plain_install_pulls_no_mkl_and_the_mkl_extra_does():
    """The kernel links no BLAS: MKL (1 GB with its runtimes) is only the ``mkl`` extra, for the scan graph."""
    import importlib.metadata

    requires = importlib.metadata.requires("lstm_sentiment")
    plain = [r for r in requires if "extra ==" not in r]
    assert plain and not any(r.lower().startswith(("mkl", "intel", "tbb")) for r in plain), plain
    assert any(r.startswith("mkl") and 'extra == "mkl"' in r for r in requires), requires
