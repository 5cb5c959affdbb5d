"""Model files: the tutorial's npz of parameters and errors, and its options as JSON.

Every write goes to a temporary file in the target's folder and is renamed
into place, so a crash leaves the old complete file or the new one, never a
torn one. Nothing here unpickles.
"""

import contextlib
import json
import os
import tempfile

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


def save_model(saveto, params, history_errs, options, **extra):
    """Write the npz (parameters, ``history_errs`` as an (n, 2) array, ``extra``) and its options."""
    history = numpy.asarray(history_errs, dtype="float64").reshape(-1, 2)
    with atomic_write(saveto) as f:
        numpy.savez(f, history_errs=history, **extra, **params)
    with atomic_write(options_path(saveto), "w") as f:
        json.dump(options, f, indent=2, sort_keys=True)
        f.write("\n")


def load_options(saveto):
    """The options saved beside the model at ``saveto``."""
    with open(options_path(saveto)) as f:
        return json.load(f)
