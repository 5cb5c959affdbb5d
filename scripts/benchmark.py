"""This package against PyTorch on the tutorial's model, side by side.

    python scripts/benchmark.py --data ../shared/data/imdb.pkl.gz [--config full] [--repeat 3] [--json out.json]
    python scripts/benchmark.py --data ../shared/data/imdb.pkl.gz --profile [--config full] [--repeat 3]

Both sides train the same model (embedding, LSTM, mean over the real steps,
dropout 0.5, linear + softmax) with the same optimizer (ADADELTA with rho
0.95 and eps 1e-6 by default; Adam as torch.optim.Adam) in one configuration
(``--config``: the tutorial's defaults, dim_proj 128, batch 16, maxlen 100,
n_words 10000; or ``full``, configs/full.json: every training review,
truncated to random windows, word dropout, length-bucketed minibatches), in
float32, with the same number of threads. Ours is ``train_lstm``'s own
``Training``: its data, its compiled model and its epoch loop
(``Training.epoch``), without validations or saves. PyTorch's side takes its
data and minibatches from the same code (``lstm_sentiment.training.data``:
the splits, each epoch's order, each minibatch's windows and word dropout).
Every figure comes from a fresh process, and the sides alternate (A B A B) so
that the machine's drift hits both. Per repetition and side, one process
measures the time from its start to the end of the first update with an
empty compile cache, and another, with a warm cache, the time to the end of
the first update, the first epoch (that update included), the error on all
25,000 test reviews as train_lstm's validations compute it (batch
``valid_batch_size``) and the peak RSS. Each repetition starts with a new,
empty compile cache, which its cold start fills. PyTorch compiles nothing,
so both of its start-up rows are the same kind of run. With ``--plain``, a
third side is this package without its kernel (``fused=False``: the
tutorial's scan graph on PyTensor's C backend). With ``--baseline DIR``, a
fourth side is the package of another checkout (``git worktree add DIR
REV``, of a version with ``training.data``), as ours, for an A/B.
``LSTM_SENTIMENT_KERNEL`` (auto, avx512, avx2, portable) picks the kernel's
path for every side, and the table names it. ``--floatX float64`` runs both
models in float64. Needs the ``bench`` extra (PyTorch).

With ``--profile``, instead, one process per thread count (1, and
``--threads``, alternating, ``--repeat`` times) runs two epochs of
``Training.epoch`` and times each part of the second: every Op's ``perform``
(the kernel's forward and backward passes, the latter with the embedding's
gradient, the optimizer's step, the other Ops), the rest of the compiled
functions' calls (thunk overhead), the minibatches' windows and word dropout
(``minibatch``), ``prepare_data`` and the loop itself. The table shows, per
thread count, the run whose epoch is the median, then every run's epoch and
the scaling of the medians. The kernel's parts are given in GFLOP/s of the
products they make (per real step, and per distinct word of a batch),
against the best product measured in the same process: ``sgemm`` of 2048 x
2048 matrices (NumPy's BLAS) and the kernel's own (its word table, 4096 x
128 by 128 x 512); the optimizer's step in GB/s of what it reads and
writes, against a measured copy. PyTorch is not needed for it.
"""

import argparse
import collections
import concurrent.futures
import dataclasses
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types

import numpy

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"

# metric: (label, unit, target for the ratio ours/PyTorch, or an absolute target for ours)
METRICS = {
    "train_epoch": ("training epoch", "s", "ratio <= 0.5"),
    "eval_25k": ("evaluate 25,000 test reviews", "s", "ratio <= 0.35"),
    "first_update_cold": ("start to first update, empty compile cache", "s", "ours <= 15 s"),
    "first_update_warm": ("start to first update, warm compile cache", "s", "ours <= 3 s"),
    "peak_rss": ("peak RSS", "MB", "ratio <= 0.5"),
}


def read_options(config, path, floatX="float32"):
    """The training options of ``config`` (a name in configs/: tutorial, full; or a JSON file) as the
    benchmark runs them: on ``path``, in ``floatX``, evaluating every test review, with no validation,
    save or cost line within the epoch; one model (an ensemble's K models take K times as long)."""
    from lstm_sentiment.training.options import Options, read_config

    file = CONFIGS / f"{config}.json" if (CONFIGS / f"{config}.json").is_file() else pathlib.Path(config)
    quiet = dict(saveto="", validFreq=10**9, dispFreq=10**9, test_size=-1, ensemble=1)
    return Options(**dict(read_config(str(file)), dataset=path, floatX=floatX, **quiet))


def epoch_name(config):
    """The epoch's figure: train_epoch for the tutorial's configuration, <name>_epoch for another."""
    return "train_epoch" if config == "tutorial" else f"{pathlib.Path(config).stem}_epoch"


class Ours:
    """This package: ``train_lstm``'s own ``Training`` (its data, model, epoch loop and evaluation)."""

    def __init__(self, o, fused=True):
        from lstm_sentiment.training.loop import Training

        self.training = Training(dataclasses.replace(o, fused=fused))
        self.first_update = None  # when the first update ended
        update = self.training.update

        def timed(index):  # train_lstm's update, and the moment the first one ends
            update(index)
            self.first_update = self.first_update or time.time()

        self.training.update = timed

    def epoch(self, first_only=False):
        """An epoch of train_lstm's loop (``Training.epoch``), or its first update only."""
        t = self.training
        if first_only:
            return t.update(t.epoch_batches()[0])
        t.epoch(types.SimpleNamespace(requested=None))  # no signal asks it to stop

    def test_error(self):
        """The error on the test set, as train_lstm's validations compute it."""
        return self.training.errors(("test",))[2]

    def compile_evaluation(self):
        """The prediction function, compiled on first use (as at train_lstm's first validation)."""
        from lstm_sentiment.data.imdb import prepare_data

        t = self.training
        t.model.f_pred(*prepare_data(t.data.test[0][:2], t.data.test[1][:2])[:2])


class Torch:
    """The same model in PyTorch (nn.Embedding, nn.LSTM, masked mean, dropout, linear) on the minibatches
    of train_lstm's code (``training.data``: its truncation windows, word dropout and buckets)."""

    def __init__(self, o, threads):
        import torch

        from lstm_sentiment.training.data import load_splits

        torch.set_default_dtype(getattr(torch, o.floatX))
        torch.set_num_threads(threads)
        torch.manual_seed(o.seed)
        numpy.random.seed(o.seed)
        self.torch, self.o, self.data = torch, o, load_splits(o)
        self.first_update = None
        self.model = self.Model(o, int(max(self.data.train[1])) + 1)
        optimizers = {  # the same formulas as the package's
            "adadelta": lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6),
            "adam": lambda p: torch.optim.Adam(p, lr=o.lrate, betas=(0.9, 0.999), eps=1e-8),
            "sgd": lambda p: torch.optim.SGD(p, lr=o.lrate),
        }
        if o.optimizer not in optimizers:
            sys.exit(f"benchmark: PyTorch has no optimizer with the formula of {o.optimizer}")
        self.optimizer = optimizers[o.optimizer](self.model.parameters())

    def Model(self, o, ydim):
        """The tutorial's model; with ``bidirectional``, nn.LSTM(bidirectional=True) over packed reviews
        (each reversed within its own length, as ours), and ``pooling`` mean, max or both."""
        torch, nn = self.torch, self.torch.nn
        directions, poolings = 1 + bool(o.bidirectional), 1 + (o.pooling == "mean_max")

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(o.n_words, o.dim_proj)
                self.lstm = nn.LSTM(o.dim_proj, o.dim_proj, bidirectional=o.bidirectional)
                self.drop = nn.Dropout(0.5)
                self.out = nn.Linear(o.dim_proj * directions * poolings, ydim)

            def forward(self, x, mask):
                if o.bidirectional:
                    lengths = mask.sum(0).to(torch.int64)
                    packed = nn.utils.rnn.pack_padded_sequence(self.emb(x), lengths, enforce_sorted=False)
                    h = nn.utils.rnn.pad_packed_sequence(self.lstm(packed)[0], total_length=x.shape[0])[0]
                else:
                    h, _ = self.lstm(self.emb(x))
                parts = []
                if o.pooling in ("mean", "mean_max"):
                    parts.append((h * mask[:, :, None]).sum(0) / mask.sum(0)[:, None])
                if o.pooling in ("max", "mean_max"):
                    parts.append(h.masked_fill(mask[:, :, None] == 0, float("-inf")).amax(0))
                return self.out(self.drop(torch.cat(parts, 1) if len(parts) > 1 else parts[0]))

        return Model()

    def epoch(self, first_only=False):
        """One epoch (or its first update), the minibatches drawn as train_lstm draws them."""
        from lstm_sentiment.data.imdb import prepare_data
        from lstm_sentiment.training.data import epoch_order, minibatch

        o, torch = self.o, self.torch
        order = epoch_order(self.data.train, o)
        self.model.train()
        for start in range(0, o.batch_size if first_only else len(order), o.batch_size):
            x, mask, y = prepare_data(*minibatch(self.data.train, order[start : start + o.batch_size], o))
            self.optimizer.zero_grad()
            logits = self.model(torch.from_numpy(x), torch.from_numpy(mask.astype(o.floatX)))
            torch.nn.functional.cross_entropy(logits, torch.tensor(y)).backward()
            self.optimizer.step()
            self.first_update = self.first_update or time.time()

    def test_error(self):
        from lstm_sentiment.data.batches import get_minibatches_idx
        from lstm_sentiment.data.imdb import prepare_data

        self.model.eval()
        (reviews, labels), wrong = self.data.test, 0
        with self.torch.inference_mode():
            for _, idx in get_minibatches_idx(len(reviews), self.o.valid_batch_size):
                x, mask, y = prepare_data([reviews[i] for i in idx], [labels[i] for i in idx], maxlen=None)
                logits = self.model(self.torch.from_numpy(x), self.torch.from_numpy(mask.astype(self.o.floatX)))
                wrong += int((logits.argmax(1).numpy() != numpy.asarray(y)).sum())
        return wrong / len(reviews)

    def compile_evaluation(self):
        pass  # PyTorch compiles nothing


def worker(side, path, threads, started, cold, config="tutorial", floatX="float32"):
    """Measure one side (or the profile) in this process; print the figures as JSON."""
    if side == "profile":
        print(json.dumps(profile(path, threads, config)))
    else:
        print(json.dumps(measure(side, path, threads, started, cold, config, floatX)))


def kernel_path():
    """The kernel's path in this process (a version before the paths: "mkl"; none: "scan")."""
    from lstm_sentiment.kernel.build import load

    lib = load()
    return "scan" if lib is None else lib.lstm_path().decode() if hasattr(lib, "lstm_path") else "mkl"


def measure(side, path, threads, started, cold, config, floatX="float32"):
    """Start to first update; with a warm cache also an epoch, the test set's evaluation and the peak RSS."""
    figures, o = {}, read_options(config, path, floatX)
    if side == "torch":
        model = Torch(o, threads)
    else:
        model = Ours(o, fused=side != "plain")
        figures["path"] = kernel_path() if side != "plain" else "scan"
    start = time.time()
    model.epoch(first_only=cold)
    figures["first_update_cold" if cold else "first_update_warm"] = model.first_update - started
    if not cold:
        figures["train_epoch"] = time.time() - start
        model.compile_evaluation()
        start = time.time()
        error = model.test_error()
        figures["eval_25k"] = time.time() - start
        assert 0 <= error <= 1, error
        figures["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


# --profile: where one epoch of training spends its time, part by part, against the machine's limits.

PARTS = {  # the Op classes of each part of an update
    "kernel forward": ("LSTM", "LSTMFromIds"),
    "kernel backward": ("LSTMGrad", "LSTMGradFromIds"),  # with the embedding's gradient, by words
    "optimizer step": ("Adadelta", "AdadeltaRows", "Adam"),
}
ROWS = (*PARTS, "other PyTensor ops", "thunk overhead", "minibatch", "prepare_data", "Python loop")


def timed_performs():
    """From now on, add the time of every Op's ``perform`` to the returned dict (Op class name ->
    seconds). PyTensor's Python linker binds ``perform`` when it compiles: call this before."""
    from pytensor.graph.op import Op

    import lstm_sentiment.kernel.ops  # noqa: F401  (the kernel's Op classes, timed too)

    spent, depth = collections.defaultdict(float), [0]

    def timer(perform):
        def timed(self, *args, **kwargs):
            depth[0] += 1
            start = time.perf_counter()
            try:
                return perform(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:  # an inherited perform called by its subclass's counts once
                    spent[type(self).__name__] += time.perf_counter() - start

        return timed

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    for cls in set(subclasses(Op)):
        if "perform" in vars(cls):
            cls.perform = timer(vars(cls)["perform"])
    return spent


def machine_limits(threads):
    """The best of three, on ``threads`` threads: sgemm of 2048 x 2048 matrices in GFLOP/s with NumPy's
    BLAS (OpenBLAS in PyPI's wheels), and the kernel's own product (``kernel_product``); a copy of
    256 MiB in GB/s (read and written), the faster of one thread and ``threads``, best of five."""
    n = 2048
    a, b, c = (numpy.random.RandomState(0).rand(n, n).astype("float32") for _ in range(3))

    def best(f, reps=3):
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
        return min(times)

    numpy_s = best(lambda: numpy.matmul(a, b, out=c))
    big = numpy.ones(1 << 26, dtype="float32")
    out = numpy.empty_like(big)
    parts = list(zip(numpy.array_split(out, threads), numpy.array_split(big, threads)))
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:  # NumPy copies without the GIL
        copy_s = min(  # one thread may be the faster on a busy memory bus
            best(lambda: numpy.copyto(out, big), 5), best(lambda: list(pool.map(lambda p: numpy.copyto(*p), parts)), 5)
        )
    flops = 2 * n**3
    return dict(numpy=flops / numpy_s / 1e9, kernel=kernel_product(best), copy=2 * big.nbytes / copy_s / 1e9)


def kernel_product(best, n=4096, d=128):
    """GFLOP/s of the kernel's own product on the word table of
    ``n`` words of ``d`` units, (n, d) @ (d, 4d) + b, with the threads the kernel uses."""
    from lstm_sentiment.kernel.build import address, function

    rng = numpy.random.RandomState(0)
    emb, W, b = (rng.rand(*shape).astype("float32") for shape in ((n, d), (d, 4 * d), (4 * d,)))
    table = numpy.empty((n, 4 * d), dtype="float32")
    product = function("lstm_table", "float32")
    return 2 * n * d * 4 * d / best(lambda: product(n, d, *map(address, (emb, W, b, table)))) / 1e9


def profile(path, threads, config):
    """Time an epoch of train_lstm's loop (its second: the first warms the caches), part by part; the FLOP
    rates and the machine's limits."""
    from lstm_sentiment.training import loop

    o = read_options(config, path)
    spent = timed_performs()
    t = Ours(o).training
    stop = types.SimpleNamespace(requested=None)
    t.epoch(stop)
    spent.clear()
    clock, counts = collections.Counter(), collections.Counter()

    def timer(name, f):
        def timed(*args):
            start = time.perf_counter()
            try:
                return f(*args)
            finally:
                clock[name] += time.perf_counter() - start

        return timed

    prepare = timer("prepare_data", loop.prepare_data)

    def counted(*args):  # prepare_data, timed; then the minibatch's real steps and distinct words, not timed
        x, mask, y = prepare(*args)
        start = time.perf_counter()
        counts["updates"] += 1
        counts["steps"] += float(mask.sum())
        counts["words"] += numpy.unique(x[mask > 0]).size
        clock["counting"] += time.perf_counter() - start
        return x, mask, y

    loop.prepare_data, loop.minibatch = counted, timer("minibatch", loop.minibatch)
    t.model.f_grad_shared = timer("calls", t.model.f_grad_shared)
    t.model.f_update = timer("calls", t.model.f_update)
    start = time.perf_counter()
    t.epoch(stop)
    wall = time.perf_counter() - start - clock["counting"]
    by_words = "LSTMGradFromIds" in spent  # else by (step, review) pairs: each pair's input projection its own
    parts = {part: sum(spent.pop(name, 0.0) for name in names) for part, names in PARTS.items()}
    parts["other PyTensor ops"] = sum(spent.values())
    parts["thunk overhead"] = clock["calls"] - sum(parts.values())
    parts["minibatch"], parts["prepare_data"] = clock["minibatch"], clock["prepare_data"]
    parts["Python loop"] = wall - clock["calls"] - clock["minibatch"] - clock["prepare_data"]
    model, updates, steps, words = t.model, counts["updates"], counts["steps"], counts["words"]
    d, values = o.dim_proj, sum(p.get_value().size for p in model.tparams.values())
    moved = 7 * 4 * values * updates  # the optimizer reads p, g and 2 accumulators, and writes 3
    if o.optimizer == "adadelta":  # but ADADELTA, of the embedding's rows, only reads g of words not in a batch
        table = model.tparams["Wemb"].get_value().size
        moved += (4 - 7 * 4) * table * updates + 6 * 4 * d * words
    projected = words if by_words else steps
    work = {  # per epoch: FLOPs of the kernel's products; bytes the optimizer reads and writes
        "kernel forward": 8 * d * d * (steps + projected),  # h U per step, x W per word: 2 * D * 4D each
        "kernel backward": 16 * d * d * (steps + projected),  # dh and dU per step; dW and dx per word
        "optimizer step": moved,
    }
    limits = machine_limits(threads)
    return dict(parts=parts, work=work, updates=updates, steps=steps, words=projected, wall=wall, limits=limits)


def profile_table(profiles, config):
    """One column per thread count: ms per update, share of the epoch, and each part's rate against
    its limit (products: the best of sgemm and the kernel's own; the optimizer: the copy bandwidth)."""
    first = next(iter(profiles.values()))
    lines = [
        f"profile of one training epoch, configuration {config}: {first['updates']} updates, "
        f"{first['steps']:.0f} real steps, {first['words']:.0f} batch words; "
        "ms per update, share of the epoch, rate against its limit",
        f"{'part':20}" + "".join(f"  {f'{n} thread' + ('s' if n > 1 else ''):<36}" for n in profiles),
    ]
    for row in (*ROWS, "epoch"):
        cells = ""
        for p in profiles.values():
            seconds = p["wall"] if row == "epoch" else p["parts"][row]
            cell = f"{1e3 * seconds / p['updates']:8.2f} {100 * seconds / p['wall']:5.1f}%"
            limits, work = p["limits"], p["work"].get(row)
            if work and row == "optimizer step":
                rate = work / seconds / 1e9
                cell += f" {rate:6.1f} GB/s   {100 * rate / limits['copy']:3.0f}%"
            elif work:
                rate, peak = work / seconds / 1e9, max(limits["numpy"], limits["kernel"])
                cell += f" {rate:6.1f} GFLOP/s {100 * rate / peak:3.0f}%"
            cells += f"  {cell:<36}"
        lines.append(f"{row:20}{cells}")
    for n, p in profiles.items():
        limits = p["limits"]
        lines.append(
            f"limits, {n} thread{'s' if n > 1 else ''}: sgemm 2048^2 {limits['numpy']:.1f} GFLOP/s (NumPy's BLAS); "
            f"the kernel's product {limits['kernel']:.1f}; "
            f"copy {limits['copy']:.1f} GB/s"
        )
    return "\n".join(lines)


def median_runs(runs):
    """Of each thread count's profiles, the one whose epoch is the median (the lower of the middle two)."""
    return {n: sorted(ps, key=lambda p: p["wall"])[(len(ps) - 1) // 2] for n, ps in runs.items()}


def epochs_line(runs):
    """Every profile's ms per update, per thread count, and the scaling of the median runs (the table's)."""
    ms = {n: [1e3 * p["wall"] / p["updates"] for p in ps] for n, ps in runs.items()}
    cells = "; ".join(f"{n} thread{'s' if n > 1 else ''} " + " ".join(f"{v:.2f}" for v in vs) for n, vs in ms.items())
    line = f"epoch, ms per update, each run: {cells}"
    if len(ms) > 1:
        median = median_runs(runs)
        line += f"; {max(ms)} threads against 1, medians: {median[min(ms)]['wall'] / median[max(ms)]['wall']:.2f}x"
    return line


def run(side, path, threads, cold, cache, config, floatX="float32", baseline=None):
    """One worker process, compiling into ``cache`` (empty for a cold start); its figures. The baseline
    side is ours, imported from the ``baseline`` checkout."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if side == "baseline":
        side, env["PYTHONPATH"] = "ours", os.pathsep.join(filter(None, [baseline, env.get("PYTHONPATH")]))
    flags = env.get("PYTENSOR_FLAGS", "")
    env["PYTENSOR_FLAGS"] = ",".join(filter(None, [flags, f"base_compiledir={cache}"]))
    command = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--data",
        path,
        "--threads",
        str(threads),
        "--started",
        repr(time.time()),
        "--config",
        config,
        "--floatX",
        floatX,
    ] + (["--cold"] if cold else [])
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"the {side} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "runs": values}


NAMES = {"ours": "ours", "torch": "PyTorch", "plain": "ours, plain graph", "baseline": "baseline"}


def table(results, sides, threads, config="tutorial"):
    """Min / median / max of each side, and the ratio ours/PyTorch of the medians."""
    runs = len(results["ours"]["train_epoch"]["runs"])
    paths = ", ".join(f"{NAMES[side]} {results['paths'][side]}" for side in sides if results["paths"].get(side))
    lines = [
        f"configuration: {config}; threads: {threads} on each side; min / median / max of {runs} runs",
        f"float type: {results['floatX']}; kernel paths: {paths}",
        f"{'':44}" + "".join(f" {NAMES[side]:>22}" for side in sides) + f" {'ratio':>6}  target",
    ]
    for key, (label, unit, target) in METRICS.items():
        label = f"{label} ({epoch_name(config)})" if key == "train_epoch" else label
        digits = 1 if unit == "MB" else 2
        cells = "".join(
            " " + " ".join(f"{results[side][key][s]:6.{digits}f}" for s in ("min", "median", "max")) + f" {unit:<2}"
            for side in sides
        )
        lines.append(f"{label:44}{cells} {results['ratio'][key]:6.2f}  {target}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", required=True, help="an imdb.pkl[.gz], or an aclImdb folder or archive (preprocessed first)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="threads for each side (default: the cores this process may use)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--plain", action="store_true", help="also measure this package without its kernel (the tutorial's scan graph)"
    )
    parser.add_argument(
        "--config",
        default="tutorial",
        help="the training configuration: tutorial (the defaults), full (configs/full.json) or a JSON file",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: where one training epoch of ours spends its time, part by part, with 1 thread and "
        "--threads, --repeat times each",
    )
    parser.add_argument("--baseline", help="also measure the package of this checkout, as ours (an A/B)")
    parser.add_argument("--floatX", choices=["float32", "float64"], default="float32", help="both models' float type")
    parser.add_argument("--worker", choices=["ours", "torch", "plain", "profile"], help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.data, args.threads, args.started, args.cold, args.config, args.floatX)

    from lstm_sentiment.imdb import get_dataset_file

    path = get_dataset_file(args.data)
    read_options(args.config, path).check_values()  # a bad configuration stops here, not in every worker
    if args.profile:
        return profile_runs(args, path)
    if args.baseline and not os.path.isdir(os.path.join(args.baseline, "lstm_sentiment")):
        sys.exit(f"benchmark: {args.baseline} holds no lstm_sentiment package; give a checkout's root")
    side_by_side(args, path)


def profile_runs(args, path):
    """--profile: one process per thread count, alternating, --repeat times; the table of the median runs."""
    runs = {n: [] for n in sorted({1, args.threads})}
    with tempfile.TemporaryDirectory(prefix="lstm-bench-cache-") as cache:
        for rep in range(args.repeat):
            for n in runs:  # alternating, as the benchmark's sides
                print(f"profile {rep + 1}/{args.repeat}: {n} thread{'s' if n > 1 else ''}", file=sys.stderr)
                runs[n].append(run("profile", path, n, False, cache, args.config))
    print(profile_table(median_runs(runs), args.config))
    print(epochs_line(runs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(median_runs(runs), runs=runs), f, indent=1)


def side_by_side(args, path):
    """The sides, alternating, --repeat times, each with a new compile cache; the table and the ratios."""
    sides = ("ours", "torch") + ("plain",) * args.plain + ("baseline",) * bool(args.baseline)
    runs, paths = {side: {k: [] for k in METRICS} for side in sides}, {}
    for rep in range(args.repeat):
        # A new, empty compile cache per repetition: the cold start fills it, the warm one reuses it.
        with tempfile.TemporaryDirectory(prefix="lstm-bench-cache-") as cache:
            for cold in (True, False):
                for side in sides:
                    print(
                        f"repetition {rep + 1}/{args.repeat}: {side}, {'cold' if cold else 'warm'} start",
                        file=sys.stderr,
                    )
                    figures = run(side, path, args.threads, cold, cache, args.config, args.floatX, args.baseline)
                    paths[side] = figures.pop("path", None) or paths.get(side)
                    for key, value in figures.items():
                        runs[side][key].append(value)
    results = {side: {k: spread(v) for k, v in figures.items()} for side, figures in runs.items()}
    results["ratio"] = {k: results["ours"][k]["median"] / results["torch"][k]["median"] for k in METRICS}
    results["threads"], results["floatX"], results["paths"] = args.threads, args.floatX, paths
    print(table(results, sides, args.threads, args.config))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    epoch = epoch_name(args.config)
    print(f"ratio {epoch}={results['ratio']['train_epoch']:.2f} eval_25k={results['ratio']['eval_25k']:.2f}")
    if args.baseline:
        ab = {k: results["ours"][k]["median"] / results["baseline"][k]["median"] for k in ("train_epoch", "eval_25k")}
        print(f"ours / baseline: {epoch}={ab['train_epoch']:.2f} eval_25k={ab['eval_25k']:.2f}")


if __name__ == "__main__":
    main()
