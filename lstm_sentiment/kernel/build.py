"""The compiled LSTM kernel (``kernel.c``): built on first use, cached, loaded with ctypes.

``kernel.c`` makes every product itself and links no BLAS. It has three paths,
the widths of its vectors: ``avx512``, ``avx2`` (with FMA) and ``portable``
(16-byte vectors: SSE2 on any x86-64, NEON on aarch64). ``LSTM_SENTIMENT_KERNEL``
picks one (``auto``, the default: the best this CPU has), so that every path
can be built and tested on one x86 machine. The library is compiled once per
source, flags and CPU (the instruction sets the compiler targets,
``target_features``) into PyTensor's compile directory, beside PyTensor's own
modules, so clearing that cache clears it too. ``load()`` returns None, with a
warning, and the model falls back to the plain ``scan`` graph, when it cannot
be built; ``why_unavailable()`` says why.
"""

import ctypes
import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path

import numpy
import pytensor

from ..base.files import atomic_path
from ..base.logs import logger

SOURCE = Path(__file__).with_name("kernel.c")
CFLAGS = ["-O3", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast", "-std=c99"]
LDFLAGS = ["-pthread", "-lm"]
PATHS = ("auto", "avx512", "avx2", "portable")
# What each forced x86 path needs of the CPU: the compiler's macros under its flags.
NEEDS = {"avx512": ("__AVX512F__",), "avx2": ("__AVX2__", "__FMA__")}

_failure = None


def requested_path():
    """The path ``LSTM_SENTIMENT_KERNEL`` asks for (``auto`` unless set)."""
    return os.environ.get("LSTM_SENTIMENT_KERNEL", "auto").strip().lower() or "auto"


def is_x86():
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def path_flags(path):
    """The compiler's target flags for ``path``, or a string saying why this CPU cannot run it.

    On x86 ``-march=native`` for the paths this CPU has (without AVX-512 for ``avx2``: an AVX2 CPU as
    the compiler sees one) and the x86-64 baseline, SSE2, for ``portable``. Elsewhere there is only the
    portable path, tuned with ``-mcpu=native`` where the compiler knows it.
    """
    if path not in PATHS:
        return f"LSTM_SENTIMENT_KERNEL={path} is not one of {', '.join(PATHS)}"
    if not is_x86():
        if path in NEEDS:
            return f"LSTM_SENTIMENT_KERNEL={path} needs an x86-64 CPU, and this one is {platform.machine()}"
        return ["-mcpu=native"] if target_features(("-mcpu=native",)).startswith("#define") else []
    if path == "portable":
        return ["-march=x86-64"]
    flags = ["-march=native"] + (["-mno-avx512f"] if path == "avx2" else [])
    missing = [m for m in NEEDS.get(path, ()) if f"#define {m} 1" not in target_features(tuple(flags))]
    if missing:
        return f"LSTM_SENTIMENT_KERNEL={path}, but this CPU lacks it (the compiler defines no {', '.join(missing)})"
    return flags


def cache_dir():
    """PyTensor's compile directory, where the library is cached."""
    return Path(pytensor.config.compiledir)


def library_path(flags):
    """Where the library built from the current source with ``flags`` for this CPU is cached."""
    described = SOURCE.read_bytes() + " ".join(flags).encode() + target_features(tuple(flags)).encode()
    key = hashlib.sha256(described).hexdigest()[:16]
    return cache_dir() / f"lstm_sentiment_kernel_{key}.so"


@functools.cache
def target_features(flags):
    """What the compiler targets with ``flags`` here: its predefined macros, which name the compiler and each
    instruction set that ``-march=native`` turns on (``__AVX512F__``, ``__AVX2__``, ``__ARM_NEON``...), or
    its error.

    ``-march=native`` says nothing of the CPU in the flags themselves, so they go into the cache key: a
    compile folder shared by machines of other CPUs (a network home, a cluster's shared disk under a
    sweep) never loads a library built for another CPU, which could die of an illegal instruction.
    """
    target = [f for f in flags if f.startswith(("-m", "-f", "-O", "-D"))]
    command = [pytensor.config.cxx, "-x", "c", "-E", "-dM", *target, "-"]
    try:
        result = subprocess.run(command, input="", capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown: {e}"  # the compile itself then says what is wrong
    return "\n".join(sorted(result.stdout.splitlines())) if result.returncode == 0 else result.stderr


def compile_library(flags, path):
    """Compile ``kernel.c`` into ``path``, atomically: a half-written library is never loaded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        command = [pytensor.config.cxx, "-x", "c", str(SOURCE), "-o", tmp, *flags]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode:
            raise OSError(f"{' '.join(command)} failed:\n{result.stderr.strip()}")


def _declare(lib):
    ptr, i = ctypes.c_void_p, ctypes.c_int
    for suffix in ("f32", "f64"):
        getattr(lib, f"lstm_forward_{suffix}").argtypes = [i, i, i] + [ptr] * 10
        getattr(lib, f"lstm_backward_{suffix}").argtypes = [i, i, i] + [ptr] * 15
        getattr(lib, f"lstm_forward_words_{suffix}").argtypes = [i, i, i, i] + [ptr] * 11
        getattr(lib, f"lstm_backward_words_{suffix}").argtypes = [i, i, i, i, ctypes.c_longlong] + [ptr] * 17
        getattr(lib, f"adadelta_{suffix}").argtypes = [ctypes.c_long] + [ptr] * 4
        getattr(lib, f"adadelta_{suffix}").restype = None
        rows = f"adadelta_rows_{suffix}"
        getattr(lib, rows).argtypes = [ctypes.c_long, i, ctypes.c_longlong] + [ptr] * 5
        getattr(lib, rows).restype = None
        getattr(lib, f"adam_{suffix}").argtypes = [ctypes.c_long] + [ptr] * 4 + [ctypes.c_double] * 2
        getattr(lib, f"adam_{suffix}").restype = None
        getattr(lib, f"scatter_add_{suffix}").argtypes = [ctypes.c_longlong, i, ctypes.c_longlong] + [ptr] * 3
        getattr(lib, f"lstm_table_{suffix}").argtypes = [i, i] + [ptr] * 4
        getattr(lib, f"lstm_pooled_ids_{suffix}").argtypes = [i, i, i, ctypes.c_longlong] + [ptr] * 6
        getattr(lib, f"lstm_maths_{suffix}").argtypes = [ctypes.c_long] + [ptr] * 3
        getattr(lib, f"lstm_maths_{suffix}").restype = None
        getattr(lib, f"max_pool_{suffix}").argtypes = [i, i, i] + [ptr] * 3
        getattr(lib, f"max_pool_{suffix}").restype = None
    lib.lstm_set_threads.argtypes = [i]
    lib.same_bytes.argtypes = [ctypes.c_size_t, ptr, ptr]
    lib.distinct_words.argtypes = [ctypes.c_longlong, ctypes.c_longlong] + [ptr] * 3
    lib.distinct_words.restype = ctypes.c_longlong
    lib.lstm_path.argtypes = []
    lib.lstm_path.restype = ctypes.c_char_p
    lib.lstm_threads.argtypes = []
    return lib


def has_libmvec():
    """Whether glibc's vector maths library has the functions the kernel uses (x86-64, glibc >= 2.35)."""
    libc, version = platform.libc_ver()
    if libc != "glibc" or platform.machine() != "x86_64":
        return False
    return tuple(int(v) for v in version.split(".")[:2]) >= (2, 35)


def kernel_flags(path):
    """Every flag of the compile for ``path``, or a string saying why there is none. The forced portable
    path makes its own exponentials and tanh, as it does where libmvec is absent (aarch64, macOS)."""
    target = path_flags(path)
    if isinstance(target, str):
        return target
    maths = ["-DLSTM_USE_MVEC", "-lmvec"] if has_libmvec() and path != "portable" else []
    return [*CFLAGS, *target, *maths, *LDFLAGS]


@functools.cache
def load():
    """The kernel library of the path ``LSTM_SENTIMENT_KERNEL`` asks for, compiled if needed, or None
    when it cannot be built."""
    global _failure
    path = requested_path()
    flags = kernel_flags(path) if pytensor.config.cxx else "PyTensor found no C compiler (its cxx setting is empty)"
    _failure = flags if isinstance(flags, str) else None
    if _failure is None:
        library = library_path(flags)
        try:
            if not library.exists():
                logger.debug("Compiling the LSTM kernel (%s) into %s", path, library)
                compile_library(flags, library)
            return _declare(ctypes.CDLL(str(library)))
        except OSError as e:
            _failure = f"it could not be built or loaded: {e}"
    logger.warning("The LSTM kernel is unavailable: %s; using the scan graph instead", _failure)
    return None


def why_unavailable():
    """Why ``load()`` returned None (None when it did not)."""
    load()
    return _failure


def address(array):
    """The data pointer of a C-contiguous NumPy array, for a ctypes call.

    Read from the array object, where NumPy's ``PyArray_DATA`` reads it: its
    struct's first field after the object's header. With its checks that takes
    0.7 us where ``array.ctypes.data``, which builds a ctypes object first,
    takes 2.6, and an update makes about 60 of these calls. ``ctypes.data`` is used where the
    reading does not give the same pointers (``_reads_data_field``).
    """
    if not (isinstance(array, numpy.ndarray) and array.flags.c_contiguous):
        raise TypeError(f"the kernel needs C-contiguous NumPy arrays, not {type(array).__name__}")
    return _data_field(array) if _reads_data_field() else array.ctypes.data


def _data_field(array):
    return ctypes.c_void_p.from_address(id(array) + object.__basicsize__).value or 0


@functools.cache
def _reads_data_field():
    """Whether ``_data_field`` gives ``ctypes.data``'s pointers here (NumPy's layout, CPython's header)."""
    probes = [numpy.zeros(3), numpy.arange(10.0)[3:], numpy.empty((2, 3), "float32"), numpy.ones(1, "int64")]
    return all(_data_field(a) == a.ctypes.data for a in probes)


def function(name, dtype):
    """The kernel's function ``name`` for arrays of ``dtype`` (float32 or float64)."""
    return getattr(load(), f"{name}_{_SUFFIXES[numpy.dtype(dtype)]}")


_SUFFIXES = {numpy.dtype("float32"): "f32", numpy.dtype("float64"): "f64"}
