"""Model files: the tutorial's npz of parameters and errors, and its options as JSON.

Every write goes to a temporary file in the target's folder and is renamed
into place, so a crash leaves the old complete file or the new one, never a
torn one. Nothing here unpickles.
"""

import collections
import contextlib
import json
import os
import tempfile
import zipfile

import numpy


class ModelFileError(ValueError):
    """A model file that is missing, unreadable or does not fit the options."""


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success, fsync it and rename it to ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from others
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def options_path(saveto):
    """Where the options of the model saved at ``saveto`` live: ``<saveto>.json``."""
    return f"{saveto}.json"


def save_model(saveto, params, history_errs, options, history_updates=(), **extra):
    """Write the npz and its options.

    The npz holds the parameters, ``history_errs`` as an (n, 2) array,
    ``history_updates`` (the update index of each validation) and ``extra``.
    """
    history = numpy.asarray(history_errs, dtype="float64").reshape(-1, 2)
    updates = numpy.asarray(history_updates, dtype="int64")
    with atomic_write(saveto) as f:
        numpy.savez(f, history_errs=history, history_updates=updates, **extra, **params)
    with atomic_write(options_path(saveto), "w") as f:
        json.dump(options, f, indent=2, sort_keys=True)
        f.write("\n")


def dictionary_path(saveto):
    """Where the word dictionary of the model saved at ``saveto`` lives: ``<saveto>.dict.json``."""
    return f"{saveto}.dict.json"


def save_dictionary(saveto, dictionary):
    """Save the word -> id dictionary beside the model, so that the model can read new text."""
    with atomic_write(dictionary_path(saveto), "w") as f:
        json.dump(dictionary, f, ensure_ascii=False)


def load_options(saveto):
    """The options saved beside the model at ``saveto``."""
    with open(options_path(saveto)) as f:
        return json.load(f)


def checkpoint_path(saveto):
    """Where the resumable state of the run saving to ``saveto`` goes: ``<saveto>.checkpoint.npz``."""
    return f"{saveto}.checkpoint.npz"


def save_checkpoint(path, shared, best_p, history_errs, order, meta):
    """Write everything needed to continue a run exactly, in one npz without pickles.

    ``shared`` maps names to the values of every shared variable the training
    functions use (parameters, optimizer accumulators, the dropout RNG's
    ``Generator``); ``order`` is the current epoch's shuffled example order;
    ``meta`` holds the counters and options (JSON). NumPy's global RNG state is
    saved too.
    """
    arrays, generators = {}, {}
    for name, value in shared.items():
        if isinstance(value, numpy.random.Generator):
            generators[name] = value.bit_generator.state
        else:
            arrays[f"shared/{name}"] = value
    arrays.update({f"best/{name}": value for name, value in (best_p or {}).items()})
    kind, keys, pos, has_gauss, cached_gaussian = numpy.random.get_state()
    meta = dict(
        meta,
        generators=generators,
        numpy_rng=dict(kind=kind, pos=int(pos), has_gauss=int(has_gauss), cached_gaussian=float(cached_gaussian)),
    )
    arrays["history_errs"] = numpy.asarray(history_errs, dtype="float64").reshape(-1, 2)
    arrays["order"] = numpy.asarray(order if order is not None else [], dtype="int64")
    arrays["numpy_rng_keys"] = keys
    with atomic_write(path) as f:
        numpy.savez(f, meta=numpy.array(json.dumps(meta)), **arrays)


Checkpoint = collections.namedtuple(
    "Checkpoint", "shared best_p history_errs order meta numpy_rng_state"
)


def load_checkpoint(path):
    """The ``Checkpoint`` saved at ``path``."""
    try:
        with numpy.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("meta")))
        history = arrays.pop("history_errs")
        order = arrays.pop("order")
        keys = arrays.pop("numpy_rng_keys")
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such checkpoint") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: not a readable checkpoint of this package ({e})") from e
    shared = {k[len("shared/"):]: v for k, v in arrays.items() if k.startswith("shared/")}
    for name, state in meta["generators"].items():
        generator = numpy.random.default_rng()
        generator.bit_generator.state = state
        shared[name] = generator
    best_p = {k[len("best/"):]: v for k, v in arrays.items() if k.startswith("best/")} or None
    rng = meta["numpy_rng"]
    return Checkpoint(
        shared,
        best_p,
        [list(row) for row in history],
        order if len(order) else None,
        meta,
        (rng["kind"], keys, rng["pos"], rng["has_gauss"], rng["cached_gaussian"]),
    )
