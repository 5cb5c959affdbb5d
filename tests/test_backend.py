"""The package's PyTensor defaults: float32, a BLAS from pip, the kernel's mode; user flags win."""

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

from lstm_sentiment import backend, kernel

PROBE = """
import json, warnings
warnings.simplefilter("error")  # "could not link to a BLAS" would fail here
import lstm_sentiment.lstm, numpy, pytensor, pytensor.tensor as pt
from pytensor.compile.mode import get_default_mode
x, y = pt.matrix("x"), pt.matrix("y")
f = pytensor.function([x, y], pt.dot(x, y))
a = numpy.random.rand(64, 32).astype(pytensor.config.floatX)
b = numpy.random.rand(32, 16).astype(pytensor.config.floatX)
with open("/proc/self/maps") as maps:
    loaded = maps.read()
print(json.dumps({
    "floatX": pytensor.config.floatX,
    "linker": pytensor.config.linker,
    "mode": str(pytensor.config.mode),
    "default_linker": type(get_default_mode().linker).__name__,
    "kernel": lstm_sentiment.kernel.why_unavailable(),
    "ldflags": pytensor.config.blas__ldflags,
    "ops": [type(n.op).__name__ for n in f.maker.fgraph.toposort()],
    "correct": bool(numpy.allclose(f(a, b), a @ b, rtol=1e-4)),
    "mkl_loaded": "libmkl_rt" in loaded,
}))
"""


def probe(tmp_path, **env):
    """Import the package in a fresh process and report PyTensor's settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTENSOR")}
    clean["PYTENSORRC"] = str(tmp_path / "no-such-pytensorrc")
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def has_mkl_wheel():
    try:
        importlib.metadata.distribution("mkl")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_defaults_are_float32_blas_and_the_kernels_mode(tmp_path):
    got = probe(tmp_path)
    assert got["floatX"] == "float32"
    assert got["ldflags"], "no BLAS: PyTensor's C backend would fall back to slow NumPy dot products"
    assert got["correct"]
    assert "Dot22" in got["ops"]
    assert got["kernel"] is None, f"the LSTM kernel is unavailable: {got['kernel']}"
    assert got["default_linker"] == "PerformLinker"  # Python thunks around the kernel


def test_without_a_compiler_there_is_no_kernel_and_the_c_backend_is_chosen(tmp_path):
    got = probe(tmp_path, PYTENSOR_FLAGS="cxx=")
    assert "no C compiler" in got["kernel"]
    assert got["linker"] == "cvm" and got["default_linker"] != "PerformLinker"


@pytest.mark.skipif(not has_mkl_wheel(), reason="PyPI's mkl wheel is not installed on this platform")
def test_the_mkl_wheel_is_linked_and_loaded_without_system_libraries(tmp_path):
    got = probe(tmp_path)
    assert "-l:libmkl_rt.so." in got["ldflags"]
    assert got["mkl_loaded"], "the kernel did not load MKL"


def test_user_flags_win(tmp_path):
    got = probe(tmp_path, PYTENSOR_FLAGS="floatX=float64,linker=cvm,blas__ldflags=")
    assert (got["floatX"], got["linker"], got["ldflags"]) == ("float64", "cvm", "")
    assert got["mode"] == "Mode" and got["default_linker"] == "VMLinker"  # theirs, not the kernel's


def test_user_pytensorrc_wins(tmp_path):
    rc = tmp_path / "pytensorrc"
    rc.write_text("[global]\nfloatX = float64\nmode = FAST_COMPILE\n")
    got = probe(tmp_path, PYTENSORRC=str(rc))
    assert got["floatX"] == "float64"
    assert got["mode"] == "FAST_COMPILE"


def test_mkl_ldflags_without_the_wheel_leaves_pytensor_to_search(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", missing)
    assert kernel.mkl_ldflags() is None


def test_casts_of_arrays_run_through_numpy_in_the_kernels_mode():
    import numpy
    import pytensor
    import pytensor.tensor as pt

    x = pt.vector("x", dtype="float64")
    f = pytensor.function([x], [pt.cast(x, "float32"), pt.cast(x > 0, "float32")], mode=backend.KERNEL_MODE)
    assert [type(n.op).__name__ for n in f.maker.fgraph.toposort()].count("AsType") == 2
    values = numpy.array([0.1, -2.5, 1e-40, 3.0000001, numpy.nan])
    a, b = f(values)
    numpy.testing.assert_array_equal(a, values.astype("float32"))
    numpy.testing.assert_array_equal(b, (values > 0).astype("float32"))
    assert a.dtype == b.dtype == "float32"
