"""A trained model on new text: ``load_model(path).predict_proba(texts)``.

Text goes through the preprocessing of training (Moses tokenization with its
escaping, lowercasing, the model's word dictionary, ids >= n_words unknown),
and through the model in length-sorted batches, masked as in training. An
ensemble's file predicts by the mean of its models' class probabilities.
"""

import threading

from ..base.errors import DataError, ModelFileError
from ..data.batches import map_unknown, sorted_minibatches
from ..data.imdb import prepare_data, read_dictionary
from ..data.tokenize import tokenize_text
from ..kernel.backend import default_floatX
from .files import class_names, dictionary_path, param_shapes, read_checked_model, shape_options
from .files import read_dictionary as read_model_dictionary
from .lstm import build_model, init_tparams, pred_probs


class TrainedModel:
    """A trained model (``members``: the parameters of each model, one or an ensemble's), compiled once
    and reused for every call.

    Safe to share among threads: PyTensor's compiled functions are not (their
    inputs and outputs live in shared storage), so one call at a time runs it.
    """

    def __init__(self, members, options, dictionary, batch_size=64):
        self.options, self.dictionary, self.batch_size = options, dictionary, batch_size
        self._lock = threading.Lock()
        self.f_pred_prob = averaged([predictor(params, options) for params in members])

    def word_ids(self, text):
        """``text`` as the word ids of the dictionary (1 for unknown words)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got a {type(text).__name__}")
        words = tokenize_text(text, self.options.get("lang", "en")).split()
        if not words:
            raise DataError("empty text: there is nothing to classify")
        return [self.dictionary.get(w, 1) for w in words]

    @property
    def classes(self):
        """The class names, class 0 first: those of the dataset it was trained on, else IMDB's."""
        return class_names(self.options)

    def predict_proba(self, texts):
        """Class probabilities, one row per text, one column per class (``classes``; IMDB: 0 negative,
        1 positive)."""
        return self.predict_proba_ids([self.word_ids(t) for t in texts])

    def predict_proba_ids(self, seqs):
        """Class probabilities of reviews given as lists of word ids (as in imdb.pkl)."""
        seqs = map_unknown(seqs, self.options["n_words"])
        batches = sorted_minibatches(seqs, self.batch_size)
        with self._lock:
            return pred_probs(self.f_pred_prob, prepare_data, (seqs, [0] * len(seqs)), batches)

    def predict(self, texts):
        """The predicted class number of each text (``classes[k]`` names it; IMDB: 1 positive, 0 negative)."""
        return self.predict_proba(texts).argmax(axis=1)


def predictor(params, options):
    """The ``f_pred_prob`` of the model of ``params`` (name -> array), without dropout, compiled at first use."""
    model = build_model(init_tparams(params), options)
    model.use_noise.set_value(0.0)
    return model.f_pred_prob


def averaged(f_pred_probs):
    """An ensemble's ``f_pred_prob``: the mean of its models' class probabilities (one model: its own)."""
    if len(f_pred_probs) == 1:
        return f_pred_probs[0]
    return lambda x, mask: sum(f(x, mask) for f in f_pred_probs) / len(f_pred_probs)


def load_model(path, dictionary=None, batch_size=64):
    """The model saved at ``path`` with its companions ``<path>.json`` and ``<path>.dict.json``.

    ``dictionary``, the path of an ``imdb.dict.pkl``, stands in for a missing
    ``<path>.dict.json``, as for models of the Theano tutorial.
    """
    if not (isinstance(batch_size, int) and batch_size > 0):
        raise DataError(f"batch_size: {batch_size!r} is not allowed; it must be a positive integer")
    model, options = read_checked_model(path, dictionary_given=bool(dictionary))
    if dictionary and options.get("vocab_by", "count") != "count":
        raise ModelFileError(
            f"{path}: its words were ranked by {options['vocab_by']} (vocab_by), so its ids are those of "
            f"{dictionary_path(path)}, not of {dictionary}: use that file, not --dictionary"
        )
    words = read_dictionary(dictionary) if dictionary else read_model_dictionary(path)
    if words is None:
        raise ModelFileError(
            f"{dictionary_path(path)}: missing. The model needs the word dictionary it was trained "
            f"with: copy it beside the model, or pass --dictionary PATH/imdb.dict.pkl"
        )
    dtype = options.get("floatX") or default_floatX()
    shapes = param_shapes(**shape_options(options))
    members = [{k: params[k].astype(dtype) for k in shapes} for params in model.members]
    # the training run's PyTensor mode is not for prediction: the package's default
    return TrainedModel(members, dict(options, mode=None), words, batch_size)
