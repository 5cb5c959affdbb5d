"""PyTensor defaults for this package: the C backend, float32 and a working BLAS.

pip-installed PyTensor 3 compiles with its Numba backend and, finding no BLAS it
recognises, falls back to NumPy for dot products; both are many times slower
than the C backend linked to a BLAS on this model. ``configure`` sets the fast
defaults, and any value the user gave in ``PYTENSOR_FLAGS`` or ``~/.pytensorrc``
still wins.
"""

import importlib.metadata
import os

import pytensor


def mkl_ldflags():
    """Link flags for the MKL of PyPI's ``mkl`` wheel, or None when it is absent.

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


def user_has_set(key):
    """Whether ``key`` was given in PYTENSOR_FLAGS or a .pytensorrc file.

    PyTensor reads every user-given value when it registers the setting and
    then marks the setting as not default.
    """
    return not vars(type(pytensor.config))[key].is_default


def configure():
    """Apply the package's PyTensor defaults wherever the user set nothing."""
    config = pytensor.config
    if not user_has_set("floatX"):
        config.floatX = "float32"
    if not (user_has_set("linker") or user_has_set("mode")):
        config.linker = "cvm"
    if not user_has_set("blas__ldflags"):
        flags = mkl_ldflags()
        if flags:
            config.blas__ldflags = flags

