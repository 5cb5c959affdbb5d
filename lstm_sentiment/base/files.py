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
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths):
    """Temporary paths beside each of ``paths`` to write to: all renamed into place, in the order given,
    when the block succeeds; none when it fails. A set of files that belong together (a model and its
    companions) is then replaced whole or not at all, even when the disk fills while the last is written."""
    temps = []
    try:
        for path in paths:
            temps.append(_temporary(path))
    except OSError as e:
        _remove(temps)
        raise _cannot_write(paths, e) from e
    try:
        yield temps
        for tmp, path in zip(temps, paths):
            os.replace(tmp, path)
    except BaseException as e:
        _remove(temps)
        if isinstance(e, OSError) and e.errno in _NO_SPACE:
            raise _cannot_write(paths, e) from e
        raise


def _temporary(path):
    """A new empty file beside ``path``, with the permissions of an ordinary ``open``."""
    _remove_stale_temps(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return tmp


def _remove(paths):
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _cannot_write(paths, e):
    """The error for a failed write of ``paths``: DiskFull (status 1) when space ran out, else an Error."""
    if len(paths) == 1:
        what = f"{paths[0]}: cannot write it ({e.strerror or e}); the file that was there is unchanged"
    else:
        names = ", ".join(paths[:-1]) + f" and {paths[-1]}"
        what = f"{names}: cannot write them ({e.strerror or e}); the files that were there are unchanged"
    if e.errno in _NO_SPACE:
        return DiskFull(f"{what}. Free some space and try again")
    return Error(f"{what}. Name a writable place")


@contextlib.contextmanager
def atomic_write(path, mode="wb", **open_kwargs):
    """``open(path, mode)`` through ``atomic_path``: the file is complete on disk (fsynced) or absent."""
    with atomic_path(path) as tmp, synced(tmp, mode, **open_kwargs) as f:
        yield f


@contextlib.contextmanager
def synced(path, mode="wb", **open_kwargs):
    """``open(path, mode)``, flushed and fsynced when the block ends: what was written is on disk."""
    with open(path, mode, **open_kwargs) as f:
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


FIGURE_FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def check_figure_path(path):
    """Raise an Error unless ``path`` names an image file matplotlib writes (by its extension) in an
    existing folder: checked before the work, so that a typo costs nothing."""
    extension = os.path.splitext(path)[1][1:].lower()
    if os.path.isdir(path):
        raise Error(f"{path}: a folder; name the image file to write, e.g. {os.path.join(path, 'plot.png')}")
    if extension not in FIGURE_FORMATS:
        raise Error(f"{path}: name an image file ending in .{', .'.join(FIGURE_FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise Error(f"{path}: the folder {folder} does not exist; name an image in an existing folder")


def save_figure(fig, path):
    """Save the matplotlib figure ``fig`` at exactly ``path`` (its extension names the format), atomically,
    then close it."""
    import matplotlib.pyplot as plt

    try:
        check_figure_path(path)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=os.path.splitext(path)[1][1:].lower())
    except Error:
        raise
    except (OSError, ValueError) as e:
        raise Error(f"{path}: cannot write the plot there ({e})") from e
    finally:
        plt.close(fig)
    return path
