"""Sweeps on Ray Tune, started locally on 2 CPUs, on the marker task with a tiny model."""

import contextlib
import csv
import ipaddress
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from conftest import marker_reviews, write_pkl

pytest.importorskip("ray.tune", reason="Ray Tune (the sweep extra) is not installed")
pytest.importorskip("optuna", reason="Optuna (the sweep extra) is not installed")

FIXED = dict(dim_proj=8, n_words=40, max_epochs=4, validFreq=8, patience=100, maxlen=0, dispFreq=1000)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The marker task, with the word dictionary that a model needs to read text."""
    folder = tmp_path_factory.mktemp("sweepdata")
    path = write_pkl(folder / "marker.pkl", marker_reviews(800, 0), marker_reviews(100, 1))
    with open(folder / "marker.dict.pkl", "wb") as f:
        pickle.dump({f"w{i}": i for i in range(2, 40)}, f)
    return path


def _space(tmp_path, data, search, seeds=2, **fixed):
    path = tmp_path / "space.json"
    fixed = {k: v for k, v in dict(FIXED, **fixed).items() if k not in search}
    path.write_text(json.dumps({"fixed": dict(fixed, dataset=data), "search": search, "seeds": seeds}))
    return str(path)


def _sweep(*args, background=False, env=None):
    command = [sys.executable, "-m", "lstm_sentiment.sweep", *args]
    if background:  # its output discarded: a full pipe would block it
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


def _table(out):
    with open(os.path.join(out, "results.csv"), newline="") as f:
        return list(csv.DictReader(f))


SEARCH = {"optimizer": {"choice": ["adadelta", "sgd"]}, "dim_proj": {"choice": [4, 8]}}


@pytest.mark.slow
def test_a_sweep_of_six_trials_writes_its_table_and_each_trials_model(data, tmp_path):
    from lstm_sentiment import load_model

    out = str(tmp_path / "sweep")
    done = _sweep("--space", _space(tmp_path, data, SEARCH), "--trials", "6", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _table(out)
    assert len(rows) == 6 and len({r["trial"] for r in rows}) == 6
    assert list(rows[0])[:8] == ["trial", "seed", "status", "best_valid_err", "test_err", "updates", "seconds", "error"]
    assert list(rows[0])[8:] == ["optimizer", "dim_proj"]
    assert sorted(r["seed"] for r in rows) == ["0", "0", "0", "1", "1", "1"]  # 3 configurations, 2 seeds each
    assert all(r["status"] in ("done", "stopped") for r in rows), rows
    for r in rows:  # each trial's options are the drawn ones, with its seed
        with open(os.path.join(out, "trials", r["trial"], "model.npz.json")) as f:
            options = json.load(f)
        assert (options["optimizer"], str(options["dim_proj"]), str(options["seed"])) == (
            r["optimizer"],
            r["dim_proj"],
            r["seed"],
        )
    best = min(rows, key=lambda r: float(r["best_valid_err"]))
    model = load_model(os.path.join(out, "trials", best["trial"], "model.npz"))
    assert model.predict_proba_ids([[3, 5, 7], [9, 11]]).shape == (2, 2)
    assert "best configuration by validation error: " in done.stdout
    report = subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.report", "--sweep", out, "--plot", str(tmp_path / "s.png")],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0 and report.stdout.splitlines()[0].split()[0] == "trial", report.stderr
    assert (tmp_path / "s.png").stat().st_size > 10_000


@pytest.mark.slow
def test_asha_stops_trials_that_cannot_learn(data, tmp_path):
    """Adam at a learning rate of 1e-8 stays at chance; at 0.01 it learns the marker task in 48 updates."""
    search = {"lrate": {"choice": [1e-8, 0.01]}}
    space = _space(tmp_path, data, search, seeds=1, optimizer="adam", validFreq=24, valid_portion=0.1)
    out = str(tmp_path / "sweep")
    done = _sweep("--space", space, "--trials", "6", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _table(out)
    stopped = [r for r in rows if r["status"] == "stopped"]
    assert stopped and all(float(r["lrate"]) == 1e-8 for r in stopped), rows
    assert all(float(r["best_valid_err"]) > 0.3 for r in stopped), rows
    longest = max(int(r["updates"]) for r in rows)
    assert all(int(r["updates"]) < longest for r in stopped)


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_and_ends_with_every_trial_done_once(data, tmp_path):
    out, space = str(tmp_path / "sweep"), _space(tmp_path, data, SEARCH)
    proc = _sweep("--space", space, "--trials", "6", "--out", out, background=True)
    deadline = time.time() + 600
    trials = os.path.join(out, "trials")
    while time.time() < deadline and proc.poll() is None:  # until a first trial has ended
        if os.path.isdir(trials) and any(
            os.path.exists(os.path.join(trials, t, "result.json")) for t in os.listdir(trials)
        ):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=600) == 130  # unfinished trials: status 130, and the command that continues
    first = {r["trial"]: r["status"] for r in _table(out)} if os.path.exists(os.path.join(out, "results.csv")) else {}
    assert "unfinished" in first.values() or len(first) < 6, first  # interrupted partway

    again = _sweep("--space", space, "--trials", "6", "--out", out, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    rows = _table(out)
    assert len(rows) == 6 and len({r["trial"] for r in rows}) == 6
    assert all(r["status"] in ("done", "stopped") for r in rows), rows
    refused = _sweep("--space", space, "--trials", "6", "--out", out)  # not --resume: the sweep is there
    assert refused.returncode == 2 and "already holds a sweep; continue it with --resume" in refused.stderr


def _progress(out):
    """How far a sweep has come: its trials' validations and ended trainings, counted from their files."""
    trials = os.path.join(out, "trials")
    count = 0
    for trial in os.listdir(trials) if os.path.isdir(trials) else []:
        for name in ("validations.csv", "result.json"):
            with contextlib.suppress(FileNotFoundError), open(os.path.join(trials, trial, name), "rb") as f:
                count += f.read().count(b"\n") if name.endswith(".csv") else 1
    return count


@pytest.mark.slow
def test_a_sweep_interrupted_at_many_points_resumes_to_its_end(data, tmp_path):
    """Ctrl-C and SIGKILL of the driver at moments spread over the sweep (after 0 to 4 more validations or
    ended trainings each time, the first before Tune has saved anything): every --resume continues it."""
    import random

    rng = random.Random(20261207)
    out, space = str(tmp_path / "sweep"), _space(tmp_path, data, SEARCH)
    args = ["--space", space, "--trials", "6", "--out", out]
    codes = []
    for attempt in range(7):
        resume = ["--resume"] if os.path.exists(os.path.join(out, "tune")) else []
        log = tmp_path / f"sweep{attempt}.log"
        with open(log, "w") as f:  # not a pipe: a full one would block the sweep
            proc = subprocess.Popen([sys.executable, "-m", "lstm_sentiment.sweep", *args, *resume], stderr=f)
        target = _progress(out) + rng.randint(0, 4)
        deadline = time.time() + 300
        while proc.poll() is None and _progress(out) < target and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if attempt % 2 else signal.SIGINT)
        proc.wait(timeout=600)
        codes.append(proc.returncode)
        assert proc.returncode in (0, 130, -signal.SIGKILL), log.read_text()[-3000:]
        if proc.returncode == 0:
            break
    while codes[-1] != 0 and len(codes) < 10:
        done = _sweep(*args, "--resume")
        codes.append(done.returncode)
        assert done.returncode in (0, 130), done.stderr[-3000:]
    assert codes[-1] == 0 and len(codes) >= 3, codes  # interrupted twice at least, then ended
    rows = _table(out)
    assert len(rows) == 6 and len({r["trial"] for r in rows}) == 6, rows
    assert all(r["status"] in ("done", "stopped") for r in rows), rows
    for r in rows:
        ended = os.path.exists(os.path.join(out, "trials", r["trial"], "result.json"))
        assert ended == (r["status"] == "done"), r


@pytest.mark.slow
def test_a_trial_that_fails_is_recorded_with_its_error_and_the_sweep_goes_on(data, tmp_path):
    """maxlen 2 leaves no training review: train_lstm raises in those trials, not in the others."""
    out = str(tmp_path / "sweep")
    space = _space(tmp_path, data, {"maxlen": {"choice": [0, 2]}}, seeds=1, max_epochs=1)
    done = _sweep("--space", space, "--trials", "4", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _table(out)
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all(r["maxlen"] == "2" and "maxlen: 2 leaves 0 training" in r["error"] for r in failed), rows
    assert all(r["status"] == "done" for r in rows if r["maxlen"] == "0") and len(failed) < len(rows), rows
    assert f"trial {failed[0]['trial']} failed: " in done.stdout


def test_a_bad_space_file_is_one_line_before_anything_starts(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"search": {"optimizer": {"choice": ["adamw"]}}}))
    out = tmp_path / "sweep"
    done = _sweep("--space", str(path), "--trials", "2", "--out", str(out))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {path}: optimizer: 'adamw' is not allowed; it must be one of ")
    assert not out.exists()
    path.write_text(json.dumps({"search": {"optimizer": {"choice": ["adam"]}}}))
    out.write_text("a file")
    done = _sweep("--space", str(path), "--trials", "2", "--out", str(out))
    assert done.returncode == 2 and done.stderr.startswith(f"error: --out: cannot make the folder {out}"), done.stderr
    assert out.read_text() == "a file"


def descendants(root):
    """The process ``root`` and every process below it (from /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:  # ended meanwhile
                continue
            children.setdefault(parent, []).append(int(name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def listening(pids):
    """The (address, port) of every TCP socket that the processes ``pids`` listen on (from /proc)."""
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, size in (("tcp", 4), ("tcp6", 16)):
        with open(f"/proc/net/{table}") as f:
            for line in list(f)[1:]:
                cells = line.split()
                if cells[3] != "0A" or cells[9] not in inodes:  # 0A: LISTEN
                    continue
                address, port = cells[1].split(":")
                raw = bytes.fromhex(address)  # in 32-bit words of the machine's byte order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))
                ip = ipaddress.ip_address(raw)
                found.add((str(getattr(ip, "ipv4_mapped", None) or ip), int(port, 16)))
    return found


def loopback(address):
    return ipaddress.ip_address(address).is_loopback


LOCAL_RAY = """
import os
from lstm_sentiment.sweeps.runner import ray_started
with ray_started(None):
    import ray
    ray.get(ray.remote(lambda: 1).remote())  # a worker started too
    print(os.getpid(), flush=True)
    input()  # until the test has looked
"""


@pytest.mark.slow
def test_a_local_sweep_starts_ray_listening_on_the_loopback_address_only():
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCAL_RAY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid = proc.stdout.readline()
        assert pid.strip().isdigit(), proc.communicate(timeout=300)[1][-3000:]
        sockets = listening(descendants(int(pid)))
    finally:
        proc.communicate("\n", timeout=300)
    assert proc.returncode == 0
    assert len(sockets) >= 4, sockets  # GCS, raylet, the driver's and the worker's servers at least
    assert all(loopback(address) for address, _ in sockets), sockets


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def head(tmp_path):
    """A Ray head with token authentication, started by the test on the loopback address alone (Ray's
    single-machine mode: otherwise it binds the machine's network address); (port, token), then stopped."""
    port, token = _free_port(), uuid.uuid4().hex
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    command = [ray, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port)]
    command += ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
    log = open(tmp_path / "head.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (tmp_path / "head.log").read_text()
                time.sleep(0.2)
        yield proc, port, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # Ray's shutdown takes half a minute: the whole group, at once
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        log.close()


@pytest.mark.slow
def test_a_sweep_on_a_cluster_with_token_authentication_and_a_client_without_the_token(data, tmp_path, head):
    proc, port, token = head
    deadline = time.time() + 60
    while len(sockets := listening(descendants(proc.pid))) < 3 and time.time() < deadline:
        time.sleep(0.5)  # the raylet's servers start after the GCS's
    assert len(sockets) >= 3 and all(loopback(address) for address, _ in sockets), sockets
    out, space = str(tmp_path / "sweep"), _space(tmp_path, data, {"dim_proj": {"choice": [4, 8]}}, seeds=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    address = f"127.0.0.1:{port}"
    done = _sweep(  # with the token alone: the sweep turns Ray's token mode on
        "--space", space, "--trials", "2", "--out", out, "--address", address, env=dict(env, RAY_AUTH_TOKEN=token)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    statuses = [r["status"] for r in _table(out)]
    assert "done" in statuses and set(statuses) <= {"done", "stopped"}, statuses

    other = str(tmp_path / "other")
    refused = _sweep(  # no token sent
        "--space", space, "--trials", "2", "--out", other, "--address", address, env=dict(env, RAY_AUTH_MODE="disabled")
    )
    assert refused.returncode == 2, refused.stderr[-3000:]
    lines = [line for line in refused.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"--address: the Ray cluster at 127.0.0.1:{port} refused this client" in lines[0]
    assert "RAY_AUTH_TOKEN=" in lines[0]


def test_an_address_where_nothing_listens_is_one_line_at_once(data, tmp_path):
    port = _free_port()
    space = _space(tmp_path, data, {"dim_proj": {"choice": [4, 8]}}, seeds=1)
    out = tmp_path / "sweep"
    done = _sweep("--space", space, "--trials", "2", "--out", str(out), "--address", f"127.0.0.1:{port}")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: --address: nothing answers at 127.0.0.1:{port} (Connection refused)")
    assert not out.exists()
    done = _sweep("--space", space, "--trials", "2", "--out", str(out), "--address", "headnode")
    assert done.returncode == 2 and "'headnode' is not HOST:PORT" in done.stderr, done.stderr


@pytest.mark.slow
def test_a_sweep_whose_every_trial_fails_exits_1_saying_why(data, tmp_path):
    out = str(tmp_path / "sweep")
    space = _space(tmp_path, data, {"maxlen": {"choice": [1, 2]}}, seeds=1, max_epochs=1)
    done = _sweep("--space", space, "--trials", "2", "--out", out)
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.splitlines()[-1]
    assert last.startswith("error: all 2 trials failed, the first with OptionError: maxlen: "), last
    assert "train.log" in last and [r["status"] for r in _table(out)] == ["failed", "failed"]


def test_a_trials_status_comes_from_its_files_first_then_from_tune(tmp_path):
    """The moments an interruption can leave: training ended (result.json) but Tune recorded no 'done';
    Tune ended the trial (ASHA) but its last result lacks 'done'; Tune knows nothing of its end."""
    import types

    from lstm_sentiment.sweeps import results
    from lstm_sentiment.sweeps.runner import _row
    from lstm_sentiment.sweeps.space import parse_space

    space = parse_space({"search": {"dim_proj": {"choice": [4, 8]}}})
    for trial in ("ended", "stopped", "running"):
        os.makedirs(results.trial_folder(str(tmp_path), trial))
    results.write_result(results.trial_folder(str(tmp_path), "ended"), (0.1, 0.2, 0.3))

    def result(trial, **metrics):
        return types.SimpleNamespace(
            config={"dim_proj": 4}, metrics=metrics, error=None, path=str(tmp_path / "tune" / trial)
        )

    assert _row(result("ended"), space, str(tmp_path), set())["status"] == "done"
    assert _row(result("stopped"), space, str(tmp_path), {"stopped"})["status"] == "stopped"
    assert _row(result("stopped", done=True), space, str(tmp_path), set())["status"] == "stopped"
    assert _row(result("running"), space, str(tmp_path), set())["status"] == "unfinished"
