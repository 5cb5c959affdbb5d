"""The sweep on Ray Tune: Optuna proposes configurations (each repeated over the seeds), ASHA stops
hopeless trials on their validation error, and each trial runs train_lstm in a Ray worker.

Without an address, Ray starts on this machine with its cores; with one, the
sweep drives that cluster. Tune keeps the experiment's state under DIR/tune,
which is what ``resume`` restores: finished trials are kept, unfinished ones
start again.
"""

import logging
import os
import time

from ..base.errors import OptionError
from ..base.logs import logger
from . import results

EXPERIMENT = "tune"  # DIR/tune: Tune's own state
GRACE = 2  # validations every trial gets before ASHA may stop it
REDUCTION = 3  # ASHA keeps the best third at each rung


def run_trial(config, fixed, out):
    """One trial, in a Ray worker: train_lstm with the fixed and the drawn arguments, the seed of its
    repeat, its files in DIR/trials/<trial id>/, and each validation reported to Tune."""
    from ray import tune

    from ..training.loop import train_lstm
    from ..training.options import Options

    trial = tune.get_context().get_trial_id()
    folder = results.trial_folder(out, trial)
    os.makedirs(folder, exist_ok=True)
    drawn = {k: v for k, v in config.items() if k != "__trial_index__"}
    log = logging.FileHandler(os.path.join(folder, "train.log"), mode="w")
    logger.addHandler(log)
    logger.setLevel(logging.INFO)
    results.start_validations(folder)

    def report(v):
        results.append_validation(folder, v)
        tune.report({"valid_err": v.valid_err, "test_err": v.test_err, "update": v.update})

    try:
        options = dict(fixed, **drawn, seed=config.get("__trial_index__", 0))
        # saved at each validation unless the space says otherwise: a trial that ASHA stops keeps its model
        options.setdefault("saveFreq", options.get("validFreq", Options.validFreq))
        errors = train_lstm(**options, saveto=os.path.join(folder, "model.npz"), on_validation=report)
        results.write_result(folder, errors)
    finally:
        logger.removeHandler(log)
        log.close()


def _trial_dirname(trial):
    return trial.trial_id


def _tune_space(space):
    from ray import tune

    kinds = {
        "choice": lambda v: tune.choice(list(v)),
        "uniform": lambda v: tune.uniform(*v),
        "loguniform": lambda v: tune.loguniform(*v),
        "randint": lambda v: tune.randint(*v),  # upper bound excluded, as the space file says
    }
    return {name: kinds[dim.kind](dim.values) for name, dim in space.search.items()}


def check_start(space, trials, out, resume):
    """OptionError unless the sweep can start (or, with ``resume``, continue) in ``out`` with ``trials``;
    makes the folder."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise OptionError(f"--out: cannot make the folder {out} ({e.strerror}); give another") from None
    if not os.access(out, os.W_OK):
        raise OptionError(f"--out: {out} is not writable; give another folder")
    exists = os.path.exists(os.path.join(out, EXPERIMENT))
    if resume and not exists:
        raise OptionError(f"--resume: {out} holds no sweep to resume")
    if not resume and exists:
        raise OptionError(f"--out: {out} already holds a sweep; continue it with --resume, or choose another folder")
    if trials % space.seeds:
        raise OptionError(f"--trials: {trials} is not a multiple of the {space.seeds} seeds of each configuration")


def run_sweep(space, trials, out, address=None, resume=False, cpus_per_trial=1, seed=0):
    """Run (or, with ``resume``, continue) the sweep; returns the rows of its table, also in DIR/results.csv."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import Repeater
    from ray.tune.search.optuna import OptunaSearch

    out = os.path.abspath(out)
    path = os.path.join(out, EXPERIMENT)
    check_start(space, trials, out, resume)
    if resume and not tune.Tuner.can_restore(path):
        raise OptionError(f"--resume: {out} holds no sweep that can be resumed")
    threads = str(cpus_per_trial)  # each trial's BLAS and kernel threads: its own CPUs, no more
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}
    ray.init(address=address, runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=False)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, fixed=space.fixed, out=out), {"cpu": cpus_per_trial}
        )
        if resume:
            tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=False)
        else:
            search = Repeater(OptunaSearch(seed=seed), repeat=space.seeds)
            asha = ASHAScheduler(
                time_attr="training_iteration", max_t=10**9, grace_period=GRACE, reduction_factor=REDUCTION
            )
            tuner = tune.Tuner(
                trainable,
                param_space=_tune_space(space),
                tune_config=tune.TuneConfig(
                    metric="valid_err",
                    mode="min",
                    search_alg=search,
                    scheduler=asha,
                    num_samples=trials,
                    trial_dirname_creator=_trial_dirname,
                ),
                run_config=tune.RunConfig(name=EXPERIMENT, storage_path=out, verbose=1),
            )
        start = time.time()
        grid = tuner.fit()
        logger.info("The sweep's trials took %.0f s", time.time() - start)
        rows = [_row(result, space, out) for result in grid]
    finally:
        ray.shutdown()
    results.write_table(out, rows, list(space.search))
    return rows


def _row(result, space, out):
    """A Tune result as a row of the table."""
    config, metrics = result.config or {}, result.metrics or {}
    trial = os.path.basename(result.path)  # _trial_dirname: the trial id, even for a trial that failed at once
    ended = results.read_result(results.trial_folder(out, trial)) is not None
    if result.error is not None:  # Ray's wrapper of the trial's own exception, its cause
        cause = getattr(result.error, "cause", None) or result.error
        status, error = "failed", " ".join(f"{type(cause).__name__}: {cause}".split())[:300]
    elif metrics.get("done"):  # Tune's mark of a trial that ended: its training did, or ASHA stopped it
        status, error = ("done" if ended else "stopped"), ""
    else:
        status, error = "unfinished", ""
    searched = {name: config.get(name) for name in space.search}
    seconds = metrics.get("time_total_s", 0.0)
    return results.trial_row(out, trial, config.get("__trial_index__", 0), searched, status, seconds, error)
