"""LSTM networks for sentiment analysis: the Theano tutorial, on PyTensor.

The tutorial's names are importable from here; each is imported on first
use, so that the data tools load without PyTensor. Building a model sets
PyTensor's defaults for the package (float32, a BLAS, a fast linker; see
``lstm_sentiment.backend``). Flags the user sets still win.
"""

import importlib

__version__ = "0.1.0"

_where = {
    "load_data": "imdb",
    "prepare_data": "imdb",
    "build_model": "lstm",
    "dropout_layer": "lstm",
    "init_params": "lstm",
    "init_tparams": "lstm",
    "load_params": "lstm",
    "lstm_layer": "lstm",
    "pred_error": "lstm",
    "pred_probs": "lstm",
    "adadelta": "optimizers",
    "rmsprop": "optimizers",
    "sgd": "optimizers",
    "train_lstm": "train",
}

__all__ = sorted(_where)


def __getattr__(name):
    # Imported on first use; this also lets ``python -m lstm_sentiment.train``
    # run its module once, as __main__, rather than finding it already imported.
    if name in _where:
        return getattr(importlib.import_module(f".{_where[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
