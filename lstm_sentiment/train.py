"""The training command: ``train_lstm``'s arguments as flags.

python -m lstm_sentiment.train --dataset data/imdb.pkl --max_epochs 20
"""

import argparse
import dataclasses
import re
import sys

from .base.cli import run
from .training.loop import train_lstm
from .training.options import Options

__all__ = ["build_parser", "main", "train_lstm"]


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
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return run(train_lstm, **vars(args))


if __name__ == "__main__":
    sys.exit(main())
