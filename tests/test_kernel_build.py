"""Building and loading the kernel: cached beside PyTensor's modules, atomic, optional."""

import os

import numpy
import pytest

from lstm_sentiment.kernel import build as kernel


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """kernel.load() as in a new process, with an empty compile directory."""
    monkeypatch.setattr(kernel, "cache_dir", lambda: tmp_path)
    kernel.load.cache_clear()
    yield tmp_path
    kernel.load.cache_clear()


@pytest.mark.skipif(kernel.load() is None, reason=f"the kernel cannot be built here: {kernel.why_unavailable()}")
def test_built_once_into_the_compile_directory_then_reused(fresh):
    assert kernel.load() is not None
    (built,) = fresh.glob("lstm_sentiment_kernel_*.so")
    stamp = built.stat().st_mtime_ns
    kernel.load.cache_clear()
    assert kernel.load() is not None
    assert built.stat().st_mtime_ns == stamp
    assert [p.name for p in fresh.iterdir()] == [built.name]  # no temporary file left


@pytest.mark.skipif(kernel.mkl_ldflags() is None, reason="PyPI's mkl wheel is not installed here")
def test_a_failed_build_falls_back_and_says_why(fresh, monkeypatch, caplog):
    bad = fresh / "bad.c"
    bad.write_text("this is not C\n")
    monkeypatch.setattr(kernel, "SOURCE", bad)
    assert kernel.load() is None
    assert "could not be built" in kernel.why_unavailable()
    assert "using the scan graph instead" in caplog.text
    assert [p.name for p in fresh.iterdir()] == ["bad.c"]  # neither a library nor a temporary file


def test_without_mkl_there_is_no_kernel(fresh, monkeypatch):
    monkeypatch.setattr(kernel, "mkl_ldflags", lambda: None)
    assert kernel.load() is None
    assert "mkl" in kernel.why_unavailable()


def test_the_library_depends_on_source_and_flags(monkeypatch, tmp_path):
    monkeypatch.setattr(kernel, "cache_dir", lambda: tmp_path)
    a = kernel.library_path(["-O3"])
    assert a != kernel.library_path(["-O2"])
    assert os.path.dirname(a) == str(tmp_path)


@pytest.mark.skipif(kernel.load() is None, reason=f"the kernel cannot be built here: {kernel.why_unavailable()}")
def test_a_library_built_for_another_cpu_is_never_loaded_but_one_for_this_cpu_is_built(fresh, monkeypatch):
    """A compile folder shared with a machine of another CPU (a network home, a cluster's disk): the flags
    say -march=native on both, so the key must hold what the compiler targets."""
    assert kernel.load() is not None
    (other,) = fresh.glob("lstm_sentiment_kernel_*.so")  # as if built there, by the other machine
    kernel.load.cache_clear()
    features = kernel.target_features
    monkeypatch.setattr(kernel, "target_features", lambda flags: features(flags).replace("__AVX", "__NOAVX"))
    assert kernel.load() is not None
    assert len(list(fresh.glob("lstm_sentiment_kernel_*.so"))) == 2  # this CPU's built beside it, not the other's
    assert kernel.library_path([*kernel.CFLAGS]) != other


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64's instruction sets name the test's targets")
def test_the_cpu_features_are_the_instruction_sets_the_compiler_targets():
    baseline, haswell = kernel.target_features(("-march=x86-64",)), kernel.target_features(("-march=haswell",))
    assert "#define __SSE2__ 1" in baseline and "__AVX2__" not in baseline
    assert "#define __AVX2__ 1" in haswell and "#define __FMA__ 1" in haswell


def test_an_arrays_address_is_numpys_data_pointer_and_only_contiguous_arrays_have_one():
    base = numpy.arange(24.0).reshape(4, 6)
    for a in (base, base[1:], base[2], numpy.empty((3, 0)), numpy.zeros(5, "float32"), numpy.asarray(3, "int64")):
        assert kernel.address(a) == a.ctypes.data
    for bad in (base[:, 1:], base.T, [1.0, 2.0]):
        with pytest.raises(TypeError, match="the kernel needs C-contiguous NumPy arrays"):
            kernel.address(bad)
