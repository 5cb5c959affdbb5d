"""The classifier's Ops against the plain graph they stand for (build_model's lines, on PyTensor's C
backend) and their gradient against finite differences."""

import warnings

import numpy
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.gradient import verify_grad
from pytensor.tensor.special import softmax

from lstm_sentiment.kernel.backend import Backend
from lstm_sentiment.kernel.classifier import Classifier, ClassifierGrad, classifier
from lstm_sentiment.lstm import build_model, init_params, init_tparams


def plain_classifier(total, steps, keep, use_noise, U, b, y, dropout=True):
    """build_model's classifier, as the tutorial writes it (in floatX = the inputs' dtype, as build_model)."""
    with pytensor.config.change_flags(floatX=total.dtype):
        return _plain(total, steps, keep, use_noise, U, b, y, dropout)


def _plain(total, steps, keep, use_noise, U, b, y, dropout):
    proj = total / steps[:, None]
    if dropout:
        proj = pt.switch(use_noise, proj * pt.cast(keep, proj.dtype), proj * 0.5)
    pred = softmax(pt.dot(proj, U) + b, axis=-1)
    return pred, -pt.log(pred[pt.arange(total.shape[0]), y] + 1e-8).mean()


def batch(dtype, B=16, D=12, Y=3, seed=0):
    rng = numpy.random.default_rng(seed)
    return dict(
        total=(rng.standard_normal((B, D)) * 5).astype(dtype),
        steps=rng.integers(1, 30, B).astype(dtype),
        keep=rng.integers(0, 2, (B, D)),
        U=rng.standard_normal((D, Y)).astype(dtype),
        b=rng.standard_normal(Y).astype(dtype),
        y=rng.integers(0, Y, B),
    )


def graphs(dtype, dropout):
    """(inputs, the Ops' pred, cost and gradients, the plain graph's) for ``dtype``."""
    total, U = pt.matrix("total", dtype=dtype), pt.matrix("U", dtype=dtype)
    steps, b = pt.vector("steps", dtype=dtype), pt.vector("b", dtype=dtype)
    keep, y, use_noise = pt.matrix("keep", dtype="int64"), pt.vector("y", dtype="int64"), pt.scalar("n", dtype=dtype)
    weights = pt.matrix("weights", dtype=dtype)  # a cost of pred, for pred's gradient
    inputs = [total, steps, keep, use_noise, U, b, y, weights]
    outputs = []
    for pred, cost in (
        classifier(total, steps, *((keep, use_noise) if dropout else (1, 1)), U, b, y),
        plain_classifier(total, steps, keep, use_noise, U, b, y, dropout),
    ):
        grads = pt.grad(cost, [total, U, b]) + pt.grad((pred * weights).sum(), [total, U, b])
        outputs.append([pred, cost, *grads])
    return inputs, outputs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dropout", [True, False])
@pytest.mark.parametrize("use_noise", [0.0, 1.0])
def test_pred_cost_and_gradients_are_the_plain_graphs(dtype, dropout, use_noise):
    inputs, (ours, plain) = graphs(dtype, dropout)
    fused = Backend().function(inputs, ours, on_unused_input="ignore")
    ops = {type(n.op) for n in fused.maker.fgraph.apply_nodes}
    assert {Classifier, ClassifierGrad} <= ops and len(fused.maker.fgraph.apply_nodes) <= 8
    reference = Backend(fused=False).function(inputs, plain, on_unused_input="ignore")
    values = batch(dtype)
    weights = numpy.random.default_rng(1).standard_normal((16, 3)).astype(dtype)
    v = values
    args = [v["total"], v["steps"], v["keep"], numpy.asarray(use_noise, dtype), v["U"], v["b"], v["y"], weights]
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-14)
    for got, expected in zip(fused(*args), reference(*args)):
        assert got.dtype == expected.dtype and got.shape == expected.shape
        numpy.testing.assert_allclose(got, expected, **tol)


@pytest.mark.parametrize("output", ["pred", "cost"])
def test_the_gradient_matches_finite_differences(output):
    values = batch("float64", B=5, D=4, Y=3)

    def f(total, U, b):
        args = (total, values["steps"], values["keep"], numpy.float64(1.0), U, b)
        out = Classifier(output)(*args, *((values["y"],) if output == "cost" else ()))
        return out if output == "cost" else (out * numpy.arange(1.0, 16.0).reshape(5, 3)).sum()

    verify_grad(f, [values["total"], values["U"], values["b"]], rng=numpy.random.default_rng(2), mode=Backend().mode)


def test_an_overflow_gives_nan_silently_as_the_plain_graph_does():
    values = batch("float32", B=4)
    total, steps, keep, U, b, y = values.values()
    total[0] = numpy.float32(3e38)  # both classes' scores overflow: inf - inf
    args = [total, steps, keep, numpy.float32(0), U, b, y]
    for op, extra in ((Classifier("cost"), ()), (ClassifierGrad("cost"), (numpy.float32(1),))):
        node = op.make_node(*args, *extra)
        out = [[None], [None], [None]]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            node.op.perform(node, [*args, *extra], out)
        assert numpy.isnan(out[0][0]).any()


@pytest.mark.parametrize("name, B", [("steps", 1), ("keep", 3)])
def test_inputs_whose_shapes_disagree_are_refused_not_broadcast(name, B):
    values = batch("float32", B=4)
    values[name] = values[name][:B]
    total, steps, keep, U, b, y = values.values()
    for op, extra in ((Classifier("cost"), ()), (ClassifierGrad("cost"), (numpy.float32(1),))):
        node = op.make_node(total, steps, keep, numpy.float32(1), U, b, y, *extra)
        with pytest.raises(ValueError, match=f"{name} has shape"):
            node.op.perform(node, [total, steps, keep, numpy.float32(1), U, b, y, *extra], [[None]] * 3)


def test_the_models_cost_and_gradients_are_the_ops_around_the_kernel():
    options = dict(n_words=30, dim_proj=8, ydim=2, encoder="lstm", use_dropout=True)
    tparams = init_tparams(init_params(options))
    model = build_model(tparams, options)
    grads = pytensor.grad(model.cost, list(tparams.values()))
    fn = Backend().function([model.x, model.mask, model.y], [model.cost, *grads])
    ops = {type(n.op).__name__ for n in fn.maker.fgraph.apply_nodes}
    assert {"ClassifierGrad", "LSTMFromIds", "LSTMGradFromIds"} <= ops
    assert not ops & {"Softmax", "Dot22", "Dot"} and len(fn.maker.fgraph.apply_nodes) <= 15
    # the cost comes with its gradient, from one node: no Classifier of its own
    assert "Classifier" not in ops
    assert [n.op.cost for n in fn.maker.fgraph.apply_nodes if isinstance(n.op, ClassifierGrad)] == [True]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("use_noise", [0.0, 1.0])
def test_the_gradient_that_gives_the_cost_gives_the_classifiers_cost_and_the_same_gradients(dtype, use_noise):
    values = batch(dtype, seed=3)
    inputs = [values[k] for k in ("total", "steps", "keep")] + [numpy.asarray(use_noise, dtype)]
    inputs += [values[k] for k in ("U", "b", "y")]
    dout = numpy.asarray(0.7, dtype)
    cost, grads, both = [[None]], [[None] for _ in range(3)], [[None] for _ in range(4)]
    Classifier("cost").perform(None, inputs, cost)
    ClassifierGrad("cost").perform(None, [*inputs, dout], grads)
    ClassifierGrad("cost", cost=True).perform(None, [*inputs, dout], both)
    for want, got in zip([*grads, *cost], both):
        assert got[0].dtype == dtype and numpy.array_equal(got[0], want[0])
    with pytest.raises(ValueError, match="only output='cost'"):
        ClassifierGrad("pred", cost=True)
