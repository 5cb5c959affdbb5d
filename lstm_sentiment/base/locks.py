"""An advisory lock per output file: two runs never write the same files at once.

    lstm_model.npz.lock   held (flock) by the run writing lstm_model.npz; it names that run's process

The kernel releases the lock when its process ends, however it ends, so a
killed run never leaves a stale lock; the file itself is removed on a normal exit.
"""

import contextlib
import os
import socket
import time

from .errors import OptionError
from .logs import logger

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not guarded there
    fcntl = None


def lock_path(path):
    return f"{path}.lock"


@contextlib.contextmanager
def exclusive(path, flag):
    """Hold the lock of ``path`` while the block runs; another holder is an OptionError naming its process
    and ``flag`` (the option that chose ``path``)."""
    if fcntl is None:
        yield
        return
    fd = _acquire(lock_path(path), path, flag)
    try:
        yield
    finally:
        # removed while still held: a run that opened it meanwhile finds another file on disk, and retries
        with contextlib.suppress(OSError):
            os.unlink(lock_path(path))
        os.close(fd)


def _acquire(lock, path, flag):
    """The descriptor of ``lock``, opened and locked; removed and made anew by its last holder meanwhile: again."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise OptionError(f"{flag}: cannot create the lock {lock} ({e.strerror}); name a writable place") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "a process that is starting"
            os.close(fd)
            raise OptionError(
                f"{flag}: {path} is being written by another run ({holder}); wait for it to end, or choose "
                f"another {flag}"
            ) from None
        except OSError as e:  # a file system without locks: warn, and go on unguarded
            logger.warning("%s: cannot lock it (%s); another run with this %s would not be refused", lock, e, flag)
            return fd
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            os.write(fd, f"process {os.getpid()} on {socket.gethostname()}, since {stamp}\n".encode())
            return fd
        os.close(fd)
