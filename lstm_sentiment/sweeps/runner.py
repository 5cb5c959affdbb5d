"""The sweep on Ray Tune: Optuna proposes configurations (each repeated over the seeds), ASHA stops
hopeless trials on their validation error, and each trial runs train_lstm in a Ray worker.

Without an address, Ray starts on this machine with its cores, its servers
bound to the loopback address alone; with one, the sweep drives that cluster,
with the token of its authentication where this machine has one. Tune keeps the
experiment's state under DIR/tune, which is what ``resume`` restores: finished
trials are kept, unfinished ones start again.
"""

import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import sys
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
    results.start_validations(folder)  # a trial that starts again (after an interruption) starts afresh
    results.remove_result(folder)

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


def check_start(space, trials, out, resume, address=None):
    """OptionError unless the sweep can start (or, with ``resume``, continue) in ``out`` with ``trials``, and
    something answers at the cluster's ``address``; makes the folder."""
    if address is not None:
        _check_reachable(address)
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
    out = os.path.abspath(out)
    path = os.path.join(out, EXPERIMENT)
    check_start(space, trials, out, resume, address)
    with ray_started(address, cpus_per_trial):  # first: how Ray binds is settled when it loads
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search import Repeater
        from ray.tune.search.optuna import OptunaSearch

        if resume and not tune.Tuner.can_restore(path):  # interrupted before Tune saved its first state
            logger.warning("%s: no state of the sweep was saved before it stopped; it starts again", path)
            shutil.rmtree(path)
            resume = False
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
        terminated = {t.trial_id for t in tune.ExperimentAnalysis(path).trials if t.status == "TERMINATED"}
        rows = [_row(result, space, out, terminated) for result in grid]
    results.write_table(out, rows, list(space.search))
    return rows


LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray's single-machine mode: node address 127.0.0.1
CONNECT_TIMEOUT = 10  # seconds to wait for a cluster's address to answer


@contextlib.contextmanager
def ray_started(address, cpus_per_trial=1):
    """Ray for the sweep, shut down when the block ends: started on this machine, every server of it bound to
    the loopback address (a laptop's sweep opens no port to the network), or connected to the cluster at
    ``address``: an OptionError within seconds where nothing answers or the cluster refuses this client."""
    threads = str(cpus_per_trial)  # each trial's BLAS and kernel threads: its own CPUs, no more
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}
    settings = dict(runtime_env={"env_vars": env}, include_dashboard=False, log_to_driver=False)
    if address is None:
        if "ray" in sys.modules:  # its settings are read as it loads
            raise OptionError(
                "Ray was loaded in this process before the sweep started, so it cannot be kept to the loopback "
                "address: start the sweep in a new process (python -m lstm_sentiment.sweep)"
            )
        with _environ(LOOPBACK_ONLY, {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}):
            import ray

            # "local": a Ray of its own, never one that runs here already (Ray's default would join it)
            ray.init(address="local", **settings, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    else:
        with _environ(LOOPBACK_ONLY if _is_loopback(address) else {}, _auth_mode()):
            import ray

            try:
                ray.init(address=address, **settings, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError) as e:
                raise OptionError(
                    f"--address: the Ray cluster at {address} refused this client ({e}). A cluster with token "
                    f"authentication needs its token here: RAY_AUTH_TOKEN=<the output of `ray get-auth-token` "
                    f"on its head>"
                ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _auth_mode():
    """Ray's token authentication for a client, where RAY_AUTH_MODE is unset and this machine has a token: a
    cluster started with one refuses a client without it (Ray turns it on only for a cluster it starts), and
    one started without ignores it."""
    if "RAY_AUTH_MODE" in os.environ:
        return {}
    stored = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    has_token = bool(os.environ.get("RAY_AUTH_TOKEN")) or os.path.isfile(stored)
    return {"RAY_AUTH_MODE": "token"} if has_token else {}


def _is_loopback(address):
    """Whether ``address`` (HOST:PORT) is on this machine's loopback: Ray would take such a cluster's address
    for the machine's network address, outside its single-machine mode."""
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_reachable(address):
    """OptionError unless something listens at ``address`` (HOST:PORT, or ray://HOST:PORT); "auto" is Ray's."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not (host and port.isdigit()):
        raise OptionError(f"--address: {address!r} is not HOST:PORT (the head's address, e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise OptionError(
            f"--address: nothing answers at {address} ({e.strerror or e}); start the cluster's head there "
            f"(ray start --head --port {port}) or give its address"
        ) from None


@contextlib.contextmanager
def _environ(*settings):
    """These environment variables set while the block runs (for Ray and the processes it starts), then as before."""
    values = {k: v for setting in settings for k, v in setting.items()}
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _row(result, space, out, terminated):
    """A Tune result as a row of the table (``terminated``: the ids of the trials Tune ended)."""
    config, metrics = result.config or {}, result.metrics or {}
    trial = os.path.basename(result.path)  # _trial_dirname: the trial id, even for a trial that failed at once
    ended = results.read_result(results.trial_folder(out, trial)) is not None
    if result.error is not None:  # Ray's wrapper of the trial's own exception, its cause
        cause = getattr(result.error, "cause", None) or result.error
        status, error = "failed", " ".join(f"{type(cause).__name__}: {cause}".split())[:300]
    elif ended:  # its training ended, whether or not Tune recorded that before an interruption
        status, error = "done", ""
    elif metrics.get("done") or trial in terminated:  # ASHA stopped it
        status, error = "stopped", ""
    else:
        status, error = "unfinished", ""
    searched = {name: config.get(name) for name in space.search}
    seconds = metrics.get("time_total_s", 0.0)
    return results.trial_row(out, trial, config.get("__trial_index__", 0), searched, status, seconds, error)
