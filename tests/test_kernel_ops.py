"""The kernel's Ops against the plain graphs they replace: the scan, ADADELTA's updates, the
embedding gradient; and the rewrites that choose them."""

import concurrent.futures
import multiprocessing
import re

import numpy
import pytensor
import pytensor.tensor as tensor
import pytest
from pytensor import config
from pytensor.gradient import verify_grad

from lstm_sentiment.kernel.backend import Backend
from lstm_sentiment.kernel.build import address, function, load, why_unavailable
from lstm_sentiment.kernel.ops import (
    LSTM,
    Adadelta,
    AdadeltaRows,
    Adam,
    LSTMFromIds,
    LSTMGrad,
    LSTMGradFromIds,
    MaxPool,
    MaxPoolGrad,
    ScatterAdd,
    _distinct,
    lstm_fused,
)
from lstm_sentiment.lstm import adadelta, build_model, init_params, init_tparams, lstm_layer
from lstm_sentiment.model.optimizers import adam

pytestmark = pytest.mark.skipif(load() is None, reason=f"no LSTM kernel: {why_unavailable()}")

OPTIONS = dict(n_words=30, dim_proj=5, ydim=2, encoder="lstm", use_dropout=True, seed=2)


def _params(options=OPTIONS, seed=0):
    numpy.random.seed(seed)
    params = init_params(dict(options, floatX=config.floatX))  # the float type of the test's scope
    for k in ("lstm_b", "b"):
        params[k] = (0.3 * numpy.random.randn(*params[k].shape)).astype(config.floatX)
    return params


def _mask(T, B, rng, fractional=True):
    """Masks of every length, 0 included, one of full length, and a step of weight 0.3."""
    lengths = rng.randint(0, T + 1, size=B)
    lengths[:2] = (T, 0)
    mask = (numpy.arange(T)[:, None] < lengths[None, :]).astype(config.floatX)
    if fractional and T > 1:
        mask[1, 0] = 0.3
    return mask


@pytest.fixture(params=[1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)])
def threads(request):
    """The kernel with one thread, and with the batch's rows (then the steps, for the weights'
    gradients) shared among two and three."""
    lib = load()
    lib.lstm_set_threads(request.param)
    yield request.param
    lib.lstm_set_threads(0)


# 45: more than one chunk of projected steps (32); 300: the weights' gradients in three parts
@pytest.mark.parametrize("T", [1, 7, *(pytest.param(T, marks=pytest.mark.slow) for T in (45, 300))])
def test_lstm_and_its_gradient_equal_the_scan(kernel_path, threads, T):
    with config.change_flags(floatX="float64"):
        params = _params()
        tparams = init_tparams(params)
        emb = tensor.tensor3("emb")
        mask = tensor.matrix("mask")
        hs = {fused: lstm_layer(tparams, emb, dict(OPTIONS, fused=fused), mask=mask) for fused in (False, True)}
        weights = numpy.random.RandomState(1).randn(T, 13, 5)
        wrt = [tparams["lstm_W"], tparams["lstm_U"], tparams["lstm_b"], emb]
        outputs = {fused: [h, *tensor.grad((h * weights).sum(), wrt)] for fused, h in hs.items()}
        f = Backend().function([emb, mask], outputs[False] + outputs[True])
        rng = numpy.random.RandomState(T)
        values = f(rng.randn(T, 13, 5), _mask(T, 13, rng))
        scan, fused = values[:5], values[5:]
        for name, a, b in zip(["h", "dW", "dU", "db", "demb"], scan, fused):
            numpy.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=name)
        assert any(isinstance(n.op, LSTM) for n in f.maker.fgraph.toposort())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gates_exp_and_tanh_equal_libms_to_rounding(kernel_path, dtype):
    """Over the whole input range (results that overflow, that are subnormal or 0, specials), as the gates'
    loops make them: within 2 units in the last place of the correctly rounded value for the kernel's
    own (the portable path, and wherever glibc's libmvec is not), 4 for libmvec's (glibc's bound)."""
    from lstm_sentiment.kernel.build import kernel_flags

    top = numpy.log(numpy.finfo(dtype).max)  # 88.7 or 709.8
    rng = numpy.random.RandomState(0)
    x = numpy.concatenate(
        [
            numpy.linspace(-1.18 * top, 1.02 * top, 1_000_001),  # e^x from 0 through subnormals to inf
            rng.uniform(-20, 20, 500_000),  # where the gates' inputs are
            numpy.geomspace(1e-30, 20, 200_000) * rng.choice([-1, 1], 200_000),  # tanh x = x near 0
            [0.0, -0.0, numpy.inf, -numpy.inf, numpy.nan, 0.55, -0.55, numpy.nextafter(0.55, 0)],
        ]
    ).astype(dtype)
    y, z = numpy.empty_like(x), numpy.empty_like(x)
    function("lstm_maths", dtype)(x.size, address(x), address(y), address(z))
    wide = numpy.longdouble if numpy.finfo(numpy.longdouble).eps < numpy.finfo("float64").eps else numpy.float64
    bound = 4 if "-DLSTM_USE_MVEC" in kernel_flags(kernel_path) else 2
    for name, got, exact in (("exp", y, numpy.exp(x.astype(wide))), ("tanh", z, numpy.tanh(x.astype(wide)))):
        with numpy.errstate(over="ignore"):  # e^x beyond the type's largest: inf
            rounded = exact.astype(dtype)
        finite = numpy.isfinite(rounded)
        numpy.testing.assert_array_equal(got[~finite], rounded[~finite], err_msg=f"{name}: inf and nan")
        ulp = numpy.spacing(numpy.abs(rounded[finite])).astype(wide)
        error = numpy.abs(got[finite].astype(wide) - exact[finite]) / ulp
        worst = numpy.argmax(error)
        assert error[worst] <= bound, f"{name}({x[finite][worst]!r}) is {error[worst]:.2f} ulp off"


def _layer_and_gradients(params, floatX, fused, T, B, rng_seed):
    """h and the gradients of W, U, b and emb of a weighted sum of h, for random inputs; the same
    inputs and parameters, only rounded to float32, whatever floatX."""
    rng = numpy.random.RandomState(rng_seed)
    x, m, weights = rng.randn(T, B, params["Wemb"].shape[1]), _mask(T, B, rng), rng.randn(T, B, 1)
    with config.change_flags(floatX=floatX):
        tparams = init_tparams({k: v.astype(floatX) for k, v in params.items()})
        emb, mask = tensor.tensor3("emb"), tensor.matrix("mask")
        options = dict(OPTIONS, dim_proj=params["Wemb"].shape[1], fused=fused)
        h = lstm_layer(tparams, emb, options, mask=mask)
        wrt = [tparams["lstm_W"], tparams["lstm_U"], tparams["lstm_b"], emb]
        f = Backend().function([emb, mask], [h, *tensor.grad((h * weights.astype(floatX)).sum(), wrt)])
        return f(x.astype("float32").astype(floatX), m.astype(floatX)), f.maker.fgraph.toposort()


@pytest.mark.parametrize("T", [1, 7, *(pytest.param(T, marks=pytest.mark.slow) for T in (45, 300))])
def test_a_large_layers_weight_gradients_are_summed_from_the_threads_shares_by_the_threads(kernel_path, threads, T):
    """At 128 units, dW and dU (65,536 values each) are added up from the threads' shares by the
    threads themselves, each taking a range of the values: the scan's gradients still, in float64
    and, through the panels, in float32."""
    params = {k: v.astype("float32") for k, v in _params(dict(OPTIONS, dim_proj=128)).items()}
    scan, _ = _layer_and_gradients(params, "float64", False, T, 13, T)
    fused, ops = _layer_and_gradients(params, "float64", True, T, 13, T)
    assert any(isinstance(op, LSTM) for op in (n.op for n in ops))
    for name, a, b in zip(["h", "dW", "dU", "db", "demb"], scan, fused):
        numpy.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=name)
    single, _ = _layer_and_gradients(params, "float32", True, T, 13, T)
    for name, a, b in zip(["h", "dW", "dU", "db", "demb"], scan, single):
        assert b.dtype == "float32"
        numpy.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * numpy.abs(a).max(), err_msg=name)


# In panels of 16 floats (AVX-512; 8 for AVX2, 4 portable): dim 32: U in 8 panels forward (4 dim columns)
# and 2 backward (dim columns); dim 48: 12 and 3, an odd count (AVX-512 takes panels two at a time, or
# four for 6 rows or fewer); dim 28: 7 forward, in groups of 4, 2 and 1 for its batch of 5, and 1.75
# backward; dim 13: part-panels on every path, and columns of the weights' gradients one by one. Batch
# 13 leaves rows in blocks of 5 and 4 (AVX2), or 7 and 6 (AVX-512), and fewer with 2 or 3 threads;
# batch 40, in 7 or 4 blocks with 1 thread.
@pytest.mark.parametrize("dim, B", [(32, 13), (48, 40), (28, 5), (13, 7)])
@pytest.mark.parametrize("T", [1, 7, *(pytest.param(T, marks=pytest.mark.slow) for T in (45, 300))])
def test_float32_panels_and_their_gradients_equal_the_float64_scan(kernel_path, threads, T, dim, B):
    params = _params(dict(OPTIONS, dim_proj=dim))
    params = {k: v.astype("float32") for k, v in params.items()}
    fused, ops = _layer_and_gradients(params, "float32", True, T, B, T)
    scan, _ = _layer_and_gradients(params, "float64", False, T, B, T)
    assert any(isinstance(op, LSTM) for op in (n.op for n in ops))
    for name, a, b in zip(["h", "dW", "dU", "db", "demb"], scan, fused):
        assert b.dtype == "float32"
        numpy.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * numpy.abs(a).max(), err_msg=name)


def _passes(T=40, B=13, D=8, seed=11):
    """The kernel's forward and backward passes, called directly, on fixed random inputs: a function
    returning all their outputs (h, c, gates, pool, demb, dW, db, dU), computed anew at each call."""
    rng = numpy.random.RandomState(seed)
    emb, dpool = rng.randn(T, B, D), rng.randn(B, D)
    W, U, b = 0.3 * rng.randn(D, 4 * D), 0.3 * rng.randn(D, 4 * D), 0.3 * rng.randn(4 * D)
    mask = _mask(T, B, rng).astype("float64")
    forward, backward = function("lstm_forward", "float64"), function("lstm_backward", "float64")

    def run():
        h, c, gates = numpy.empty((T, B, D)), numpy.empty((T, B, D)), numpy.empty((T, B, 4 * D))
        pool, demb, db = numpy.empty((B, D)), numpy.empty((T, B, D)), numpy.empty(4 * D)
        dW, dU = numpy.empty((D, 4 * D)), numpy.empty((D, 4 * D))
        assert not forward(T, B, D, *map(address, (emb, mask, W, b, U, h, c, gates, pool)), None)
        arrays = (emb, mask, W, U, h, c, gates)
        assert not backward(
            T, B, D, *map(address, arrays), None, address(dpool), None, None, *map(address, (demb, dW, db, dU))
        )
        return h, c, gates, pool, demb, dW, db, dU

    return run


@pytest.mark.parametrize("threads", [2, 3])
def test_passes_from_several_python_threads_at_once_give_the_results_of_one(threads):
    """One pass at a time uses the kernel's crew of worker threads; the others start threads of their own."""
    run = _passes()
    lib = load()
    lib.lstm_set_threads(threads)
    try:
        expected = run()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:  # ctypes lets go of the GIL
            results = list(pool.map(lambda _: run(), range(40)))
    finally:
        lib.lstm_set_threads(0)
    for result in results:
        for a, b in zip(expected, result):
            numpy.testing.assert_array_equal(b, a)


def _in_forked_child(run, queue):
    queue.put(run())


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this system: no crew to inherit"
)
def test_a_forked_child_starts_a_crew_of_its_own():
    """The workers are not copied into a fork's child: its passes start new ones, not wait forever."""
    run = _passes()
    lib = load()
    lib.lstm_set_threads(2)
    try:
        expected = run()  # the crew is started in this process
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_in_forked_child, args=(run, queue))
        child.start()
        result = queue.get(timeout=120)
        child.join(timeout=60)
    finally:
        lib.lstm_set_threads(0)
    assert child.exitcode == 0
    for a, b in zip(expected, result):
        numpy.testing.assert_array_equal(b, a)


@config.change_flags(floatX="float32")
def test_float32_prediction_in_panels_for_large_batches_equals_the_float64_graph():
    """Prediction gives a thread many rows (40 > MKL's packing threshold): panels there too."""
    options = dict(OPTIONS, dim_proj=16)
    rng = numpy.random.RandomState(9)
    mask = _mask(30, 40, rng, fractional=False)
    mask[0] = 1
    x = rng.randint(0, 30, size=mask.shape).astype("int64") * (mask > 0)
    params = {k: v.astype("float32") for k, v in _params(options, seed=3).items()}
    lib = load()
    lib.lstm_set_threads(1)
    try:
        fused = build_model(init_tparams(params), dict(options, fused=True))[4](x, mask.astype("float32"))
    finally:
        lib.lstm_set_threads(0)
    with config.change_flags(floatX="float64"):
        tparams = init_tparams({k: v.astype("float64") for k, v in params.items()})
        plain = build_model(tparams, dict(options, fused=False))[4](x, mask.astype("float64"))
    assert fused.dtype == "float32"
    numpy.testing.assert_allclose(fused, plain, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_long_reviews_in_a_large_batch_equal_the_scan():
    """2,500 words by 64 reviews (the longest IMDB reviews are ~2,500 words): h and every gradient."""
    T, B = 2500, 64
    with config.change_flags(floatX="float64"):
        tparams = init_tparams(_params())
        emb, mask = tensor.tensor3("emb"), tensor.matrix("mask")
        hs = {fused: lstm_layer(tparams, emb, dict(OPTIONS, fused=fused), mask=mask) for fused in (False, True)}
        rng = numpy.random.RandomState(25)
        weights = rng.randn(T, B, 5)
        wrt = [tparams["lstm_W"], tparams["lstm_U"], tparams["lstm_b"], emb]
        outputs = [out for h in hs.values() for out in (h, *tensor.grad((h * weights).sum(), wrt))]
        f = Backend().function([emb, mask], outputs)
        values = f(rng.randn(T, B, 5), _mask(T, B, rng, fractional=False))
        for name, a, b in zip(["h", "dW", "dU", "db", "demb"], values[:5], values[5:]):
            numpy.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-11, err_msg=name)


@config.change_flags(floatX="float32")
def test_float32_agrees_with_the_scan_to_rounding():
    params = _params()
    tparams = init_tparams(params)
    emb = tensor.tensor3("emb", dtype="float32")
    mask = tensor.matrix("mask", dtype="float32")
    hs = [lstm_layer(tparams, emb, dict(OPTIONS, fused=fused), mask=mask) for fused in (False, True)]
    f = Backend().function([emb, mask], hs)
    rng = numpy.random.RandomState(0)
    scan, fused = f(rng.randn(40, 9, 5).astype("float32"), _mask(40, 9, rng))
    assert fused.dtype == "float32"
    numpy.testing.assert_allclose(fused, scan, rtol=1e-5, atol=1e-6)


def test_gradient_matches_finite_differences():
    rng = numpy.random.RandomState(3)
    mask = _mask(6, 4, rng)
    with config.change_flags(floatX="float64"):
        verify_grad(
            lambda emb, W, b, U: lstm_fused(emb, mask, W, b, U),
            [rng.randn(6, 4, 3), 0.5 * rng.randn(3, 12), 0.5 * rng.randn(12), 0.5 * rng.randn(3, 12)],
            rng=rng,
            mode=Backend().mode,
            abs_tol=1e-7,
            rel_tol=1e-6,
        )


def test_prediction_looks_words_up_stores_no_step_and_equals_the_scan():
    rng = numpy.random.RandomState(5)
    mask = _mask(50, 11, rng, fractional=False)
    mask[0] = 1  # no empty review: the mean over its steps would be 0/0
    x = rng.randint(-30, 30, size=mask.shape).astype("int64") * (mask > 0)  # negative ids count from the end
    with config.change_flags(floatX="float64"):
        tparams = init_tparams(_params(OPTIONS, seed=4))
        plain, fused = (build_model(tparams, dict(OPTIONS, fused=f))[4] for f in (False, True))
        numpy.testing.assert_allclose(fused(x, mask), plain(x, mask), rtol=1e-12)
        ops = [n.op for n in fused.fn.maker.fgraph.toposort() if isinstance(n.op, (LSTM, LSTMFromIds))]
        assert ops == [LSTMFromIds()]
        # new values of the parameters (set, and changed in place as ADADELTA's step does)
        # give new predictions: the table of word projections is not stale
        tparams["lstm_W"].set_value(tparams["lstm_W"].get_value() * 0.5)
        numpy.testing.assert_allclose(fused(x, mask), plain(x, mask), rtol=1e-12)
        tparams["Wemb"].get_value(borrow=True)[x[0, 0]] += 1.0
        tparams["lstm_b"].get_value(borrow=True)[:] -= 0.2
        numpy.testing.assert_allclose(fused(x, mask), plain(x, mask), rtol=1e-12)
        tparams["Wemb"].get_value(borrow=True)[x[3, 4]] *= -2.0  # an embedding alone
        numpy.testing.assert_allclose(fused(x, mask), plain(x, mask), rtol=1e-12)


def test_out_of_range_word_ids_are_reported():
    with config.change_flags(floatX="float64"):
        tparams = init_tparams(_params(OPTIONS))
        f_pred_prob = build_model(tparams, dict(OPTIONS))[4]
        for bad in (30, -31):  # the table has 30 rows: ids in [-30, 30)
            x = numpy.full((3, 2), 7, dtype="int64")
            x[2, 1] = bad
            with pytest.raises(IndexError, match="LSTMFromIds: a word id is out of bounds for 30 embeddings"):
                f_pred_prob(x, numpy.ones((3, 2)))


def test_h_alone_is_computed_without_the_gates():
    emb, mask = tensor.tensor3("emb"), tensor.matrix("mask")
    W, U = (tensor.matrix(n) for n in "WU")
    b = tensor.vector("b")
    h = lstm_fused(emb, mask, W, b, U)
    f = Backend().function([emb, mask, W, b, U], [h, h.owner.outputs[2]])
    g = Backend().function([emb, mask, W, b, U], h)
    assert [n.op for n in g.maker.fgraph.toposort() if isinstance(n.op, LSTM)] == [LSTM("h")]
    rng = numpy.random.RandomState(6)
    args = [rng.randn(40, 7, 4), _mask(40, 7, rng), rng.randn(4, 16), rng.randn(16), rng.randn(4, 16)]
    args = [a.astype(config.floatX) for a in args]
    h_kept, gates = f(*args)
    numpy.testing.assert_array_equal(g(*args), h_kept)
    assert not gates[:, 1].any()  # the empty review's gates are 0: nothing was computed for it
    assert numpy.isfinite(h_kept).all()


@pytest.mark.parametrize("T", [1, 12, *(pytest.param(T, marks=pytest.mark.slow) for T in (45, 300))])
def test_training_by_words_pools_in_the_kernel_and_equals_the_scan(threads, T):
    """The model's cost and every gradient, with the input projection and its gradients made per
    distinct word, and mean pooling and its gradient computed by the kernel (LSTMFromIds("train_pooled"),
    LSTMGradFromIds), against the plain graph; words repeated, padding's word 0 only where masked."""
    rng = numpy.random.RandomState(8)
    mask = _mask(T, 7, rng)
    mask[0] = 1  # no empty review
    x = (rng.randint(1, 30, size=mask.shape) * (mask > 0)).astype("int64")
    y = rng.randint(0, 2, size=7).astype("int64")
    values, graphs = {}, {}
    with config.change_flags(floatX="float64"):
        for fused in (False, True):
            tparams = init_tparams(_params(dict(OPTIONS, use_dropout=False)))
            _, x_, mask_, y_, _, _, cost = build_model(tparams, dict(OPTIONS, use_dropout=False, fused=fused))
            f = Backend().function([x_, mask_, y_], [cost, *tensor.grad(cost, list(tparams.values()))])
            values[fused], graphs[fused] = f(x, mask, y), f.maker.fgraph.toposort()
    for name, a, b in zip(["cost", *init_params(dict(OPTIONS, floatX="float64"))], values[False], values[True]):
        numpy.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-13, err_msg=name)
    ops = [n.op for n in graphs[True]]
    assert LSTMFromIds("train_pooled") in ops and LSTMGradFromIds() in ops
    assert not any(isinstance(op, (LSTM, LSTMGrad, ScatterAdd)) for op in ops)


def _by_pairs_and_by_words(T, B, D, n, dtype, seed):
    """The training passes of a lookup ``Wemb[ids]``, (h, c, gates, pool, dWemb, dW, db, dU): by
    (step, review) pairs (LSTM, LSTMGrad, NumPy's scatter-add of demb) and by words (LSTMFromIds,
    LSTMGradFromIds). Ids count from the end too; word n - 1 is only where the mask is 0."""
    rng = numpy.random.RandomState(seed)
    mask = _mask(T, B, rng).astype(dtype)
    rows = rng.randint(0, n - 1, size=(T, B)) - n * rng.randint(0, 2, size=(T, B))  # row r, or r - n
    ids = numpy.where(mask > 0, rows, n - 1)
    Wemb, W, U = 0.5 * rng.randn(n, D), 0.3 * rng.randn(D, 4 * D), 0.3 * rng.randn(D, 4 * D)
    Wemb, W, U, b, dpool = (v.astype(dtype) for v in (Wemb, W, U, 0.3 * rng.randn(4 * D), rng.randn(B, D)))

    def run(op, *inputs):
        storage = [[None] for _ in range(4)]
        op.perform(None, list(inputs), storage)
        return [s[0] for s in storage]

    h, c, gates, pool = run(LSTM("train_pooled"), Wemb[ids].reshape(T, B, D), mask, W, b, U)
    demb, dW, db, dU = run(LSTMGrad(pooled=True), Wemb[ids].reshape(T, B, D), mask, W, U, h, c, gates, dpool)
    dWemb = numpy.zeros_like(Wemb)
    numpy.add.at(dWemb, ids.ravel(), demb.reshape(-1, D))
    by_pairs = [h, c, gates, pool, dWemb, dW, db, dU]
    forward = run(LSTMFromIds("train_pooled"), Wemb, ids, mask, W, b, U)
    by_words = forward + run(LSTMGradFromIds(), Wemb, ids, mask, W, U, *forward[:3], dpool)
    return by_pairs, by_words


def _assert_same_passes(by_pairs, by_words, dtype):
    rtol = 1e-5 if dtype == "float32" else 1e-12
    for name, a, b in zip(["h", "c", "gates", "pool", "dWemb", "dW", "db", "dU"], by_pairs, by_words):
        assert b.dtype == dtype
        numpy.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * numpy.abs(a).max(), err_msg=name)
    assert not by_words[4][-1].any()  # the word only where masked has no gradient


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("T", [1, 7, *(pytest.param(T, marks=pytest.mark.slow) for T in (45, 300))])
def test_training_by_words_equals_training_by_pairs(kernel_path, threads, T, dtype):
    """Per word and per pair, the same passes to rounding (the sums of a word's pairs come first)."""
    _assert_same_passes(*_by_pairs_and_by_words(T, 13, 16, 40, dtype, seed=T), dtype)


@pytest.mark.slow
def test_long_reviews_in_a_large_batch_by_words_equal_those_by_pairs():
    """2,500 words by 64 reviews (by pairs, checked against the scan at this size above)."""
    _assert_same_passes(*_by_pairs_and_by_words(2500, 64, 8, 500, "float64", seed=25), "float64")


@pytest.mark.parametrize(("n", "used"), [(5, 5), (40, 40), (5000, 30), (5000, 5000)])
def test_the_embeddings_gradient_is_written_in_every_row_zeros_where_the_batch_has_no_word(threads, n, used):
    """The kernel writes all of dWemb, whatever its memory held (numpy.empty's): each thread zeros a
    share of the rows, skipping the batch's words, which may crowd the low ids (used: ids < used)."""
    T, B, D = 7, 13, 16
    rng = numpy.random.RandomState(n + used)
    mask = _mask(T, B, rng)
    ids = rng.randint(0, used, size=(T, B))
    Wemb, W, U, b, dpool = (rng.randn(*shape) for shape in ((n, D), (D, 4 * D), (D, 4 * D), (4 * D,), (B, D)))
    forward = [[None] for _ in range(4)]
    LSTMFromIds("train_pooled").perform(None, [Wemb, ids, mask, W, b, U], forward)
    h, c, gates = (s[0] for s in forward[:3])
    words, where = _distinct("test", ids, n)
    dWemb, dW, dU, db = (
        numpy.full((n, D), numpy.nan),
        numpy.empty((D, 4 * D)),
        numpy.empty((D, 4 * D)),
        numpy.empty(4 * D),
    )
    arrays = (Wemb, words, where, mask, W, U, h, c, gates)
    status = function("lstm_backward_words", "float64")(
        T,
        B,
        D,
        len(words),
        n,
        *map(address, arrays),
        None,
        address(dpool),
        None,
        None,
        *map(address, (dWemb, dW, db, dU)),
    )
    assert status == 0
    absent = numpy.setdiff1d(numpy.arange(n), words)
    assert len(absent) == n - len(words) and not dWemb[absent].any()
    grads = [[None] for _ in range(4)]
    LSTMGradFromIds().perform(None, [Wemb, ids, mask, W, U, h, c, gates, dpool], grads)
    numpy.testing.assert_array_equal(dWemb, grads[0][0])
    assert dWemb[numpy.unique(ids[mask != 0])].any(axis=1).all()  # words of real steps: their gradients


@pytest.mark.parametrize("n", [7, 50, 10_000])
def test_a_batchs_distinct_words_are_numpys_unique_with_or_without_its_sort(n):
    """Marking the words present (a vocabulary up to 8 times the batch) or sorting (a larger one)."""
    ids = numpy.random.RandomState(n).randint(-n, n, size=(30, 4))
    words, where = _distinct("test", ids, n)
    expected, inverse = numpy.unique(numpy.where(ids < 0, ids + n, ids), return_inverse=True)
    assert words.dtype == where.dtype == numpy.int64
    numpy.testing.assert_array_equal(words, expected)
    numpy.testing.assert_array_equal(where, inverse.reshape(ids.shape))
    numpy.testing.assert_array_equal(words[where], numpy.where(ids < 0, ids + n, ids))


def test_training_by_words_refuses_bad_ids_and_shapes_before_the_kernel():
    by_pairs, _ = _by_pairs_and_by_words(5, 3, 4, 10, "float64", seed=1)
    h, c, gates = by_pairs[:3]
    rng = numpy.random.RandomState(0)
    Wemb, W, U, b, mask, dpool = (
        rng.randn(10, 4),
        rng.randn(4, 16),
        rng.randn(4, 16),
        rng.randn(16),
        numpy.ones((5, 3)),
        rng.randn(3, 4),
    )
    ids = (numpy.arange(15) % 10).reshape(5, 3)
    storage = [[None] for _ in range(4)]
    for bad in (ids + 1, ids - 11):
        with pytest.raises(IndexError, match="LSTMFromIds: a word id is out of bounds for 10 embeddings"):
            LSTMFromIds("train_pooled").perform(None, [Wemb, bad, mask, W, b, U], storage)
        with pytest.raises(IndexError, match="LSTMGradFromIds: a word id is out of bounds"):
            LSTMGradFromIds().perform(None, [Wemb, bad, mask, W, U, h, c, gates, dpool], storage)
    # the same 15 ids as (3, 5), or as a vector, do not fit the (5, 3) mask: each is refused
    for wrong in (ids.reshape(3, 5), ids.ravel()[:, None]):
        message = re.escape(f"ids has shape {wrong.shape}, expected (5, 3)")
        with pytest.raises(ValueError, match=f"LSTMFromIds: {message}"):
            LSTMFromIds("train_pooled").perform(None, [Wemb, wrong, mask, W, b, U], storage)
        with pytest.raises(ValueError, match=f"LSTMGradFromIds: {message}"):
            LSTMGradFromIds().perform(None, [Wemb, wrong, mask, W, U, h, c, gates, dpool], storage)
    grad = dict(Wemb=Wemb, ids=ids, mask=mask, W=W, U=U, h=h, c=c, gates=gates, dpool=dpool)
    for wrong in ("Wemb", "ids", "mask", "W", "U", "c", "gates", "dpool"):
        inputs = dict(grad, **{wrong: grad[wrong][..., :-1]})
        with pytest.raises(ValueError, match=f"LSTMGradFromIds: {wrong} has shape"):
            LSTMGradFromIds().perform(None, list(inputs.values()), storage)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool_and_its_gradient_equal_the_plain_graph_with_ties_and_empty_reviews(dtype):
    """MaxPool against ``switch(mask > 0, h, -inf).max(0)`` and MaxPoolGrad against that graph's gradient:
    dmax at every real step that ties for the maximum, nothing at masked steps (which hold larger
    values), and -inf and no gradient for an empty review."""
    T, B, D = 6, 5, 7
    rng = numpy.random.RandomState(3)
    mask = _mask(T, B, rng, fractional=False).astype(dtype)  # review 0 of every step, review 1 of none
    h = rng.randn(T, B, D).astype(dtype)
    h[1, 0, :3] = h[3, 0, :3] = 5  # a tie for the maximum
    h[mask == 0] = 10
    dmax = rng.randn(B, D).astype(dtype)
    h_, mask_, dmax_ = tensor.tensor3(dtype=dtype), tensor.matrix(dtype=dtype), tensor.matrix(dtype=dtype)
    plain, fused = tensor.switch(mask_[:, :, None] > 0, h_, -numpy.inf).max(axis=0), MaxPool()(h_, mask_)
    (plain, dplain), (pool, dh) = (
        backend.function([h_, mask_, dmax_], [out, tensor.grad((out * dmax_).sum(), h_)])(h, mask, dmax)
        for out, backend in ((plain, Backend(False)), (fused, Backend()))
    )
    numpy.testing.assert_array_equal(pool, plain)
    numpy.testing.assert_array_equal(dh, dplain)
    assert pool.dtype == dh.dtype == dtype and (pool[1] == -numpy.inf).all() and not dh[:, 1].any()
    assert (dh[[1, 3], 0, :3] == dmax[0, :3]).all() and numpy.count_nonzero(dh[:, 0, :3]) == 6
    assert not dh[mask == 0].any()


def _perform(op, *inputs):
    storage = [[None] for _ in op.make_node(*inputs).outputs]
    op.perform(None, list(inputs), storage)
    return [s[0] for s in storage]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pooling_gradient_in_the_kernel_equals_that_of_max_pool_grad(threads, dtype):
    """LSTMGrad and LSTMGradFromIds given max pooling's pmax and dmax (``max_pooled``), against the same
    Ops given the dh that MaxPoolGrad makes of them plus mean pooling's mask * dpool: ties at two
    real steps and an empty review included."""
    T, B, D, n = 9, 6, 5, 20
    rng = numpy.random.RandomState(5)
    mask = _mask(T, B, rng, fractional=False).astype(dtype)
    ids = numpy.where(mask > 0, rng.randint(0, n, size=(T, B)), 0)
    Wemb, W, U = ((0.5 * rng.randn(*shape)).astype(dtype) for shape in ((n, D), (D, 4 * D), (D, 4 * D)))
    b, dpool, dmax = (rng.randn(*shape).astype(dtype) for shape in ((4 * D,), (B, D), (B, D)))
    h, c, gates, _ = _perform(LSTMFromIds("train_pooled"), Wemb, ids, mask, W, b, U)
    h[2, 0, :2] = h[4, 0, :2] = h.max() + 1  # a tie for the maximum (h is the backward pass's input)
    (pmax,) = _perform(MaxPool(), h, mask)
    (dh,) = _perform(MaxPoolGrad(), h, mask, pmax, dmax)
    dh += mask[:, :, None] * dpool[None]
    emb = Wemb[ids].reshape(T, B, D)
    for op, inputs in [
        (LSTMGrad, (emb, mask, W, U, h, c, gates)),
        (LSTMGradFromIds, (Wemb, ids, mask, W, U, h, c, gates)),
    ]:
        expected = _perform(op(pooled=False), *inputs, dh)
        fused = _perform(op(pooled=True, max_pooled=True), *inputs, dpool, pmax, dmax)
        rtol = 1e-5 if dtype == "float32" else 1e-12
        for name, a, b in zip(["demb", "dW", "db", "dU"], expected, fused):
            numpy.testing.assert_allclose(
                b, a, rtol=rtol, atol=rtol * numpy.abs(a).max(), err_msg=f"{op.__name__} {name}"
            )
        with pytest.raises(ValueError, match=re.escape(f"{op.__name__}: dmax has shape (6, 4), expected (6, 5)")):
            _perform(op(pooled=True, max_pooled=True), *inputs, dpool, pmax, dmax[:, :-1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pooled_max_keeps_the_maxima_of_max_pool_and_the_sum_without_storing_h(threads, dtype):
    """LSTM("pooled_max") and LSTMFromIds("pooled_max") (prediction: h is never stored) against MaxPool
    and the masked sum of the stored h: an empty review (-inf), a step of weight 0.3, negative ids and
    padding ids that would change the maxima were they read."""
    T, B, D, n = 23, 7, 6, 15
    rng = numpy.random.RandomState(8)
    mask = _mask(T, B, rng).astype(dtype)
    ids = numpy.where(mask > 0, rng.randint(-n, n, size=(T, B)), n - 1)
    Wemb, W, U = ((0.5 * rng.randn(*shape)).astype(dtype) for shape in ((n, D), (D, 4 * D), (D, 4 * D)))
    b = (0.3 * rng.randn(4 * D)).astype(dtype)
    Wemb[n - 1] = 50  # the padding's word: its projection would saturate every gate
    (h,) = _perform(LSTM("h"), Wemb[ids], mask, W, b, U)
    (top,) = _perform(MaxPool(), h, mask)
    total = (h * mask[:, :, None]).sum(axis=0)
    assert (top[1] == -numpy.inf).all() and numpy.isfinite(numpy.delete(top, 1, axis=0)).all()
    pool, pmax = _perform(LSTM("pooled_max"), Wemb[ids], mask, W, b, U)
    numpy.testing.assert_array_equal(pmax, top)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    numpy.testing.assert_allclose(pool, total, rtol=rtol, atol=rtol)
    pool, pmax = _perform(LSTMFromIds("pooled_max"), Wemb, ids, mask, W, b, U)
    numpy.testing.assert_allclose(pmax, top, rtol=rtol, atol=rtol)
    numpy.testing.assert_allclose(pool, total, rtol=rtol, atol=rtol)
    assert pool.dtype == pmax.dtype == dtype and (pmax[1] == -numpy.inf).all()


def test_max_pool_refuses_a_mask_of_another_shape():
    h = numpy.ones((3, 5, 2))
    with pytest.raises(ValueError, match=re.escape("MaxPool: mask has shape (5, 3), expected (3, 5)")):
        _perform(MaxPool(), h, numpy.ones((5, 3)))


def test_wrong_shapes_are_reported():
    f = Backend().function(
        [],
        LSTM()(numpy.zeros((3, 2, 4)), numpy.ones((3, 5)), numpy.zeros((4, 16)), numpy.zeros(16), numpy.zeros((4, 16))),
    )
    with pytest.raises(ValueError, match=r"LSTM: mask has shape \(3, 5\), expected \(3, 2\)"):
        f()


def _grad_inputs(T=3, B=2, D=4):
    shapes = dict(emb=(T, B, D), mask=(T, B), W=(D, 4 * D), U=(D, 4 * D), h=(T, B, D), c=(T, B, D))
    shapes.update(gates=(T, B, 4 * D), dh=(T, B, D))
    return {name: numpy.ones(shape, dtype=config.floatX) for name, shape in shapes.items()}


@pytest.mark.parametrize("wrong", ["emb", "mask", "W", "U", "h", "c", "gates", "dh"])
def test_lstm_grad_refuses_each_input_of_the_wrong_shape_before_the_kernel(wrong):
    inputs = _grad_inputs()
    assert all(numpy.isfinite(v).all() for v in Backend().function([], LSTMGrad()(*inputs.values()))())
    inputs[wrong] = inputs[wrong][..., :-1] if wrong != "h" else numpy.ones((3, 2, 5), dtype=config.floatX)
    f = Backend().function([], LSTMGrad()(*inputs.values()))
    named = "emb" if wrong == "h" else wrong  # h sets the sizes: then emb disagrees (it used to be overrun)
    with pytest.raises(ValueError, match=f"LSTMGrad: {named} has shape"):
        f()


@pytest.mark.parametrize("T, B, D", [(2**31, 1, 1), (1, 2**31, 1), (1, 2**22, 2**8), (1, 1, 2**15)])
def test_sizes_that_would_wrap_the_kernels_ints_are_refused_before_any_copy(T, B, D):
    """Arrays of zero strides have these shapes without the memory; the check comes before any copy."""

    def huge(*shape):
        return numpy.broadcast_to(numpy.zeros(1, dtype="float32"), shape)

    lstm = (huge(T, B, D), huge(T, B), huge(D, 4 * D), huge(4 * D), huge(D, 4 * D))
    grad = (huge(T, B, D), huge(T, B), huge(D, 4 * D), huge(D, 4 * D), *(huge(T, B, d) for d in (D, D, 4 * D, D)))
    from_ids = (huge(3, D), huge(T, B), huge(T, B), huge(D, 4 * D), huge(4 * D), huge(D, 4 * D))
    grad_ids = (huge(3, D), huge(T, B), huge(T, B), huge(D, 4 * D), huge(D, 4 * D), *grad[4:7], huge(B, D))
    checked = [(LSTM(), lstm), (LSTMGrad(), grad), (LSTMFromIds(), from_ids), (LSTMFromIds("train_pooled"), from_ids)]
    for op, inputs in [*checked, (LSTMGradFromIds(), grad_ids)]:
        with pytest.raises(ValueError, match=f"{type(op).__name__}: .* too large for the kernel"):
            op.perform(None, inputs, [[None] for _ in range(4)])


@pytest.mark.parametrize("step", [Adadelta, Adam])
@pytest.mark.parametrize("wrong", [1, 2, 3])
def test_optimizer_steps_refuse_arrays_that_disagree_with_the_parameter(step, wrong):
    """A checkpoint's accumulator smaller than its parameter must not reach the kernel (it wrote past its end)."""
    arrays = [numpy.ones((50, 8), dtype=config.floatX) for _ in range(4)]
    arrays[wrong] = arrays[wrong][:10]
    variables = [tensor.matrix(name) for name in ("p", "g", "s1", "s2")]
    f = Backend().function(variables, step()(*variables, *[0.1, 1.0][: len(step.scalars)]))
    name = ["gradient", "first average", "second average"][wrong - 1]
    with pytest.raises(ValueError, match=f"{step.__name__}: {name} has shape \\(10, 8\\), expected \\(50, 8\\)"):
        f(*arrays)


def _optimizer_run(optimizer, tparams, grads, x, mask, y, cost, batches, fused):
    lr = tensor.scalar("lr")
    f_grad_shared, f_update = optimizer(lr, tparams, grads, x, mask, y, cost, backend=Backend(fused))
    for batch in batches:
        f_grad_shared(*batch)
        f_update(0.01)
    shared = {v.name: v.get_value() for f in (f_grad_shared, f_update) for v in f.get_shared()}
    return shared, f_update


@pytest.mark.parametrize("optimizer, step", [(adadelta, Adadelta), (adam, Adam)])
def test_optimizer_ops_give_the_updates_of_the_plain_graph(optimizer, step):
    """Every parameter and accumulator after three steps of training the model itself."""
    results = {}
    for fused in (True, False):
        with config.change_flags(floatX="float64"):
            tparams = init_tparams(_params(dict(OPTIONS, use_dropout=False)))
            _, x, mask, y, _, _, cost = build_model(tparams, dict(OPTIONS, use_dropout=False, fused=fused))
            grads = tensor.grad(cost, wrt=list(tparams.values()))
            rng = numpy.random.RandomState(7)
            batches = []
            for _ in range(3):
                m = _mask(9, 6, rng, fractional=False)
                m[0] = 1  # no empty review
                batches.append(
                    ((rng.randint(1, 30, size=m.shape) * (m > 0)).astype("int64"), m, rng.randint(0, 2, size=6))
                )
            results[fused] = _optimizer_run(optimizer, tparams, grads, x, mask, y, cost, batches, fused)
    (fused, f_update), (plain, _) = results[True], results[False]
    if optimizer is adadelta:  # the averages of rows without a gradient wait for their decay
        steps = fused.pop("adadelta_step")
        for p in (k for k, v in plain.items() if v.ndim == 2 and f"{k}_grad" in plain):
            decay = 0.95 ** (steps - fused.pop(f"{p}_seen"))[:, None]
            assert (decay < 1).any() or p != "Wemb", "every word was in every batch: nothing was deferred"
            fused[f"{p}_rup2"], fused[f"{p}_rgrad2"] = fused[f"{p}_rup2"] * decay, fused[f"{p}_rgrad2"] * decay
    assert sorted(fused) == sorted(plain)
    for name in plain:
        numpy.testing.assert_allclose(fused[name], plain[name], rtol=1e-12, atol=1e-15, err_msg=name)
    nodes = [n.op for n in f_update.maker.fgraph.toposort() if isinstance(n.op, (step, AdadeltaRows))]
    assert len({type(op) for op in nodes}) == len(nodes) and all(op.inplace for op in nodes)  # one node of each
    assert step in map(type, nodes) and sum(op.params for op in nodes) == len(
        [k for k in plain if f"{k}_grad" in plain]
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adams_bias_corrections_are_the_bits_of_the_graph_they_replace(dtype):
    """The Op computes a = lr / (1 - 0.9**t) and c = 1 / sqrt(1 - 0.999**t) itself: as the kernel's mode
    computes the plain graph's expressions, to the last bit, over the first 20,000 steps."""
    t, lr = tensor.scalar("t", dtype=dtype), tensor.scalar("lr", dtype="float64")
    step = tensor.cast(lr, dtype)
    a = step / (1 - tensor.constant(0.9, dtype=dtype) ** t)
    c = 1 / tensor.sqrt(1 - tensor.constant(0.999, dtype=dtype) ** t)
    graph = Backend().function([t, lr], [tensor.cast(a, "float64"), tensor.cast(c, "float64")])
    steps = numpy.arange(1, 20001, dtype=dtype)
    for rate in (0.002, 0.1, 1.0):
        got = numpy.array([Adam()._scalars(numpy.asarray(k, dtype), rate) for k in steps])
        numpy.testing.assert_array_equal(got, numpy.array([graph(k, rate) for k in steps]))
    assert got[0, 0] != got[-1, 0] and got[0, 1] != got[-1, 1]


def test_adadelta_op_copies_unless_it_may_work_in_place():
    p, g, ru2, rg2 = (numpy.full(5, v) for v in (1.0, 0.5, 0.1, 0.2))
    f = pytensor.function([], Adadelta()(p, g, ru2, rg2), mode=pytensor.compile.mode.Mode("py", None))
    new_p, new_ru2, new_rg2 = f()
    assert (p == 1.0).all() and (ru2 == 0.1).all() and (rg2 == 0.2).all()
    r = 0.95 * 0.2 + 0.05 * 0.25
    ud = -numpy.sqrt(0.1 + 1e-6) / numpy.sqrt(r + 1e-6) * 0.5
    numpy.testing.assert_allclose(new_rg2, r, rtol=1e-12)
    numpy.testing.assert_allclose(new_ru2, 0.95 * 0.1 + 0.05 * ud**2, rtol=1e-12)
    numpy.testing.assert_allclose(new_p, 1.0 + ud, rtol=1e-12)


def test_adadelta_rows_defers_the_decay_of_rows_without_a_gradient(threads):
    for dtype, rtol, atol in (("float64", 1e-12, 1e-15), ("float32", 2e-6, 1e-6)):
        for shape in ((40, 7), (700, 128)):  # one thread; the threads taking blocks of 64 rows, the last of 60
            rng = numpy.random.default_rng(1)
            p, ru2, rg2 = (rng.random(shape).astype(dtype) for _ in range(3))
            state, rows = [p.copy(), ru2.copy(), rg2.copy()], [p, ru2, rg2, numpy.zeros(shape[0], dtype="int64")]
            for step in range(1, 13):
                g = rng.standard_normal(shape).astype(dtype)
                g[rng.random(shape[0]) < 0.6] = 0  # rows without a gradient, for runs of 0 to several steps
                g[0], g[1], g[1, 0] = 0, 0, 0.5  # row 0 never has one; row 1 always, in one column
                out = [[None] for _ in range(3)]
                Adadelta().perform(None, [state[0], g, state[1], state[2]], out)
                state = [o[0] for o in out]
                out = [[None] for _ in range(4)]
                AdadeltaRows().perform(None, [rows[0], g, rows[1], rows[2], rows[3], numpy.int64(step)], out)
                rows = [o[0] for o in out]
                decay = (0.95 ** (step - rows[3]))[:, None]
                for got, want in ((rows[0], state[0]), (rows[1] * decay, state[1]), (rows[2] * decay, state[2])):
                    numpy.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
            assert rows[3][0] == 0 and rows[3][1] == 12 and (rows[3] < 12).any()


def _steps(op, arrays, *extra):
    out = [[None] for _ in range(3 + len(extra) // 2)]
    op.perform(None, [*arrays, *extra], out)
    return [o[0] for o in out]


def test_adadelta_rows_after_one_step_without_a_gradient_has_adadeltas_bits():
    rng = numpy.random.default_rng(2)
    p, ru2, rg2 = (rng.random((50, 9)).astype("float32") for _ in range(3))
    g, g2 = (rng.standard_normal((50, 9)).astype("float32") for _ in range(2))
    g[::2] = 0
    seen = numpy.full(50, 6, dtype="int64")
    dense = _steps(Adadelta(), [p, g, ru2, rg2])
    dense = _steps(Adadelta(), [dense[0], g2, dense[1], dense[2]])
    rows = _steps(AdadeltaRows(), [p, g, ru2, rg2], seen, numpy.int64(7))
    rows = _steps(AdadeltaRows(), [rows[0], g2, rows[1], rows[2]], rows[3], numpy.int64(8))
    for got, want in zip(rows, dense):  # the even rows' rho, once, as one product
        numpy.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(seen=a["seen"][:5]), r"seen has shape \(5,\), expected \(8,\)"),
        (lambda a: a.update(seen=a["seen"].astype("int32")), "seen is int32, expected int64"),
        (lambda a: a["seen"].__setitem__(3, 9), r"seen holds steps outside \[0, 9\) at step 9"),
        (lambda a: a["seen"].__setitem__(3, -1), "seen holds steps outside"),
        (lambda a: a.update(rg2=a["rg2"][:4]), r"second average has shape \(4, 3\), expected \(8, 3\)"),
    ],
)
def test_adadelta_rows_refuses_state_that_does_not_fit(change, message):
    """A damaged checkpoint's row steps or averages must not reach the kernel."""
    arrays = dict(p=numpy.ones((8, 3)), g=numpy.ones((8, 3)), ru2=numpy.ones((8, 3)), rg2=numpy.ones((8, 3)))
    arrays["seen"] = numpy.zeros(8, dtype="int64")
    change(arrays)
    with pytest.raises(ValueError, match=f"AdadeltaRows: {message}"):
        AdadeltaRows().perform(None, [*arrays.values(), numpy.int64(9)], [[None] for _ in range(4)])


def test_the_embedding_gradient_is_a_scatter_add_equal_to_numpys():
    Wemb = pytensor.shared(numpy.random.RandomState(8).randn(12, 3).astype(config.floatX))
    idx = tensor.vector("idx", dtype="int64")
    rows = Wemb[idx]
    weights = numpy.random.RandomState(9).randn(7, 3).astype(config.floatX)
    f = Backend().function([idx], tensor.grad((rows * weights).sum(), Wemb))
    assert any(isinstance(n.op, ScatterAdd) for n in f.maker.fgraph.toposort())
    index = numpy.array([3, 0, 3, 11, 5, 3, -1])
    expected = numpy.zeros((12, 3))
    numpy.add.at(expected, index, weights)
    numpy.testing.assert_allclose(f(index), expected, rtol=1e-6)
    with pytest.raises(IndexError, match="out of bounds"):
        f(numpy.array([0, 1, 2, 3, 4, 5, 12]))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_a_large_scatter_add_is_shared_among_threads_with_the_same_sums(threads):
    """50,000 rows of 32 (the recipe's embedding), split by rows among threads: numpy's sums, in order."""
    rng = numpy.random.RandomState(threads)
    y = rng.randn(6400, 32).astype("float32")
    idx = rng.randint(-50000, 50000, size=6400)
    idx[:100] = 7  # many additions to one row
    expected = numpy.zeros((50000, 32), dtype="float32")
    numpy.add.at(expected, idx, y)  # sequential, in the order of idx
    load().lstm_set_threads(threads)
    try:
        out = Backend().function([], ScatterAdd()(y, idx, 50000, 32))()
    finally:
        load().lstm_set_threads(0)
    numpy.testing.assert_array_equal(out, expected)
