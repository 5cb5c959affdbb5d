"""The lock per output file: held while a run writes, refused to a second holder, freed by any exit."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from lstm_sentiment.base.errors import OptionError
from lstm_sentiment.base.locks import exclusive, lock_path

pytestmark = pytest.mark.skipif(os.name == "nt", reason="no flock on Windows: runs are not guarded there")

HOLD = """
import sys, time
from lstm_sentiment.base.locks import exclusive
with exclusive(sys.argv[1], "saveto"):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(path):
    """A process that takes the lock of ``path`` and keeps it; returned once it holds it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_second_holder_is_refused_naming_the_first_and_the_lock_goes_with_it(tmp_path):
    path = tmp_path / "m.npz"
    with exclusive(str(path), "saveto"):
        assert os.path.exists(lock_path(path))
        done = subprocess.run([sys.executable, "-c", HOLD, str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert f"saveto: {path} is being written by another run (process {os.getpid()} on " in done.stderr
        with pytest.raises(OptionError, match="is being written by another run"), exclusive(str(path), "saveto"):
            pass  # in the same process too
    assert not os.path.exists(lock_path(path))
    with exclusive(str(path), "saveto"):  # free again
        pass


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_holder_that_dies_frees_the_lock_even_when_its_file_stays(tmp_path, how):
    path = tmp_path / "m.npz"
    proc = _holder(path)
    with pytest.raises(OptionError, match=f"process {proc.pid} on "), exclusive(str(path), "saveto"):
        pass
    proc.send_signal(how)
    proc.wait(timeout=60)
    with exclusive(str(path), "saveto"):
        assert pathlib.Path(lock_path(path)).read_text().startswith(f"process {os.getpid()} on ")


def test_a_lock_removed_by_its_last_holder_while_another_waited_is_not_shared(tmp_path, monkeypatch):
    """The race of removing a lock file: a run that opened the old file just before its holder removed it
    must lock the new file, not the removed one, or two runs would both hold 'the' lock."""
    import fcntl

    path = str(tmp_path / "m.npz")
    flock, calls = fcntl.flock, []

    def flock_after_the_holder_left(fd, op):
        if not calls:  # between our open and our lock: a holder ends and removes the file
            calls.append(fd)
            os.unlink(lock_path(path))
        return flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock_after_the_holder_left)
    with exclusive(path, "saveto"):
        held = os.stat(lock_path(path))
        assert calls and os.path.samestat(held, os.stat(lock_path(path)))  # the file on disk is the one held
        proc = subprocess.run([sys.executable, "-c", HOLD, path], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "is being written by another run" in proc.stderr
