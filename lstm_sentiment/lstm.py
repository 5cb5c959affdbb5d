"""The tutorial's ``lstm.py``: the model and its optimizers, and ``adam`` beside them (the code is in ``model/``); its
``train_lstm`` is ``lstm_sentiment.train_lstm`` (``training/loop.py``)."""

from .data.batches import get_minibatches_idx
from .model.lstm import (
    build_model,
    dropout_layer,
    init_params,
    init_tparams,
    load_params,
    lstm_layer,
    numpy_floatX,
    param_init_lstm,
    pred_error,
    pred_probs,
    unzip,
    zipp,
)
from .model.optimizers import adadelta, adam, rmsprop, sgd

__all__ = [
    "adadelta",
    "adam",
    "build_model",
    "dropout_layer",
    "get_minibatches_idx",
    "init_params",
    "init_tparams",
    "load_params",
    "lstm_layer",
    "numpy_floatX",
    "param_init_lstm",
    "pred_error",
    "pred_probs",
    "rmsprop",
    "sgd",
    "unzip",
    "zipp",
]
