"""The tutorial's classifier, from the LSTM's pooled sum to the cost, as one Op, and its gradient as one.

``build_model`` writes it as mean pooling, dropout, a linear layer, softmax
and the mean negative log-likelihood: in the kernel's mode that graph and
its gradient are some 70 small Ops, each a Python thunk of 10 to 35 us
around about 1 us of NumPy (this saves 0.9 to 1.6 ms of an update, measured).
``Classifier`` computes the same in one call, in the same precision and
order (sums of float32 in float64, as PyTensor's), and ``ClassifierGrad``
its gradient in another: about 60 and 100 us for a batch of 16. In
training, where a function asks for both the cost and its gradient, a
rewrite lets ``ClassifierGrad`` give the cost too, from the forward
computation that the gradient makes anyway. ``build_model`` uses them when
the kernel is on; the tests check both against the graph they stand for.
"""

import numpy
import pytensor.tensor as tensor
from pytensor.gradient import disconnected_type, grad_undefined
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.tensor.type import integer_dtypes

from .ops import _check_shapes


def _forward(total, steps, keep, use_noise, U, b):
    """(the classifier's input after dropout, the class probabilities) of a batch, as build_model computes them."""
    proj = total / steps[:, None]  # mean pooling: (B, D)
    proj = proj * keep.astype(proj.dtype) if use_noise else proj * proj.dtype.type(0.5)  # dropout
    z = proj @ U + b  # (B, Y)
    e = numpy.exp(z - z.max(axis=1, keepdims=True))
    return proj, e / e.sum(axis=1, keepdims=True, dtype="float64").astype(z.dtype)


def _check(op, total, steps, keep, U, b, y=None):
    """ValueError for inputs whose shapes disagree, which NumPy could otherwise broadcast silently."""
    (B, D), Y = total.shape, U.shape[1]
    expected = dict(steps=(B,), U=(D, Y), b=(Y,), keep=keep.shape if keep.ndim == 0 else (B, D), y=(B,))
    arrays = dict(steps=steps, U=U, b=b, keep=keep) | ({} if y is None else dict(y=y))
    _check_shapes(op, expected, arrays)


class Classifier(Op):
    """(total, steps, keep, use_noise, U, b[, y]) -> the class probabilities (``output="pred"``, (B, Y))
    or the cost (``output="cost"``, a scalar; y is then the (B,) labels).

    ``total`` is the (B, D) sum over the real steps of h and ``steps`` the
    (B,) number of real steps; ``keep`` is the dropout's draw (1 where a unit
    is kept), used where ``use_noise`` is nonzero, else the units are scaled
    by 0.5. Without dropout, ``keep`` and ``use_noise`` are 1.
    """

    __props__ = ("output",)

    def __init__(self, output="pred"):
        if output not in ("pred", "cost"):
            raise ValueError(f"Classifier: output must be 'pred' or 'cost', not {output!r}")
        self.output = output

    def make_node(self, total, steps, keep, use_noise, U, b, *y):
        total, steps, keep, use_noise, U, b, *y = map(
            tensor.as_tensor_variable, (total, steps, keep, use_noise, U, b, *y)
        )
        dims = (total.ndim, steps.ndim, use_noise.ndim, U.ndim, b.ndim, len(y), *(v.ndim for v in y))
        if dims != (2, 1, 0, 2, 1, *((1, 1) if self.output == "cost" else (0,))) or keep.ndim not in (0, 2):
            raise TypeError(
                "Classifier needs total (B, D), steps (B,), keep (B, D), use_noise (), U (D, Y), b (Y,)"
                + (" and y (B,)" if self.output == "cost" else "")
            )
        if any(v.dtype != total.dtype for v in (steps, U, b)) or any(v.dtype not in integer_dtypes for v in y):
            raise TypeError("Classifier needs steps, U and b of total's dtype, and integer labels")
        out = tensor.matrix(dtype=total.dtype) if self.output == "pred" else tensor.scalar(dtype=total.dtype)
        return Apply(self, [total, steps, keep, use_noise, U, b, *y], [out])

    def perform(self, node, inputs, output_storage):
        _check("Classifier", *inputs[:3], *inputs[4:])
        with numpy.errstate(all="ignore"):  # as PyTensor's Elemwise: an overflow gives inf or NaN, silently
            _, pred = _forward(*inputs[:6])
            if self.output == "pred":
                output_storage[0][0] = pred
                return
            output_storage[0][0] = _cost(pred, inputs[6])

    def infer_shape(self, fgraph, node, shapes):
        return [(shapes[0][0], shapes[4][1])] if self.output == "pred" else [()]

    def connection_pattern(self, node):
        return [[i not in (2, 6)] for i in range(len(node.inputs))]  # not the draw, not the labels

    def pullback(self, inputs, outputs, output_grads):
        dtotal, dU, db = ClassifierGrad(self.output)(*inputs, output_grads[0])
        undefined = [grad_undefined(self, i, inputs[i]) for i in (1, 3)]  # of steps (the mask), use_noise
        return [
            dtotal,
            undefined[0],
            disconnected_type(),
            undefined[1],
            dU,
            db,
            *([disconnected_type()] * (len(inputs) - 6)),
        ]


def _off(dtype):
    """build_model's guard against log(0): 1e-8, or 1e-6 in float16."""
    return dtype.type(1e-6 if dtype == "float16" else 1e-8)


def _cost(pred, y):
    """build_model's cost: -mean(log(pred[i, y[i]] + off)), its sum in float64 as PyTensor's."""
    dtype = pred.dtype
    nll = numpy.log(pred[numpy.arange(len(y)), y] + _off(dtype)).sum(dtype="float64").astype(dtype)
    return numpy.asarray(-(nll / dtype.type(len(y))), dtype=dtype)


class ClassifierGrad(Op):
    """(total, steps, keep, use_noise, U, b[, y], dout) -> the gradients for total, U and b of
    ``Classifier(output)``, given dout, the gradient for its output; with ``cost``, then the cost
    itself (``output="cost"``)."""

    __props__ = ("output", "cost")

    def __init__(self, output="pred", cost=False):
        if cost and output != "cost":
            raise ValueError("ClassifierGrad: only output='cost' gives the cost too")
        self.output, self.cost = output, cost

    def make_node(self, *inputs):
        inputs = list(map(tensor.as_tensor_variable, inputs))
        total, U, b = inputs[0], inputs[4], inputs[5]
        cost = [tensor.scalar(dtype=total.dtype)] if self.cost else []
        return Apply(self, inputs, [total.type(), U.type(), b.type(), *cost])

    def perform(self, node, inputs, output_storage):
        total, steps, keep, use_noise, U, b, *y, dout = inputs
        _check("ClassifierGrad", total, steps, keep, U, b, *y)
        with numpy.errstate(all="ignore"):  # as in Classifier
            proj, pred = _forward(total, steps, keep, use_noise, U, b)
            grads = _backward(proj, pred, steps, keep, use_noise, U, y[0] if y else None, dout)
            cost = [_cost(pred, y[0])] if self.cost else []
        for storage, value in zip(output_storage, grads):
            storage[0] = numpy.asarray(value, dtype=total.dtype)
        for storage, value in zip(output_storage[3:], cost):
            storage[0] = value

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0], shapes[4], shapes[5], *([()] if self.cost else [])]


def _backward(proj, pred, steps, keep, use_noise, U, y, dout):
    """The gradients for total, U and b, given the forward computation's proj and pred and dout: the
    gradient for the cost (with labels y) or for pred (y None)."""
    if y is not None:  # the gradient for pred of -mean(log(pred[i, y[i]] + off))
        rows, dtype = numpy.arange(len(pred)), pred.dtype
        dout_, dout = dout, numpy.zeros_like(pred)
        dout[rows, y] = -dout_ / dtype.type(len(y)) / (pred[rows, y] + _off(dtype))
    dz = (dout - (dout * pred).sum(axis=1, keepdims=True)) * pred  # softmax's gradient: (B, Y)
    dproj = dz @ U.T
    dproj = dproj * keep.astype(dproj.dtype) if use_noise else dproj * dproj.dtype.type(0.5)
    return dproj / steps[:, None], proj.T @ dz, dz.sum(axis=0)


def classifier(total, steps, keep, use_noise, U, b, y):
    """(the class probabilities, the cost) of ``Classifier``; their gradient is ``ClassifierGrad``."""
    return Classifier("pred")(total, steps, keep, use_noise, U, b), Classifier("cost")(
        total, steps, keep, use_noise, U, b, y
    )


@node_rewriter([ClassifierGrad])
def local_cost_with_its_gradient(fgraph, node):
    """``Classifier("cost")`` and its ``ClassifierGrad`` on the same inputs, as one ``ClassifierGrad``
    that gives the cost too: the classifier's forward computation once per update, not twice."""
    if node.op.output != "cost" or node.op.cost:
        return None
    for client, _ in fgraph.clients[node.inputs[0]]:
        op = getattr(client, "op", None)
        if isinstance(op, Classifier) and op.output == "cost" and client.inputs == node.inputs[:7]:
            both = ClassifierGrad("cost", cost=True)(*node.inputs)
            return {client.outputs[0]: both[3], **dict(zip(node.outputs, both[:3]))}
    return None


CLASSIFIER_REWRITES = (local_cost_with_its_gradient,)
