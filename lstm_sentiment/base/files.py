"""Atomic writes, and npz archives: every file the package writes goes through ``atomic_path``."""

import contextlib
import os
import tempfile
import zipfile
import zlib

import numpy

from .errors import ModelFileError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to; renamed to ``path`` when the block succeeds.

    A crash, a kill or an exception inside the block leaves the previous complete
    file (or none) and no temporary file; the new file gets the permissions of an
    ordinary ``open`` (mkstemp's 0600 would hide it from other users).
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
