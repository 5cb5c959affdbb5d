"""Each optimizer's updates against its formula computed in NumPy, on a small cost."""

from collections import OrderedDict

import numpy
import pytensor
import pytensor.tensor as tensor
import pytest

from lstm_sentiment.kernel.backend import Backend
from lstm_sentiment.lstm import adadelta, rmsprop, sgd
from lstm_sentiment.model.optimizers import adam


def _problem():
    """Two parameters and a cost of the optimizers' inputs (x, mask, y), with its gradient in NumPy."""
    x = tensor.matrix("x", dtype="int64")
    mask = tensor.matrix("mask", dtype="float32")
    y = tensor.vector("y", dtype="int64")
    w0 = numpy.array([0.5, -1.0, 2.0], dtype="float32")
    v0 = numpy.array([[0.3, 0.1], [-0.2, 0.4]], dtype="float32")
    tparams = OrderedDict(w=pytensor.shared(w0, name="w"), v=pytensor.shared(v0, name="v"))
    s = tensor.cast(x.sum(), "float32") * mask.mean()
    cost = ((tparams["w"] * s - y.sum()) ** 2).sum() + (tparams["v"] ** 3).sum() * s
    grads = tensor.grad(cost, wrt=list(tparams.values()))

    def numpy_grads(w, v, xv, mv, yv):
        sv = xv.sum() * mv.mean()
        return [2 * (w * sv - yv.sum()) * sv, 3 * v**2 * sv]

    return tparams, grads, x, mask, y, cost, numpy_grads


BATCHES = [
    (numpy.array([[1, 2], [3, 0]]), numpy.array([[1, 1], [1, 0]], dtype="float32"), numpy.array([1, 0])),
    (numpy.array([[2, 1]]), numpy.array([[1, 1]], dtype="float32"), numpy.array([0, 1])),
    (numpy.array([[0, 1, 1]]), numpy.array([[0, 1, 1]], dtype="float32"), numpy.array([1, 1, 0])),
]


def _run(optimizer, lrate, numpy_step, fused=True):
    tparams, grads, x, mask, y, cost, numpy_grads = _problem()
    lr = tensor.scalar(name="lr")
    f_grad_shared, f_update = optimizer(lr, tparams, grads, x, mask, y, cost, backend=Backend(fused))
    params = [p.get_value().astype("float64") for p in tparams.values()]
    state = [{} for _ in params]
    for xv, mv, yv in BATCHES:
        f_grad_shared(xv, mv, yv)
        f_update(lrate)
        gs = numpy_grads(*params, xv, mv, yv)
        params = [numpy_step(p, g, st, lrate) for p, g, st in zip(params, gs, state)]
        for shared, expected in zip(tparams.values(), params):
            numpy.testing.assert_allclose(shared.get_value(), expected, rtol=2e-5, atol=1e-6)


def test_sgd_step():
    _run(sgd, 0.01, lambda p, g, st, lr: p - lr * g)


def adadelta_step(p, g, st, lr):
    st["rg2"] = 0.95 * st.get("rg2", 0.0) + 0.05 * g**2
    ud = -numpy.sqrt(st.get("ru2", 0.0) + 1e-6) / numpy.sqrt(st["rg2"] + 1e-6) * g
    st["ru2"] = 0.95 * st.get("ru2", 0.0) + 0.05 * ud**2
    return p + ud


def test_adadelta_step_has_rho_095_eps_1e6_and_ignores_lr(fused):
    _run(adadelta, 0.0001, adadelta_step, fused)
    _run(adadelta, 123.0, adadelta_step, fused)


def rmsprop_step(p, g, st, lr):
    st["rg"] = 0.95 * st.get("rg", 0.0) + 0.05 * g
    st["rg2"] = 0.95 * st.get("rg2", 0.0) + 0.05 * g**2
    st["ud"] = 0.9 * st.get("ud", 0.0) - lr * g / numpy.sqrt(st["rg2"] - st["rg"] ** 2 + 1e-4)
    return p + st["ud"]


@pytest.mark.parametrize("lrate", [0.0001, 0.003])
def test_rmsprop_step_uses_lr(lrate):
    # the tutorial's fixed 1e-4 step is the default lrate, so default runs do not change
    _run(rmsprop, lrate, rmsprop_step)


def adam_step(p, g, st, lr):
    """torch.optim.Adam's step, with its bias corrections."""
    st["t"] = t = st.get("t", 0) + 1
    st["m"] = 0.9 * st.get("m", 0.0) + 0.1 * g
    st["v"] = 0.999 * st.get("v", 0.0) + 0.001 * g**2
    return p - lr / (1 - 0.9**t) * st["m"] / (numpy.sqrt(st["v"]) / numpy.sqrt(1 - 0.999**t) + 1e-8)


@pytest.mark.parametrize("lrate", [0.001, 0.05])
def test_adam_step_is_pytorchs_with_step_lr(fused, lrate):
    _run(adam, lrate, adam_step, fused)
