"""LSTM networks for sentiment analysis: the Theano tutorial, on PyTensor.

Importing the package sets PyTensor's defaults for it (the C backend, float32,
a BLAS); see ``lstm_sentiment.backend``. Flags the user sets still win.
"""

from . import backend

backend.configure()

from .imdb import load_data, prepare_data  # noqa: E402
from .lstm import (  # noqa: E402
    build_model,
    dropout_layer,
    init_params,
    init_tparams,
    load_params,
    lstm_layer,
    pred_error,
    pred_probs,
)
from .optimizers import adadelta, rmsprop, sgd  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # Imported on first use, so that ``python -m lstm_sentiment.train`` runs the
    # module once, as __main__, rather than finding it already imported.
    if name == "train_lstm":
        from .train import train_lstm

        return train_lstm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "adadelta",
    "build_model",
    "dropout_layer",
    "init_params",
    "init_tparams",
    "load_data",
    "load_params",
    "lstm_layer",
    "prepare_data",
    "pred_error",
    "pred_probs",
    "rmsprop",
    "sgd",
    "train_lstm",
]
