"""``lstm_layer``'s scan as one PyTensor Op, computed by the compiled kernel.

``lstm_fused(emb, mask, W, b, U)`` gives the same hidden states as
``lstm.lstm_layer``'s input projection and scan over ``_step``, and its
gradient is theirs: one call into C per minibatch instead of a loop of
small ops, with the time loop's products on the active rows only.
``MaxPool`` is max pooling over the real steps, whose gradient a rewrite
hands to the LSTM's (``max_pooled``).
``Adadelta``, ``AdadeltaRows`` and ``Adam`` are the optimizers' steps (one
Op for all of a model's parameters, one pass over each) and ``ScatterAdd``
the embedding's gradient, in one pass. The rewrites at the end choose the
forward-only, pooled (mean and max) and word-table (``LSTMFromIds``)
versions for prediction; in training they let the kernel compute mean
pooling and its gradient as it goes and, where the input is ``Wemb[x]``,
the input projection and its gradients per distinct word of the batch
(``LSTMFromIds("train_pooled")``, ``LSTMGradFromIds``). They are registered
nowhere, and run only in the package's own mode (``backend.py``). The tests
check every Op against the plain graph it replaces.
"""

import numpy
import pytensor.tensor as tensor
from pytensor.gradient import DisconnectedType, grad_undefined
from pytensor.graph.basic import Apply, equal_computations
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.tensor.basic import Alloc, MakeVector, get_underlying_scalar_constant_value
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.exceptions import NotScalarConstantError
from pytensor.tensor.math import Sum, add, mul
from pytensor.tensor.shape import Reshape, Shape_i, SpecifyShape
from pytensor.tensor.subtensor import AdvancedIncSubtensor1, AdvancedSubtensor1
from pytensor.tensor.type import integer_dtypes

from .build import address, function, load

FLOATS = ("float32", "float64")


def _contiguous(*arrays):
    return [numpy.ascontiguousarray(a) for a in arrays]


def _same(a, b):
    """Whether two C-contiguous arrays hold the same bytes (a memcmp: no temporary array)."""
    return a.shape == b.shape and a.dtype == b.dtype and bool(load().same_bytes(a.nbytes, address(a), address(b)))


def _address_or_none(array):
    return None if array is None else address(array)


def _check_sizes(op, T, B, D):
    """ValueError unless T steps by B rows of D units fit the kernel's C ints (which count steps, rows,
    4D gate columns, B * 4D values of a step and 4D * D of a weight matrix) with room to spare."""
    if max(T, B, 4 * D * max(B, D)) >= 2**31:
        raise ValueError(f"{op}: {T} steps by {B} reviews of {D} units is too large for the kernel")


def _check_shapes(op, expected, arrays, dtype=None):
    """ValueError naming the first of ``arrays`` whose shape is not its ``expected`` one (or whose dtype is
    not ``dtype``): the kernel trusts the sizes it is given, so nothing that disagrees may reach it."""
    for name, array in arrays.items():
        if array.shape != expected[name]:
            raise ValueError(f"{op}: {name} has shape {array.shape}, expected {expected[name]}")
        if dtype is not None and array.dtype != dtype:
            raise ValueError(f"{op}: {name} is {array.dtype}, expected {dtype}")


def _updatable(inplace, *arrays):
    """``arrays`` themselves where an Op may overwrite them (``inplace``, and C-contiguous and writeable
    for the kernel), else copies of them."""
    if inplace and all(a.flags.c_contiguous and a.flags.writeable for a in arrays):
        return arrays
    return tuple(numpy.array(a) for a in arrays)


def _check(status):
    """The kernel returns nonzero when it could not allocate its buffers."""
    if status:
        raise MemoryError("LSTM: the kernel could not allocate its buffers")


class LSTM(Op):
    """(emb, mask, W, b, U) -> what ``output`` names, of the LSTM over ``emb``.

    ``emb`` is the (T, B, D) input, ``mask`` the (T, B) mask, ``W`` and ``U``
    the (D, 4D) input and recurrent weights and ``b`` the (4D,) bias.
    ``output`` is one of:

    - ``"train"``: h, c and the activated gates, all (T, B, .): what the gradient needs;
    - ``"h"``: h alone, storing neither c nor the gates (a rewrite picks it where
      nothing differentiates through the node);
    - ``"pooled"``: the (B, D) sum over time of mask * h, never storing h (a
      rewrite picks it for mean pooling);
    - ``"pooled_max"``: that sum and each unit's maximum over the real steps (as
      ``MaxPool``), never storing h (a rewrite picks it for max pooling);
    - ``"train_pooled"``: h, c, the gates and that sum (a rewrite picks it for
      mean pooling in training; ``LSTMGrad(pooled=True)`` takes the sum's gradient).
    """

    __props__ = ("output",)
    OUTPUTS = ("train", "h", "pooled", "pooled_max", "train_pooled")

    def __init__(self, output="train"):
        if output not in self.OUTPUTS:
            raise ValueError(f"LSTM: output must be one of {self.OUTPUTS}, not {output!r}")
        self.output = output

    def make_node(self, emb, mask, W, b, U):
        emb, W, b, U = map(tensor.as_tensor_variable, (emb, W, b, U))
        mask = tensor.cast(tensor.as_tensor_variable(mask), emb.dtype)
        if (emb.ndim, mask.ndim, W.ndim, b.ndim, U.ndim) != (3, 2, 2, 1, 2) or any(
            v.dtype != emb.dtype for v in (W, b, U)
        ):
            raise TypeError("LSTM needs emb (T, B, D), mask (T, B), W, U (D, 4D) and b (4D) of one dtype")
        h = tensor.tensor(dtype=emb.dtype, shape=(None, None, None))
        train, pool = [h, h.type(), h.type()], tensor.matrix(dtype=emb.dtype)
        outputs = dict(train=train, h=[h], pooled=[pool], pooled_max=[pool, pool.type()], train_pooled=[*train, pool])
        return Apply(self, [emb, mask, W, b, U], outputs[self.output])

    def perform(self, node, inputs, output_storage):
        _check_sizes("LSTM", *inputs[0].shape)
        emb, mask, W, b, U = _contiguous(*inputs)
        T, B, D = emb.shape
        expected = dict(mask=(T, B), W=(D, 4 * D), b=(4 * D,), U=(D, 4 * D))
        _check_shapes("LSTM", expected, dict(mask=mask, W=W, b=b, U=U))
        forward = function("lstm_forward", emb.dtype)
        if self.output in ("pooled", "pooled_max"):
            pool = numpy.empty((B, D), dtype=emb.dtype)
            top = numpy.empty_like(pool) if self.output == "pooled_max" else None
            arrays = map(address, (emb, mask, W, b, U))
            _check(forward(T, B, D, *arrays, None, None, None, address(pool), _address_or_none(top)))
            for storage, value in zip(output_storage, (pool, top)):
                storage[0] = value
            return
        h = numpy.empty((T, B, D), dtype=emb.dtype)
        c = numpy.empty_like(h)
        gates = numpy.empty((T, B, 4 * D), dtype=emb.dtype) if self.output != "h" else None
        pool = numpy.empty((B, D), dtype=emb.dtype) if self.output == "train_pooled" else None
        arrays = (emb, mask, W, b, U, h, c)
        _check(forward(T, B, D, *map(address, arrays), *map(_address_or_none, (gates, pool)), None))
        for storage, value in zip(output_storage, (h, c, gates, pool)):
            storage[0] = value

    def infer_shape(self, fgraph, node, shapes):
        (T, B, D), _, (_, G), _, _ = shapes
        train, pool = [(T, B, D), (T, B, D), (T, B, G)], (B, D)
        shapes = dict(train=train, h=[(T, B, D)], pooled=[pool], pooled_max=[pool, pool], train_pooled=[*train, pool])
        return shapes[self.output]

    def pullback(self, inputs, outputs, output_grads):
        emb, mask, W, b, U = inputs
        if self.output != "train":
            raise NotImplementedError(f"{self} has no gradient; differentiate LSTM()")
        if any(not isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            raise NotImplementedError("LSTM: only h can be differentiated, not c or the gates")
        h, c, gates = outputs
        dh = output_grads[0]
        if isinstance(dh.type, DisconnectedType):
            dh = tensor.zeros_like(h)
        demb, dW, db, dU = LSTMGrad()(emb, mask, W, U, h, c, gates, dh)
        return [demb, grad_undefined(self, 1, mask), dW, db, dU]


def _out_of_bounds(op, n):
    return IndexError(f"{op}: a word id is out of bounds for {n} embeddings")


def _word_ids(op, ids, n):
    """``ids`` as int64 rows of an embedding of ``n`` rows, negative ones counted from the end as
    NumPy indexing reads them; IndexError for one out of bounds."""
    ids = ids.astype("int64")
    if ids.size and (ids.min() < -n or ids.max() >= n):
        raise _out_of_bounds(op, n)
    return numpy.where(ids < 0, ids + n, ids)


def _distinct(op, ids, n):
    """The distinct words of ``ids`` (``_word_ids``), sorted, and where each id is among them: as
    ``numpy.unique`` gives them, by marking the words present (the kernel's ``distinct_words``), unless
    the vocabulary is so much larger than the batch that a pass over it costs more than the sort."""
    ids = numpy.ascontiguousarray(ids, dtype="int64")
    if n > 8 * ids.size:
        words, where = numpy.unique(_word_ids(op, ids, n), return_inverse=True)
    else:
        words, where = numpy.empty(min(n, ids.size), dtype="int64"), numpy.empty(ids.shape, dtype="int64")
        found = load().distinct_words(n, ids.size, *map(address, (ids, words, where)))
        if found == -1:
            raise _out_of_bounds(op, n)
        _check(found < 0)
        words = words[:found]
    if len(words) >= 2**31:
        raise ValueError(f"{op}: {len(words)} distinct words are too many for the kernel")
    return words.astype("int64", copy=False), where.astype("int64", copy=False).reshape(ids.shape)


class LSTMFromIds(Op):
    """(Wemb, ids, mask, W, b, U) -> ``LSTM(output)`` of ``Wemb[ids]``, ids (T, B) as the mask.

    The input projection of each word is a row of a table of ``Wemb @ W + b``
    instead of a product per (step, review) pair. ``output`` is one of:

    - ``"pooled"`` (prediction): the (B, D) sum over time of mask * h, from a
      table of every word, computed again only when Wemb, W or b differ from
      the values it was computed from: one product per step instead of two;
    - ``"pooled_max"`` (prediction): that sum and each unit's maximum over the
      real steps, as ``LSTM("pooled_max")``, from the same table;
    - ``"train_pooled"`` (training): h, c, the gates and that sum, from a table
      of the batch's distinct words (a batch of the tutorial has about 2.6
      words per distinct word); ``LSTMGradFromIds`` is its gradient.
    """

    __props__ = ("output",)
    OUTPUTS = ("pooled", "pooled_max", "train_pooled")

    def __init__(self, output="pooled"):
        if output not in self.OUTPUTS:
            raise ValueError(f"LSTMFromIds: output must be one of {self.OUTPUTS}, not {output!r}")
        self.output = output

    def make_node(self, Wemb, ids, mask, W, b, U):
        Wemb, ids, W, b, U = map(tensor.as_tensor_variable, (Wemb, ids, W, b, U))
        mask = tensor.cast(tensor.as_tensor_variable(mask), Wemb.dtype)
        if (Wemb.ndim, ids.ndim, W.ndim, b.ndim, U.ndim) != (2, 2, 2, 1, 2) or ids.dtype not in integer_dtypes:
            raise TypeError("LSTMFromIds needs Wemb (n, D), integer ids (T, B), mask (T, B), W, U (D, 4D), b (4D)")
        if any(v.dtype != Wemb.dtype for v in (W, b, U)):
            raise TypeError("LSTMFromIds needs Wemb, W, b and U of one dtype")
        pool = tensor.matrix(dtype=Wemb.dtype)
        if self.output != "train_pooled":
            pools = [pool] if self.output == "pooled" else [pool, pool.type()]
            return Apply(self, [Wemb, ids, mask, W, b, U], pools)
        h = tensor.tensor(dtype=Wemb.dtype, shape=(None, None, None))
        return Apply(self, [Wemb, ids, mask, W, b, U], [h, h.type(), h.type(), pool])

    def perform(self, node, inputs, output_storage):
        _check_sizes("LSTMFromIds", *inputs[2].shape, inputs[5].shape[0])
        Wemb, ids, mask, W, b, U = _contiguous(*inputs)
        (T, B), D, n = mask.shape, U.shape[0], Wemb.shape[0]
        expected = dict(Wemb=(n, D), ids=(T, B), W=(D, 4 * D), b=(4 * D,), U=(D, 4 * D))
        _check_shapes("LSTMFromIds", expected, dict(Wemb=Wemb, ids=ids, W=W, b=b, U=U))
        pool = numpy.empty((B, D), dtype=Wemb.dtype)
        if self.output != "train_pooled":
            top = numpy.empty((B, D), dtype=Wemb.dtype) if self.output == "pooled_max" else None
            table, ids = self._table(Wemb, W, b), numpy.ascontiguousarray(ids, dtype="int64")
            arrays = map(address, (table, ids, mask, U, pool))
            status = function("lstm_pooled_ids", Wemb.dtype)(T, B, D, n, *arrays, _address_or_none(top))
            if status == -2:  # the kernel checks the ids before it reads a row
                raise _out_of_bounds("LSTMFromIds", n)
            _check(status)
            for storage, value in zip(output_storage, (pool, top)):
                storage[0] = value
            return
        words, where = _distinct("LSTMFromIds", ids, n)
        h, c, gates = (
            numpy.empty((T, B, D), Wemb.dtype),
            numpy.empty((T, B, D), Wemb.dtype),
            numpy.empty((T, B, 4 * D), Wemb.dtype),
        )
        arrays = (Wemb, words, where, mask, W, b, U, h, c, gates, pool)
        _check(function("lstm_forward_words", Wemb.dtype)(T, B, D, len(words), *map(address, arrays)))
        for storage, value in zip(output_storage, (h, c, gates, pool)):
            storage[0] = value

    def _table(self, Wemb, W, b):
        """``Wemb @ W + b``, from the cache when these are the values it was computed from."""
        cached = getattr(self, "_cached", None)
        if cached is None or not all(_same(old, new) for old, new in zip(cached, (Wemb, W, b))):
            table = numpy.empty((Wemb.shape[0], W.shape[1]), dtype=Wemb.dtype)
            _check(function("lstm_table", Wemb.dtype)(Wemb.shape[0], Wemb.shape[1], *map(address, (Wemb, W, b, table))))
            self._cached = (Wemb.copy(), W.copy(), b.copy(), table)
        return self._cached[3]

    def infer_shape(self, fgraph, node, shapes):
        (T, B), (D, G) = shapes[2], shapes[5]
        pooled = {"pooled": [(B, D)], "pooled_max": [(B, D), (B, D)]}
        return pooled.get(self.output, [(T, B, D), (T, B, D), (T, B, G), (B, D)])


class _MaxPooled:
    """What LSTMGradFromIds and LSTMGrad share: with ``max_pooled``, two more inputs after the
    gradient for h, pmax and dmax (B, D): the units' maxima over the real steps (``MaxPool``) and
    their gradient, which the kernel adds to dh[t] where h[t] is the maximum (``MaxPoolGrad``), so
    that max pooling's gradient is never made as a (T, B, D) array."""

    def __init__(self, pooled=True, max_pooled=False):
        self.pooled, self.max_pooled = pooled, max_pooled

    def _maxima(self, inputs):
        """The inputs before pmax and dmax, and those two (None without ``max_pooled``)."""
        return (inputs[:-2], *inputs[-2:]) if self.max_pooled else (inputs, None, None)

    def _check_maxima(self, pmax, dmax, B, D, dtype):
        if self.max_pooled:
            _check_shapes(type(self).__name__, dict(pmax=(B, D), dmax=(B, D)), dict(pmax=pmax, dmax=dmax), dtype)


class LSTMGradFromIds(_MaxPooled, Op):
    """(Wemb, ids, mask, W, U, h, c, gates, dpool) -> the gradients of the cost for Wemb, W, b and U,
    of the LSTM over ``Wemb[ids]``, given dpool (B, D), that for its pooled sum (or, without
    ``pooled``, dh (T, B, D), that for every h[t]); with ``max_pooled``, pmax and dmax after.

    ``LSTMGrad`` followed by the embedding lookup's gradient, made
    per distinct word instead of per (step, review) pair: each word's dpreact
    summed over its pairs, then its row of Wemb's gradient and its share of W's
    (``lstm_backward_words`` in the kernel). The rows of Wemb's gradient for
    words not in ``ids`` are zero.
    """

    __props__ = ("pooled", "max_pooled")

    def make_node(self, Wemb, ids, mask, W, U, h, c, gates, dpool, *maxima):
        Wemb, ids, W, U, h, c, gates, dpool, *maxima = map(
            tensor.as_tensor_variable, (Wemb, ids, W, U, h, c, gates, dpool, *maxima)
        )
        mask = tensor.cast(tensor.as_tensor_variable(mask), Wemb.dtype)
        if len(maxima) != 2 * self.max_pooled:
            raise TypeError("LSTMGradFromIds takes pmax and dmax after dpool exactly when max_pooled")
        if any(v.dtype != Wemb.dtype for v in (W, U, h, c, gates, dpool, *maxima)) or ids.dtype not in integer_dtypes:
            raise TypeError("LSTMGradFromIds needs integer ids and every other input of Wemb's dtype")
        if ids.ndim != 2:
            raise TypeError("LSTMGradFromIds needs ids (T, B), as the mask")
        b = tensor.tensor(dtype=Wemb.dtype, shape=(None,))
        inputs = [Wemb, ids, mask, W, U, h, c, gates, dpool, *maxima]
        return Apply(self, inputs, [Wemb.type(), W.type(), b, W.type()])

    def perform(self, node, inputs, output_storage):
        _check_sizes("LSTMGradFromIds", *inputs[5].shape)
        inputs, pmax, dmax = self._maxima(_contiguous(*inputs))
        Wemb, ids, mask, W, U, h, c, gates, dpool = inputs
        (T, B, D), n = h.shape, Wemb.shape[0]
        expected = dict(Wemb=(n, D), ids=(T, B), mask=(T, B), W=(D, 4 * D), U=(D, 4 * D), c=(T, B, D))
        expected.update(gates=(T, B, 4 * D), dpool=(B, D) if self.pooled else (T, B, D))
        _check_shapes("LSTMGradFromIds", expected, dict(zip(expected, (Wemb, ids, mask, W, U, c, gates, dpool))))
        self._check_maxima(pmax, dmax, B, D, h.dtype)
        words, where = _distinct("LSTMGradFromIds", ids, n)
        dWemb, dW, db, dU = (
            numpy.empty(Wemb.shape, Wemb.dtype),  # the kernel writes zeros in the rows of words not in ids
            numpy.empty_like(W),
            numpy.empty(4 * D, W.dtype),
            numpy.empty_like(U),
        )
        dh, dpool = (None, dpool) if self.pooled else (dpool, None)
        arrays = (Wemb, words, where, mask, W, U, h, c, gates, dh, dpool, pmax, dmax, dWemb, dW, db, dU)
        _check(function("lstm_backward_words", h.dtype)(T, B, D, len(words), n, *map(_address_or_none, arrays)))
        for storage, value in zip(output_storage, (dWemb, dW, db, dU)):
            storage[0] = value

    def infer_shape(self, fgraph, node, shapes):
        Wemb, _, _, W, U = shapes[:5]
        return [Wemb, W, (W[1],), U]


class LSTMGrad(_MaxPooled, Op):
    """(emb, mask, W, U, h, c, gates, dh) -> the gradients of the cost for emb, W, b and U.

    With ``pooled``, the last input is instead dpool (B, D), the gradient for
    the sum over time of mask * h, whose gradient for h[t] is mask[t] * dpool;
    with ``max_pooled``, pmax and dmax come after it (``_MaxPooled``).
    """

    __props__ = ("pooled", "max_pooled")

    def __init__(self, pooled=False, max_pooled=False):
        super().__init__(pooled, max_pooled)

    def make_node(self, emb, mask, W, U, h, c, gates, dh, *maxima):
        if len(maxima) != 2 * self.max_pooled:
            raise TypeError("LSTMGrad takes pmax and dmax after dh exactly when max_pooled")
        inputs = [tensor.as_tensor_variable(v) for v in (emb, mask, W, U, h, c, gates, dh, *maxima)]
        emb, W = inputs[0], inputs[2]
        b = tensor.tensor(dtype=emb.dtype, shape=(None,))
        return Apply(self, inputs, [emb.type(), W.type(), b, W.type()])

    def perform(self, node, inputs, output_storage):
        _check_sizes("LSTMGrad", *inputs[4].shape)
        inputs, pmax, dmax = self._maxima(_contiguous(*inputs))
        emb, mask, W, U, h, c, gates, dh = inputs
        T, B, D = h.shape
        expected = dict(emb=(T, B, D), mask=(T, B), W=(D, 4 * D), U=(D, 4 * D), h=(T, B, D), c=(T, B, D))
        expected.update(gates=(T, B, 4 * D), dh=(B, D) if self.pooled else (T, B, D))
        _check_shapes("LSTMGrad", expected, dict(zip(expected, (emb, mask, W, U, h, c, gates, dh))))
        self._check_maxima(pmax, dmax, B, D, h.dtype)
        demb, dW, db, dU = (
            numpy.empty_like(emb),
            numpy.empty_like(W),
            numpy.empty(4 * D, dtype=W.dtype),
            numpy.empty_like(U),
        )
        dh, dpool = (None, dh) if self.pooled else (dh, None)
        arrays = (emb, mask, W, U, h, c, gates, dh, dpool, pmax, dmax, demb, dW, db, dU)
        _check(function("lstm_backward", h.dtype)(T, B, D, *map(_address_or_none, arrays)))
        for storage, value in zip(output_storage, (demb, dW, db, dU)):
            storage[0] = value

    def infer_shape(self, fgraph, node, shapes):
        emb, _, W, U = shapes[:4]
        return [emb, W, (W[1],), U]


class MaxPool(Op):
    """(h, mask) -> (B, D): each unit's maximum over the steps where the mask is positive, as
    ``tensor.switch(mask[:, :, None] > 0, h, -inf).max(axis=0)`` (max pooling), in one pass."""

    __props__ = ()

    def make_node(self, h, mask):
        h = tensor.as_tensor_variable(h)
        mask = tensor.cast(tensor.as_tensor_variable(mask), h.dtype)
        if h.ndim != 3 or mask.ndim != 2 or h.dtype not in FLOATS:
            raise TypeError("MaxPool needs float h (T, B, D) and mask (T, B)")
        return Apply(self, [h, mask], [tensor.matrix(dtype=h.dtype)])

    def perform(self, node, inputs, output_storage):
        h, mask = _contiguous(*inputs)
        T, B, D = h.shape
        _check_shapes("MaxPool", {"mask": (T, B)}, {"mask": mask}, h.dtype)
        out = numpy.empty((B, D), dtype=h.dtype)
        function("max_pool", h.dtype)(T, B, D, *map(address, (h, mask, out)))
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, shapes):
        (_, B, D), _ = shapes
        return [(B, D)]

    def pullback(self, inputs, outputs, output_grads):
        h, mask = inputs
        return [MaxPoolGrad()(h, mask, outputs[0], output_grads[0]), grad_undefined(self, 1, mask)]


class MaxPoolGrad(Op):
    """(h, mask, pmax, dmax) -> dh (T, B, D): dmax where the mask is positive and h equals its
    maximum pmax, else 0; the plain graph's gradient of max pooling, ties included. A rewrite hands
    pmax and dmax to the LSTM's gradient instead (``_MaxPooled``)."""

    __props__ = ()

    def make_node(self, h, mask, pmax, dmax):
        h, mask, pmax, dmax = map(tensor.as_tensor_variable, (h, mask, pmax, dmax))
        return Apply(self, [h, mask, pmax, dmax], [h.type()])

    def perform(self, node, inputs, output_storage):
        h, mask, pmax, dmax = inputs
        top = (mask[:, :, None] > 0) & (h == pmax[None])
        output_storage[0][0] = numpy.where(top, dmax[None], 0).astype(h.dtype)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]


class _Steps(Op):
    """An optimizer's step on ``params`` parameters at once, each in one pass over memory: the inputs
    are ``group`` arrays per parameter (the parameter first, its gradient second), then the Op's
    ``scalars``; the outputs, the updated arrays of each parameter (all its inputs but the gradient).

    One node for all of a model's parameters: in the kernel's mode each node
    costs tens of microseconds of Python around its pass. Graphs are built
    with the copying version; a rewrite makes it work in place where the
    values are being updated.
    """

    __props__ = ("inplace", "params")
    group, scalars = 4, ()

    def __init__(self, inplace=False, params=1):
        self.inplace, self.params = inplace, params
        if inplace:  # each updated array in place of its input
            updated = self._updated(range(self.group * params))
            self.destroy_map = {out: [i] for out, i in enumerate(updated)}

    def make_node(self, *inputs):
        name, n = type(self).__name__, self.group * self.params
        if len(inputs) != n + len(self.scalars):
            raise TypeError(
                f"{name}: needs {self.group} arrays for each of {self.params} parameters, then "
                f"the scalars {', '.join(self.scalars) or 'none'}"
            )
        arrays = [self._variables(inputs[k : k + self.group]) for k in range(0, n, self.group)]
        scalars = [tensor.as_tensor_variable(v) for v in inputs[n:]]
        if any(v.ndim for v in scalars):
            raise TypeError(f"{name}: {', '.join(self.scalars)} must be scalars")
        inputs = [v for group in arrays for v in group]
        return Apply(self, inputs + scalars, [v.type() for v in self._updated(inputs)])

    def _updated(self, items):
        """Of the items of each parameter's group, those the step updates: all but its gradient."""
        return [item for i, item in enumerate(items) if i % self.group != 1]

    def _variables(self, group):
        """A parameter's arrays as variables: p, its gradient and its two running averages, of one type."""
        group = [tensor.as_tensor_variable(v) for v in group]
        if any(v.type != group[0].type for v in group[1:]):
            raise TypeError(f"{type(self).__name__}: the parameter, its gradient and its averages must have one type")
        return group

    def perform(self, node, inputs, output_storage):
        n, k = self.group * self.params, self.group - 1
        scalars = self._scalars(*inputs[n:])
        for i in range(self.params):
            updated = self._step(*inputs[self.group * i : self.group * (i + 1)], *scalars)
            for storage, value in zip(output_storage[k * i : k * (i + 1)], updated):
                storage[0] = value

    def _scalars(self, *scalars):
        """The kernel's scalars, from the Op's."""
        return [float(s) for s in scalars]

    def _step(self, p, g, s1, s2, *scalars):
        names = ("gradient", "first average", "second average")
        _check_shapes(type(self).__name__, dict.fromkeys(names, p.shape), dict(zip(names, (g, s1, s2))), p.dtype)
        g = numpy.ascontiguousarray(g)
        p, s1, s2 = _updatable(self.inplace, p, s1, s2)
        function(self.kernel, p.dtype)(p.size, *map(address, (p, g, s1, s2)), *scalars)
        return p, s1, s2

    def infer_shape(self, fgraph, node, shapes):
        return self._updated(shapes[: self.group * self.params])


class Adadelta(_Steps):
    """(p, g, ru2, rg2) of each parameter -> p, ru2 and rg2 after one step of ``optimizers.adadelta``."""

    kernel = "adadelta"


class Adam(_Steps):
    """(p, g, m, v) of each parameter, then t and lr -> p, m and v after step number t of
    ``optimizers.adam``, whose bias corrections, ``a = lr / (1 - 0.9**t)`` and
    ``c = 1 / sqrt(1 - 0.999**t)``, are computed here as the plain graph computes them: in
    t's type, by the same NumPy functions that the kernel's mode runs for that graph."""

    kernel, scalars = "adam", ("t", "lr")

    def _scalars(self, t, lr):
        t = numpy.asarray(t)
        one, lr = numpy.asarray(1, t.dtype), numpy.asarray(lr).astype(t.dtype)
        a = numpy.true_divide(lr, numpy.subtract(one, numpy.power(numpy.asarray(0.9, t.dtype), t)))
        c = numpy.reciprocal(numpy.sqrt(numpy.subtract(one, numpy.power(numpy.asarray(0.999, t.dtype), t))))
        return float(a), float(c)


class AdadeltaRows(_Steps):
    """(p, g, ru2, rg2, seen) of each matrix p, then step -> p, ru2, rg2 and seen after ADADELTA's
    step number ``step``, which skips each row whose gradient is all zeros (``adadelta_rows`` in
    the kernel).

    For such a row the step would only multiply ru2 and rg2 by rho; the row's
    products wait until it next has a gradient, ``seen`` holding the last step
    at which each row had one. A matrix of an embedding's 10,000 words, of
    which a batch has a few hundred, is then read once instead of seven times.
    """

    group, scalars = 5, ("step",)

    def make_node(self, *inputs):
        step = tensor.as_tensor_variable(inputs[-1])
        if step.ndim != 0 or step.dtype != "int64":
            raise TypeError("AdadeltaRows: step must be an int64 scalar")
        return super().make_node(*inputs)

    def _variables(self, group):
        arrays, seen = super()._variables(group[:4]), tensor.as_tensor_variable(group[4])
        if arrays[0].ndim != 2:
            raise TypeError("AdadeltaRows: the parameter, its gradient and its averages must be matrices of one type")
        if seen.ndim != 1 or seen.dtype != "int64":
            raise TypeError("AdadeltaRows: seen must be an int64 vector")
        return [*arrays, seen]

    def _scalars(self, step):
        return [int(step)]

    def _step(self, p, g, ru2, rg2, seen, step):
        names = ("gradient", "first average", "second average")
        _check_shapes("AdadeltaRows", dict.fromkeys(names, p.shape), dict(zip(names, (g, ru2, rg2))), p.dtype)
        _check_shapes("AdadeltaRows", {"seen": (p.shape[0],)}, {"seen": seen}, "int64")
        if p.shape[1] >= 2**31:
            raise ValueError(f"AdadeltaRows: rows of {p.shape[1]} values are too long for the kernel")
        if seen.size and not (seen.min() >= 0 and seen.max() < step):
            raise ValueError(f"AdadeltaRows: seen holds steps outside [0, {step}) at step {step}")
        g = numpy.ascontiguousarray(g)
        p, ru2, rg2, seen = _updatable(self.inplace, p, ru2, rg2, seen)
        function("adadelta_rows", p.dtype)(p.shape[0], p.shape[1], step, *map(address, (p, g, ru2, rg2, seen)))
        return p, ru2, rg2, seen


class ScatterAdd(Op):
    """(y, idx, n, D) -> zeros((n, D)) with the rows of y added at rows idx.

    The gradient of the embedding lookup ``Wemb[x.flatten()]``, which
    PyTensor writes as an increment of a zero matrix; a rewrite puts this
    one in its place.
    """

    __props__ = ()

    def make_node(self, y, idx, n, D):
        y, idx = tensor.as_tensor_variable(y), tensor.as_tensor_variable(idx)
        n, D = (tensor.as_tensor_variable(v).astype("int64") for v in (n, D))
        return Apply(self, [y, idx, n, D], [tensor.matrix(dtype=y.dtype)])

    def perform(self, node, inputs, output_storage):
        y, idx, n, D = inputs
        y = numpy.ascontiguousarray(y)
        idx = numpy.ascontiguousarray(idx, dtype="int64")
        if y.shape != (len(idx), D):
            raise ValueError(f"ScatterAdd: {y.shape[0]} rows of {y.shape[1:]} for {len(idx)} indices into width {D}")
        out = numpy.empty((n, D), dtype=y.dtype)
        if function("scatter_add", y.dtype)(n, D, len(idx), *map(address, (y, idx, out))):
            raise IndexError(f"ScatterAdd: an index is out of bounds for {n} rows")
        output_storage[0][0] = out

    def infer_shape(self, fgraph, node, shapes):
        return [(node.inputs[2], node.inputs[3])]


def lstm_fused(emb, mask, W, b, U):
    """The hidden states h (T, B, D) of the LSTM over ``emb``, as lstm_layer's scan gives them."""
    return LSTM()(emb, mask, W, b, U)[0]


def max_pool(h, mask):
    """(B, D): the maximum of h (T, B, D) over the real steps, as ``model.lstm.pooled``'s plain graph."""
    return MaxPool()(h, mask)


@node_rewriter([Adadelta, AdadeltaRows, Adam])
def local_step_inplace(fgraph, node):
    if not node.op.inplace:
        return type(node.op)(inplace=True, params=node.op.params)(*node.inputs)
    return None


@node_rewriter([AdvancedIncSubtensor1])
def local_scatter_add(fgraph, node):
    """An increment of zeros at rows (an embedding's gradient) -> ScatterAdd."""
    x, y, idx = node.inputs
    if node.op.set_instead_of_inc or x.ndim != 2 or y.ndim != 2 or x.dtype != y.dtype:
        return None
    if x.dtype not in FLOATS or not _zeros(x):
        return None
    return [ScatterAdd()(y, idx, *x.owner.inputs[1:])]


def _zeros(x):
    """Whether ``x`` is a matrix of zeros made by Alloc."""
    if not (x.owner and isinstance(x.owner.op, Alloc) and len(x.owner.inputs) == 3):
        return False
    try:
        return get_underlying_scalar_constant_value(x.owner.inputs[0]) == 0
    except NotScalarConstantError:
        return False


@node_rewriter([AdvancedIncSubtensor1])
def local_rows_added(fgraph, node):
    """An increment at rows of a matrix that is not zeros, by an LSTM's input gradient (the embedding's,
    where a second lookup, the bidirectional encoder's reversed one, adds its rows to the first's) ->
    ``x + ScatterAdd(y, idx)``: the kernel's scatter rather than NumPy's, and, for mean pooling, the
    embedding's gradient by words (``local_lstm_grad_from_ids``) for each lookup."""
    x, y, idx = node.inputs
    if node.op.set_instead_of_inc or x.ndim != 2 or y.ndim != 2 or x.dtype != y.dtype or x.dtype not in FLOATS:
        return None
    grad = y.owner.inputs[0].owner if y.owner and isinstance(y.owner.op, Reshape) else None
    lookup = _lookup(grad.inputs[0]) if grad and isinstance(grad.op, LSTMGrad) and not _zeros(x) else None
    if lookup is None:
        return None
    Wemb = lookup[0]  # the shapes of the lookup's table, as local_lstm_grad_from_ids expects them
    return [x + ScatterAdd()(y, idx, Shape_i(0)(Wemb), Shape_i(1)(Wemb))]


def _expanded(var, mask):
    """Whether ``var`` is ``mask[:, :, None]``."""
    return bool(
        var.owner
        and isinstance(var.owner.op, DimShuffle)
        and tuple(var.owner.op.new_order) == (0, 1, "x")
        and var.owner.inputs[0] is mask
    )


def _pooling(fgraph, h, mask):
    """The node ``(h * mask[:, :, None]).sum(axis=0)`` where that product is all that reads it, or None."""
    for client, _ in fgraph.clients[h]:
        if client.op == mul and len(client.inputs) == 2 and any(_expanded(v, mask) for v in client.inputs):
            sums = fgraph.clients[client.outputs[0]]
            if len(sums) == 1 and isinstance(sums[0][0].op, Sum) and tuple(sums[0][0].op.axis or ()) == (0,):
                return sums[0][0]
    return None


@node_rewriter([LSTM])
def local_lstm_pooled(fgraph, node):
    """Mean pooling's ``(h * mask[:, :, None]).sum(axis=0)``, computed by the kernel as it goes:
    of a forward-only LSTM read by nothing else, LSTM("pooled") (h is never stored); in training,
    LSTM("train_pooled") (no pass of NumPy over h)."""
    h = node.outputs[0]
    if node.op.output not in ("h", "train") or (node.op.output == "h" and len(fgraph.clients[h]) != 1):
        return None
    sums = _pooling(fgraph, h, node.inputs[1])
    if sums is None:
        return None
    pool = sums.outputs[0]
    if node.op.output == "h":
        return {pool: LSTM("pooled")(*node.inputs).astype(pool.dtype)}
    new = LSTM("train_pooled")(*node.inputs)
    return dict(zip(node.outputs, new[:3])) | {pool: new[3].astype(pool.dtype)}


@node_rewriter([LSTM])
def local_lstm_pooled_max(fgraph, node):
    """Max pooling's ``MaxPool(h, mask)`` of a forward-only LSTM, with or without mean pooling's sum,
    where those are all that read h -> LSTM("pooled_max"): the kernel keeps each unit's maximum as it
    goes, and h is never stored."""
    h, mask = node.outputs[0], node.inputs[1]
    if node.op.output != "h":
        return None
    readers = [client for client, _ in fgraph.clients[h]]
    maxima = [r for r in readers if isinstance(r.op, MaxPool) and equal_computations([r.inputs[1]], [mask])]
    sums = _pooling(fgraph, h, mask)
    if not maxima or len(readers) != len(maxima) + (sums is not None):
        return None
    pool, top = LSTM("pooled_max")(*node.inputs)
    mean = {sums.outputs[0]: pool.astype(sums.outputs[0].dtype)} if sums else {}
    return {r.outputs[0]: top for r in maxima} | mean


@node_rewriter([LSTMGrad, LSTMGradFromIds])
def local_lstm_grad_pooled(fgraph, node):
    """LSTMGrad (or LSTMGradFromIds) of dh = dpool[None] * mask[:, :, None] (mean pooling's gradient) ->
    the same Op with ``pooled=True``, of dpool: the kernel multiplies by the mask as it goes, and dh is
    never made."""
    at, mask = _grad_inputs(node)
    dh = node.inputs[at]
    if node.op.pooled or not (dh.owner and dh.owner.op == mul and len(dh.owner.inputs) == 2):
        return None
    for dpool, m in (dh.owner.inputs, dh.owner.inputs[::-1]):
        if _expanded(m, mask) and dpool.ndim == 3 and dpool.type.broadcastable[0] and dpool.dtype == dh.dtype:
            expanded = (
                dpool.owner and isinstance(dpool.owner.op, DimShuffle) and dpool.owner.op.new_order == ("x", 0, 1)
            )
            dpool = dpool.owner.inputs[0] if expanded else dpool[0]
            new = type(node.op)(pooled=True, max_pooled=node.op.max_pooled)
            return new(*node.inputs[:at], dpool, *node.inputs[at + 1 :])
    return None


def _grad_inputs(node):
    """Of an LSTMGrad or LSTMGradFromIds node: where its gradient for h (dh or dpool) is among its
    inputs, and its mask."""
    return (7, node.inputs[1]) if isinstance(node.op, LSTMGrad) else (8, node.inputs[2])


@node_rewriter([LSTMGrad, LSTMGradFromIds])
def local_lstm_grad_max(fgraph, node):
    """LSTMGrad (or LSTMGradFromIds) of dh = MaxPoolGrad(h, mask, pmax, dmax), alone or added to another
    term, where h and mask are the LSTM's own -> the same Op with ``max_pooled``, of that other term (or
    of a zero dpool) and pmax and dmax: the kernel adds dmax at each maximum as it goes."""
    at, mask = _grad_inputs(node)
    dh, h = node.inputs[at], node.inputs[at - 3]
    if node.op.max_pooled or not dh.owner:
        return None
    terms = dh.owner.inputs if dh.owner.op == add and len(dh.owner.inputs) == 2 else [dh]
    for i, term in enumerate(terms):
        pool = term.owner
        if pool and isinstance(pool.op, MaxPoolGrad) and pool.inputs[0] is h and pool.inputs[1] is mask:
            pmax, dmax = pool.inputs[2:]
            if len(terms) == 1:
                pooled, rest = True, tensor.zeros_like(dmax)
            else:
                pooled, rest = node.op.pooled, terms[1 - i]
            new = type(node.op)(pooled=pooled, max_pooled=True)
            return new(*node.inputs[:at], rest, pmax, dmax)
    return None


def _lookup(emb):
    """(Wemb, ids, steps) where ``emb`` is the lookup ``Wemb[ids].reshape(T, B, D)``, else None; steps is
    ids reshaped as the lookup is, (T, B).

    LSTM checks that the reshaped rows fit the (T, B) mask, and so do the Ops
    by ids, given the ids as the (T, B) matrix of the reshape: row t * B + b of
    the lookup is step t of review b, which is how LSTMFromIds reads ids.
    """
    if not (emb.owner and isinstance(emb.owner.op, Reshape) and emb.ndim == 3):
        return None
    rows = emb.owner.inputs[0]
    if rows.owner and isinstance(rows.owner.op, SpecifyShape):
        rows = rows.owner.inputs[0]
    if not (rows.owner and isinstance(rows.owner.op, AdvancedSubtensor1)):
        return None
    Wemb, ids = rows.owner.inputs
    if Wemb.ndim != 2 or ids.ndim != 1 or Wemb.dtype != emb.dtype or ids.dtype not in integer_dtypes:
        return None
    return Wemb, ids, _steps(ids, emb.owner.inputs[1])


def _steps(ids, shape):
    """``ids`` as the (T, B) matrix of a lookup reshaped to ``shape`` (T, B, D): ``x`` itself where ids is
    ``x.flatten()`` and the reshape keeps x's (T, B), as build_model's does."""
    T, B = shape.owner.inputs[:2] if shape.owner and isinstance(shape.owner.op, MakeVector) else (shape[0], shape[1])
    x = ids.owner.inputs[0] if ids.owner and isinstance(ids.owner.op, Reshape) else None
    if x is not None and x.ndim == 2 and _shape_i(T, x, 0) and _shape_i(B, x, 1):
        return x
    return ids.reshape((T, B))


@node_rewriter([LSTM])
def local_lstm_from_ids(fgraph, node):
    """A pooled LSTM over looked-up embeddings, ``Wemb[ids].reshape(T, B, D)`` -> LSTMFromIds."""
    lookup = _lookup(node.inputs[0])
    if node.op.output not in LSTMFromIds.OUTPUTS or lookup is None:
        return None
    new = LSTMFromIds(node.op.output)(lookup[0], lookup[2], *node.inputs[1:])
    return new if isinstance(new, list) else [new]


def _shape_i(var, x, i):
    """Whether ``var`` is ``x.shape[i]`` (PyTensor's Shape_i)."""
    return bool(var.owner and isinstance(var.owner.op, Shape_i) and var.owner.op.i == i and var.owner.inputs[0] is x)


@node_rewriter([ScatterAdd])
def local_lstm_grad_from_ids(fgraph, node):
    """The embedding's gradient ``ScatterAdd(demb.reshape(-1, D), ids)`` of an LSTMGrad's demb, where the
    LSTM's input is ``Wemb[ids]`` -> LSTMGradFromIds (per word; demb is never made)."""
    y, idx, n, D = node.inputs
    grad = y.owner.inputs[0].owner if y.owner and isinstance(y.owner.op, Reshape) else None
    if not (grad and isinstance(grad.op, LSTMGrad) and y.owner.inputs[0] is grad.outputs[0]):
        return None
    if len(fgraph.clients[grad.outputs[0]]) != 1 or len(fgraph.clients[y]) != 1:
        return None
    lookup = _lookup(grad.inputs[0])
    if lookup is None or not equal_computations([idx], [lookup[1]]):
        return None
    if not (_shape_i(n, lookup[0], 0) and _shape_i(D, lookup[0], 1)):
        return None
    new = LSTMGradFromIds(grad.op.pooled, grad.op.max_pooled)(lookup[0], lookup[2], *grad.inputs[1:])
    return {node.outputs[0]: new[0]} | dict(zip(grad.outputs[1:], new[1:]))


@node_rewriter([LSTM])
def local_lstm_forward_only(fgraph, node):
    """Where c and the gates are not used (no gradient), compute h alone and store neither."""
    if node.op.output == "train" and not any(fgraph.clients[out] for out in node.outputs[1:]):
        return {node.outputs[0]: LSTM("h")(*node.inputs)}
    return None


# The rewrites of the package's mode (backend.py): where in PyTensor's sequence of rewrites each runs.
GRAPH_REWRITES = (
    local_scatter_add,
    local_rows_added,
    local_lstm_grad_from_ids,
    local_lstm_forward_only,
    local_lstm_pooled,
    local_lstm_pooled_max,
    local_lstm_from_ids,
    local_lstm_grad_pooled,
    local_lstm_grad_max,
)
INPLACE_REWRITES = (local_step_inplace,)
