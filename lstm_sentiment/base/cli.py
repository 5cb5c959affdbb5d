"""What every command shares: the log on stderr, and errors as one line with an exit status."""

from .errors import Error, TrainingDiverged, TrainingInterrupted
from .logs import log_to_stderr, logger


def run(body, *args, **kwargs):
    """Call ``body(*args, **kwargs)`` for a command and return its exit status: 0 when it returns.

    Bad input (``Error``) is one line and status 2; a diverged training 1; an
    interruption 130. Anything else is a bug, and shows its traceback.
    """
    log_to_stderr()
    try:
        body(*args, **kwargs)
        return 0
    except Error as e:
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
