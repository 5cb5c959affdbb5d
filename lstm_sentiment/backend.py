"""PyTensor defaults for this package: float32, a working BLAS and a fast linker.

pip-installed PyTensor 3 compiles with its Numba backend and, finding no BLAS it
recognises, falls back to NumPy for dot products; both are many times slower
than this model needs. The model's heavy work runs in the compiled kernel
(``kernel.py``), so PyTensor runs the rest with Python thunks (``KERNEL_MODE``:
linker ``py``, which compiles in a second; no elementwise fusion, since NumPy
then runs each elementwise op; casts through NumPy). Without the kernel, the
scan graph runs on the C backend (``cvm``) linked to MKL. ``configure`` runs when this module is first
imported; any value the user gave in ``PYTENSOR_FLAGS`` or ``~/.pytensorrc``
still wins.
"""

import numpy
import pytensor
from pytensor import config  # also read by imdb.prepare_data, through this module
from pytensor.compile import optdb
from pytensor.compile.mode import Mode
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.scalar.basic import Cast
from pytensor.tensor.elemwise import Elemwise

from . import kernel
from .kernel import mkl_ldflags


def user_has_set(key):
    """Whether ``key`` was given in PYTENSOR_FLAGS or a .pytensorrc file.

    PyTensor reads every user-given value when it registers the setting and
    then marks the setting as not default.
    """
    return not vars(type(pytensor.config))[key].is_default


class AsType(Op):
    """``x.astype(dtype)``. PyTensor's Cast has no NumPy function, so the Python linker would
    cast element by element (5 ms for the dropout mask of one batch); this casts at NumPy's
    speed, with the same rounding. Put in place by a rewrite of KERNEL_MODE."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, x):
        x = pytensor.tensor.as_tensor_variable(x)
        return Apply(self, [x], [pytensor.tensor.tensor(dtype=self.dtype, shape=x.type.shape)])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = numpy.asarray(inputs[0]).astype(self.dtype)

    def infer_shape(self, fgraph, node, shapes):
        return shapes


@node_rewriter([Elemwise])
def local_cast_to_astype(fgraph, node):
    if isinstance(node.op.scalar_op, Cast) and node.inputs[0].ndim > 0:
        return [AsType(node.outputs[0].dtype)(node.inputs[0])]
    return None


optdb.register("cast_to_astype", dfs_rewriter(local_cast_to_astype), "numpy_cast", position=49.2)

# Python thunks around the kernel; no fusion, whose Composite ops only C runs fast.
KERNEL_MODE = Mode(linker="py", optimizer="fast_run").excluding("fusion", "cxx_only").including("numpy_cast")
# The C backend, for the plain graph (train_lstm(fused=False)).
C_MODE = Mode(linker="cvm", optimizer="fast_run")


def configure():
    """Apply the package's PyTensor defaults wherever the user set nothing."""
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

