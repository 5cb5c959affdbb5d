"""The package's log and progress bars: the tutorial's printed lines, through ``logging``."""

import contextlib
import logging
import sys

logger = logging.getLogger("lstm_sentiment")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each line."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def log_to_stderr():
    """Show the package's INFO lines on stderr, bare, as the tutorial printed them (for commands)."""
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def bars_shown():
    """Progress bars only on a terminal: a log file or a notebook gets the log lines alone."""
    return sys.stderr.isatty()


def progress(iterable=None, **kwargs):
    """A tqdm bar that shows only on a terminal and leaves no trace when done."""
    from tqdm import tqdm  # on first use, as every heavy import: a command's Ctrl-C is then caught

    return tqdm(iterable, leave=False, disable=not bars_shown(), **kwargs)


def bars_beside_log():
    """A context in which log lines print above the progress bar rather than through it."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm(loggers=[logger]) if bars_shown() else contextlib.nullcontext()
