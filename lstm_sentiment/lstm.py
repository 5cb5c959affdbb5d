"""The tutorial's model: parameters, the LSTM layer, the classifier and prediction.

An embedding feeds an LSTM whose hidden states are averaged over the real
(unmasked) time steps, then dropout and a softmax classifier. The LSTM keeps
its four gates in one concatenated matrix, sliced in the order i, f, o, c.
"""

import zipfile
from collections import OrderedDict

import numpy
import pytensor
import pytensor.tensor as tensor
from pytensor import config
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import apply_ancestors
from pytensor.tensor.random.op import RNGConsumerOp
from pytensor.tensor.random.variable import shared_rng
from pytensor.tensor.special import softmax

from . import backend, kernel  # noqa: F401  (backend: the package's PyTensor defaults)
from .checkpoint import ModelFileError
from .fused import lstm_fused


def numpy_floatX(data):
    return numpy.asarray(data, dtype=config.floatX)


def get_minibatches_idx(n, minibatch_size, shuffle=False):
    """Split ``range(n)`` into minibatches of indices, shuffled by numpy's global RNG.

    Returns a list of ``(minibatch number, indices)`` pairs, so that it can be
    walked more than once (the tutorial's ``zip`` was spent after one pass).
    """
    idx_list = numpy.arange(n, dtype="int32")

    if shuffle:
        numpy.random.shuffle(idx_list)

    minibatches = [
        idx_list[start : start + minibatch_size] for start in range(0, n, minibatch_size)
    ]
    return list(enumerate(minibatches))


def zipp(params, tparams):
    """Copy numpy values into the shared variables (used to restore the best model)."""
    for kk, vv in params.items():
        tparams[kk].set_value(vv)


def unzip(zipped):
    """Copy the shared variables' values out as numpy arrays."""
    return OrderedDict((kk, vv.get_value()) for kk, vv in zipped.items())


def dropout_layer(state_before, use_noise, rng):
    """Dropout with p=0.5 while ``use_noise`` is 1; scaling by 0.5 otherwise.

    A function computing it must advance ``rng`` (see ``rng_updates``), so
    that the mask changes at every call.
    """
    _, keep = rng.binomial(1, 0.5, size=state_before.shape)
    return tensor.switch(
        use_noise, state_before * tensor.cast(keep, state_before.dtype), state_before * 0.5
    )


def rng_updates(*outputs):
    """Updates that advance every shared RNG that ``outputs`` draw from."""
    updates = {}
    for node in apply_ancestors(outputs):
        if isinstance(node.op, RNGConsumerOp):
            for rng, next_rng in node.op.update(node).items():
                if isinstance(rng, SharedVariable):
                    updates[rng] = next_rng
    return list(updates.items())


def _p(pp, name):
    return f"{pp}_{name}"


def init_params(options):
    """Initial values of every parameter, drawn from numpy's global RNG."""
    params = OrderedDict()
    # embedding
    randn = numpy.random.rand(options["n_words"], options["dim_proj"])
    params["Wemb"] = (0.01 * randn).astype(config.floatX)
    params = get_layer(options["encoder"])[0](options, params, prefix=options["encoder"])
    # classifier
    params["U"] = 0.01 * numpy.random.randn(options["dim_proj"], options["ydim"]).astype(
        config.floatX
    )
    params["b"] = numpy.zeros((options["ydim"],)).astype(config.floatX)
    return params


def load_params(path, params):
    """Replace the values in ``params`` by those saved in the npz file at ``path``."""
    try:
        archive = numpy.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: not a readable npz model file ({e})") from e
    with archive as pp:
        for kk, vv in params.items():
            if kk not in pp:
                raise ModelFileError(f"{path}: parameter {kk!r} is not in the archive")
            if pp[kk].shape != vv.shape:
                raise ModelFileError(
                    f"{path}: parameter {kk!r} has shape {pp[kk].shape}, "
                    f"but these options (dim_proj, n_words, ydim) need {vv.shape}"
                )
            params[kk] = pp[kk].astype(vv.dtype)
    return params


def check_params_file(path, options):
    """Raise ModelFileError unless the npz at ``path`` fits ``options`` (dim_proj, n_words).

    So that a wrong ``reload_model`` is reported before any data is loaded
    or code compiled.
    """
    dim, n_words = options["dim_proj"], options["n_words"]
    expected = {"Wemb": (n_words, dim), "lstm_W": (dim, 4 * dim), "lstm_U": (dim, 4 * dim), "lstm_b": (4 * dim,)}
    try:
        with numpy.load(path, allow_pickle=False) as pp:
            missing = [k for k in (*expected, "U", "b") if k not in pp]
            if missing:
                raise ModelFileError(f"{path}: parameters {', '.join(missing)} are not in the archive")
            for k, shape in expected.items():
                if pp[k].shape != shape:
                    raise ModelFileError(
                        f"{path}: parameter {k!r} has shape {pp[k].shape}, but dim_proj={dim} and "
                        f"n_words={n_words} need {shape}; pass the dim_proj and n_words it was trained with"
                    )
    except ModelFileError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: not a readable npz model file ({e})") from e


def init_tparams(params):
    """Wrap each parameter in a PyTensor shared variable of the same name."""
    return OrderedDict((kk, pytensor.shared(pp, name=kk)) for kk, pp in params.items())


def get_layer(name):
    return layers[name]


def ortho_weight(ndim):
    W = numpy.random.randn(ndim, ndim)
    u, s, v = numpy.linalg.svd(W)
    return u.astype(config.floatX)


def param_init_lstm(options, params, prefix="lstm"):
    """LSTM parameters; each matrix holds the four gates side by side (i, f, o, c)."""
    dim = options["dim_proj"]
    params[_p(prefix, "W")] = numpy.concatenate([ortho_weight(dim) for _ in range(4)], axis=1)
    params[_p(prefix, "U")] = numpy.concatenate([ortho_weight(dim) for _ in range(4)], axis=1)
    params[_p(prefix, "b")] = numpy.zeros((4 * dim,)).astype(config.floatX)
    return params


def lstm_layer(tparams, state_below, options, prefix="lstm", mask=None):
    """Run the LSTM over time; where ``mask`` is 0, h and c carry over unchanged.

    The time loop is ``_step`` in a ``scan``; unless ``options["fused"]`` is
    False, the same loop runs as one compiled kernel instead (``fused.py``),
    which is many times faster.
    """
    nsteps = state_below.shape[0]
    if state_below.ndim == 3:
        n_samples = state_below.shape[1]
    else:
        n_samples = 1

    assert mask is not None

    def _slice(_x, n, dim):
        if _x.ndim == 3:
            return _x[:, :, n * dim : (n + 1) * dim]
        return _x[:, n * dim : (n + 1) * dim]

    def _step(m_, x_, h_, c_):
        preact = tensor.dot(h_, tparams[_p(prefix, "U")])
        preact += x_

        i = tensor.sigmoid(_slice(preact, 0, options["dim_proj"]))
        f = tensor.sigmoid(_slice(preact, 1, options["dim_proj"]))
        o = tensor.sigmoid(_slice(preact, 2, options["dim_proj"]))
        c = tensor.tanh(_slice(preact, 3, options["dim_proj"]))

        c = f * c_ + i * c
        c = m_[:, None] * c + (1.0 - m_)[:, None] * c_

        h = o * tensor.tanh(c)
        h = m_[:, None] * h + (1.0 - m_)[:, None] * h_

        return h, c

    if options.get("fused", True) and kernel.available():
        return lstm_fused(state_below, mask, *(tparams[_p(prefix, k)] for k in "WbU"))

    state_below = tensor.dot(state_below, tparams[_p(prefix, "W")]) + tparams[_p(prefix, "b")]

    dim_proj = options["dim_proj"]
    rval = pytensor.scan(
        _step,
        sequences=[mask, state_below],
        outputs_info=[
            tensor.alloc(numpy_floatX(0.0), n_samples, dim_proj),
            tensor.alloc(numpy_floatX(0.0), n_samples, dim_proj),
        ],
        name=_p(prefix, "_layers"),
        n_steps=nsteps,
        return_updates=False,
    )
    return rval[0]


# name: (parameter initialisation, layer)
layers = {"lstm": (param_init_lstm, lstm_layer)}


class _LazyFunction:
    """A ``pytensor.function`` compiled on its first call, so unused ones cost nothing."""

    def __init__(self, inputs, outputs, name):
        self.inputs, self.outputs, self.name = inputs, outputs, name
        self.fn = None

    def __call__(self, *args):
        if self.fn is None:
            self.fn = pytensor.function(
                self.inputs, self.outputs, updates=rng_updates(self.outputs), name=self.name
            )
        return self.fn(*args)


def build_model(tparams, options):
    """The symbolic model: inputs, noise switch, prediction functions and cost.

    ``f_pred_prob`` is compiled on first use and ``f_pred`` takes the argmax of
    its result, so prediction compiles one function, and only when it is used.
    """
    rng = shared_rng(seed=options.get("seed", 123), name="dropout_rng")

    # Used for dropout.
    use_noise = pytensor.shared(numpy_floatX(0.0), name="use_noise")

    x = tensor.matrix("x", dtype="int64")
    mask = tensor.matrix("mask", dtype=config.floatX)
    y = tensor.vector("y", dtype="int64")

    n_timesteps = x.shape[0]
    n_samples = x.shape[1]

    emb = tparams["Wemb"][x.flatten()].reshape([n_timesteps, n_samples, options["dim_proj"]])
    proj = get_layer(options["encoder"])[1](
        tparams, emb, options, prefix=options["encoder"], mask=mask
    )
    if options["encoder"] == "lstm":
        proj = (proj * mask[:, :, None]).sum(axis=0)
        proj = proj / mask.sum(axis=0)[:, None]
    if options["use_dropout"]:
        proj = dropout_layer(proj, use_noise, rng)

    pred = softmax(tensor.dot(proj, tparams["U"]) + tparams["b"], axis=-1)

    f_pred_prob = _LazyFunction([x, mask], pred, name="f_pred_prob")

    def f_pred(x, mask):
        return f_pred_prob(x, mask).argmax(axis=1)

    off = 1e-8
    if pred.dtype == "float16":
        off = 1e-6

    cost = -tensor.log(pred[tensor.arange(n_samples), y] + off).mean()

    return use_noise, x, mask, y, f_pred_prob, f_pred, cost


def pred_probs(f_pred_prob, prepare_data, data, iterator, verbose=False):
    """Class probabilities of every example of ``data``, minibatch by minibatch."""
    n_samples = len(data[0])
    labels = numpy.asarray(data[1])
    probs = None

    n_done = 0

    for _, valid_index in iterator:
        x, mask, _ = prepare_data([data[0][t] for t in valid_index], labels[valid_index], maxlen=None)
        batch_probs = f_pred_prob(x, mask)
        if probs is None:
            probs = numpy.zeros((n_samples, batch_probs.shape[1]), dtype=config.floatX)
        probs[valid_index, :] = batch_probs

        n_done += len(valid_index)
        if verbose:
            print(f"{n_done}/{n_samples} samples classified")

    return probs


def pred_error(f_pred, prepare_data, data, iterator, verbose=False):
    """The error rate of ``f_pred`` on ``data``, walked in ``iterator``'s minibatches."""
    labels = numpy.asarray(data[1])
    n_correct = 0
    for _, valid_index in iterator:
        x, mask, _ = prepare_data(
            [data[0][t] for t in valid_index], labels[valid_index], maxlen=None
        )
        preds = f_pred(x, mask)
        n_correct += (preds == labels[valid_index]).sum()
    return 1.0 - numpy_floatX(n_correct) / len(data[0])
