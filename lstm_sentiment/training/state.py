"""The state of a training run, and its checkpoint file: everything needed to continue a run exactly.

lstm_model.npz.checkpoint.npz   the shared variables (parameters, optimizer accumulators), the best
                                parameters, history_errs, the epoch's order, the counters, the options,
                                the random states and an ensemble's finished models, as arrays and JSON
                                (no pickles)
"""

import dataclasses
import json

import numpy

from ..base.errors import ModelFileError
from ..base.files import read_npz, write_npz


def checkpoint_path(saveto):
    """Where the resumable state of the run saving to ``saveto`` goes: ``<saveto>.checkpoint.npz``."""
    return f"{saveto}.checkpoint.npz"


@dataclasses.dataclass
class Counters:
    """Where a run is: epoch, updates done, position in the epoch, and the early-stopping count."""

    eidx: int = 0  # the epoch
    uidx: int = 0  # updates done
    batch: int = 0  # batches of this epoch done
    n_samples: int = 0  # samples of this epoch seen
    bad_counter: int = 0  # validations without progress (the tutorial's patience count)
    estop: bool = False  # early stop decided


@dataclasses.dataclass
class Member:
    """A model of an ensemble: its best parameters, its validations' errors and updates, and the updates
    and epochs it ran."""

    params: dict
    history_errs: list
    history_updates: list
    updates: int
    epochs: int


def joined_history(members):
    """(history_errs, history_updates, history_models) of an ensemble's models one after another: each
    model's updates counted on from the end of the model before it, and the model of each row."""
    errs, updates, models, offset = [], [], [], 0
    for k, m in enumerate(members):
        errs += list(m.history_errs)
        updates += [u + offset for u in m.history_updates]
        models += [k] * len(m.history_errs)
        offset += m.updates
    return errs, updates, models


class RunState:
    """Parameters, optimizer accumulators and dropout RNG (``shared``), counters, history, best
    parameters, this epoch's order and NumPy's RNG: saved by ``save`` and put back by ``restore``."""

    def __init__(self, shared):
        self.shared = shared  # name -> PyTensor shared variable
        self.counters = Counters()
        self.history_errs = []  # [valid_err, test_err] per validation
        self.history_updates = []  # the update index of each validation
        self.best_p = None  # name -> array: the parameters of the best validation
        self.order = None  # this epoch's shuffled example order, once drawn
        self.finished = []  # an ensemble's models trained before this one (Member)

    def members(self, params):
        """The ensemble's models in order: the finished ones, then this one with ``params``."""
        c = self.counters
        epochs = c.eidx + 1 if c.estop else max(c.eidx, 1)  # an early stop's epoch counts
        return [*self.finished, Member(params, self.history_errs, self.history_updates, c.uidx, epochs)]

    def save(self, path, meta):
        """Write the checkpoint at ``path``; ``meta`` (JSON) holds what else the run needs, e.g. its options."""
        arrays, generators = {}, {}
        for name, var in self.shared.items():
            value = var.get_value()
            if isinstance(value, numpy.random.Generator):
                generators[name] = value.bit_generator.state
            else:
                arrays[f"shared/{name}"] = value
        arrays.update({f"best/{name}": value for name, value in (self.best_p or {}).items()})
        for k, m in enumerate(self.finished):
            arrays.update({f"finished/{k}/{name}": value for name, value in m.params.items()})
            arrays[f"finished_errs/{k}"] = numpy.asarray(m.history_errs, dtype="float64").reshape(-1, 2)
        kind, keys, pos, has_gauss, cached_gaussian = numpy.random.get_state()
        state = dict(dataclasses.asdict(self.counters), history_updates=self.history_updates)
        state["finished"] = [
            dict(history_updates=m.history_updates, updates=m.updates, epochs=m.epochs) for m in self.finished
        ]
        numpy_rng = dict(kind=kind, pos=int(pos), has_gauss=int(has_gauss), cached_gaussian=float(cached_gaussian))
        meta = dict(meta, state=state, generators=generators, numpy_rng=numpy_rng)
        arrays["history_errs"] = numpy.asarray(self.history_errs, dtype="float64").reshape(-1, 2)
        arrays["order"] = numpy.asarray(self.order if self.order is not None else [], dtype="int64")
        arrays["numpy_rng_keys"] = keys
        write_npz(path, dict(arrays, meta=numpy.array(json.dumps(meta))))

    def restore(self, checkpoint):
        """Put back the state saved in ``checkpoint`` (a ``Checkpoint``), checking that it fits this run."""
        checkpoint.check_fits(self.shared)
        for name, var in self.shared.items():
            var.set_value(checkpoint.shared[name])
        self.counters = Counters(**{f.name: checkpoint.state[f.name] for f in dataclasses.fields(Counters)})
        self.history_errs = checkpoint.history_errs
        self.history_updates = list(checkpoint.state["history_updates"])
        self.best_p, self.order, self.finished = checkpoint.best_p, checkpoint.order, checkpoint.finished
        numpy.random.set_state(checkpoint.numpy_rng_state)


class Checkpoint:
    """A checkpoint file as read: ``meta`` (options, counters, sizes), shared values, best parameters."""

    def __init__(self, path):
        self.path = path
        arrays = read_npz(path, "checkpoint of this package")
        try:
            self.meta = json.loads(str(arrays.pop("meta")))
            self.state = self.meta["state"]
            self.history_errs = [list(row) for row in arrays.pop("history_errs")]
            order = arrays.pop("order")
            rng = self.meta["numpy_rng"]
            self.numpy_rng_state = (
                rng["kind"],
                arrays.pop("numpy_rng_keys"),
                rng["pos"],
                rng["has_gauss"],
                rng["cached_gaussian"],
            )
            self.shared = {k[len("shared/") :]: v for k, v in arrays.items() if k.startswith("shared/")}
            for name, state in self.meta["generators"].items():
                self.shared[name] = numpy.random.default_rng()
                self.shared[name].bit_generator.state = state
        except (KeyError, ValueError, TypeError) as e:
            raise ModelFileError(f"{path}: not a readable checkpoint of this package (missing or bad {e})") from e
        self.order = order if len(order) else None
        self.best_p = {k[len("best/") :]: v for k, v in arrays.items() if k.startswith("best/")} or None
        unknown = sorted(k for k in arrays if not k.startswith(("shared/", "best/", "finished/", "finished_errs/")))
        self._check(not unknown, f"unknown arrays {', '.join(unknown)}")
        self.finished = self._finished(arrays)
        self._check_state()

    def _finished(self, arrays):
        """An ensemble's finished models (``Member``), as ``RunState.save`` wrote them."""
        finished = self.state.get("finished", [])
        self._check(isinstance(finished, list), "finished is not a list")
        members = []
        for k, m in enumerate(finished):
            prefix = f"finished/{k}/"
            params = {name[len(prefix) :]: v for name, v in arrays.items() if name.startswith(prefix)}
            errs = arrays.get(f"finished_errs/{k}")
            ok = isinstance(m, dict) and all(isinstance(m.get(n), int) for n in ("updates", "epochs"))
            ok = ok and isinstance(m.get("history_updates"), list) and params and errs is not None
            self._check(ok and len(errs) == len(m["history_updates"]), f"finished model {k} is incomplete")
            members.append(Member(params, [list(row) for row in errs], m["history_updates"], m["updates"], m["epochs"]))
        used = {f"finished_errs/{k}" for k in range(len(members))}
        used |= {f"finished/{k}/{name}" for k, m in enumerate(members) for name in m.params}
        stray = sorted(n for n in arrays if n.startswith(("finished/", "finished_errs/")) and n not in used)
        self._check(not stray, f"arrays of no finished model: {', '.join(stray)}")
        return members

    def _check(self, ok, what):
        if not ok:
            raise ModelFileError(f"{self.path}: not a checkpoint this package wrote: {what}")

    def _check_state(self):
        """The counters, history, epoch order and NumPy RNG state are what a run could have saved."""
        for f in dataclasses.fields(Counters):
            value = self.state.get(f.name)
            self._check(type(value) is f.type and value >= 0, f"counter {f.name} is {value!r}")
        updates = self.state.get("history_updates")
        ok = isinstance(updates, list) and len(updates) == len(self.history_errs)
        self._check(ok, "history_updates and history_errs differ in length")
        n_train = self.meta.get("sizes", [0])[0]
        if self.order is not None:
            ok = self.order.dtype.kind == "i" and numpy.array_equal(numpy.sort(self.order), numpy.arange(n_train))
            self._check(ok, f"order is not an order of the {n_train} training reviews")
        kind, keys, pos, has_gauss, _ = self.numpy_rng_state
        ok = kind == "MT19937" and keys.shape == (624,) and keys.dtype == numpy.uint32 and 0 <= pos <= 624
        self._check(ok and has_gauss in (0, 1), "numpy_rng is not a state of NumPy's MT19937")

    def check_fits(self, shared):
        """Raise ModelFileError unless every shared variable of the run has a value here of its shape and type."""
        for name, var in shared.items():
            value, current = self.shared.get(name), var.get_value()
            if isinstance(current, numpy.random.Generator):
                fits = isinstance(value, numpy.random.Generator)
            else:
                fits = isinstance(value, numpy.ndarray) and (value.shape, value.dtype) == (current.shape, current.dtype)
            if not fits:
                raise ModelFileError(
                    f"{self.path}: {name} is missing or does not fit the model its options build "
                    f"({getattr(value, 'shape', None)} instead of {getattr(current, 'shape', None)})"
                )
        kept = [("best", self.best_p or {})] + [(f"finished/{k}", m.params) for k, m in enumerate(self.finished)]
        for where, params in kept:
            for name, value in params.items():
                current = shared[name].get_value() if name in shared else None
                if current is None or (value.shape, value.dtype) != (current.shape, current.dtype):
                    raise ModelFileError(
                        f"{self.path}: {where}/{name} does not fit the model its options build "
                        f"({value.shape} instead of {getattr(current, 'shape', None)})"
                    )
