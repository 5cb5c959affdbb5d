"""Training: the tutorial's ``train_lstm`` and its command line.

    python -m lstm_sentiment.train --dataset data/imdb.pkl --max_epochs 20
"""

import argparse
import contextlib
import inspect
import os
import re
import shlex
import signal
import sys
import threading
import time
import types

import numpy
import pytensor.tensor as tensor
from pytensor import config

from . import backend, imdb, kernel
from .checkpoint import (
    ModelFileError,
    checkpoint_path,
    load_checkpoint,
    save_checkpoint,
    save_dictionary,
    save_model,
)
from .logs import bars_beside_log, log_to_stderr, logger, progress
from .lstm import (
    build_model,
    check_params_file,
    get_minibatches_idx,
    init_params,
    init_tparams,
    load_params,
    numpy_floatX,
    pred_error,
    unzip,
    zipp,
)
from .optimizers import adadelta, optimizers


class OptionError(ValueError):
    """An argument of ``train_lstm`` (a command-line flag) with a value it cannot take."""


class TrainingDiverged(RuntimeError):
    """The cost became NaN or infinite."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped training; a checkpoint was saved to resume from."""


def optimizer_name(optimizer):
    """The name of ``optimizer``, given as a name or as one of the optimizer functions."""
    name = optimizer if isinstance(optimizer, str) else getattr(optimizer, "__name__", None)
    if name not in optimizers:
        raise OptionError(
            f"optimizer: unknown optimizer {optimizer!r}; choose one of {', '.join(optimizers)}"
        )
    return name


def check_options(o):
    """Raise OptionError, naming the argument and what it allows, for any bad value."""

    def need(ok, name, allowed):
        if not ok:
            raise OptionError(f"{name}: {o[name]!r} is not allowed; it must be {allowed}")

    for name in ("dim_proj", "patience", "max_epochs", "dispFreq", "batch_size", "valid_batch_size"):
        need(isinstance(o[name], int) and o[name] > 0, name, "a positive integer")
    for name in ("validFreq", "saveFreq"):
        need(
            isinstance(o[name], int) and (o[name] > 0 or o[name] == -1),
            name,
            "a positive integer, or -1 for once per epoch",
        )
    need(isinstance(o["n_words"], int) and o["n_words"] >= 2, "n_words", "an integer >= 2")
    need(o["maxlen"] is None or (isinstance(o["maxlen"], int) and o["maxlen"] >= 0), "maxlen",
         "a non-negative integer (0 or None: no limit)")
    need(o["lrate"] > 0, "lrate", "a positive number")
    need(o["decay_c"] >= 0, "decay_c", "a non-negative number")
    need(0 < o["valid_portion"] < 1, "valid_portion", "strictly between 0 and 1")
    need(isinstance(o["test_size"], int) and (o["test_size"] > 0 or o["test_size"] == -1),
         "test_size", "a positive integer, or -1 for the whole test set")
    need(o["encoder"] in ("lstm",), "encoder", "'lstm'")
    if o["saveto"]:
        folder = os.path.dirname(os.path.abspath(o["saveto"]))
        need(os.path.isdir(folder), "saveto", f"in an existing folder ({folder} does not exist)")
        need(os.access(folder, os.W_OK), "saveto", f"in a writable folder ({folder} is not)")
    if o["reload_model"]:
        need(os.path.isfile(o["reload_model"]), "reload_model", "the path of an existing model file")
        check_params_file(o["reload_model"], o)


def train_lstm(
    dim_proj=128,  # word embedding dimension and LSTM number of hidden units.
    patience=10,  # number of validations to wait before early stopping if no progress
    max_epochs=5000,  # the maximum number of epochs to run
    dispFreq=10,  # display the training cost every N updates
    decay_c=0.0,  # weight decay for the classifier weights U
    lrate=0.0001,  # learning rate for sgd and rmsprop (adadelta does not use it)
    n_words=10000,  # vocabulary size
    optimizer=adadelta,  # sgd, adadelta or rmsprop (a function or its name)
    encoder="lstm",  # the only encoder there is
    saveto="lstm_model.npz",  # the best model goes here ('' or None: do not save)
    validFreq=370,  # compute the validation error every N updates (-1: every epoch)
    saveFreq=1110,  # save the parameters every N updates (-1: every epoch)
    maxlen=100,  # training reviews of this length or longer are dropped (0/None: keep all)
    batch_size=16,  # the batch size during training
    valid_batch_size=64,  # the batch size for evaluation
    dataset="imdb",  # 'imdb' (the data folder's imdb.pkl), an imdb.pkl, aclImdb folder, archive or URL
    use_dropout=True,  # dropout (p=0.5) on the pooled LSTM output
    reload_model=None,  # path of a saved model to start from
    test_size=-1,  # if > 0, evaluate on a random subset of this many test reviews
    valid_portion=0.05,  # share of the training set held out for validation
    seed=123,  # seeds numpy's global RNG (init, split, shuffling) and the dropout RNG
    mode=None,  # PyTensor compilation mode (default: see backend.py; with fused=False, the C backend)
    data_dir=None,  # where datasets and caches go (default: $LSTM_SENTIMENT_DATA or ./data)
    resume=None,  # a checkpoint (<saveto>.checkpoint.npz) to continue; its saved options are used
    fused=True,  # the LSTM and ADADELTA in the compiled kernel (same maths); False: the scan graph
):
    """Train the tutorial's LSTM sentiment classifier; returns (train_err, valid_err, test_err).

    With ``resume``, every other argument is ignored: the run continues with
    the options, parameters, optimizer state, counters and random states it
    had, and ends as it would have without the interruption.
    """
    model_options = dict(locals())
    checkpoint = None
    flags = {"mode": mode} if mode else {}
    if resume:
        checkpoint = load_checkpoint(resume)
        model_options = dict(checkpoint.meta["options"], resume=resume)
        flags = {"floatX": checkpoint.meta["floatX"]}
        if model_options["mode"]:
            flags["mode"] = model_options["mode"]
    model_options["optimizer"] = optimizer_name(model_options["optimizer"])
    check_options(model_options)
    logger.info("model options %s", model_options)
    fused = model_options.get("fused", True)
    if not (fused or "mode" in flags or backend.user_has_set("mode") or backend.user_has_set("linker")):
        flags["mode"] = backend.C_MODE  # the plain graph runs best on PyTensor's C backend

    with config.change_flags(**flags), kernel.use(fused):
        return _train(model_options, optimizers[model_options["optimizer"]], checkpoint)


def _train(model_options, optimizer, resume=None):
    o = model_options
    numpy.random.seed(o["seed"])

    path = imdb.get_dataset_file(o["dataset"], o["data_dir"])
    dictionary = imdb.load_dictionary_beside(path)
    if o["saveto"] and dictionary is not None:
        save_dictionary(o["saveto"], dictionary)  # so that the model can read new text
    logger.info("Loading data from %s", path)
    train, valid, test = imdb.load_data(
        path=path, n_words=o["n_words"], valid_portion=o["valid_portion"], maxlen=o["maxlen"]
    )
    if not train[0] or not valid[0]:
        raise OptionError(
            f"maxlen: {o['maxlen']} leaves {len(train[0])} training and {len(valid[0])} "
            f"validation reviews in {path}; raise maxlen (0 keeps every review)"
        )
    if o["test_size"] > 0:
        if o["test_size"] > len(test[0]):
            raise OptionError(
                f"test_size: {o['test_size']} is larger than the test set ({len(test[0])} reviews)"
            )
        # The test set is sorted by size, but we want to keep random
        # size example.  So we must select a random selection of the
        # examples.
        idx = numpy.arange(len(test[0]))
        numpy.random.shuffle(idx)
        idx = idx[: o["test_size"]]
        test = ([test[0][n] for n in idx], [test[1][n] for n in idx])

    o["ydim"] = int(numpy.max(train[1])) + 1

    logger.info("Building model")
    start = time.time()
    # This create the initial parameters as numpy ndarrays.
    # Dict name (string) -> numpy ndarray
    params = init_params(o)
    if o["reload_model"] and resume is None:
        load_params(o["reload_model"], params)

    # This create PyTensor Shared Variable from the parameters.
    # Dict name (string) -> PyTensor Tensor Shared Variable
    # params and tparams have different copy of the weights.
    tparams = init_tparams(params)

    # use_noise is for dropout
    (use_noise, x, mask, y, f_pred_prob, f_pred, cost) = build_model(tparams, o)

    if o["decay_c"] > 0.0:
        decay_c = numpy_floatX(o["decay_c"])
        weight_decay = (tparams["U"] ** 2).sum() * decay_c
        cost += weight_decay

    grads = tensor.grad(cost, wrt=list(tparams.values()))

    lr = tensor.scalar(name="lr")
    f_grad_shared, f_update = optimizer(lr, tparams, grads, x, mask, y, cost)
    logger.info("Compiled the training functions in %.1fs", time.time() - start)

    logger.info("Optimization")

    kf_valid = get_minibatches_idx(len(valid[0]), o["valid_batch_size"])
    kf_test = get_minibatches_idx(len(test[0]), o["valid_batch_size"])
    # The training set is sorted by length: evaluating it in order pads little.
    kf_train_sorted = get_minibatches_idx(len(train[0]), o["valid_batch_size"])

    logger.info("%d train examples", len(train[0]))
    logger.info("%d valid examples", len(valid[0]))
    logger.info("%d test examples", len(test[0]))

    def errors():
        use_noise.set_value(0.0)
        return (
            pred_error(f_pred, imdb.prepare_data, train, kf_train_sorted),
            pred_error(f_pred, imdb.prepare_data, valid, kf_valid),
            pred_error(f_pred, imdb.prepare_data, test, kf_test),
        )

    # Every shared variable training reads or writes: parameters, optimizer
    # accumulators, the dropout RNG. Together with the state below, a run.
    shared = {v.name: v for f in (f_grad_shared, f_update) for v in f.get_shared()}
    sizes = [len(train[0]), len(valid[0]), len(test[0])]
    state = dict(eidx=0, uidx=0, batch=0, n_samples=0, bad_counter=0, estop=False, history_updates=[])
    history_errs, best_p, order = [], None, None
    if resume is not None:
        if resume.meta["sizes"] != sizes:
            raise ModelFileError(
                f"the checkpoint was made on {resume.meta['sizes']} train/valid/test reviews, "
                f"but {path} gives {sizes} with its options"
            )
        for name, value in resume.shared.items():
            shared[name].set_value(value)
        state.update(resume.meta["state"])
        history_errs, best_p, order = resume.history_errs, resume.best_p, resume.order
        numpy.random.set_state(resume.numpy_rng_state)
        logger.info("Resuming at epoch %d, update %d", state["eidx"], state["uidx"])

    def save(why):
        """The tutorial's model file (best parameters so far) and a checkpoint to resume from."""
        save_model(
            o["saveto"],
            best_p if best_p is not None else unzip(tparams),
            history_errs,
            o,
            history_updates=state["history_updates"],
        )
        save_checkpoint(
            checkpoint_path(o["saveto"]),
            {name: v.get_value() for name, v in shared.items()},
            best_p,
            history_errs,
            order,
            dict(options=o, state=state, sizes=sizes, floatX=config.floatX, why=why),
        )

    validFreq = o["validFreq"]
    saveFreq = o["saveFreq"]
    if validFreq == -1:
        validFreq = len(train[0]) // o["batch_size"]
    if saveFreq == -1:
        saveFreq = len(train[0]) // o["batch_size"]

    start_time = time.time()
    with bars_beside_log(), stop_signals() as stop:
        while state["eidx"] < o["max_epochs"] and not state["estop"]:
            if order is None:
                # Get new shuffled index for the training set.
                kf = get_minibatches_idx(len(train[0]), o["batch_size"], shuffle=True)
                order = numpy.concatenate([idx for _, idx in kf])
            batches = [order[i : i + o["batch_size"]] for i in range(0, len(order), o["batch_size"])]

            for train_index in progress(
                batches[state["batch"] :], initial=state["batch"], total=len(batches),
                desc=f"Epoch {state['eidx']}", unit="update",
            ):
                state["uidx"] += 1
                state["batch"] += 1
                uidx = state["uidx"]
                use_noise.set_value(1.0)

                # Select the random examples for this minibatch
                y = [train[1][t] for t in train_index]
                x = [train[0][t] for t in train_index]

                # Get the data in numpy.ndarray format
                # This swap the axis!
                # Return something of shape (minibatch maxlen, n samples)
                x, mask, y = imdb.prepare_data(x, y)
                state["n_samples"] += x.shape[1]

                cost = f_grad_shared(x, mask, y)
                f_update(o["lrate"])

                if not numpy.isfinite(cost):
                    _diverged(o, cost, state, best_p, history_errs)

                if numpy.mod(uidx, o["dispFreq"]) == 0:
                    logger.info("Epoch %d Update %d Cost %.6f", state["eidx"], uidx, cost)

                if numpy.mod(uidx, validFreq) == 0:
                    train_err, valid_err, test_err = errors()
                    history_errs.append([valid_err, test_err])
                    state["history_updates"].append(uidx)

                    if best_p is None or valid_err <= numpy.array(history_errs)[:, 0].min():
                        best_p = unzip(tparams)
                        state["bad_counter"] = 0

                    logger.info("Train %.4f Valid %.4f Test %.4f", train_err, valid_err, test_err)

                    if (
                        len(history_errs) > o["patience"]
                        and valid_err >= numpy.array(history_errs)[: -o["patience"], 0].min()
                    ):
                        state["bad_counter"] += 1
                        if state["bad_counter"] > o["patience"]:
                            logger.info("Early Stop!")
                            state["estop"] = True

                if o["saveto"] and numpy.mod(uidx, saveFreq) == 0:
                    logger.info("Saving...")
                    save("saveFreq")
                    logger.info("Done")

                if stop.requested:
                    _interrupted(o, stop.requested, state, save)
                if state["estop"]:
                    break

            logger.info("Seen %d samples", state["n_samples"])
            if not state["estop"]:
                state.update(eidx=state["eidx"] + 1, batch=0, n_samples=0)
                order = None

    end_time = time.time()
    if best_p is not None:
        zipp(best_p, tparams)
    else:
        best_p = unzip(tparams)

    train_err, valid_err, test_err = errors()

    logger.info("Train %.4f Valid %.4f Test %.4f", train_err, valid_err, test_err)
    if o["saveto"]:
        save_model(
            o["saveto"],
            best_p,
            history_errs,
            o,
            history_updates=state["history_updates"],
            early_stop=state["estop"],
            train_err=train_err,
            valid_err=valid_err,
            test_err=test_err,
        )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(checkpoint_path(o["saveto"]))  # the run is complete: nothing to resume
    epochs = state["eidx"] + 1 if state["estop"] else max(state["eidx"], 1)
    logger.info(
        "The code run for %d epochs, with %f sec/epochs", epochs, (end_time - start_time) / epochs
    )
    logger.info("Training took %.1fs", end_time - start_time)
    return train_err, valid_err, test_err


@contextlib.contextmanager
def stop_signals():
    """While training: SIGINT or SIGTERM asks it to stop after the current update; a second one stops at once."""
    stop = types.SimpleNamespace(requested=None)
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be set in the main thread
        return

    def handler(signum, frame):
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = signal.Signals(signum).name
        logger.warning("%s: stopping after this update (again to stop at once)", stop.requested)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _interrupted(o, signame, state, save):
    """Save the model and a checkpoint, then raise TrainingInterrupted saying how to resume."""
    if not o["saveto"]:
        raise TrainingInterrupted(
            f"{signame}: training stopped at update {state['uidx']}; nothing was saved (saveto is empty)"
        )
    save(signame)
    path = checkpoint_path(o["saveto"])
    raise TrainingInterrupted(
        f"{signame}: training stopped at update {state['uidx']} (epoch {state['eidx']}); the best "
        f"parameters so far are in {o['saveto']}. Resume with: "
        f"python -m lstm_sentiment.train --resume {shlex.quote(path)}"
    )


def _diverged(o, cost, state, best_p, history_errs):
    """Save the best parameters so far, if any, and raise TrainingDiverged."""
    saved = ""
    if o["saveto"] and best_p is not None:
        save_model(o["saveto"], best_p, history_errs, o, history_updates=state["history_updates"])
        saved = f"; the best parameters so far are saved in {o['saveto']}"
    raise TrainingDiverged(
        f"bad cost detected: {cost} at update {state['uidx']} (epoch {state['eidx']}){saved}. "
        f"Try a smaller lrate, or another optimizer."
    )


def _flag_names(name):
    """The tutorial's spelling (``--validFreq``) and its kebab-case alias (``--valid-freq``)."""
    kebab = re.sub(r"(?<=[a-z])(?=[A-Z])", "-", name).replace("_", "-").lower()
    return [f"--{name}"] + ([f"--{kebab}"] if kebab != name else [])


def build_parser():
    """The command line: one flag per argument of ``train_lstm``, with its default."""
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.train",
        description="Train the LSTM sentiment classifier of the Theano tutorial, on PyTensor.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    defaults = {k: p.default for k, p in inspect.signature(train_lstm).parameters.items()}
    helps = {
        "dim_proj": "word embedding dimension and number of LSTM hidden units",
        "patience": "validations without progress to wait before early stopping",
        "max_epochs": "the maximum number of epochs",
        "dispFreq": "log the training cost every N updates",
        "decay_c": "weight decay (L2) on the classifier weights U",
        "lrate": "learning rate of sgd and rmsprop (adadelta does not use it)",
        "n_words": "vocabulary size: word ids >= n_words become 1 (unknown)",
        "encoder": "the encoder (the tutorial has only lstm)",
        "saveto": "where to save the best model, an npz (options go to <saveto>.json); '' to not save",
        "validFreq": "compute train/valid/test errors every N updates (-1: once per epoch)",
        "saveFreq": "save the model every N updates (-1: once per epoch)",
        "maxlen": "drop training reviews of this many words or more (0: keep all)",
        "batch_size": "the training minibatch size",
        "valid_batch_size": "the minibatch size for evaluation",
        "dataset": "'imdb' (imdb.pkl in the data folder, built there from the official archive "
        "when missing), or an imdb.pkl, an aclImdb folder, an aclImdb_v1.tar.gz archive or a URL",
        "use_dropout": "dropout (p=0.5) on the pooled LSTM output",
        "reload_model": "start from the parameters of this saved model (npz)",
        "test_size": "evaluate on a random subset of this many test reviews (-1: all)",
        "valid_portion": "share of the training set held out for validation",
        "seed": "random seed: the same seed gives the same numbers",
        "mode": "PyTensor mode to compile with, e.g. NUMBA or FAST_COMPILE "
        "(default: Python thunks around the kernel; with --no-fused, the C backend)",
        "data_dir": "where datasets and caches go (default: $LSTM_SENTIMENT_DATA or ./data)",
        "resume": "continue the run saved in this checkpoint (<saveto>.checkpoint.npz), with its "
        "saved options; other flags are then ignored",
        "fused": "run the LSTM layer and ADADELTA's step in the compiled kernel (the same maths); "
        "--no-fused: the tutorial's scan graph, on PyTensor's C backend",
    }
    for name, default in defaults.items():
        flags = _flag_names(name)
        if name == "optimizer":
            parser.add_argument(*flags, dest=name, choices=sorted(optimizers), default="adadelta",
                                help="the optimizer")
        elif name in ("use_dropout", "fused"):
            parser.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction,
                                default=default, help=helps[name])
        else:
            kind = str if default is None or isinstance(default, str) else type(default)
            parser.add_argument(*flags, dest=name, type=kind, default=default, help=helps[name],
                                metavar=name.upper())
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    log_to_stderr()
    try:
        train_lstm(**vars(args))
    except (OptionError, imdb.DataError, ModelFileError) as e:
        logger.error("error: %s", e)
        return 2
    except TrainingDiverged as e:
        logger.error("error: %s", e)
        return 1
    except TrainingInterrupted as e:
        logger.warning("%s", e)
        return 130
    except KeyboardInterrupt:
        logger.warning("Stopped at once; the files on disk are the last complete ones")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
