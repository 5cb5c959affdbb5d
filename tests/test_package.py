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


def failing_imports(names, cwd):
    """Of the modules ``names``, each imported alone in a fresh process, those that fail: their last error line."""
    procs = {
        m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True, cwd=cwd)
        for m in names
    }
    failed = {m: p.communicate(timeout=600)[1].strip().splitlines()[-1:] for m, p in procs.items()}
    return {m: e for m, e in failed.items() if procs[m].returncode}


@pytest.mark.slow
def test_each_module_imports_alone(tmp_path):
    """In a fresh process each: a circle of imports fails for the module that closes it."""
    circle = tmp_path / "circle"
    circle.mkdir()
    (circle / "__init__.py").write_text("")
    (circle / "a.py").write_text("from .b import B\nA = 1\n")
    (circle / "b.py").write_text("from .a import A\nB = 2\n")
    assert set(failing_imports(["circle.a", "circle.b"], tmp_path)) == {"circle.a", "circle.b"}
    assert {"lstm_sentiment.training.loop", "lstm_sentiment.kernel.ops"} <= set(modules())
    assert failing_imports(modules(), PACKAGE.parent) == {}


def test_the_data_layer_runs_without_pytensor():
    out = run(
        "import sys, lstm_sentiment.imdb as imdb\n"
        "x, mask, y = imdb.prepare_data([[3, 4], [5]], [1, 0])\n"
        "print(x.shape, 'pytensor' in sys.modules)"
    )
    assert out.split() == ["(2,", "2)", "False"]


def test_train_help_a_config_check_and_a_sweep_space_check_load_neither_pytensor_nor_ray(tmp_path):
    """The options are a leaf: what only reads them answers without loading the model's libraries."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"dim_proj": "large"}')
    out = run(
        "import contextlib, io, sys\n"
        "from lstm_sentiment import train\n"
        "from lstm_sentiment.sweeps.space import read_space\n"
        "help = io.StringIO()\n"
        "with contextlib.redirect_stdout(help), contextlib.suppress(SystemExit):\n"
        "    train.main(['--help'])\n"
        f"status = train.main(['--config', {str(bad)!r}])\n"
        f"space = read_space({str(PACKAGE.parent / 'configs' / 'sweep-example.json')!r})\n"
        "heavy = ('pytensor', 'ray', 'lstm_sentiment.kernel', 'lstm_sentiment.model.lstm')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "print('--validFreq' in help.getvalue(), status, bool(space.search), loaded)"
    )
    assert out.split() == ["True", "2", "True", "[]"]


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
