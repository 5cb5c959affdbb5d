"""How the package compiles: float32, a BLAS from pip, the kernel's mode; user flags win; nothing global."""

import importlib.metadata
import json
import os
import subprocess
import sys
import warnings

import pytest

from lstm_sentiment.kernel import backend, build

PROBE = """
import json, warnings
warnings.simplefilter("error")  # "could not link to a BLAS" would fail here
import numpy, pytensor, pytensor.tensor as pt
from lstm_sentiment.kernel.backend import KERNEL_MODE, Backend
from lstm_sentiment.kernel.build import why_unavailable
from lstm_sentiment.lstm import build_model, init_params, init_tparams
numpy.random.seed(0)
options = dict(n_words=10, dim_proj=4, ydim=2, encoder="lstm", use_dropout=True, fused={fused})
model = build_model(init_tparams(init_params(options)), options)
x, mask = numpy.array([[1, 2], [3, 0]]), numpy.array([[1, 1], [1, 0]], dtype="float32")
probs = model.f_pred_prob(x, mask)
a, b = pt.matrix("a", dtype=str(probs.dtype)), pt.matrix("b", dtype=str(probs.dtype))
f = Backend({fused}).function([a, b], pt.dot(a, b))
u, v = numpy.random.rand(64, 32).astype(probs.dtype), numpy.random.rand(32, 16).astype(probs.dtype)
with open("/proc/self/maps") as maps:
    loaded = maps.read()
print(json.dumps({{
    "dtype": str(probs.dtype),
    "global_floatX": pytensor.config.floatX,
    "linker": type(model.f_pred_prob.fn.maker.linker).__name__,
    "c_thunks": getattr(model.f_pred_prob.fn.maker.linker, "c_thunks", None),
    "kernel_mode": model.f_pred_prob.backend.mode is KERNEL_MODE,
    "model_ops": [type(n.op).__name__ for n in model.f_pred_prob.fn.maker.fgraph.toposort()],
    "kernel": why_unavailable(),
    "dot_ops": [type(n.op).__name__ for n in f.maker.fgraph.toposort()],
    "correct": bool(numpy.allclose(f(u, v), u @ v, rtol=1e-4)),
    "mkl_loaded": "libmkl_rt" in loaded,
}}))
"""


def probe(tmp_path, fused=True, **env):
    """Build and run a model of the package in a fresh process; report how it was compiled."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTENSOR")}
    clean["PYTENSORRC"] = str(tmp_path / "no-such-pytensorrc")
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(fused=fused)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def has_mkl_wheel():
    try:
        importlib.metadata.distribution("mkl")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def test_the_model_is_float32_on_the_kernel_with_python_thunks_and_pytensor_is_left_alone(tmp_path):
    if build.load() is None:
        pytest.skip(f"the LSTM kernel is unavailable: {build.why_unavailable()}")
    got = probe(tmp_path)
    assert got["kernel"] is None
    assert got["dtype"] == "float32" and got["global_floatX"] == "float64"
    assert got["kernel_mode"] and "LSTMFromIds" in got["model_ops"]
    assert (got["linker"], got["c_thunks"]) == ("VMLinker", False)  # PyTensor's C loop, Python thunks
    assert got["correct"]


@pytest.mark.slow
def test_without_the_kernel_the_plain_graph_runs_on_the_c_backend_with_a_blas(tmp_path):
    got = probe(tmp_path, fused=False)
    assert (got["linker"], got["c_thunks"]) == ("VMLinker", True) and "LSTMFromIds" not in got["model_ops"]
    assert "Dot22" in got["dot_ops"] and got["correct"]


@pytest.mark.slow
def test_without_a_compiler_there_is_no_kernel_and_the_c_backend_is_chosen(tmp_path):
    got = probe(tmp_path, PYTENSOR_FLAGS="cxx=")
    assert "no C compiler" in got["kernel"]
    assert not got["kernel_mode"] and "LSTMFromIds" not in got["model_ops"]


@pytest.mark.slow
@pytest.mark.skipif(not has_mkl_wheel(), reason="PyPI's mkl wheel is not installed on this platform")
def test_the_mkl_wheel_is_linked_and_loaded_without_system_libraries(tmp_path):
    assert "-l:libmkl_rt.so." in backend.mkl_ldflags()
    assert probe(tmp_path, fused=False)["mkl_loaded"], "the C backend did not load MKL"


@pytest.mark.slow
def test_user_flags_win(tmp_path):
    got = probe(tmp_path, PYTENSOR_FLAGS="floatX=float64,linker=cvm")
    assert got["dtype"] == "float64"
    assert (got["linker"], got["c_thunks"]) == ("VMLinker", True)  # theirs, not the kernel's Python thunks


@pytest.mark.slow
def test_user_pytensorrc_wins(tmp_path):
    rc = tmp_path / "pytensorrc"
    rc.write_text("[global]\nfloatX = float64\nmode = FAST_COMPILE\n")
    got = probe(tmp_path, PYTENSORRC=str(rc))
    assert got["dtype"] == "float64"
    assert "LSTMFromIds" not in got["model_ops"]  # FAST_COMPILE, with the kernel's rewrites added: no pooling


def test_mkl_ldflags_without_the_wheel_leaves_pytensor_to_search(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", missing)
    assert backend.mkl_ldflags() is None


def test_pytensors_no_blas_warning_becomes_one_line_of_the_log_and_others_pass(caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with backend._without_blas_warning(report=False):  # the package links MKL right after PyTensor's search
            warnings.warn(f"{backend.NO_BLAS}. Operations that might benefit from BLAS will be degraded.", stacklevel=1)
        assert "No BLAS found" not in caplog.text
        with backend._without_blas_warning():
            warnings.warn(f"{backend.NO_BLAS}. Operations that might benefit from BLAS will be degraded.", stacklevel=1)
        assert '(pip install -e ".[mkl]" makes them about 1.4x faster)' in caplog.text
        with pytest.raises(UserWarning, match="something else"), backend._without_blas_warning():
            warnings.warn("something else", stacklevel=1)


def test_the_one_reach_into_pytensors_internals_still_reads_the_users_settings(tmp_path):
    """``backend._setting`` is the package's one use of PyTensor's internals (no public API says whether the
    user gave a setting): a PyTensor that changes them fails here, by name, not as a model in float64."""
    for key in ("floatX", "mode", "linker", "blas__ldflags"):
        assert isinstance(backend._setting(key).is_default, bool), f"PyTensor's {key} has no is_default flag"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTENSOR")}
    code = "from lstm_sentiment.kernel.backend import user_has_set as u; print(u('floatX'), u('mode'), u('linker'))"
    cases = (({}, "False False False"), ({"PYTENSOR_FLAGS": "floatX=float32,linker=cvm"}, "True False True"))
    for env, expected in cases:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=dict(clean, PYTENSORRC=str(tmp_path / "none"), **env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.stdout.strip() == expected, (env, out.stderr)
