"""The small Ops around the kernel, run as plain NumPy calls.

In the kernel's mode PyTensor runs every Op but the kernel's through its
Python ``perform``. For the model's small arrays (a batch's 16 x 128 pooled
states, its 16 x 2 probabilities) those cost 25 to 60 us of bookkeeping for
about 1 us of NumPy: an elementwise Op checks its broadcasting generically
and converts its result, a reduction copies its input first, and the softmax
runs its inner graph as a compiled function of its own. The Ops here do the
same NumPy calls, in the same precision, without the rest; the rewrites at
the end put them in place, and run only in the kernel's mode (``backend.py``).
The dropout's draw, ``binomial(1, 0.5)``, is drawn the same way 6 times faster.
The tests check each against the Op it replaces.
"""

import numpy
import pytensor
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.scalar.basic import Cast
from pytensor.tensor.basic import get_underlying_scalar_constant_value
from pytensor.tensor.elemwise import CAReduce, Elemwise
from pytensor.tensor.exceptions import NotScalarConstantError
from pytensor.tensor.random.basic import BinomialRV
from pytensor.tensor.rewriting.ofg import inline_ofg_node
from pytensor.tensor.special import Softmax
from pytensor.tensor.type import discrete_dtypes


class AsType(Op):
    """``x.astype(dtype)``. PyTensor's Cast has no NumPy function, so a Python thunk would
    cast element by element (5 ms for the dropout mask of one batch); this casts at NumPy's
    speed, with the same rounding."""

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


class Ufunc(Op):
    """An ``Elemwise`` of one output as one call of its NumPy function, ``elemwise.nfunc_spec[0]``.

    Like ``Elemwise.perform``: floating-point warnings off, the result in the
    node's dtype, and an error where an input's axis of length 1 that the
    graph does not mark broadcastable would be broadcast.
    """

    __props__ = ("elemwise",)

    def __init__(self, elemwise):
        self.elemwise = elemwise
        self.fn = getattr(numpy, elemwise.nfunc_spec[0])

    def make_node(self, *inputs):
        node = self.elemwise.make_node(*inputs)
        return Apply(self, node.inputs, [node.outputs[0].type()])

    def perform(self, node, inputs, output_storage):
        with numpy.errstate(all="ignore"):
            out = numpy.asarray(self.fn(*inputs), dtype=node.outputs[0].dtype)
        for value, var in zip(inputs, node.inputs):
            if any(n != m and not b for n, m, b in zip(value.shape, out.shape, var.type.broadcastable)):
                raise ValueError(f"{self.elemwise}: inputs of shapes {[i.shape for i in inputs]} do not match")
        output_storage[0][0] = out if out.flags.owndata else out.copy()

    def infer_shape(self, fgraph, node, shapes):
        return self.elemwise.infer_shape(fgraph, node, shapes)


class Reduce(Op):
    """A ``CAReduce`` (a sum or a maximum over axes) as one NumPy reduction, in its accumulator's dtype
    like ``CAReduce.perform``, but without first copying its input when that is already of that dtype."""

    __props__ = ("careduce",)

    def __init__(self, careduce):
        self.careduce = careduce
        self.ufunc = careduce.ufunc

    def make_node(self, x):
        node = self.careduce.make_node(x)
        return Apply(self, node.inputs, [node.outputs[0].type()])

    def perform(self, node, inputs, output_storage):
        dtype = node.outputs[0].dtype
        acc = self.careduce.acc_dtype or dtype
        out = self.ufunc.reduce(numpy.asarray(inputs[0], dtype=acc), axis=self.careduce.axis, dtype=acc)
        output_storage[0][0] = numpy.asarray(out, dtype=dtype)

    def infer_shape(self, fgraph, node, shapes):
        return self.careduce.infer_shape(fgraph, node, shapes)


class HalfBernoulli(BinomialRV):
    """``binomial(1, 0.5)`` as ``random() > 0.5``, the same draws from the same generator states.

    NumPy draws binomial(1, p) for p <= 0.5 by inversion: one double U per
    value, and 1 where U exceeds (1 - p)^1, which for p = 0.5 is 0.5. ``random``
    draws the same doubles, without binomial's per-value bookkeeping: 8 us
    against 48 for the 4,096 values of a recipe batch's dropout. The tests
    compare the two, values and the generator's state after.
    """

    def rng_fn(self, rng, n, p, size):
        return rng.random(size) > 0.5


@node_rewriter([BinomialRV])
def local_half_bernoulli(fgraph, node):
    """binomial(1, 0.5) -> HalfBernoulli, where n and p are those constants (the dropout's draw)."""
    if type(node.op) is not BinomialRV:
        return None
    try:
        n, p = (get_underlying_scalar_constant_value(v) for v in node.inputs[2:])
    except NotScalarConstantError:
        return None
    if n != 1 or p != 0.5:
        return None
    return HalfBernoulli(**node.op._props_dict()).make_node(*node.inputs).outputs


@node_rewriter([Elemwise])
def local_cast_to_astype(fgraph, node):
    if isinstance(node.op.scalar_op, Cast):
        return [AsType(node.outputs[0].dtype)(node.inputs[0])]
    return None


@node_rewriter([Elemwise])
def local_ufunc(fgraph, node):
    """An Elemwise whose NumPy function computes it as ``Elemwise.perform`` would -> Ufunc.

    Not where ``Elemwise`` would tell NumPy to compute in the output's type
    (a float result of integer inputs), nor for Ops that NumPy does not have.
    """
    op, out = node.op, node.outputs[0]
    spec = getattr(op.scalar_op, "nfunc_spec", None)
    if len(node.outputs) != 1 or op.inplace_pattern or not spec or spec[1] != len(node.inputs):
        return None
    fn = getattr(numpy, spec[0], None)
    typed = isinstance(fn, numpy.ufunc) and out.dtype not in discrete_dtypes
    if fn is None or (typed and node.inputs[0].dtype in discrete_dtypes):
        return None
    return [Ufunc(op)(*node.inputs)]


@node_rewriter([CAReduce])
def local_reduce(fgraph, node):
    """A CAReduce that ``CAReduce.perform`` computes with a NumPy ufunc (sums, maxima) -> Reduce."""
    spec = getattr(node.op.scalar_op, "nfunc_spec", None)
    if type(node.op).perform is CAReduce.perform and spec and hasattr(numpy, spec[0]):
        return [Reduce(node.op)(node.inputs[0])]
    return None


@node_rewriter([Softmax])
def local_inline_softmax(fgraph, node):
    """PyTensor's softmax, whose inner graph runs as a function of its own -> that graph, in place."""
    return inline_ofg_node(node)


# Where in PyTensor's sequence each runs (see backend.KERNEL_REWRITES): the softmax inlined after
# "specialize", the rest before the destroy handler, as the last rewrites that change Ops.
INLINE_REWRITES = (local_inline_softmax,)
LEAN_REWRITES = (local_half_bernoulli, local_cast_to_astype, local_ufunc, local_reduce)
