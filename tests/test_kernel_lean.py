"""The lean NumPy Ops of the kernel's mode against the PyTensor Ops they replace, run by PyTensor's own
Python implementations (``perform``) in a mode without the package's rewrites."""

import warnings

import numpy
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from pytensor.tensor.random.variable import shared_rng
from pytensor.tensor.special import softmax

from lstm_sentiment.kernel import build
from lstm_sentiment.kernel.backend import Backend
from lstm_sentiment.kernel.lean import HalfBernoulli
from lstm_sentiment.model.lstm import dropout_keep, rng_updates

pytestmark = pytest.mark.skipif(build.load() is None, reason="the LSTM kernel is unavailable here")

PLAIN = Mode(linker="py", optimizer="fast_run").excluding("fusion", "inplace")


def compiled(inputs, outputs):
    """(the kernel's mode, PyTensor's Python Ops) functions of the same graph, and the former's Op names."""
    lean = Backend().function(inputs, outputs)
    plain = pytensor.function(inputs, outputs, mode=PLAIN)
    return lean, plain, [type(n.op).__name__ for n in lean.maker.fgraph.toposort()]


def assert_same(lean, plain, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # floating-point warnings stay off, as in Elemwise
        got = lean(*args)
    for a, b in zip(got, plain(*args)):
        assert a.dtype == b.dtype and a.shape == b.shape
        numpy.testing.assert_array_equal(a, b)


def test_elementwise_ops_are_single_numpy_calls_with_the_same_results():
    a, b = pt.matrix("a", dtype="float32"), pt.row("b", dtype="float32")
    outputs = [a * b, a / b, pt.switch(a > 0.5, a, b), pt.log(a - 0.5), pt.exp(-a) + 1, (a > b) & (a < 0.9), -a]
    lean, plain, ops = compiled([a, b], outputs)
    assert "Elemwise" not in ops and ops.count("Ufunc") >= len(outputs)
    rng = numpy.random.default_rng(0)
    x, y = rng.random((5, 3), dtype="float32"), rng.random((1, 3), dtype="float32")
    x[0, 0], y[0, 1] = 0.0, 0.0  # log of a negative, a division by zero: nan and inf, without warnings
    assert_same(lean, plain, x, y)


def test_an_axis_not_marked_broadcastable_is_not_broadcast():
    a, b = pt.matrix("a", dtype="float64"), pt.matrix("b", dtype="float64")
    lean, plain, ops = compiled([a, b], [a + b])
    assert ops == ["Ufunc"]
    for f in (lean, plain):
        with pytest.raises(ValueError):
            f(numpy.ones((3, 2)), numpy.ones((1, 2)))


def test_a_float_result_of_integers_keeps_elemwise():
    # Elemwise then tells NumPy to compute in float32; NumPy alone would compute in float64
    i, j = pt.vector("i", dtype="int32"), pt.vector("j", dtype="int32")
    lean, plain, ops = compiled([i, j], [pt.true_div(i, j), pt.sqrt(i)])
    assert ops.count("Elemwise") == 2
    assert_same(lean, plain, numpy.array([1, 2, 7], dtype="int32"), numpy.array([3, 3, 2], dtype="int32"))


def test_reductions_accumulate_as_careduce_does():
    a = pt.matrix("a", dtype="float32")
    outputs = [a.sum(axis=0), a.sum(), a.max(axis=1), pt.mean(a, axis=1), a.sum(axis=0, acc_dtype="float32")]
    lean, plain, ops = compiled([a], outputs)
    assert "Reduce" in ops and not {"Sum", "Max", "CAReduce"} & set(ops)
    values = numpy.random.default_rng(1).standard_normal((1000, 7)).astype("float32") * 1e4
    assert_same(lean, plain, values)
    lean, plain, ops = compiled([a], [a.max(axis=0)])
    assert ops == ["Reduce"]
    for f in (lean, plain):
        with pytest.raises(ValueError):
            f(numpy.zeros((0, 3), dtype="float32"))  # the maximum of nothing


def test_softmax_runs_inline_with_the_same_values_and_gradient():
    a = pt.matrix("a", dtype="float32")
    probs = softmax(a, axis=-1)
    grad = pt.grad((probs[:, 0] * pt.arange(4)).sum(), a)
    lean, plain, ops = compiled([a], [probs, grad])
    assert "Softmax" not in ops
    values = numpy.random.default_rng(2).standard_normal((4, 3)).astype("float32") * 30
    for a, b in zip(lean(values), plain(values)):  # PyTensor compiles the softmax's inner graph its own way
        numpy.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
    shifted = numpy.exp(values - values.max(axis=1, keepdims=True))
    numpy.testing.assert_allclose(lean(values)[0], shifted / shifted.sum(axis=1, keepdims=True), rtol=1e-6)


def test_casts_run_through_numpy():
    x = pt.vector("x", dtype="float64")
    lean, plain, ops = compiled([x], [pt.cast(x, "float32"), pt.cast(x > 0, "float32"), pt.cast(x.sum(), "float32")])
    assert ops.count("AsType") == 3
    values = numpy.array([0.1, -2.5, 1e-40, 3.0000001, numpy.nan])
    assert_same(lean, plain, values)
    numpy.testing.assert_array_equal(lean(values)[0], values.astype("float32"))


@pytest.mark.parametrize("seed", [0, 1, 123])
def test_half_bernoulli_draws_what_numpy_binomial_draws_and_leaves_the_same_state(seed):
    a, b = numpy.random.default_rng(seed), numpy.random.default_rng(seed)
    for size in [(64, 64), (3, 5, 7), (1,), (100_000,)]:
        expected = a.binomial(1, 0.5, size=size)
        got = numpy.asarray(HalfBernoulli().rng_fn(b, numpy.asarray(1), numpy.asarray(0.5), size), dtype="int64")
        numpy.testing.assert_array_equal(got, expected)
        assert b.bit_generator.state == a.bit_generator.state


def _draws(function_of, seed, calls=4):
    """``calls`` successive dropout draws (binomial(1, 0.5) of a shared generator, advanced at each call)."""
    rng = shared_rng(seed=seed)
    keep = dropout_keep((6, 11), rng)
    f = function_of([], keep, rng_updates(keep))
    return [f() for _ in range(calls)], f


def test_the_dropout_draw_runs_as_half_bernoulli_with_the_plain_graph_draws():
    lean, f = _draws(lambda i, o, u: Backend().function(i, o, updates=u), seed=7)
    plain, _ = _draws(lambda i, o, u: pytensor.function(i, o, updates=u, mode=PLAIN), seed=7)
    assert any(isinstance(n.op, HalfBernoulli) for n in f.maker.fgraph.toposort())
    for a, b in zip(lean, plain):
        assert a.dtype == b.dtype == "int64"
        numpy.testing.assert_array_equal(a, b)
    assert not all((a == lean[0]).all() for a in lean[1:])  # the generator advanced


@pytest.mark.parametrize("n, p", [(2, 0.5), (1, 0.3)])
def test_other_binomials_are_left_as_they_are(n, p):
    rng = shared_rng(seed=3)
    draws = rng.binomial(n, p, size=(4, 4))[1]
    f = Backend().function([], draws)
    assert not any(isinstance(n.op, HalfBernoulli) for n in f.maker.fgraph.toposort())
