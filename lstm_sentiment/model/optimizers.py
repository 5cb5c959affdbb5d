"""The tutorial's optimizers, sgd, adadelta and rmsprop, and adam beside them.

Each returns two compiled functions: ``f_grad_shared(x, mask, y)`` computes
the cost and stores the gradients (and running averages) in shared
variables, advancing the dropout RNG, then ``f_update(lr)`` changes the
parameters from them. ``backend`` (``kernel.backend.Backend``, by default
the kernel where it builds) compiles them; with the kernel, ADADELTA's and
Adam's steps are one node for all parameters, with one compiled pass over each.
"""

import contextlib

import numpy
import pytensor
import pytensor.tensor as tensor
from pytensor import config

from ..kernel.backend import Backend
from ..kernel.ops import Adadelta, AdadeltaRows, Adam
from .lstm import rng_updates


@contextlib.contextmanager
def _building(tparams, lr, backend):
    """Graphs in the parameters' float type, ``lr`` cast to it, and the backend to compile them with."""
    dtype = next(iter(tparams.values())).dtype
    with config.change_flags(floatX=dtype):
        yield tensor.cast(lr, dtype), backend or Backend()


def _zeros_like(tparams, suffix):
    """One zero-filled shared variable per parameter, named ``<param>_<suffix>``."""
    return [pytensor.shared(numpy.zeros_like(p.get_value()), name=f"{k}_{suffix}") for k, p in tparams.items()]


def _steps(op, params, *scalars):
    """The updates of one ``op`` (``kernel.ops``) node stepping every parameter of ``params``, each a
    tuple of its arrays (the parameter, its gradient, then what the step updates with it)."""
    if not params:
        return []
    outputs = op(params=len(params))(*(v for arrays in params for v in arrays), *scalars)
    updated = [v for arrays in params for i, v in enumerate(arrays) if i != 1]
    return list(zip(updated, outputs))


def sgd(lr, tparams, grads, x, mask, y, cost, backend=None):
    """Stochastic gradient descent: ``p <- p - lr * g``."""
    with _building(tparams, lr, backend) as (step, backend):
        gshared = _zeros_like(tparams, "grad")
        gsup = list(zip(gshared, grads))
        f_grad_shared = backend.function([x, mask, y], cost, updates=gsup + rng_updates(cost), name="sgd_f_grad_shared")

        pup = [(p, p - step * g) for p, g in zip(tparams.values(), gshared)]
        f_update = backend.function([lr], [], updates=pup, name="sgd_f_update")
    return f_grad_shared, f_update


def adadelta(lr, tparams, grads, x, mask, y, cost, backend=None):
    """ADADELTA (Zeiler 2012) with rho=0.95 and eps=1e-6; ``lr`` is not used.

    Running averages of squared gradients and squared updates scale each
    step; see https://arxiv.org/abs/1212.5701. With the kernel, the running
    average of squared gradients is updated in ``f_update``, in the same pass
    as the rest of the step (``kernel.ops.Adadelta``): the same values. A
    matrix's rows whose gradient is zero (the words a batch lacks) are not
    touched: the step would only decay their averages by rho, which is done
    when the row next has a gradient (``kernel.ops.AdadeltaRows``, with each
    row's last step in ``<param>_seen`` and the step count in ``adadelta_step``).
    """
    with _building(tparams, lr, backend) as (_, backend):
        zipped_grads = _zeros_like(tparams, "grad")
        running_up2 = _zeros_like(tparams, "rup2")
        running_grads2 = _zeros_like(tparams, "rgrad2")

        zgup = list(zip(zipped_grads, grads))
        rg2up = [] if backend.fused else [(rg2, 0.95 * rg2 + 0.05 * (g**2)) for rg2, g in zip(running_grads2, grads)]
        f_grad_shared = backend.function(
            [x, mask, y], cost, updates=zgup + rg2up + rng_updates(cost), name="adadelta_f_grad_shared"
        )

        if backend.fused:
            step = pytensor.shared(numpy.asarray(0, dtype="int64"), name="adadelta_step")
            matrices, others = [], []
            for (name, p), zg, ru2, rg2 in zip(tparams.items(), zipped_grads, running_up2, running_grads2):
                if p.ndim == 2:  # rows without a gradient (the batch's absent words) left for later
                    seen = pytensor.shared(numpy.zeros(p.get_value().shape[0], dtype="int64"), name=f"{name}_seen")
                    matrices.append((p, zg, ru2, rg2, seen))
                else:
                    others.append((p, zg, ru2, rg2))
            updates = [(step, step + 1), *_steps(AdadeltaRows, matrices, step + 1), *_steps(Adadelta, others)]
        else:
            updir = [
                -tensor.sqrt(ru2 + 1e-6) / tensor.sqrt(rg2 + 1e-6) * zg
                for zg, ru2, rg2 in zip(zipped_grads, running_up2, running_grads2)
            ]
            ru2up = [(ru2, 0.95 * ru2 + 0.05 * (ud**2)) for ru2, ud in zip(running_up2, updir)]
            param_up = [(p, p + ud) for p, ud in zip(tparams.values(), updir)]
            updates = ru2up + param_up
        f_update = backend.function([lr], [], updates=updates, on_unused_input="ignore", name="adadelta_f_update")
    return f_grad_shared, f_update


def rmsprop(lr, tparams, grads, x, mask, y, cost, backend=None):
    """RMSProp as in Graves (2013), with momentum 0.9 and step ``lr``.

    The tutorial fixed the step at 1e-4 and ignored ``lr``; the tutorial's
    default ``lrate=0.0001`` gives the same step, so default runs agree.
    See https://arxiv.org/abs/1308.0850.
    """
    with _building(tparams, lr, backend) as (step, backend):
        zipped_grads = _zeros_like(tparams, "grad")
        running_grads = _zeros_like(tparams, "rgrad")
        running_grads2 = _zeros_like(tparams, "rgrad2")

        zgup = list(zip(zipped_grads, grads))
        rgup = [(rg, 0.95 * rg + 0.05 * g) for rg, g in zip(running_grads, grads)]
        rg2up = [(rg2, 0.95 * rg2 + 0.05 * (g**2)) for rg2, g in zip(running_grads2, grads)]
        f_grad_shared = backend.function(
            [x, mask, y], cost, updates=zgup + rgup + rg2up + rng_updates(cost), name="rmsprop_f_grad_shared"
        )

        updir = _zeros_like(tparams, "updir")
        updir_new = [
            (ud, 0.9 * ud - step * zg / tensor.sqrt(rg2 - rg**2 + 1e-4))
            for ud, zg, rg, rg2 in zip(updir, zipped_grads, running_grads, running_grads2)
        ]
        param_up = [(p, p + udn[1]) for p, udn in zip(tparams.values(), updir_new)]
        f_update = backend.function([lr], [], updates=updir_new + param_up, name="rmsprop_f_update")
    return f_grad_shared, f_update


def adam(lr, tparams, grads, x, mask, y, cost, backend=None):
    """Adam (Kingma and Ba 2014) with beta1=0.9, beta2=0.999, eps=1e-8 and step ``lr``.

    Not in the tutorial: added for the full-data recipe, where ADADELTA takes
    epochs to leave chance. The formula is PyTorch's ``torch.optim.Adam``:
    ``p -= lr / (1 - 0.9**t) * m / (sqrt(v) / sqrt(1 - 0.999**t) + 1e-8)``.
    See https://arxiv.org/abs/1412.6980. With the kernel, the step is one
    node (``kernel.ops.Adam``) that makes one pass over each parameter.
    """
    with _building(tparams, lr, backend) as (step, backend):
        dtype = step.dtype
        zipped_grads = _zeros_like(tparams, "grad")
        m1 = _zeros_like(tparams, "adam_m")
        m2 = _zeros_like(tparams, "adam_v")
        t = pytensor.shared(numpy.asarray(0.0, dtype=dtype), name="adam_t")

        zgup = list(zip(zipped_grads, grads))
        f_grad_shared = backend.function(
            [x, mask, y], cost, updates=zgup + rng_updates(cost), name="adam_f_grad_shared"
        )

        t_new = t + 1
        updates = [(t, t_new)]
        if backend.fused:  # the bias corrections are computed in the Op, as below
            updates += _steps(Adam, list(zip(tparams.values(), zipped_grads, m1, m2)), t_new, lr)
        else:
            a = step / (1 - tensor.constant(0.9, dtype=dtype) ** t_new)  # the bias corrections
            c = 1 / tensor.sqrt(1 - tensor.constant(0.999, dtype=dtype) ** t_new)
            for p, zg, m, v in zip(tparams.values(), zipped_grads, m1, m2):
                m_new = 0.9 * m + 0.1 * zg
                v_new = 0.999 * v + 0.001 * zg**2
                updates += [(m, m_new), (v, v_new), (p, p - a * m_new / (tensor.sqrt(v_new) * c + 1e-8))]
        f_update = backend.function([lr], [], updates=updates, name="adam_f_update")
    return f_grad_shared, f_update


optimizers = {"sgd": sgd, "adadelta": adadelta, "rmsprop": rmsprop, "adam": adam}  # training.options.OPTIMIZERS
