"""The tutorial's ``train_lstm``: load the data, build the model, then the loop of updates,
validations, early stopping and saves, and a final evaluation of the best parameters."""

import contextlib
import dataclasses
import os
import shlex
import signal
import threading
import time
import types

import numpy
import pytensor.tensor as tensor
from pytensor import config

from ..base.errors import DiskFull, ModelFileError, TrainingDiverged, TrainingInterrupted
from ..base.locks import exclusive
from ..base.logs import bars_beside_log, logger, progress
from ..data.batches import get_minibatches_idx
from ..data.imdb import prepare_data
from ..kernel.backend import Backend, default_floatX
from ..model import files
from ..model.lstm import (
    build_model,
    init_params,
    init_tparams,
    load_params,
    numpy_floatX,
    pred_confusion,
    pred_error,
    unzip,
    zipp,
)
from ..model.optimizers import optimizers
from ..model.trained import averaged, predictor
from .data import epoch_order, load_splits, minibatch
from .options import Options, signature
from .state import Checkpoint, RunState, checkpoint_path, joined_history


def train_lstm(on_validation=None, **options):
    """Train the tutorial's LSTM sentiment classifier; returns ``(train_err, valid_err, test_err)``.

    The arguments are the tutorial's (``training.options.Options`` describes
    each). With ``resume``, every other argument is ignored: the run continues
    with the options, parameters, optimizer state, counters and random states
    it had, and ends as it would have without the interruption.
    ``on_validation``, if given, is called with a ``Validation`` after each
    validation (a sweep reports them).
    """
    checkpoint = None
    if options.get("resume"):
        checkpoint = Checkpoint(options["resume"])
        options = dict(checkpoint.meta["options"], resume=options["resume"])
        options.setdefault("floatX", checkpoint.meta.get("floatX"))
    options = Options.from_dict(options, "train_lstm")
    options.floatX = options.floatX or default_floatX()
    options.check()
    with exclusive(options.saveto, "saveto") if options.saveto else contextlib.nullcontext():
        logger.info("model options %s", options.to_dict())
        return Training(options, checkpoint, on_validation).run()


train_lstm.__signature__ = signature(on_validation=None)


@dataclasses.dataclass(frozen=True)
class Validation:
    """One validation of a run: the update and epoch it came after, and the errors (NaN: not computed)."""

    update: int
    epoch: int
    train_err: float
    valid_err: float
    test_err: float


@dataclasses.dataclass
class Compiled:
    """The model a run trains: its parameters, the dropout switch and the compiled functions."""

    tparams: dict
    use_noise: object
    f_pred_prob: object
    f_pred: object
    f_grad_shared: object
    f_update: object

    def shared(self):
        """Every shared variable training reads or writes: parameters, optimizer accumulators, dropout RNG."""
        return {v.name: v for f in (self.f_grad_shared, self.f_update) for v in f.get_shared()}


def compile_model(model_options, reload_model=None):
    """Parameters (fresh, or from ``reload_model``), the tutorial's graph, and the optimizer's functions."""
    logger.info("Building model")
    start = time.time()
    params = init_params(model_options)
    if reload_model:
        load_params(reload_model, params)
    tparams = init_tparams(params)
    backend = Backend(model_options["fused"], model_options["mode"])
    with config.change_flags(floatX=model_options["floatX"]):
        use_noise, x, mask, y, f_pred_prob, f_pred, cost = build_model(tparams, model_options)
        if model_options["decay_c"] > 0.0:
            cost += (tparams["U"] ** 2).sum() * numpy_floatX(model_options["decay_c"])
        grads = tensor.grad(cost, wrt=list(tparams.values()))
        lr = tensor.scalar(name="lr", dtype="float64")  # the optimizers cast it to the model's type
        optimizer = optimizers[model_options["optimizer"]]
        f_grad_shared, f_update = optimizer(lr, tparams, grads, x, mask, y, cost, backend=backend)
    logger.info("Compiled the training functions in %.1fs", time.time() - start)
    return Compiled(tparams, use_noise, f_pred_prob, f_pred, f_grad_shared, f_update)


class Training:
    """One run of ``train_lstm``: its options, data, compiled model and ``RunState``; with ``ensemble``,
    its models one after another, each with its own ``RunState`` that keeps the finished ones."""

    def __init__(self, options, checkpoint=None, on_validation=None):
        self.options = o = options
        self.on_validation = on_validation
        numpy.random.seed(o.seed)
        self.data = load_splits(o)
        self.check_batches()
        classes = {"classes": self.data.classes} if self.data.classes else {}  # IMDB's pkl: 0 negative, 1 positive
        # as saved: how it was trained, not started
        self.model_options = dict(o.to_dict(), ydim=self.data.ydim, resume=None, **classes)
        member = len(checkpoint.finished) if checkpoint is not None else 0
        self.model = compile_model(self.member_options(member), o.reload_model if checkpoint is None else None)
        self.state = RunState(self.model.shared())
        self.checkpointed = None  # the update of this run's checkpoint on disk, once there is one
        if checkpoint is not None:
            self.resume(checkpoint)
        elif o.saveto and os.path.isfile(checkpoint_path(o.saveto)):
            logger.warning(
                "%s: the checkpoint of an unfinished run; this run replaces it at its first save (to continue "
                "that run instead: --resume %s)",
                checkpoint_path(o.saveto),
                shlex.quote(checkpoint_path(o.saveto)),
            )
        per_epoch = len(self.data.train[0]) // o.batch_size
        self.valid_freq = per_epoch if o.validFreq == -1 else o.validFreq
        self.save_freq = per_epoch if o.saveFreq == -1 else o.saveFreq
        self.kf = {
            name: get_minibatches_idx(len(split[0]), o.valid_batch_size)  # sorted by length: little padding
            for name, split in (("train", self.data.train), ("valid", self.data.valid), ("test", self.data.test))
        }

    def member_options(self, k):
        """The options that build model k of the ensemble: the run's, with seed + k for its dropout."""
        return dict(self.model_options, seed=self.options.seed + k)

    def check_batches(self):
        """The options' memory check of the largest minibatches, now that the reviews' lengths are known."""
        o, (train, valid, test) = self.options, (self.data.train[0], self.data.valid[0], self.data.test[0])
        longest_train = max(min(len(r), o.truncate or len(r)) for r in train)
        longest_eval = max(len(r) for r in [*valid, *test])
        o.check_batches(longest_train, len(train), longest_eval, max(len(valid), len(test)))

    def resume(self, checkpoint):
        """Put the checkpoint's state back, once it is known to be of this data."""
        if checkpoint.meta["sizes"] != self.data.sizes:
            raise ModelFileError(
                f"{checkpoint.path}: the checkpoint was made on {checkpoint.meta['sizes']} train/valid/test "
                f"reviews, but {self.data.path} gives {self.data.sizes} with its options"
            )
        if checkpoint.meta.get("data_sha256", self.data.digest) != self.data.digest:  # older checkpoints: sizes only
            raise ModelFileError(
                f"{checkpoint.path}: the checkpoint was made on other reviews than {self.data.path} gives now (the "
                f"same sizes, other words or labels); resume on the data it was made on, or start a new run"
            )
        self.check_finished(checkpoint)
        self.state.restore(checkpoint)
        self.checkpointed = self.state.counters.uidx
        logger.info("Resuming at epoch %d, update %d", self.state.counters.eidx, self.state.counters.uidx)

    def check_finished(self, checkpoint):
        """ModelFileError unless the checkpoint's finished models are fewer than the ensemble's and each has
        every parameter of the model (their shapes: ``Checkpoint.check_fits``)."""
        finished, expected = checkpoint.finished, sorted(self.model.tparams)
        if len(finished) >= self.options.ensemble:
            raise ModelFileError(
                f"{checkpoint.path}: {len(finished)} finished models, but its options ask for an ensemble of "
                f"{self.options.ensemble}: not a checkpoint this package wrote"
            )
        for k, m in enumerate(finished):
            if sorted(m.params) != expected:
                raise ModelFileError(
                    f"{checkpoint.path}: finished model {k} has the parameters {', '.join(sorted(m.params))}, "
                    f"not the model's {', '.join(expected)}"
                )

    def run(self):
        """The loop over epochs, then the final evaluation; returns (train_err, valid_err, test_err)."""
        logger.info("Optimization")
        for name, split in zip(("train", "valid", "test"), self.data.sizes):
            logger.info("%d %s examples", split, name)
        start_time = time.time()
        with bars_beside_log(), stop_signals() as stop:
            while True:
                c = self.state.counters
                if c.eidx < self.options.max_epochs and not c.estop:
                    self.epoch(stop)
                elif len(self.state.finished) + 1 < self.options.ensemble:
                    self.next_member()
                else:
                    break
        return self.finish(time.time() - start_time)

    def next_member(self):
        """Keep the model just trained (its best parameters) and start the next model of the ensemble."""
        s, o = self.state, self.options
        finished = s.members(s.best_p if s.best_p is not None else unzip(self.model.tparams))
        best = numpy.nanmin(numpy.array(s.history_errs, dtype="float64")[:, 0]) if s.history_errs else float("nan")
        k = len(finished)
        logger.info("Model %d of %d trained (best valid error %.4f); training model %d", k, o.ensemble, best, k + 1)
        numpy.random.seed(o.seed + k)  # its initialisation and order
        self.model = compile_model(self.member_options(k), o.reload_model)
        self.state = RunState(self.model.shared())
        self.state.finished = finished

    def epoch(self, stop):
        """The rest of the current epoch: its updates, with validations and saves on their schedule."""
        c, o = self.state.counters, self.options
        batches = self.epoch_batches()
        bar = dict(initial=c.batch, total=len(batches), desc=f"Epoch {c.eidx}", unit="update")
        for train_index in progress(batches[c.batch :], **bar):
            self.update(train_index)
            if c.uidx % self.valid_freq == 0:
                self.validate()
            if o.saveto and c.uidx % self.save_freq == 0:
                logger.info("Saving...")
                self.save("saveFreq")
                logger.info("Done")
            if stop.requested:
                self.interrupted(stop.requested)
            if c.estop:
                break
        logger.info("Seen %d samples", c.n_samples)
        if not c.estop:
            c.eidx, c.batch, c.n_samples, self.state.order = c.eidx + 1, 0, 0, None

    def epoch_batches(self):
        """The current epoch's minibatches (indices of training reviews), in the order drawn at its start."""
        if self.state.order is None:
            self.state.order = epoch_order(self.data.train, self.options)
        order, size = self.state.order, self.options.batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def update(self, train_index):
        """One minibatch: gradients, then the optimizer's step."""
        c, m, o = self.state.counters, self.model, self.options
        c.uidx += 1
        c.batch += 1
        m.use_noise.set_value(1.0)
        # the minibatch, time-major: x and mask are (maxlen, n samples)
        x, mask, y = prepare_data(*minibatch(self.data.train, train_index, o))
        c.n_samples += x.shape[1]
        cost = m.f_grad_shared(x, mask, y)
        m.f_update(o.lrate * o.lrate_decay**c.eidx)
        if not numpy.isfinite(cost):
            self.diverged(cost)
        if c.uidx % o.dispFreq == 0:
            logger.info("Epoch %d Update %d Cost %.6f", c.eidx, c.uidx, cost)

    def errors(self, splits=("train", "valid", "test"), f_pred=None):
        """(train_err, valid_err, test_err) of the current parameters (or of ``f_pred``), without dropout
        noise; NaN for a split not in ``splits``."""
        self.model.use_noise.set_value(0.0)
        return tuple(
            pred_error(f_pred or self.model.f_pred, prepare_data, getattr(self.data, name), self.kf[name])
            if name in splits
            else float("nan")
            for name in ("train", "valid", "test")
        )

    def validate(self):
        """Errors, history, the best parameters, and the tutorial's early-stopping rule."""
        s, c, patience = self.state, self.state.counters, self.options.patience
        train_err, valid_err, test_err = self.errors(("valid",)) if self.options.valid_only else self.errors()
        s.history_errs.append([valid_err, test_err])
        s.history_updates.append(c.uidx)
        valid_history = numpy.array(s.history_errs)[:, 0]
        if s.best_p is None or valid_err <= valid_history.min():
            s.best_p = unzip(self.model.tparams)
            c.bad_counter = 0
        if self.options.valid_only:
            logger.info("Valid %.4f", valid_err)
        else:
            logger.info("Train %.4f Valid %.4f Test %.4f", train_err, valid_err, test_err)
        if self.on_validation is not None:
            self.on_validation(Validation(c.uidx, c.eidx, train_err, valid_err, test_err))
        if len(s.history_errs) > patience and valid_err >= valid_history[:-patience].min():
            c.bad_counter += 1
            if c.bad_counter > patience:
                logger.info("Early Stop!")
                c.estop = True

    def save(self, why, **final):
        """The tutorial's model file (the best parameters so far) and, unless ``final``, a checkpoint."""
        s, o = self.state, self.options
        best = s.best_p if s.best_p is not None else unzip(self.model.tparams)
        try:
            self.write_model(best, **final)
            if not final:
                meta = dict(
                    options=o.to_dict(), sizes=self.data.sizes, data_sha256=self.data.digest, floatX=o.floatX, why=why
                )
                s.save(checkpoint_path(o.saveto), meta)
                self.checkpointed = s.counters.uidx
        except DiskFull as e:
            if self.checkpointed is None:
                raise DiskFull(f"{e}; this run has saved no checkpoint to resume from") from e
            raise DiskFull(
                f"{e}; the checkpoint on disk is this run's of update {self.checkpointed}, resume from it with: "
                f"{self.resume_command()}"
            ) from e

    def resume_command(self):
        return f"python -m lstm_sentiment.train --resume {shlex.quote(checkpoint_path(self.options.saveto))}"

    def write_model(self, params, **final):
        """The model file with its options and word dictionary (so that the model can read new text), all
        three or none. Nothing is written before the first save, so a run that fails earlier leaves the model
        that was there as it was."""
        s, o = self.state, self.options
        members = s.members(params)
        errs, updates, models = joined_history(members)
        params, words = files.member_params([m.params for m in members]), self.data.dictionary_json
        models = models if len(members) > 1 else None  # history_models: an ensemble's only
        files.write_model(o.saveto, params, errs, updates, self.model_options, words, models, **final)

    def interrupted(self, signame):
        """Save the model and a checkpoint, then raise TrainingInterrupted saying how to resume."""
        o, c = self.options, self.state.counters
        if not o.saveto:
            raise TrainingInterrupted(
                f"{signame}: training stopped at update {c.uidx}; nothing was saved (saveto is empty)"
            )
        self.save(signame)
        raise TrainingInterrupted(
            f"{signame}: training stopped at update {c.uidx} (epoch {c.eidx}); the best parameters so far are in "
            f"{o.saveto}. Resume with: {self.resume_command()}"
        )

    def diverged(self, cost):
        """Save the best parameters so far, if any, and raise TrainingDiverged."""
        o, s, c = self.options, self.state, self.state.counters
        saved = ""
        if o.saveto and s.best_p is not None:
            self.write_model(s.best_p)
            saved = f"; the best parameters so far are saved in {o.saveto}"
        raise TrainingDiverged(
            f"bad cost detected: {cost} at update {c.uidx} (epoch {c.eidx}){saved}. "
            f"Try a smaller lrate, or another optimizer."
        )

    def finish(self, seconds):
        """The best parameters back in the model, their errors (an ensemble's: of the mean of its models'
        class probabilities), the final model file; the checkpoint removed."""
        s, c, o = self.state, self.state.counters, self.options
        if s.best_p is not None:
            zipp(s.best_p, self.model.tparams)
        else:
            s.best_p = unzip(self.model.tparams)
        f_pred = self.ensemble_f_pred()
        train_err, valid_err, _ = self.errors(("train", "valid"), f_pred)
        confusion = pred_confusion(f_pred, prepare_data, self.data.test, self.kf["test"], self.data.ydim)
        test_err = 1.0 - numpy.float64(numpy.trace(confusion)) / len(self.data.test[0])  # pred_error's formula
        logger.info("Train %.4f Valid %.4f Test %.4f", train_err, valid_err, test_err)
        if o.saveto:
            final = dict(train_err=train_err, valid_err=valid_err, test_err=test_err, test_confusion=confusion)
            self.save("final", early_stop=c.estop, **final)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(checkpoint_path(o.saveto))  # the run is complete: nothing to resume
        epochs = sum(m.epochs for m in s.members(s.best_p))  # of every model of an ensemble
        logger.info("The code run for %d epochs, with %f sec/epochs", epochs, seconds / epochs)
        logger.info("Training took %.1fs", seconds)
        return train_err, valid_err, test_err

    def ensemble_f_pred(self):
        """The ``f_pred`` of the run's models: the current one's, or the argmax of the mean of the class
        probabilities of an ensemble's (the finished models' best parameters, then the current ones)."""
        if not self.state.finished:
            return self.model.f_pred
        models = [predictor(m.params, self.member_options(k)) for k, m in enumerate(self.state.finished)]
        f_pred_prob = averaged([*models, self.model.f_pred_prob])
        return lambda x, mask: f_pred_prob(x, mask).argmax(axis=1)


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
