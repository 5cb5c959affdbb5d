"""How the package compiles its functions: the kernel or the plain graph, a PyTensor mode, a BLAS.

pip-installed PyTensor 3 compiles with its Numba backend and, finding no BLAS
it recognises, falls back to NumPy for dot products; both are many times
slower than this model needs. With the kernel (``fused``), PyTensor runs the
rest of the graph with Python thunks (``KERNEL_MODE``: PyTensor's C loop
calling Python thunks, which compiles in a second; no elementwise fusion;
the small Ops as single NumPy calls, ``lean.py``; the kernel's rewrites of
``ops.py``).
Without it, the scan graph runs on the C backend (``C_MODE``), linked to the
MKL of PyPI's ``mkl`` wheel where the ``mkl`` extra installed it, else to
the BLAS PyTensor finds (its NumPy-based one where the system has none).

Nothing here changes PyTensor for other code: the rewrites live only in
these modes, and ``Backend.function`` sets the BLAS flags only while it
compiles, with PyTensor's public ``config.change_flags``. A mode or BLAS
the user set (``PYTENSOR_FLAGS``, ``.pytensorrc``) wins; so does the
``mode`` argument.
"""

import contextlib
import importlib.metadata
import os
import warnings

import pytensor
from pytensor import config
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.rewriting.basic import EquilibriumGraphRewriter, dfs_rewriter
from pytensor.link.vm import VMLinker

from ..base.logs import logger
from .build import load
from .classifier import CLASSIFIER_REWRITES
from .lean import INLINE_REWRITES, LEAN_REWRITES
from .ops import GRAPH_REWRITES, INPLACE_REWRITES


def _setting(key):
    """PyTensor's setting ``key`` (a ``ConfigParam``), whose ``is_default`` says whether the user gave it.

    PyTensor has no public way to ask this; this function is the package's one
    reach into its internals, and tests/test_kernel_backend.py fails by name on
    a PyTensor release that changes them.
    """
    return vars(type(config))[key]


def user_has_set(key):
    """Whether ``key`` was given in PYTENSOR_FLAGS or a .pytensorrc file (PyTensor reads every user-given
    value when it registers the setting, and marks it as not default)."""
    return not _setting(key).is_default


def default_floatX():
    """The model's float type unless one is asked for: the user's PyTensor floatX if set, else float32."""
    return config.floatX if user_has_set("floatX") else "float32"


# (rewriter, position in PyTensor's sequence): the kernel's Ops and the softmax's inner graph right
# after "specialize" (2), the lean NumPy Ops (and the classifier's cost with its gradient) before the destroy
# handler (49.5), ADADELTA in place after it.
KERNEL_REWRITES = (
    (EquilibriumGraphRewriter(GRAPH_REWRITES + INLINE_REWRITES, max_use_ratio=10), 2.5),
    (dfs_rewriter(*LEAN_REWRITES, *CLASSIFIER_REWRITES), 49.2),
    (dfs_rewriter(*INPLACE_REWRITES), 50.3),
)
# PyTensor's C loop over the thunks (compiled once, in about a second) calling Python thunks: 1 to 2 ms
# less per update than the Python linker's loop (``py``); without a compiler, its Python loop.
KERNEL_MODE = Mode(linker=VMLinker(use_cloop=True, c_thunks=False), optimizer="fast_run")
KERNEL_MODE = KERNEL_MODE.excluding("fusion", "cxx_only").register(*KERNEL_REWRITES)
C_MODE = Mode(linker="cvm", optimizer="fast_run")


def mkl_ldflags():
    """Link flags for the MKL of PyPI's ``mkl`` wheel (the ``mkl`` extra), or None when it is absent.

    The wheel ships ``libmkl_rt.so.3`` without the unversioned ``libmkl_rt.so``
    that PyTensor's own search looks for, so it is named exactly (``-l:``);
    ``-liomp5`` is its OpenMP runtime, as in PyTensor's own MKL link line.
    PyTensor adds an rpath for the ``-L`` folder, so no ``LD_LIBRARY_PATH`` is
    needed.
    """
    try:
        files = importlib.metadata.files("mkl") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.startswith("libmkl_rt.so."):
            path = os.path.realpath(f.locate())
            if os.path.exists(path):
                libdir = os.path.dirname(path)
                flags = f"-L{libdir} -l:{f.name}"
                if os.path.exists(os.path.join(libdir, "libiomp5.so")):
                    flags += " -liomp5"
                return flags + " -lpthread"
    return None


def kernel_on(fused):
    """Whether models use the kernel: asked for (``fused``), and it builds and loads here."""
    return bool(fused) and load() is not None


class Backend:
    """The kernel on or off (``fused``), and the PyTensor mode that compiles the package's functions.

    ``fused`` is False where the kernel cannot be built (``build.why_unavailable``).
    ``mode`` (a name or a Mode) overrides the choice; the kernel's rewrites are
    added to it when the kernel is on.
    """

    def __init__(self, fused=True, mode=None):
        self.fused = kernel_on(fused)
        if mode is None and not (user_has_set("mode") or user_has_set("linker")):
            self.mode = KERNEL_MODE if self.fused else C_MODE
        else:
            self.mode = get_mode(mode)
            if self.fused:
                self.mode = self.mode.register(*KERNEL_REWRITES)

    def function(self, inputs, outputs, **kwargs):
        """``pytensor.function`` in this mode, linked to PyPI's MKL where it is installed, unless the user set
        a BLAS.

        Ops with an inner graph (PyTensor's softmax) compile it on first use, in
        PyTensor's default mode of that moment: here they compile it at once, in this one.
        """
        blas = {}  # the kernel's mode runs no C thunk: no BLAS, and PyTensor's search for one never runs
        if self.mode is not KERNEL_MODE and not user_has_set("blas__ldflags"):
            flags = mkl_ldflags()
            blas = {"blas__ldflags": flags} if flags else {}
        with _without_blas_warning(report=not blas), config.change_flags(mode=self.mode, **blas):
            fn = pytensor.function(inputs, outputs, mode=self.mode, **kwargs)
            for node in fn.maker.fgraph.apply_nodes:
                if isinstance(node.op, OpFromGraph):
                    node.op.fn  # noqa: B018  (compiles the inner graph)
        return fn


@contextlib.contextmanager
def _without_blas_warning(report=True):
    """PyTensor's warning that it found no BLAS (its advice, conda, does not apply here) as one line of
    this package's log instead, once: the scan graph's products then use PyTensor's NumPy-based BLAS.
    Not ``report``ed where the package gives PyTensor a BLAS (MKL) right after its own search."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=NO_BLAS)
        yield
    for warning in caught:
        if str(warning.message).startswith(NO_BLAS):
            if not report:
                continue
            logger.warning(
                "No BLAS found: the plain graph's products use PyTensor's NumPy-based one "
                '(pip install -e ".[mkl]" makes them about 1.4x faster)'
            )
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


NO_BLAS = "PyTensor could not link to a BLAS installation"
