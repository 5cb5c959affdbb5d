"""Atomic writes, and npz archives: every file the package writes goes through ``atomic_path``."""

import contextlib
import errno
import os
import re
import socket
import tempfile
import zipfile
import zlib

import numpy

from .errors import DiskFull, Error, ModelFileError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_prefix(path):
    """The start of the names of ``path``'s temporary files made on this host: the process id follows."""
    return f".{os.path.basename(path)}.{socket.gethostname()}."


def _remove_stale_temps(path):
    """Remove the temporary files beside ``path`` of processes of this host that no longer run (a
    run killed during a save): nothing else removes them."""
    folder = os.path.dirname(os.path.abspath(path))
    pattern = re.compile(re.escape(_temp_prefix(path)) + r"(\d+)\.\w+\.tmp")
    for name in os.listdir(folder):
        match = pattern.fullmatch(name)
        if match and not _running(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(folder, name))


def _running(pid):
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: count every one as running
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists, as another user's process
    return True


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block succeeds.

    An exception inside the block leaves the previous complete file (or none)
    and no temporary file; a kill leaves a temporary file, which the next write
    of ``path`` removes. The new file gets the permissions of an ordinary ``open``
    (mkstemp's 0600 would hide it from other users).
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        _remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp")
        os.close(fd)
    except OSError as e:
        raise _cannot_write(path, e) from e
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            raise _cannot_write(path, e) from e
        raise


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _cannot_write(path, e):
    """The error for a failed write of ``path``: DiskFull (status 1) when space ran out, else an Error."""
    what = f"{path}: cannot write it ({e.strerror or e}); the file that was there is unchanged"
    if e.errno in _NO_SPACE:
        return DiskFull(f"{what}. Free some space and try again")
    return Error(f"{what}. Name a writable place")


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """``open(path, mode)`` through ``atomic_path``: the file is complete on disk (fsynced) or absent."""
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def read_npz(path, what):
    """Every array of the npz at ``path``, read whole, without pickles (ModelFileError naming ``what``).

    Reading every member now is what checks each one's CRC: a damaged file fails
    here, never later with a half-read model.
    """
    try:
        archive = numpy.load(path, allow_pickle=False)
        if not isinstance(archive, numpy.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an npz archive")
        with archive as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such {what}") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise ModelFileError(f"{path}: not a readable {what} ({type(e).__name__}: {e})") from e


def write_npz(path, arrays):
    """Write ``arrays`` (name -> array) as an npz at ``path``, atomically."""
    with atomic_write(path) as f:
        numpy.savez(f, **arrays)


def save_figure(fig, path):
    """Save the matplotlib figure ``fig`` at ``path`` (its extension names the format), then close it."""
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path)
    except (OSError, ValueError) as e:
        message = f"{path}: cannot write the plot there ({e}); name a .png, .pdf or .svg in an existing folder"
        raise Error(message) from e
    finally:
        plt.close(fig)
    return path
