"""This package against PyTorch on the tutorial's model, side by side.

    python scripts/benchmark.py --data ../shared/data/imdb.pkl.gz [--config full] [--repeat 3] [--json out.json]
    python scripts/benchmark.py --data ../shared/data/imdb.pkl.gz --profile [--config full] [--repeat 3]

Both sides train the same model (embedding, LSTM, mean over the real steps,
dropout 0.5, linear + softmax) with the same optimizer (ADADELTA with rho
0.95 and eps 1e-6 by default; Adam as torch.optim.Adam) in one configuration
(``--config``: the tutorial's defaults, dim_proj 128, batch 16, maxlen 100,
n_words 10000; or ``full``, configs/full.json: every training review,
truncated, in length-bucketed minibatches), in float32, on the same reviews
in the same minibatches, and use the same number of threads. Every
figure comes from a fresh process, and the two sides alternate (A B A B) so
that the machine's drift hits both. Per repetition and side, one process
measures the time from its start to the first update with an empty compile
cache, and another measures, with a warm cache, the time to the first update,
a training epoch, the evaluation of 500 and of all 25,000 test reviews (batch
64) and the peak RSS. Each repetition starts with a new, empty compile cache,
which its cold start fills. PyTorch compiles nothing, so both of its start-up
rows are the same kind of run. With ``--plain``, a third side is this package
without its kernel (``train_lstm(fused=False)``: the tutorial's scan graph on
PyTensor's C backend), for the speed-up in the same run. With ``--baseline
DIR``, a fourth side is the package of another checkout (``git worktree add
DIR REV``), as ours, for an A/B of two versions. ``LSTM_SENTIMENT_KERNEL``
(auto, avx512, avx2, portable) picks the kernel's path for every side, and the
table names it. ``--floatX float64`` runs both models in float64. Needs the
``bench`` extra (PyTorch).

With ``--profile``, instead, one process per thread count (1, and
``--threads``, alternating, ``--repeat`` times) trains one epoch of ours
after a first update and times each part of it: every Op's ``perform`` (the
kernel's forward and backward passes, the latter with the embedding's
gradient, the optimizer's step, the other Ops), the rest of the compiled
functions' calls (thunk overhead), ``prepare_data`` and the loop itself. The
table shows, per thread count, the run whose epoch is the median, then every
run's epoch and the scaling of the medians. The kernel's parts are given in
GFLOP/s of the products they make (per real step, and per distinct word of
a batch), against the best product measured in the same process: ``sgemm``
of 2048 x 2048 matrices (NumPy's BLAS) and the kernel's own
(its word table, 4096 x 128 by 128 x 512); the optimizer's step in GB/s of
what it reads and writes, against a measured copy. PyTorch is not needed
for it.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"
TEST_SUBSET = 500

# metric: (label, unit, target for the ratio ours/PyTorch, or an absolute target for ours)
METRICS = {
    "train_epoch": ("training epoch", "s", "ratio <= 0.5"),
    "eval_500": ("evaluate 500 test reviews", "s", ""),
    "eval_25k": ("evaluate 25,000 test reviews", "s", "ratio <= 0.35"),
    "first_update_cold": ("start to first update, empty compile cache", "s", "ours <= 15 s"),
    "first_update_warm": ("start to first update, warm compile cache", "s", "ours <= 3 s"),
    "peak_rss": ("peak RSS", "MB", "ratio <= 0.5"),
}


def read_options(config):
    """The training options of ``config``: a name in configs/ (tutorial, full) or a JSON file."""
    from lstm_sentiment.training.options import Options, read_config

    path = CONFIGS / f"{config}.json" if (CONFIGS / f"{config}.json").is_file() else pathlib.Path(config)
    return Options(**read_config(str(path)))


def epoch_name(config):
    """The epoch's figure: train_epoch for the tutorial's configuration, <name>_epoch for another."""
    return "train_epoch" if config == "tutorial" else f"{pathlib.Path(config).stem}_epoch"


def load(path, o):
    """The run's splits, as both sides use them: the tutorial's, with training's truncation."""
    from lstm_sentiment.data.batches import truncate
    from lstm_sentiment.imdb import load_data

    numpy.random.seed(o.seed)
    train, valid, test = load_data(path, n_words=o.n_words, valid_portion=o.valid_portion, maxlen=o.maxlen)
    if o.truncate:
        train = (truncate(train[0], o.truncate, o.truncate_keep), train[1])
        if o.truncate_eval:
            test = (truncate(test[0], o.truncate, o.truncate_keep), test[1])
    return train, valid, test


def epoch_batches(train, o):
    """The shuffled training minibatches of one epoch (numpy's global RNG, bucketed as in training)."""
    from lstm_sentiment.data.batches import bucketed_minibatches_idx

    if o.bucket:
        return [idx for _, idx in bucketed_minibatches_idx([len(s) for s in train[0]], o.batch_size, o.bucket)]
    order = numpy.random.permutation(len(train[0]))
    return [order[i : i + o.batch_size] for i in range(0, len(order), o.batch_size)]


def eval_batches(n, o):
    return [numpy.arange(i, min(i + o.valid_batch_size, n)) for i in range(0, n, o.valid_batch_size)]


def subset(data, n):
    idx = numpy.random.RandomState(0).permutation(len(data[0]))[:n]
    return [data[0][i] for i in idx], [data[1][i] for i in idx]


class Ours:
    """This package: the tutorial's functions, as train_lstm uses them."""

    def __init__(self, train, o, fused=True, floatX="float32"):
        import pytensor.tensor as tensor

        from lstm_sentiment import lstm
        from lstm_sentiment.kernel.backend import Backend
        from lstm_sentiment.model.optimizers import optimizers

        self.o = o
        options = dict(o.to_dict(), ydim=int(max(train[1])) + 1, fused=fused, floatX=floatX)
        self.tparams = tparams = lstm.init_tparams(lstm.init_params(options))
        self.use_noise, x, mask, y, self.f_pred_prob, _, cost = lstm.build_model(tparams, options)
        grads = tensor.grad(cost, wrt=list(tparams.values()))
        optimizer = optimizers[o.optimizer]
        self.f_grad_shared, self.f_update = optimizer(
            tensor.scalar("lr"), tparams, grads, x, mask, y, cost, backend=Backend(fused)
        )

    def update(self, seqs, labels):
        from lstm_sentiment.imdb import prepare_data

        self.use_noise.set_value(1.0)
        x, mask, y = prepare_data(seqs, labels)
        cost = self.f_grad_shared(x, mask, y)
        self.f_update(self.o.lrate)
        return cost

    def evaluate(self, data):
        from lstm_sentiment.imdb import prepare_data
        from lstm_sentiment.lstm import pred_probs

        self.use_noise.set_value(0.0)
        return pred_probs(self.f_pred_prob, prepare_data, data, enumerate(eval_batches(len(data[0]), self.o)))


class Torch:
    """The same model in PyTorch: nn.Embedding, nn.LSTM, masked mean, dropout, linear."""

    def __init__(self, train, o, threads, floatX="float32"):
        import torch

        torch.set_default_dtype(getattr(torch, floatX))
        torch.set_num_threads(threads)
        torch.manual_seed(o.seed)
        self.torch, self.o = torch, o
        dim, ydim = o.dim_proj, int(max(train[1])) + 1

        class Model(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = torch.nn.Embedding(o.n_words, dim)
                self.lstm = torch.nn.LSTM(dim, dim)
                self.drop = torch.nn.Dropout(0.5)
                self.out = torch.nn.Linear(dim, ydim)

            def forward(self, x, mask):
                h, _ = self.lstm(self.emb(x))
                proj = (h * mask[:, :, None]).sum(0) / mask.sum(0)[:, None]
                return self.out(self.drop(proj))

        self.model = Model()
        optimizers = {  # the same formulas as the package's
            "adadelta": lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6),
            "adam": lambda p: torch.optim.Adam(p, lr=o.lrate, betas=(0.9, 0.999), eps=1e-8),
            "sgd": lambda p: torch.optim.SGD(p, lr=o.lrate),
        }
        if o.optimizer not in optimizers:
            sys.exit(f"benchmark: PyTorch has no optimizer with the formula of {o.optimizer}")
        self.optimizer = optimizers[o.optimizer](self.model.parameters())

    def pad(self, seqs):
        lengths = [len(s) for s in seqs]
        x = numpy.zeros((max(lengths), len(seqs)), dtype="int64")
        mask = numpy.zeros(x.shape, dtype=str(self.torch.get_default_dtype()).split(".")[1])
        for i, s in enumerate(seqs):
            x[: lengths[i], i] = s
            mask[: lengths[i], i] = 1
        return self.torch.from_numpy(x), self.torch.from_numpy(mask)

    def update(self, seqs, labels):
        self.model.train()
        x, mask = self.pad(seqs)
        self.optimizer.zero_grad()
        cost = self.torch.nn.functional.cross_entropy(self.model(x, mask), self.torch.tensor(labels))
        cost.backward()
        self.optimizer.step()
        return cost.item()

    def evaluate(self, data):
        self.model.eval()
        probs = []
        with self.torch.inference_mode():
            for idx in eval_batches(len(data[0]), self.o):
                x, mask = self.pad([data[0][i] for i in idx])
                probs.append(self.torch.softmax(self.model(x, mask), dim=1).numpy())
        return numpy.concatenate(probs)


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
    figures = {}
    o = read_options(config)
    train, _, test = load(path, o)
    if side == "torch":
        model = Torch(train, o, threads, floatX)
    else:
        model = Ours(train, o, fused=side != "plain", floatX=floatX)
        figures["path"] = kernel_path() if side != "plain" else "scan"
    first = epoch_batches(train, o)[0]
    model.update([train[0][i] for i in first], [train[1][i] for i in first])
    figures["first_update_cold" if cold else "first_update_warm"] = time.time() - started
    if not cold:
        start = time.time()
        for idx in epoch_batches(train, o):
            model.update([train[0][i] for i in idx], [train[1][i] for i in idx])
        figures["train_epoch"] = time.time() - start
        model.evaluate(subset(test, 2))  # compiles the prediction function, outside the timings
        for name, data in (("eval_500", subset(test, TEST_SUBSET)), ("eval_25k", test)):
            start = time.time()
            probs = model.evaluate(data)
            figures[name] = time.time() - start
            assert probs.shape == (len(data[0]), 2) and numpy.isfinite(probs).all()
            assert probs.dtype == floatX
        figures["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


# --profile: where one epoch of training spends its time, part by part, against the machine's limits.

PARTS = {  # the Op classes of each part of an update
    "kernel forward": ("LSTM", "LSTMFromIds"),
    "kernel backward": ("LSTMGrad", "LSTMGradFromIds"),  # with the embedding's gradient, by words
    "optimizer step": ("Adadelta", "AdadeltaRows", "Adam"),
}
ROWS = (*PARTS, "other PyTensor ops", "thunk overhead", "prepare_data", "Python loop")


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
    """Time one epoch (after a first update), part by part; the FLOP rates and the machine's limits."""
    from lstm_sentiment.imdb import prepare_data

    o = read_options(config)
    train, _, _ = load(path, o)
    spent = timed_performs()
    model = Ours(train, o)
    batches = epoch_batches(train, o)
    model.update([train[0][i] for i in batches[0]], [train[1][i] for i in batches[0]])  # allocations, caches
    spent.clear()
    calls = prepare = steps = 0.0
    start = time.perf_counter()
    for idx in batches:
        t0 = time.perf_counter()
        x, mask, y = prepare_data([train[0][i] for i in idx], [train[1][i] for i in idx])
        t1 = time.perf_counter()
        model.use_noise.set_value(1.0)
        model.f_grad_shared(x, mask, y)
        model.f_update(o.lrate)
        t2 = time.perf_counter()
        prepare, calls, steps = prepare + t1 - t0, calls + t2 - t1, steps + float(mask.sum())
    wall = time.perf_counter() - start
    words = sum(len({w for i in idx for w in train[0][i]}) for idx in batches)  # each batch's distinct words
    by_words = "LSTMGradFromIds" in spent  # else by (step, review) pairs: each pair's input projection its own
    parts = {part: sum(spent.pop(name, 0.0) for name in names) for part, names in PARTS.items()}
    parts["other PyTensor ops"] = sum(spent.values())
    parts["thunk overhead"] = calls - sum(parts.values())
    parts["prepare_data"], parts["Python loop"] = prepare, wall - calls - prepare
    d, values = o.dim_proj, sum(p.get_value().size for p in model.tparams.values())
    moved = 7 * 4 * values * len(batches)  # the optimizer reads p, g and 2 accumulators, and writes 3
    if o.optimizer == "adadelta":  # but ADADELTA, of the embedding's rows, only reads g of words not in a batch
        table = model.tparams["Wemb"].get_value().size
        moved += (4 - 7 * 4) * table * len(batches) + 6 * 4 * d * words
    projected = words if by_words else steps
    work = {  # per epoch: FLOPs of the kernel's products; bytes the optimizer reads and writes
        "kernel forward": 8 * d * d * (steps + projected),  # h U per step, x W per word: 2 * D * 4D each
        "kernel backward": 16 * d * d * (steps + projected),  # dh and dU per step; dW and dx per word
        "optimizer step": moved,
    }
    limits = machine_limits(threads)
    return dict(parts=parts, work=work, updates=len(batches), steps=steps, words=projected, wall=wall, limits=limits)


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

    read_options(args.config)  # a bad configuration stops here, not in every worker
    path = get_dataset_file(args.data)
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
