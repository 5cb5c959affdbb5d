"""The sweep command: hyperparameter search and seed repeats of train_lstm on Ray Tune.

    python -m lstm_sentiment.sweep --space configs/sweep-example.json --trials 12 --out sweeps/first
    python -m lstm_sentiment.sweep --space ... --out sweeps/first --resume     # after an interruption

Needs the ``sweep`` extra: ``pip install -e ".[sweep]"``.
"""

import argparse
import dataclasses
import importlib.util
import os
import shlex
import sys

from .base.cli import import_configured, run
from .base.errors import Error, SweepFailed, TrainingInterrupted

__all__ = ["main", "sweep"]


def sweep(space_path, trials, out, address=None, resume=False, cpus_per_trial=1):
    """Run the sweep of the space file at ``space_path``; print its table; returns the rows."""
    from .data.datasets import get_dataset_file
    from .sweeps import results
    from .sweeps.runner import check_start, run_sweep
    from .sweeps.space import read_space
    from .training.options import Options

    space = read_space(space_path)  # checked without PyTensor or Ray: a bad space answers at once
    missing = [m for m in ("ray", "optuna") if importlib.util.find_spec(m) is None]
    if missing:
        raise Error(f'sweeps need {" and ".join(missing)}: pip install -e ".[sweep]" (Ray Tune and Optuna)')
    import_configured("pytensor", "PYTENSOR_FLAGS, ~/.pytensorrc or OMP_NUM_THREADS")
    check_start(space, trials, out, resume, address)
    # preprocessed once, here, rather than by every trial at once; trials get the dataset pkl's absolute path
    texts = Options.from_dict(space.fixed, space_path).text_options()
    dataset = get_dataset_file(space.fixed.get("dataset", "imdb"), space.fixed.get("data_dir"), texts)
    space = dataclasses.replace(space, fixed=dict(space.fixed, dataset=os.path.abspath(dataset), test=None))
    rows = run_sweep(space, trials, out, address, resume, cpus_per_trial)
    print(results.format_table(rows, list(space.search)), end="")
    failed = [r for r in rows if r["status"] == "failed"]
    if failed and len(failed) == len(rows):
        raise SweepFailed(
            f"all {len(rows)} trials failed, the first with {failed[0]['error']} (each trial's log: "
            f"{os.path.join(out, 'trials', '<trial>', 'train.log')})"
        )
    unfinished = sum(r["status"] == "unfinished" for r in rows)
    if unfinished:
        args = shlex.join(["--space", space_path, "--trials", str(trials), "--out", out, "--resume"])
        raise TrainingInterrupted(
            f"the sweep stopped with {unfinished} trials unfinished; continue it: python -m lstm_sentiment.sweep {args}"
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.sweep",
        description="Search train_lstm's arguments on Ray Tune: Optuna proposes, ASHA stops hopeless trials.",
    )
    parser.add_argument("--space", required=True, help="the search space (JSON; configs/sweep-example.json)")
    parser.add_argument("--trials", type=int, default=12, help="trials in all, seeds included (default: 12)")
    parser.add_argument("--out", required=True, help="the sweep's folder: trials, results.csv, Tune's state")
    parser.add_argument(
        "--address",
        help="the head's address (HOST:PORT) of a Ray cluster this machine is a node of; its token, if it has "
        "one, from RAY_AUTH_TOKEN or ~/.ray/auth_token (default: a Ray of its own on this machine, on 127.0.0.1)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the interrupted sweep in --out")
    parser.add_argument(
        "--cpus-per-trial",
        "--cpus_per_trial",
        type=int,
        default=1,
        help="CPUs, and threads, of each trial (default: 1)",
    )
    args = parser.parse_args(argv)
    if args.trials < 1 or args.cpus_per_trial < 1:
        parser.error("--trials and --cpus-per-trial must be positive integers")
    return run(sweep, args.space, args.trials, args.out, args.address, args.resume, args.cpus_per_trial)


if __name__ == "__main__":
    sys.exit(main())
