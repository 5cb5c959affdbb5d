"""The training command: ``train_lstm``'s arguments as flags.

python -m lstm_sentiment.train --dataset data/imdb.pkl --max_epochs 20
"""

import argparse
import dataclasses
import re
import sys

from .base.cli import import_configured, run

__all__ = ["build_parser", "main", "train_lstm"]  # noqa: F822 (given by __getattr__)


def __getattr__(name):
    # PyTensor loads on first use, inside ``run``: a Ctrl-C while it loads is one line, not a traceback
    if name == "train_lstm":
        from .training.loop import train_lstm

        return train_lstm
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def flag_names(name):
    """The tutorial's spelling (``--validFreq``) and its kebab-case alias (``--valid-freq``)."""
    kebab = re.sub(r"(?<=[a-z])(?=[A-Z])", "-", name).replace("_", "-").lower()
    return [f"--{name}"] + ([f"--{kebab}"] if kebab != name else [])


def shown_default(value):
    """A default as ``--help`` and README's flag table show it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return "''" if value == "" else str(value)


def build_parser():
    """The command line: one flag per option of ``train_lstm`` (``Options``), with its default."""
    from .training.options import Options

    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.train",
        description="Train the LSTM sentiment classifier of the Theano tutorial, on PyTensor.",
    )
    for field in dataclasses.fields(Options):
        help = field.metadata["help"]
        if "(default:" not in help:
            help += f" (default: {shown_default(field.default)})"
        kind = {int: int, float: float}.get(type(field.default), str)
        if isinstance(field.default, bool):
            parser.add_argument(
                *flag_names(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=field.default,
                help=help,
            )
        else:
            parser.add_argument(
                *flag_names(field.name),
                dest=field.name,
                type=kind,
                default=field.default,
                help=help,
                metavar=field.name.upper(),
            )
    parser.add_argument(
        "--config",
        help="read the arguments from this JSON file (the format of the <saveto>.json saved beside every model, "
        "e.g. configs/full.json); flags given with it override the file (default: none)",
        metavar="FILE",
    )
    return parser


def train_from_flags(argv=None):
    """Train with the options of ``argv``: the defaults, then the ``--config`` file's, then the flags'.
    PyTensor loads once they are read: ``--help`` and a bad flag or config file answer at once."""
    from .training.options import read_config

    parser = build_parser()
    config = parser.parse_known_args(argv)[0].config
    if config:
        parser.set_defaults(**read_config(config))
    options = vars(parser.parse_args(argv))
    del options["config"]
    import_configured("pytensor", "PYTENSOR_FLAGS, ~/.pytensorrc or OMP_NUM_THREADS")
    from .training import loop

    return loop.train_lstm(**options)


def main(argv=None):
    return run(train_from_flags, argv)


if __name__ == "__main__":
    sys.exit(main())
