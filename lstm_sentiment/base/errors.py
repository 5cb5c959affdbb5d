"""The package's error types. Each message names the file, flag or value and what to do.

Commands print an ``Error`` as one line and exit with status 2 (``base.cli``).
"""


class Error(ValueError):
    """Bad input that the user can fix: a flag, a file, a dataset."""


class OptionError(Error):
    """An argument of ``train_lstm`` (a command-line flag) with a value it cannot take."""


class DataError(Error):
    """A dataset, archive or text that is missing or not in the expected format."""


class ModelFileError(Error):
    """A model, options, dictionary or checkpoint file that is missing, damaged or does not fit."""


class DiskFull(RuntimeError):
    """A write failed for want of space (exit status 1); the file that was there is unchanged."""


class TrainingDiverged(RuntimeError):
    """The cost became NaN or infinite (exit status 1)."""


class SweepFailed(RuntimeError):
    """Every trial of a sweep failed (exit status 1): the message gives the first trial's error."""


class TrainingInterrupted(RuntimeError):
    """SIGINT or SIGTERM stopped training; a checkpoint was saved to resume from (exit status 130)."""
