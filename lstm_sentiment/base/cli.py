"""What every command shares: the log on stderr, and errors as one line with an exit status."""

import importlib

from .errors import DiskFull, Error, TrainingDiverged, TrainingInterrupted
from .logs import log_to_stderr, logger


def run(body, *args, **kwargs):
    """Call ``body(*args, **kwargs)`` for a command and return its exit status: 0 when it returns.

    Bad input (``Error``) is one line and status 2; a diverged training or a
    full disk 1; an interruption 130. Anything else is a bug, and shows its traceback.
    """
    log_to_stderr()
    try:
        body(*args, **kwargs)
        return 0
    except Error as e:
        logger.error("error: %s", e)
        return 2
    except (TrainingDiverged, DiskFull) as e:
        logger.error("error: %s", e)
        return 1
    except TrainingInterrupted as e:
        logger.warning("%s", e)
        return 130
    except KeyboardInterrupt:
        logger.warning("Stopped at once; the files on disk are the last complete ones")
        return 130


def import_configured(name, settings):
    """Import the module ``name``, which reads its ``settings`` (environment variables, files) as it
    loads: the ValueError or TypeError of a bad one is an Error naming them, not a traceback."""
    try:
        return importlib.import_module(name)
    except (ValueError, TypeError) as e:
        raise Error(f"{name} cannot load with these settings: {e} Fix {settings}") from None
