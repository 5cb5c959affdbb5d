"""The tutorial's model: parameters, the LSTM layer, the classifier and prediction.

An embedding feeds an LSTM whose hidden states are averaged over the real
(unmasked) time steps, then dropout and a softmax classifier. The LSTM keeps
its four gates in one concatenated matrix, sliced in the order i, f, o, c.

``options`` is the tutorial's dict of model options (``dim_proj``, ``n_words``,
``ydim``, ``encoder``, ``use_dropout``, ``seed``), with three of the package's:
``floatX`` (the parameters' float type; default float32), ``fused`` (the
compiled kernel, default on) and ``mode`` (a PyTensor mode). Graphs are built
in the parameters' float type and compiled through ``kernel.backend.Backend``;
nothing changes PyTensor's settings for other code.
"""

from collections import OrderedDict, namedtuple

import numpy
import pytensor
import pytensor.tensor as tensor
from pytensor import config
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import apply_ancestors
from pytensor.tensor.random.op import RNGConsumerOp
from pytensor.tensor.random.variable import shared_rng
from pytensor.tensor.special import softmax

from ..base.logs import logger
from ..kernel.backend import Backend, default_floatX, kernel_on
from ..kernel.classifier import classifier
from ..kernel.ops import lstm_fused, max_pool
from .files import encoder_options, features, read_model


def numpy_floatX(data):
    return numpy.asarray(data, dtype=config.floatX)


def floatX(options):
    """The model's float type: ``options["floatX"]``, else the package's default (float32)."""
    return options.get("floatX") or default_floatX()


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
    keep = dropout_keep(state_before.shape, rng)
    return tensor.switch(use_noise, state_before * tensor.cast(keep, state_before.dtype), state_before * 0.5)


def dropout_keep(shape, rng):
    """The dropout's draw from ``rng``: 1 for each unit kept, with probability 0.5."""
    return rng.binomial(1, 0.5, size=shape)[1]


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
    """Initial values of every parameter, drawn from numpy's global RNG, in the model's float type."""
    with config.change_flags(floatX=floatX(options)):
        params = OrderedDict()
        # embedding
        randn = numpy.random.rand(options["n_words"], options["dim_proj"])
        params["Wemb"] = (0.01 * randn).astype(config.floatX)
        params = get_layer(options["encoder"])[0](options, params, prefix=options["encoder"])
        if options.get("bidirectional"):  # the LSTM over each review reversed
            params = get_layer(options["encoder"])[0](options, params, prefix=f"{options['encoder']}_r")
        # classifier
        size = features(options["dim_proj"], **encoder_options(options))
        params["U"] = 0.01 * numpy.random.randn(size, options["ydim"]).astype(config.floatX)
        params["b"] = numpy.zeros((options["ydim"],)).astype(config.floatX)
        return params


def load_params(path, params):
    """Replace the values in ``params`` by those saved in the npz file at ``path``."""
    model = read_model(path)
    model.check_params({k: v.shape for k, v in params.items()})
    for kk, vv in params.items():
        params[kk] = model.params[kk].astype(vv.dtype)
    return params


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

    state_below: (T, B, D) embeddings; returns h, (T, B, D). The time loop is
    ``_step`` in a ``scan``; unless ``options["fused"]`` is False, the same loop
    runs as one compiled kernel instead (``kernel/ops.py``), many times faster.
    """
    assert mask is not None
    W, U, b = (tparams[_p(prefix, k)] for k in "WUb")
    if kernel_on(options.get("fused", True)):
        return lstm_fused(state_below, mask, W, b, U)

    dim_proj = options["dim_proj"]

    def _slice(_x, n):
        return _x[:, n * dim_proj : (n + 1) * dim_proj]

    def _step(m_, x_, h_, c_):
        preact = tensor.dot(h_, U) + x_  # (B, 4D)
        i = tensor.sigmoid(_slice(preact, 0))
        f = tensor.sigmoid(_slice(preact, 1))
        o = tensor.sigmoid(_slice(preact, 2))
        c = tensor.tanh(_slice(preact, 3))

        c = f * c_ + i * c
        c = m_[:, None] * c + (1.0 - m_)[:, None] * c_
        h = o * tensor.tanh(c)
        h = m_[:, None] * h + (1.0 - m_)[:, None] * h_
        return h, c

    with config.change_flags(floatX=state_below.dtype):
        state_below = tensor.dot(state_below, W) + b  # (T, B, 4D)
        zeros = tensor.alloc(numpy_floatX(0.0), state_below.shape[1], dim_proj)
        h, _ = pytensor.scan(
            _step,
            sequences=[mask, state_below],
            outputs_info=[zeros, zeros],
            name=_p(prefix, "_layers"),
            n_steps=state_below.shape[0],
            return_updates=False,
        )
    return h


# name: (parameter initialisation, layer)
layers = {"lstm": (param_init_lstm, lstm_layer)}


class _LazyFunction:
    """A function compiled on its first call, so unused ones cost nothing."""

    def __init__(self, backend, inputs, outputs, name):
        self.backend, self.inputs, self.outputs, self.name = backend, inputs, outputs, name
        self.fn = None

    def __call__(self, *args):
        if self.fn is None:
            with config.change_flags(floatX=self.outputs.dtype):
                updates = rng_updates(self.outputs)
                self.fn = self.backend.function(self.inputs, self.outputs, updates=updates, name=self.name)
        return self.fn(*args)


def reverse_within(x, mask):
    """Each review's word ids reversed within its own length, its padding left at the end:
    ``x[L_b - 1 - t, b]`` for the steps t < L_b of review b. (T, B), as x; never differentiated."""
    lengths = tensor.cast(mask.sum(axis=0), "int64")[None, :]  # (1, B)
    t = tensor.arange(x.shape[0])[:, None]  # (T, 1)
    steps = tensor.switch(t < lengths, lengths - 1 - t, t)  # (T, B): padding reads padding
    return x[steps, tensor.arange(x.shape[1])[None, :]]


def pooled(h, mask, pooling, fused=False):
    """(B, D) or (B, 2D) of the hidden states h (T, B, D) over the real steps: their mean (the
    tutorial's), their maximum, or both joined (``mean_max``). With ``fused``, the maximum is the
    kernel's ``max_pool`` (the same values, and its gradient handed to the LSTM's)."""
    parts = []
    if pooling in ("mean", "mean_max"):
        parts.append((h * mask[:, :, None]).sum(axis=0) / mask.sum(axis=0)[:, None])
    if pooling in ("max", "mean_max"):
        parts.append(max_pool(h, mask) if fused else tensor.switch(mask[:, :, None] > 0, h, -numpy.inf).max(axis=0))
    return joined(parts)


def joined(parts):
    """The (B, .) matrices ``parts`` side by side; one part as it is (the tutorial's graph unchanged)."""
    return parts[0] if len(parts) == 1 else tensor.concatenate(parts, axis=1)


def fused_classifier(tparams, hs, mask, y, use_noise, rng, use_dropout):
    """(pred, cost) of build_model's classifier over the mean of the LSTMs' states ``hs`` (one per
    direction), with the kernel: mean pooling, dropout, softmax and the cost as
    ``kernel.classifier.Classifier``, one Op (and its gradient one more) where the plain lines and their
    gradient are some 70 small ones; the same maths and draws."""
    total = joined([(h * mask[:, :, None]).sum(axis=0) for h in hs])  # (B, D) per direction
    steps = mask.sum(axis=0)  # (B,)
    shape = (mask.shape[1], tparams["U"].shape[0])  # total's, without checking h's against mask's
    keep, noise = (dropout_keep(shape, rng), use_noise) if use_dropout else (1, 1)
    return classifier(total, steps, keep, noise, tparams["U"], tparams["b"], y)


Model = namedtuple("Model", "use_noise x mask y f_pred_prob f_pred cost")
Model.__doc__ = "What build_model returns: the tutorial's seven values, by name or unpacked in order."


def build_model(tparams, options):
    """The symbolic model: inputs, noise switch, prediction functions and cost (a ``Model``).

    ``f_pred_prob`` is compiled on first use and ``f_pred`` takes the argmax of
    its result, so prediction compiles one function, and only when it is used.
    With the kernel, the classifier is ``fused_classifier``: the same maths.
    """
    backend = Backend(options.get("fused", True), options.get("mode"))
    with config.change_flags(floatX=tparams["Wemb"].dtype):
        rng = shared_rng(seed=options.get("seed", 123), name="dropout_rng")
        use_noise = pytensor.shared(numpy_floatX(0.0), name="use_noise")  # used for dropout

        x = tensor.matrix("x", dtype="int64")  # (T, B) word ids
        mask = tensor.matrix("mask", dtype=config.floatX)  # (T, B)
        y = tensor.vector("y", dtype="int64")  # (B,)
        n_timesteps, n_samples = x.shape[0], x.shape[1]

        layer, prefix = get_layer(options["encoder"])[1], options["encoder"]
        shape = [n_timesteps, n_samples, options["dim_proj"]]
        emb = tparams["Wemb"][x.flatten()].reshape(shape)  # (T, B, D)
        hs = [layer(tparams, emb, options, prefix=prefix, mask=mask)]  # (T, B, D) per direction
        if options.get("bidirectional"):  # the same layer, its own parameters, over each review reversed
            emb_r = tparams["Wemb"][reverse_within(x, mask).flatten()].reshape(shape)
            hs.append(layer(tparams, emb_r, options, prefix=f"{prefix}_r", mask=mask))
        pooling = options.get("pooling") or "mean"
        if pooling == "mean" and backend.fused:  # the lines below as one Op, and its gradient as one
            pred, cost = fused_classifier(tparams, hs, mask, y, use_noise, rng, options["use_dropout"])
        else:
            # (B, D): the tutorial's mean over real steps (per direction and pooling)
            proj = joined([pooled(h, mask, pooling, backend.fused) for h in hs])
            if options["use_dropout"]:
                proj = dropout_layer(proj, use_noise, rng)

            pred = softmax(tensor.dot(proj, tparams["U"]) + tparams["b"], axis=-1)  # (B, ydim)
            off = 1e-6 if pred.dtype == "float16" else 1e-8
            cost = -tensor.log(pred[tensor.arange(n_samples), y] + off).mean()
        f_pred_prob = _LazyFunction(backend, [x, mask], pred, name="f_pred_prob")

    def f_pred(x, mask):
        return f_pred_prob(x, mask).argmax(axis=1)

    return Model(use_noise, x, mask, y, f_pred_prob, f_pred, cost)


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
            probs = numpy.zeros((n_samples, batch_probs.shape[1]), dtype=batch_probs.dtype)
        probs[valid_index, :] = batch_probs
        n_done += len(valid_index)
        if verbose:
            logger.info("%d/%d samples classified", n_done, n_samples)
    return probs


def pred_error(f_pred, prepare_data, data, iterator):
    """The error rate of ``f_pred`` on ``data``, walked in ``iterator``'s minibatches."""
    labels = numpy.asarray(data[1])
    n_correct = 0
    for _, valid_index in iterator:
        x, mask, _ = prepare_data([data[0][t] for t in valid_index], labels[valid_index], maxlen=None)
        preds = f_pred(x, mask)
        n_correct += (preds == labels[valid_index]).sum()
    return 1.0 - numpy.float64(n_correct) / len(data[0])


def pred_confusion(f_pred, prepare_data, data, iterator, ydim):
    """The confusion matrix of ``f_pred`` on ``data``: row the true class, column the predicted one."""
    labels = numpy.asarray(data[1])
    confusion = numpy.zeros((ydim, ydim), dtype="int64")
    for _, valid_index in iterator:
        x, mask, _ = prepare_data([data[0][t] for t in valid_index], labels[valid_index], maxlen=None)
        numpy.add.at(confusion, (labels[valid_index], f_pred(x, mask)), 1)
    return confusion
