"""A trained model's files: the tutorial's npz, its options (JSON) and its word dictionary (JSON).

    lstm_model.npz            the parameters, history_errs, history_updates and final errors
    lstm_model.npz.json       the options it was trained with
    lstm_model.npz.dict.json  the word -> id dictionary of its dataset

One reader and one writer for each; readers raise ModelFileError naming the
file and what is wrong with it. Writes are atomic. The npz records the SHA-256
of the companions written with it (written first), so that a set torn by a
kill between its writes, or a companion of another model, is refused at load
rather than read with the wrong words.
"""

import hashlib
import json
import os

import numpy

from ..base.errors import ModelFileError
from ..base.files import atomic_write, read_npz, write_npz

PARAMS = ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b")
FINAL = ("train_err", "valid_err", "test_err", "early_stop")
COMPANIONS = ("options", "dictionary")  # each recorded as <kind>_sha256; "" for none written


def param_shapes(dim_proj, n_words, ydim=None):
    """The shape of each parameter these options give (the classifier's ``U`` and ``b`` only with ``ydim``)."""
    d = dim_proj
    shapes = {"Wemb": (n_words, d), "lstm_W": (d, 4 * d), "lstm_U": (d, 4 * d), "lstm_b": (4 * d,)}
    if ydim is not None:
        shapes.update(U=(d, ydim), b=(ydim,))
    return shapes


def options_path(saveto):
    """Where the options of the model saved at ``saveto`` live: ``<saveto>.json``."""
    return f"{saveto}.json"


def dictionary_path(saveto):
    """Where the word dictionary of the model saved at ``saveto`` lives: ``<saveto>.dict.json``."""
    return f"{saveto}.dict.json"


class ModelFile:
    """The contents of a model npz: ``params``, ``history_errs`` (n, 2), ``history_updates`` and ``final``."""

    def __init__(self, path, arrays):
        self.path = path
        self.params = {k: arrays[k] for k in PARAMS if k in arrays}
        errs = arrays.get("history_errs")
        if errs is not None and not (errs.shape == (0,) or (errs.ndim == 2 and errs.shape[1] == 2)):
            raise ModelFileError(f"{path}: history_errs has shape {errs.shape}, not (n, 2): a (valid, test) row each")
        self.history_errs = errs.reshape(-1, 2) if errs is not None else None
        updates = arrays.get("history_updates")
        recorded = updates is not None and self.history_errs is not None and len(updates) == len(self.history_errs)
        self.history_updates = updates if recorded else None
        self.final = {k: arrays[k].item() for k in FINAL if k in arrays and arrays[k].size == 1}
        self.companions = {k: str(arrays[f"{k}_sha256"]) for k in COMPANIONS if f"{k}_sha256" in arrays}

    def check_companion(self, kind, path):
        """Raise ModelFileError unless the file at ``path``, if there is one, is the ``kind`` companion
        written with this model; models that recorded none (the tutorial's, older ones) pass."""
        expected = self.companions.get(kind)
        if expected is None or not os.path.exists(path):  # a missing one: its reader says so
            return
        try:
            with open(path, "rb") as f:
                found = _sha256(f.read())
        except OSError as e:
            raise ModelFileError(f"{path}: cannot read it ({e.strerror})") from e
        if found != expected:
            raise ModelFileError(
                f"{path}: not the {kind} saved with {os.path.basename(self.path)} (another model's, or a save "
                f"interrupted between the two files); copy the right one beside the model"
            )

    def check_params(self, shapes, given="these options"):
        """Raise ModelFileError unless every parameter of ``shapes`` (name -> shape, which ``given``
        options need) is here, with its shape."""
        missing = [k for k in shapes if k not in self.params]
        if missing:
            raise ModelFileError(f"{self.path}: these parameters are not in the archive: {', '.join(missing)}")
        for k, shape in shapes.items():
            if self.params[k].shape != tuple(shape):
                raise ModelFileError(
                    f"{self.path}: parameter {k!r} has shape {self.params[k].shape}, but {given} need "
                    f"{tuple(shape)}; pass the options it was trained with"
                )
            if self.params[k].dtype.kind not in "fiu" or not numpy.isfinite(self.params[k]).all():
                raise ModelFileError(
                    f"{self.path}: parameter {k!r} holds values that are not finite real numbers "
                    f"({self.params[k].dtype}): a damaged or diverged model"
                )


def read_model(path):
    """The ``ModelFile`` at ``path``."""
    return ModelFile(path, read_npz(path, "npz model file"))


def write_model(saveto, params, history_errs, history_updates=(), companions=None, **final):
    """Write the model npz: the parameters, ``history_errs`` as (n, 2), ``history_updates``, ``final``
    and ``companions``' digests (kind -> what ``write_options``/``write_dictionary`` returned)."""
    history = numpy.asarray(history_errs, dtype="float64").reshape(-1, 2)
    updates = numpy.asarray(history_updates, dtype="int64")
    digests = {f"{k}_sha256": numpy.array(v) for k, v in (companions or {}).items()}
    write_npz(saveto, dict(params, history_errs=history, history_updates=updates, **digests, **final))


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not readable {what} ({e})") from e


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _write_json(path, value, **kwargs):
    """Write ``value`` as JSON at ``path``; returns the SHA-256 of the bytes written."""
    data = (json.dumps(value, **kwargs) + "\n").encode("utf-8")
    with atomic_write(path) as f:
        f.write(data)
    return _sha256(data)


def read_options(saveto):
    """The options saved beside the model at ``saveto``: a dict, or None when there are none."""
    return read_options_file(options_path(saveto))


def read_options_file(path):
    """A JSON object of options (what ``write_options`` writes, or a config file): a dict, or None if missing."""
    options = _read_json(path, "JSON options")
    if options is not None and not isinstance(options, dict):
        raise ModelFileError(f"{path}: expected a JSON object of options, found {options!r:.40}")
    return options


def write_options(saveto, options):
    return _write_json(options_path(saveto), options, indent=2, sort_keys=True)


def read_dictionary(saveto):
    """The word -> id dictionary saved beside the model at ``saveto``, or None when there is none."""
    path = dictionary_path(saveto)
    dictionary = _read_json(path, "word dictionary")
    if dictionary is not None and not (
        isinstance(dictionary, dict) and all(isinstance(v, int) and v >= 0 for v in dictionary.values())
    ):
        raise ModelFileError(f"{path}: expected a JSON object of word -> non-negative id")
    return dictionary


def write_dictionary(saveto, dictionary):
    return _write_json(dictionary_path(saveto), dictionary, ensure_ascii=False)
