"""PyTensor defaults for this package: float32, a working BLAS and a fast linker.

pip-installed PyTensor 3 compiles with its Numba backend and, finding no BLAS it
recognises, falls back to NumPy for dot products; both are many times slower
than this model needs. The model's heavy work runs in the compiled kernel
(``kernel.py``), so PyTensor runs the rest with Python thunks (``KERNEL_MODE``:
linker ``py``, which compiles in a second, and no elementwise fusion, since
NumPy then runs each elementwise op). Without the kernel, the scan graph runs on the C
backend (``cvm``) linked to MKL. ``configure`` runs when this module is first
imported; any value the user gave in ``PYTENSOR_FLAGS`` or ``~/.pytensorrc``
still wins.
"""

import pytensor
from pytensor import config  # noqa: F401  (the configured settings, for imdb.prepare_data)
from pytensor.compile.mode import Mode

from . import kernel
from .kernel import mkl_ldflags


def user_has_set(key):
    """Whether ``key`` was given in PYTENSOR_FLAGS or a .pytensorrc file.

    PyTensor reads every user-given value when it registers the setting and
    then marks the setting as not default.
    """
    return not vars(type(pytensor.config))[key].is_default


# Python thunks around the kernel; no fusion, whose Composite ops only C runs fast.
KERNEL_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion", "cxx_only")
# The C backend, for the plain graph (train_lstm(fused=False)).
C_MODE = Mode(linker="cvm", optimizer="fast_run")


def configure():
    """Apply the package's PyTensor defaults wherever the user set nothing."""
    config = pytensor.config
    if not user_has_set("floatX"):
        config.floatX = "float32"
    if not user_has_set("blas__ldflags"):
        flags = mkl_ldflags()
        if flags:
            config.blas__ldflags = flags
    if not (user_has_set("linker") or user_has_set("mode")):
        if kernel.load() is not None:
            config.mode = KERNEL_MODE
        else:
            config.linker = "cvm"


configure()

