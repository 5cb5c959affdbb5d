"""LSTM networks for sentiment analysis: the Theano tutorial, on PyTensor.

The tutorial's names are importable from here; each is imported on first
use, so that the data tools load without PyTensor. Importing the package
changes nothing in PyTensor for other code.
"""

import importlib

__version__ = "0.1.0"

_where = {
    "load_data": "data.imdb",
    "prepare_data": "data.imdb",
    "build_model": "model.lstm",
    "dropout_layer": "model.lstm",
    "init_params": "model.lstm",
    "init_tparams": "model.lstm",
    "load_params": "model.lstm",
    "lstm_layer": "model.lstm",
    "pred_error": "model.lstm",
    "pred_probs": "model.lstm",
    "adadelta": "model.optimizers",
    "rmsprop": "model.optimizers",
    "sgd": "model.optimizers",
    "adam": "model.optimizers",
    "load_model": "model.trained",
    "train_lstm": "training.loop",
}

__all__ = sorted(_where)


def __getattr__(name):
    # Imported on first use; this also lets ``python -m lstm_sentiment.train`` run its
    # module once, as __main__, rather than finding it already imported.
    if name in _where:
        return getattr(importlib.import_module(f".{_where[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
