"""A trained model's files: the tutorial's npz, its options (JSON) and its word dictionary (JSON).

    lstm_model.npz            the parameters, history_errs, history_updates, final errors, test_confusion
                              (an ensemble: model k's parameters as member<k>/<name>, k >= 1, and
                              history_models, the model of each row of history_errs)
    lstm_model.npz.json       the options it was trained with
    lstm_model.npz.dict.json  the word -> id dictionary of its dataset

One reader for each, and one writer for the three: ``write_model`` replaces
them together or not at all (a full disk leaves the model that was there
whole). Readers raise ModelFileError naming the file and what is wrong with
it. The npz records the SHA-256 of the companions written with it, so that a
set torn by a kill between the renames, or a companion of another model, is
refused at load rather than read with the wrong words.
"""

import contextlib
import hashlib
import json
import os
import re

import numpy

from ..base.errors import ModelFileError
from ..base.files import atomic_paths, read_npz, synced
from ..base.logs import logger

PARAMS = ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b")
REVERSED = ("lstm_r_W", "lstm_r_U", "lstm_r_b")  # the bidirectional encoder's reversed LSTM
POOLINGS = ("mean", "max", "mean_max")
FINAL = ("train_err", "valid_err", "test_err", "early_stop")
COMPANIONS = ("options", "dictionary")  # each recorded as <kind>_sha256; "" for none written


def member_key(k, name):
    """A parameter's key in the npz: the first model's under the tutorial's name, model k's of an ensemble
    (k >= 1) as ``member<k>/<name>``."""
    return name if k == 0 else f"member{k}/{name}"


def member_params(members):
    """The npz's parameters of ``members``, each a name -> array dict, first model first."""
    return {member_key(k, name): value for k, params in enumerate(members) for name, value in params.items()}


def features(dim_proj, bidirectional=False, pooling="mean"):
    """The size of the pooled vector the classifier reads: dim_proj per direction and per pooling."""
    return dim_proj * (2 if bidirectional else 1) * (2 if pooling == "mean_max" else 1)


def param_shapes(dim_proj, n_words, ydim=None, bidirectional=False, pooling="mean"):
    """The shape of each parameter these options give (the classifier's ``U`` and ``b`` only with ``ydim``)."""
    d = dim_proj
    shapes = {"Wemb": (n_words, d), "lstm_W": (d, 4 * d), "lstm_U": (d, 4 * d), "lstm_b": (4 * d,)}
    if bidirectional:
        shapes.update(lstm_r_W=(d, 4 * d), lstm_r_U=(d, 4 * d), lstm_r_b=(4 * d,))
    if ydim is not None:
        shapes.update(U=(features(d, bidirectional, pooling), ydim), b=(ydim,))
    return shapes


def shape_options(options):
    """The arguments of ``param_shapes`` that a model's ``options`` give."""
    keys = ("dim_proj", "n_words", "ydim")
    return {k: options[k] for k in keys} | encoder_options(options)


def encoder_options(options):
    """The encoder's options of a saved model's ``options`` (models before them: the tutorial's)."""
    return dict(bidirectional=bool(options.get("bidirectional", False)), pooling=options.get("pooling") or "mean")


IMDB_CLASSES = ("negative", "positive")  # class 0 and class 1 of the IMDB data


def class_names(options):
    """A model's class names, class 0 first: its dataset's, else IMDB's two, else "class k"."""
    if options.get("classes"):
        return list(options["classes"])
    ydim = options["ydim"]
    return list(IMDB_CLASSES) if ydim == 2 else [f"class {k}" for k in range(ydim)]


def options_path(saveto):
    """Where the options of the model saved at ``saveto`` live: ``<saveto>.json``."""
    return f"{saveto}.json"


def dictionary_path(saveto):
    """Where the word dictionary of the model saved at ``saveto`` lives: ``<saveto>.dict.json``."""
    return f"{saveto}.dict.json"


class ModelFile:
    """The contents of a model npz: ``members`` (one name -> array dict per model: one, or an ensemble's),
    ``params`` (the first's), ``history_errs`` (n, 2), ``history_updates``, ``final`` and the final test
    set's ``confusion`` matrix."""

    def __init__(self, path, arrays):
        self.path = path
        count = 1 + max((int(m[1]) for key in arrays if (m := re.fullmatch(r"member(\d+)/.+", key))), default=0)
        keys = [{n: member_key(k, n) for n in (*PARAMS, *REVERSED)} for k in range(count)]
        self.members = [{n: arrays[key] for n, key in member.items() if key in arrays} for member in keys]
        self.params = self.members[0]
        errs = arrays.get("history_errs")
        if errs is not None and not (errs.shape == (0,) or (errs.ndim == 2 and errs.shape[1] == 2)):
            raise ModelFileError(f"{path}: history_errs has shape {errs.shape}, not (n, 2): a (valid, test) row each")
        self.history_errs = errs.reshape(-1, 2) if errs is not None else None
        updates = arrays.get("history_updates")
        recorded = updates is not None and self.history_errs is not None and len(updates) == len(self.history_errs)
        self.history_updates = updates if recorded else None
        models = arrays.get("history_models")  # an ensemble's: the model of each validation
        recorded = models is not None and self.history_errs is not None and len(models) == len(self.history_errs)
        self.history_models = models if recorded else None
        self.final = {k: arrays[k].item() for k in FINAL if k in arrays and arrays[k].size == 1}
        confusion = arrays.get("test_confusion")  # row: true class, column: predicted; older models have none
        self.confusion = confusion if confusion is not None and confusion.ndim == 2 else None
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
                f"killed between its files); copy the right one beside the model"
            )

    def check_params(self, shapes, given="these options"):
        """Raise ModelFileError unless every parameter of ``shapes`` (name -> shape, which ``given``
        options need) is here, with its shape, for each model."""
        for m, params in enumerate(self.members):
            missing = [member_key(m, k) for k in shapes if k not in params]
            if missing:
                raise ModelFileError(f"{self.path}: these parameters are not in the archive: {', '.join(missing)}")
            for k, shape in shapes.items():
                key, value = member_key(m, k), params[k]
                if value.shape != tuple(shape):
                    raise ModelFileError(
                        f"{self.path}: parameter {key!r} has shape {value.shape}, but {given} need "
                        f"{tuple(shape)}; pass the options it was trained with"
                    )
                if value.dtype.kind not in "fiu" or not numpy.isfinite(value).all():
                    raise ModelFileError(
                        f"{self.path}: parameter {key!r} holds values that are not finite real numbers "
                        f"({value.dtype}): a damaged or diverged model"
                    )


def read_model(path):
    """The ``ModelFile`` at ``path``."""
    return ModelFile(path, read_npz(path, "npz model file"))


def read_checked_model(path, dictionary_given=False):
    """``(model, options)``: the ``ModelFile`` at ``path`` and the options that build it, with every check
    a model to be used needs: its companions are those saved with it (the dictionary's unless another is
    given), the options can build it, and each parameter is there with its shape and finite values."""
    model = read_model(path)
    model.check_companion("options", options_path(path))
    if not dictionary_given:
        model.check_companion("dictionary", dictionary_path(path))
    options = _model_options(model)
    shapes = param_shapes(**shape_options(options))
    model.check_params(shapes, "dim_proj={dim_proj}, n_words={n_words} and ydim={ydim}".format(**options))
    return model, options


def _model_options(model):
    """The saved options, checked; for a model without them (the Theano tutorial's), what its arrays say."""
    options = read_options(model.path)
    if options is None:
        if "Wemb" not in model.params or "U" not in model.params:
            raise ModelFileError(f"{model.path}: no Wemb or U in it: not a model of this package or the tutorial")
        (n_words, dim_proj), ydim = model.params["Wemb"].shape, model.params["U"].shape[1]
        logger.warning(
            "%s is missing (a model of the Theano tutorial?): using its shapes (dim_proj=%d, "
            "n_words=%d) and the tutorial's defaults (encoder lstm, use_dropout True)",
            options_path(model.path),
            dim_proj,
            n_words,
        )
        return dict(dim_proj=int(dim_proj), n_words=int(n_words), ydim=int(ydim), encoder="lstm", use_dropout=True)
    for key in ("dim_proj", "n_words", "ydim"):
        if not (isinstance(options.get(key), int) and options[key] > 0):
            raise ModelFileError(f"{options_path(model.path)}: {key} is {options.get(key)!r}, not a positive integer")
    classes = options.get("classes")
    if classes is not None and not (
        isinstance(classes, list) and len(classes) == options["ydim"] and all(isinstance(c, str) for c in classes)
    ):
        raise ModelFileError(f"{options_path(model.path)}: classes is {classes!r}, not {options['ydim']} class names")
    if options.get("encoder", "lstm") != "lstm" or options.get("floatX") not in (None, "float32", "float64"):
        raise ModelFileError(f"{options_path(model.path)}: encoder or floatX is not one this package knows")
    if encoder_options(options)["pooling"] not in POOLINGS:
        raise ModelFileError(f"{options_path(model.path)}: pooling is {options['pooling']!r}, not one of {POOLINGS}")
    encoder = dict(encoder="lstm", use_dropout=bool(options.get("use_dropout", True)), **encoder_options(options))
    return dict(options, **encoder)


def write_model(
    saveto, params, history_errs, history_updates=(), options=None, dictionary=None, history_models=None, **final
):
    """Write the model npz (the parameters, ``history_errs`` as (n, 2), ``history_updates``, an ensemble's
    ``history_models``, ``final``) and its companions, the ``options`` and the word ``dictionary`` (a dict,
    or its ``dictionary_json``, which a run that saves often encodes once), all of them or none of them; the
    npz records each companion's SHA-256. A companion that is None is not written, and one left there by an
    earlier model is removed, so that the files at ``saveto`` are this model's alone."""
    history = numpy.asarray(history_errs, dtype="float64").reshape(-1, 2)
    updates = numpy.asarray(history_updates, dtype="int64")
    if isinstance(dictionary, dict):
        dictionary = dictionary_json(dictionary)
    companions = {
        options_path(saveto): None if options is None else _json(options, indent=2, sort_keys=True),
        dictionary_path(saveto): dictionary,
    }
    written = {path: data for path, data in companions.items() if data is not None}
    digests = {
        f"{kind}_sha256": numpy.array("" if data is None else _sha256(data))
        for kind, data in zip(COMPANIONS, companions.values())
    }
    models = {} if history_models is None else dict(history_models=numpy.asarray(history_models, dtype="int64"))
    arrays = dict(params, history_errs=history, history_updates=updates, **models, **digests, **final)
    with atomic_paths(*written, saveto) as temps:
        for tmp, data in zip(temps, written.values()):
            with synced(tmp) as f:
                f.write(data)
        with synced(temps[-1]) as f:
            numpy.savez(f, **arrays)
    for path in set(companions) - set(written):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def dictionary_json(dictionary):
    """The bytes of ``<saveto>.dict.json`` for the word -> id ``dictionary``."""
    return _json(dictionary, ensure_ascii=False)


def _json(value, **kwargs):
    return (json.dumps(value, **kwargs) + "\n").encode("utf-8")


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


def read_options(saveto):
    """The options saved beside the model at ``saveto``: a dict, or None when there are none."""
    return read_options_file(options_path(saveto))


def read_options_file(path):
    """A JSON object of options (what ``write_model`` writes, or a config file): a dict, or None if missing."""
    options = _read_json(path, "JSON options")
    if options is not None and not isinstance(options, dict):
        raise ModelFileError(f"{path}: expected a JSON object of options, found {options!r:.40}")
    return options


def read_dictionary(saveto):
    """The word -> id dictionary saved beside the model at ``saveto``, or None when there is none."""
    path = dictionary_path(saveto)
    dictionary = _read_json(path, "word dictionary")
    if dictionary is not None and not (
        isinstance(dictionary, dict) and all(isinstance(v, int) and v >= 0 for v in dictionary.values())
    ):
        raise ModelFileError(f"{path}: expected a JSON object of word -> non-negative id")
    return dictionary
