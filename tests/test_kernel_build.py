"""Building and loading the kernel: its paths, cached beside PyTensor's modules, atomic, optional, no BLAS."""

import json
import os
import platform
import shutil
import subprocess
import sys

import numpy
import pytest

from lstm_sentiment.kernel import build as kernel

from conftest import kernel_paths


@pytest.fixture
def load_path(monkeypatch):
    """Load the kernel of LSTM_SENTIMENT_KERNEL=path, as a new process would; the default's again after."""

    def load(path):
        monkeypatch.setenv("LSTM_SENTIMENT_KERNEL", path)
        kernel.load.cache_clear()
        return kernel.load()

    yield load
    monkeypatch.delenv("LSTM_SENTIMENT_KERNEL", raising=False)
    kernel.load.cache_clear()


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


def test_a_failed_build_falls_back_and_says_why(fresh, monkeypatch, caplog):
    bad = fresh / "bad.c"
    bad.write_text("this is not C\n")
    monkeypatch.setattr(kernel, "SOURCE", bad)
    assert kernel.load() is None
    assert "could not be built" in kernel.why_unavailable()
    assert "using the scan graph instead" in caplog.text
    assert [p.name for p in fresh.iterdir()] == ["bad.c"]  # neither a library nor a temporary file


@pytest.mark.skipif(not kernel_paths()[:-1], reason="this CPU has neither AVX-512 nor AVX2 with FMA")
def test_auto_builds_the_widest_path_this_cpu_has(load_path):
    assert load_path("auto").lstm_path().decode() == kernel_paths()[0]


@pytest.mark.parametrize("path", ["avx512", "avx2", "portable"])
def test_each_path_this_cpu_runs_is_built_and_names_itself(load_path, path):
    if path not in kernel_paths():
        pytest.skip(f"this CPU cannot run the {path} path")
    lib = load_path(path)
    assert lib is not None, kernel.why_unavailable()
    assert lib.lstm_path().decode() == path


def test_each_path_has_a_library_of_its_own():
    libraries = {kernel.library_path(kernel.kernel_flags(p)) for p in kernel_paths()}
    assert len(libraries) == len(kernel_paths())


def test_an_unknown_path_is_refused_naming_the_choices(load_path, caplog):
    assert load_path("avx3") is None
    assert kernel.why_unavailable() == "LSTM_SENTIMENT_KERNEL=avx3 is not one of auto, avx512, avx2, portable"
    assert "using the scan graph instead" in caplog.text


@pytest.mark.skipif(not kernel.is_x86(), reason="the forced x86 paths")
def test_a_path_this_cpu_lacks_is_refused_before_any_compile(load_path, monkeypatch):
    features = kernel.target_features
    monkeypatch.setattr(kernel, "target_features", lambda flags: features(flags).replace("__AVX512F__", "__NO__"))
    monkeypatch.setattr(kernel, "compile_library", lambda *a: pytest.fail("compiled a path this CPU lacks"))
    assert load_path("avx512") is None
    lacks = "LSTM_SENTIMENT_KERNEL=avx512, but this CPU lacks it (the compiler defines no __AVX512F__)"
    assert kernel.why_unavailable() == lacks


@pytest.mark.skipif(kernel.is_x86(), reason="other CPUs than x86")
def test_elsewhere_the_x86_paths_are_refused(load_path):
    assert load_path("avx2") is None
    assert f"needs an x86-64 CPU, and this one is {platform.machine()}" in kernel.why_unavailable()


@pytest.mark.skipif(shutil.which("readelf") is None, reason="no readelf to list the library's dependencies")
@pytest.mark.parametrize("path", ["auto", "portable"])
def test_the_library_links_no_blas(load_path, path):
    """Its products are its own: the C library, libm, and on x86-64 glibc libmvec, nothing else."""
    assert load_path(path) is not None
    library = kernel.library_path(kernel.kernel_flags(path))
    dynamic = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True, check=True).stdout
    needed = {line.split("[")[1].split("]")[0] for line in dynamic.splitlines() if "(NEEDED)" in line}
    assert needed and needed <= {"libc.so.6", "libm.so.6", "libmvec.so.1", "libpthread.so.0"}, needed
    assert path != "portable" or "libmvec.so.1" not in needed  # its own exp and tanh


THREADS = "from lstm_sentiment.kernel import build; print(build.load().lstm_threads())"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity to set here")
def test_the_kernels_threads_are_the_cores_this_process_may_use_or_omp_num_threads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}

    def threads(code=THREADS, **extra):
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert threads() == len(os.sched_getaffinity(0))
    assert threads(OMP_NUM_THREADS="3") == 3
    one_core = f"import os; os.sched_setaffinity(0, {{{min(os.sched_getaffinity(0))}}}); {THREADS}"
    assert threads(one_core) == 1


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
    assert kernel.library_path(kernel.kernel_flags("auto")) != other


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


@pytest.mark.slow
@pytest.mark.parametrize("compiler", ["pytensor", "clang"])
def test_every_path_compiles_without_a_warning(compiler, tmp_path):
    """-Wall -Wextra -Werror, with PyTensor's compiler (GCC here) and with Clang, macOS's compiler."""
    import pytensor

    cc = pytensor.config.cxx if compiler == "pytensor" else shutil.which("clang")
    if not cc:
        pytest.skip(f"no {compiler} compiler here")
    for path in kernel_paths():
        flags = [f for f in kernel.CFLAGS if f != "-shared"] + kernel.path_flags(path)
        command = [cc, "-x", "c", str(kernel.SOURCE), "-c", "-o", str(tmp_path / "kernel.o"), *flags]
        out = subprocess.run([*command, "-Wall", "-Wextra", "-Werror"], capture_output=True, text=True)
        assert out.returncode == 0, f"{path}: {out.stderr}"
