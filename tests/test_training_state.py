"""Nothing lost: atomic files, exact resume, signals, SIGKILL at random moments, bad model files."""

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time

import numpy
import pytest

from lstm_sentiment.base.errors import ModelFileError, OptionError
from lstm_sentiment.base.files import atomic_write, read_npz, write_npz
from lstm_sentiment.train import train_lstm
from lstm_sentiment.training.loop import Training
from lstm_sentiment.training.options import Options
from lstm_sentiment.training.state import Checkpoint

from conftest import marker_reviews, write_pkl

FLAGS = [
    "--dim_proj=16",
    "--n_words=40",
    "--max_epochs=8",
    "--validFreq=20",
    "--saveFreq=10",
    "--dispFreq=1",
    "--patience=100",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    return write_pkl(folder / "marker.pkl", marker_reviews(800, 0), marker_reviews(100, 1))


def start(data, saveto, *extra):
    """The training command in a float64 process, its log on a pipe."""
    env = dict(os.environ, PYTENSOR_FLAGS="floatX=float64", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "lstm_sentiment.train", "--dataset", data, "--saveto", str(saveto), *FLAGS, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def finish(proc, seen=""):
    out = seen + proc.communicate(timeout=600)[0]
    return proc.returncode, out


def wait_for(proc, prefix):
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return "".join(seen)
    raise AssertionError("never saw " + prefix + ":\n" + "".join(seen))


def wait_for_update(proc, target):
    """Read the log until update ``target`` (or later) is reported."""
    for line in proc.stdout:
        if line.startswith("Epoch ") and int(line.split()[3]) >= target:
            return
    raise AssertionError(f"the run ended before update {target}")


def contents(path):
    with numpy.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def resume(path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.train", "--resume", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    """The reference run, never interrupted: its final model file's contents."""
    saveto = tmp_path_factory.mktemp("ref") / "ref.npz"
    code, out = finish(start(data, saveto))
    assert code == 0, out
    assert not os.path.exists(f"{saveto}.checkpoint.npz")  # a finished run leaves nothing to resume
    return contents(saveto)


def assert_same_run(path, reference):
    """The same arrays, bit for bit; the digests of the companions (whose saveto differs) aside."""
    got = contents(path)
    assert set(got) == set(reference)
    for key in reference:
        if not key.endswith("_sha256"):
            numpy.testing.assert_array_equal(got[key], reference[key], err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_resuming_ends_bit_for_bit_as_the_uninterrupted_run(
    data, tmp_path, uninterrupted, sig
):
    saveto = tmp_path / "m.npz"
    proc = start(data, saveto)
    seen = wait_for(proc, "Epoch 2 Update 105")  # mid-epoch, between validations and saves
    proc.send_signal(sig)
    code, out = finish(proc, seen)
    assert code == 130, out
    checkpoint = f"{saveto}.checkpoint.npz"
    assert f"{sig.name}: training stopped at update" in out
    assert f"Resume with: python -m lstm_sentiment.train --resume {checkpoint}" in out
    assert {"Wemb", "history_errs"} <= set(contents(saveto))  # the best parameters so far
    assert Checkpoint(checkpoint).meta["why"] == sig.name

    done = resume(checkpoint)
    assert done.returncode == 0, done.stderr
    assert "Resuming at epoch 2, update" in done.stderr
    assert_same_run(saveto, uninterrupted)
    assert not os.path.exists(checkpoint)


BUCKETED = ["--bucket=3", "--truncate=12", "--optimizer=adam", "--lrate=0.01"]


@pytest.mark.slow
def test_a_bucketed_adam_run_resumes_bit_for_bit_in_the_middle_of_an_epoch(data, tmp_path):
    reference = tmp_path / "ref.npz"
    code, out = finish(start(data, reference, *BUCKETED))
    assert code == 0, out
    saveto = tmp_path / "m.npz"
    proc = start(data, saveto, *BUCKETED)
    seen = wait_for(proc, "Epoch 2 Update 105")  # mid-epoch: the checkpoint holds the epoch's bucketed order
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc, seen)
    assert code == 130, out
    done = resume(f"{saveto}.checkpoint.npz")
    assert done.returncode == 0, done.stderr
    assert_same_run(saveto, contents(reference))
    assert len(set(contents(reference)["history_errs"][:, 0])) > 2  # the run learned


@pytest.mark.slow
def test_an_ensemble_interrupted_in_its_second_model_resumes_bit_for_bit(data, tmp_path):
    flags = ["--ensemble=2", "--max_epochs=2"]
    reference = tmp_path / "ref.npz"
    code, out = finish(start(data, reference, *flags))
    assert code == 0, out
    saveto = tmp_path / "m.npz"
    proc = start(data, saveto, *flags)
    seen = wait_for(proc, "Model 1 of 2 trained")
    seen += wait_for(proc, "Epoch 1 Update 55")  # the second model's second epoch, between saves
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc, seen)
    assert code == 130, out
    checkpoint = Checkpoint(f"{saveto}.checkpoint.npz")
    assert len(checkpoint.finished) == 1 and checkpoint.state["eidx"] == 1
    done = resume(checkpoint.path)
    assert done.returncode == 0, done.stderr
    assert_same_run(saveto, contents(reference))
    assert {"lstm_U", "member1/lstm_U"} <= set(contents(reference))


@pytest.mark.slow
def test_a_second_ctrl_c_stops_at_once_and_leaves_complete_files(data, tmp_path):
    saveto = tmp_path / "m.npz"
    proc = start(data, saveto)
    seen = wait_for(proc, "Done")  # a first checkpoint is on disk
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    code, out = finish(proc, seen)
    assert code == 130, out
    assert "Traceback" not in out
    contents(saveto)
    Checkpoint(f"{saveto}.checkpoint.npz")


@pytest.mark.slow
def test_sigkill_at_random_moments_never_tears_a_file_and_resuming_completes_the_run(data, tmp_path, uninterrupted):
    rng = random.Random(20261128)
    for attempt in range(3):
        saveto = tmp_path / f"kill{attempt}.npz"
        proc = start(data, saveto)
        wait_for_update(proc, rng.randint(11, 360))  # after the first save, before the end (384)
        time.sleep(rng.uniform(0.0, 0.05))
        proc.kill()
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL

        contents(saveto)  # each file on disk loads completely
        with open(f"{saveto}.json") as f:
            json.load(f)
        checkpoint = f"{saveto}.checkpoint.npz"
        if os.path.exists(checkpoint):  # absent if the run had finished
            Checkpoint(checkpoint)
            done = resume(checkpoint)
            assert done.returncode == 0, done.stderr
        assert_same_run(saveto, uninterrupted)
    assert len(set(uninterrupted["history_errs"][:, 0])) > 2  # the run learned: a real test of equality


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old complete file")
    with pytest.raises(RuntimeError), atomic_write(str(path)) as f:
        f.write(b"half of a new")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"old complete file"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_stale_temporary_files_of_killed_writers_are_removed_at_the_next_write(tmp_path):
    import socket

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(done.stdout)  # a process of this host that no longer runs
    host = socket.gethostname()
    stale = tmp_path / f".m.npz.{host}.{dead}.k1l_d.tmp"
    kept = [
        tmp_path / f".m.npz.{host}.{os.getpid()}.alive.tmp",  # a writer that still runs
        tmp_path / f".m.npz.otherhost.{dead}.abc.tmp",  # another host's: whether it runs is unknown here
        tmp_path / f".other.npz.{host}.{dead}.abc.tmp",  # another file's
    ]
    for path in [stale, *kept]:
        path.write_bytes(b"x" * 1000)
    with atomic_write(str(tmp_path / "m.npz")) as f:
        f.write(b"new")
    assert sorted(os.listdir(tmp_path)) == sorted(["m.npz", *(p.name for p in kept)])


def test_a_full_disk_during_a_save_is_one_line_status_1_and_leaves_the_files_as_they_were(
    data, tmp_path, monkeypatch, capsys
):
    import errno

    from lstm_sentiment.train import main

    saveto, before, fsync = tmp_path / "m.npz", {}, os.fsync

    def full_after_the_first_save(fd):
        if "m.npz.checkpoint.npz" in os.listdir(tmp_path):  # the first save is complete
            names = [n for n in os.listdir(tmp_path) if not n.startswith(".") and n != "m.npz.lock"]
            before.update((n, (tmp_path / n).read_bytes()) for n in names)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full_after_the_first_save)
    assert main(["--dataset", data, "--saveto", str(saveto), *FLAGS, "--max_epochs=1"]) == 1
    assert sorted(before) == ["m.npz", "m.npz.checkpoint.npz", "m.npz.json"]
    assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == before  # no temporary file, no lock
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "m.npz.json and " in lines[0]
    assert "m.npz: cannot write them (No space left on device); the files that were there are unchanged" in lines[0]
    assert "the checkpoint on disk is this run's of update 10, resume from it with: " in lines[0]


@pytest.mark.slow
def test_a_second_run_with_the_same_saveto_is_refused_and_the_first_ends_as_if_alone(data, tmp_path, uninterrupted):
    saveto = tmp_path / "m.npz"
    first = start(data, saveto)
    seen = wait_for(first, "Epoch 0 Update 1 ")
    second = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.train", "--dataset", data, "--saveto", str(saveto), *FLAGS],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert f"saveto: {saveto} is being written by another run (process {first.pid} on " in second.stderr
    code, out = finish(first, seen)
    assert code == 0, out
    assert_same_run(saveto, uninterrupted)
    assert sorted(os.listdir(tmp_path)) == ["m.npz", "m.npz.json"]  # the lock is gone with the run


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted at tmp_path/disk (root only), unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}): needs root")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_disk_that_fills_while_a_model_is_replaced_leaves_the_old_model_whole(data, small_disk, capsys):
    """A real full file system, not a simulated error: the new run's options fit in what is left, its npz
    does not. The old model's three files stay as they were, and it still predicts."""
    from lstm_sentiment.model.trained import load_model
    from lstm_sentiment.train import main

    dictionary = {f"w{i}": i for i in range(2, 40)}
    with open(f"{data}.dict.tmp", "wb") as f:  # a word dictionary beside the data, so that the model has one
        import pickle

        pickle.dump(dictionary, f)
    os.replace(f"{data}.dict.tmp", data.replace(".pkl", ".dict.pkl"))
    saveto = str(small_disk / "m.npz")
    assert main(["--dataset", data, "--saveto", saveto, *FLAGS, "--max_epochs=1"]) == 0
    before = {n: (small_disk / n).read_bytes() for n in os.listdir(small_disk)}
    assert sorted(before) == ["m.npz", "m.npz.dict.json", "m.npz.json"]
    page = os.statvfs(small_disk).f_frsize
    free = os.statvfs(small_disk).f_bavail * page
    (small_disk / "filler").write_bytes(b"x" * (free - 4 * page))  # room for the json files, not the npz
    capsys.readouterr()
    assert main(["--dataset", data, "--saveto", saveto, *FLAGS, "--max_epochs=1", "--lrate=0.5"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "cannot write them (No space left on device)" in lines[0], err
    assert "the files that were there are unchanged" in lines[0]
    assert "this run has saved no checkpoint to resume from" in lines[0]
    os.unlink(small_disk / "filler")
    assert {n: (small_disk / n).read_bytes() for n in os.listdir(small_disk)} == before  # and no temporary file
    assert load_model(saveto).predict_proba_ids([[3, 5], [7]]).shape == (2, 2)


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(str(tmp_path / "f.bin")) as f:
            f.write(b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "f.bin").st_mode) == 0o644


def test_a_corrupt_checkpoint_is_named(tmp_path):
    bad = tmp_path / "m.npz.checkpoint.npz"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelFileError, match="m.npz.checkpoint.npz: not a readable checkpoint"):
        train_lstm(resume=str(bad))
    with pytest.raises(ModelFileError, match="missing.npz: no such checkpoint"):
        train_lstm(resume=str(tmp_path / "missing.npz"))


def test_reload_model_of_another_shape_is_refused_before_any_work(data, tmp_path):
    model = tmp_path / "m.npz"
    d = 8
    numpy.savez(
        model,
        Wemb=numpy.zeros((40, d)),
        lstm_W=numpy.zeros((d, 4 * d)),
        lstm_U=numpy.zeros((d, 4 * d)),
        lstm_b=numpy.zeros(4 * d),
        U=numpy.zeros((d, 2)),
        b=numpy.zeros(2),
    )
    with pytest.raises(
        ModelFileError, match=r"'Wemb' has shape \(40, 8\), but dim_proj=16 and n_words=40 need \(40, 16\)"
    ):
        train_lstm(dataset="/nonexistent.pkl", reload_model=str(model), dim_proj=16, n_words=40)
    with pytest.raises(ModelFileError, match=r"n_words=50 need \(50, 8\)"):
        train_lstm(dataset="/nonexistent.pkl", reload_model=str(model), dim_proj=8, n_words=50)
    numpy.savez(model, Wemb=numpy.zeros((40, d)))
    with pytest.raises(ModelFileError, match="parameters are not in the archive: lstm_W, lstm_U, lstm_b$"):
        train_lstm(dataset="/nonexistent.pkl", reload_model=str(model), dim_proj=8, n_words=40)
    model.write_bytes(b"truncated")
    with pytest.raises(ModelFileError, match="m.npz: not a readable npz model file"):
        train_lstm(dataset="/nonexistent.pkl", reload_model=str(model), dim_proj=8, n_words=40)


def test_a_saveto_folder_that_cannot_be_written_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): the check cannot fail here")
        with pytest.raises(OptionError, match="saveto: .* not writable|is not\\)"):
            train_lstm(saveto=str(folder / "m.npz"))
    finally:
        folder.chmod(0o700)


def _checkpoint(tmp_path):
    """A checkpoint of a run that has not started, on a small marker dataset."""
    data = write_pkl(tmp_path / "d.pkl", marker_reviews(200, 0), marker_reviews(50, 1))
    saveto = str(tmp_path / "m.npz")
    Training(Options(dataset=data, saveto=saveto, dim_proj=8, n_words=40, floatX="float32")).save("test")
    return data, f"{saveto}.checkpoint.npz"


def test_a_checkpoint_of_data_that_changed_since_is_refused(tmp_path):
    data, checkpoint = _checkpoint(tmp_path)
    write_pkl(data, marker_reviews(150, 0), marker_reviews(50, 1))
    with pytest.raises(
        ModelFileError, match=r"made on \[190, 10, 50\] train/valid/test reviews, but .* gives \[142, 8, 50\]"
    ):
        train_lstm(resume=checkpoint)


def test_a_checkpoint_of_other_reviews_of_the_same_sizes_is_refused(tmp_path):
    data, checkpoint = _checkpoint(tmp_path)
    write_pkl(data, marker_reviews(200, 7), marker_reviews(50, 1))  # the same sizes, other words
    with pytest.raises(ModelFileError, match=r"made on other reviews than .*d.pkl gives now \(the same sizes"):
        train_lstm(resume=checkpoint)
    reviews, labels = marker_reviews(200, 0)
    write_pkl(data, (reviews, labels), marker_reviews(50, 1))  # as it was: the checkpoint fits again
    Training(Options.from_dict(Checkpoint(checkpoint).meta["options"]), Checkpoint(checkpoint))
    write_pkl(data, (reviews, [1 - y for y in labels]), marker_reviews(50, 1))  # the labels alone changed
    with pytest.raises(ModelFileError, match=r"made on other reviews than"):
        train_lstm(resume=checkpoint)


def test_a_new_run_over_an_unfinished_runs_checkpoint_warns_before_replacing_it(tmp_path, caplog):
    data, checkpoint = _checkpoint(tmp_path)
    saveto = checkpoint.removesuffix(".checkpoint.npz")
    train_lstm(dataset=data, saveto=saveto, dim_proj=8, n_words=40, max_epochs=1, floatX="float32")
    warned = [r.getMessage() for r in caplog.records if "the checkpoint of an unfinished run" in r.getMessage()]
    assert len(warned) == 1 and f"--resume {checkpoint}" in warned[0], warned
    assert not os.path.exists(checkpoint)  # the new run finished: nothing to resume


def test_a_checkpoint_whose_arrays_do_not_fit_the_model_is_refused(tmp_path):
    _, checkpoint = _checkpoint(tmp_path)
    arrays = read_npz(checkpoint, "checkpoint")
    arrays["shared/lstm_U_rgrad2"] = arrays["shared/lstm_U_rgrad2"][:3]  # a short accumulator
    write_npz(checkpoint, arrays)
    with pytest.raises(
        ModelFileError, match=r"lstm_U_rgrad2 is missing or does not fit .* \(\(3, 32\) instead of \(8, 32\)\)"
    ):
        train_lstm(resume=checkpoint)


def _damaged(arrays, meta, change):
    """Apply one damage, named ``change``, to a checkpoint's arrays and meta."""
    state = meta["state"]
    if change == "unknown array":
        arrays["surprise"] = numpy.zeros(3)
    elif change == "negative counter":
        state["uidx"] = -1
    elif change == "float counter":
        state["batch"] = 1.5
    elif change == "short history":
        state["history_updates"] = [10]
    elif change == "short order":
        arrays["order"] = numpy.arange(100)
    elif change == "order out of range":
        arrays["order"] = numpy.arange(190) + 5
    elif change == "other RNG":
        meta["numpy_rng"]["kind"] = "PCG64"
    elif change == "bad RNG position":
        meta["numpy_rng"]["pos"] = 10**6
    elif change == "best parameter of another shape":
        arrays["best/lstm_U"] = numpy.zeros((3, 32), dtype="float32")
    elif change == "best parameter the model lacks":
        arrays["best/extra"] = numpy.zeros(2, dtype="float32")
    elif change == "finished model without its record":
        state["finished"] = []
    elif change == "finished model of another shape":
        arrays["finished/0/lstm_U"] = numpy.zeros((3, 32), dtype="float32")
    elif change == "finished model without its history":
        del arrays["finished_errs/0"]
    elif change == "finished model without a parameter":
        del arrays["finished/0/Wemb"]
    elif change == "as many finished models as the ensemble":
        meta["options"]["ensemble"] = 1


DAMAGES = {
    "unknown array": "unknown arrays surprise",
    "negative counter": "counter uidx is -1",
    "float counter": "counter batch is 1.5",
    "short history": "history_updates and history_errs differ",
    "short order": "order is not an order of the 190 training reviews",
    "order out of range": "order is not an order of the 190 training reviews",
    "other RNG": "numpy_rng is not a state of NumPy's MT19937",
    "bad RNG position": "numpy_rng is not a state of NumPy's MT19937",
    "best parameter of another shape": r"best/lstm_U does not fit .* \(\(3, 32\) instead of \(8, 32\)\)",
    "best parameter the model lacks": "best/extra does not fit",
    "finished model without its record": "arrays of no finished model: finished/0/U, finished/0/Wemb",
    "finished model of another shape": r"finished/0/lstm_U does not fit .* \(\(3, 32\) instead of \(8, 32\)\)",
    "finished model without its history": "finished model 0 is incomplete",
    "finished model without a parameter": "finished model 0 has the parameters U, b, lstm_U, lstm_W, lstm_b, not",
    "as many finished models as the ensemble": "1 finished models, but its options ask for an ensemble of 1",
}


@pytest.mark.parametrize("change", DAMAGES)
def test_a_damaged_checkpoint_is_refused_naming_what_is_wrong_before_anything_is_restored(tmp_path, change):
    _, checkpoint = _checkpoint(tmp_path)
    arrays = read_npz(checkpoint, "checkpoint")
    meta = json.loads(str(arrays.pop("meta")))
    meta["state"]["history_updates"] = []
    arrays["history_errs"] = numpy.zeros((0, 2))
    arrays["order"] = numpy.random.RandomState(0).permutation(190)
    arrays["best/lstm_U"] = arrays["shared/lstm_U"]
    for name in ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b"):  # an ensemble's first model, finished
        arrays[f"finished/0/{name}"] = arrays[f"shared/{name}"]
    arrays["finished_errs/0"] = numpy.zeros((1, 2))
    meta["state"]["finished"] = [dict(history_updates=[5], updates=10, epochs=1)]
    meta["options"]["ensemble"] = 2
    write_npz(checkpoint, dict(arrays, meta=numpy.array(json.dumps(meta))))
    Training(Options.from_dict(meta["options"]), Checkpoint(checkpoint))  # the undamaged one resumes
    _damaged(arrays, meta, change)
    write_npz(checkpoint, dict(arrays, meta=numpy.array(json.dumps(meta))))
    with pytest.raises(ModelFileError, match=DAMAGES[change]):
        train_lstm(resume=checkpoint)
