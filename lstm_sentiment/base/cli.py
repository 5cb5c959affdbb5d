"""What every command shares: the log on stderr, and errors as one line with an exit status."""

import contextlib
import importlib
import os
import signal
import sys
import threading

from .errors import DiskFull, Error, SweepFailed, TrainingDiverged, TrainingInterrupted
from .logs import log_to_stderr, logger


def run(body, *args, **kwargs):
    """Call ``body(*args, **kwargs)`` for a command and return its exit status: 0 when it returns.

    Bad input (``Error``) is one line and status 2; a diverged training, a
    full disk or a sweep whose every trial failed 1; an interruption 130.
    Anything else is a bug, and shows its traceback.
    """
    log_to_stderr()
    try:
        with _ctrl_c_stops_at_once():
            body(*args, **kwargs)
        return 0
    except Error as e:
        logger.error("error: %s", e)
        return 2
    except (TrainingDiverged, DiskFull, SweepFailed) as e:
        logger.error("error: %s", e)
        return 1
    except TrainingInterrupted as e:
        logger.warning("%s", e)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C while training stops gracefully (training.loop.stop_signals)
        logger.warning(STOPPED)
        return 130


STOPPED = "Stopped at once; the files on disk are the last complete ones"


@contextlib.contextmanager
def _ctrl_c_stops_at_once():
    """While a command runs, SIGINT ends the process at once with status 130 and one line. Python's
    KeyboardInterrupt would be raised wherever the program is, and an import or a finalizer can
    swallow it or print it as a traceback. Files are written atomically, so none is left torn.
    Training sets its own, graceful, handler while it trains."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _stop_at_once)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _stop_at_once(signum, frame):
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os.write(2, f"{STOPPED}\n".encode())
    os._exit(130)


def import_configured(name, settings):
    """Import the module ``name``, which reads its ``settings`` (environment variables, files) as it
    loads: the ValueError or TypeError of a bad one is an Error naming them, not a traceback."""
    try:
        return importlib.import_module(name)
    except (ValueError, TypeError) as e:
        raise Error(f"{name} cannot load with these settings: {e} Fix {settings}") from None
