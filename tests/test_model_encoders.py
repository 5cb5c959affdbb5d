"""The encoders beside the tutorial's: a bidirectional LSTM and max pooling, against a NumPy forward pass
in float64, the kernel against the scan graph, gradients by finite differences."""

import numpy
import pytensor.tensor as tensor
import pytest
from test_model_lstm import numpy_lstm

from lstm_sentiment.imdb import prepare_data
from lstm_sentiment.kernel.backend import Backend
from lstm_sentiment.lstm import build_model, init_params, init_tparams
from lstm_sentiment.model.lstm import reverse_within

ENCODERS = [(False, "max"), (False, "mean_max"), (True, "mean"), (True, "max"), (True, "mean_max")]


def _options(bidirectional, pooling, **more):
    return dict(
        n_words=20,
        dim_proj=5,
        ydim=3,
        encoder="lstm",
        use_dropout=True,
        seed=5,
        floatX="float64",
        bidirectional=bidirectional,
        pooling=pooling,
        **more,
    )


def _batch():
    seqs = [[2, 5, 7, 3], [4, 9], [11, 12, 13, 14, 15, 16], [3]]
    return prepare_data(seqs, [1, 0, 2, 0], dtype="float64")


def _model(options):
    numpy.random.seed(3)
    params = init_params(options)
    for k in [k for k in params if k.endswith("b")]:  # non-zero biases, so that they are tested too
        params[k] = 0.3 * numpy.random.randn(*params[k].shape)
    tparams = init_tparams(params)
    return params, tparams, build_model(tparams, options)


def numpy_pooled(hs, mask, pooling):
    mean = (hs * mask[:, :, None]).sum(axis=0) / mask.sum(axis=0)[:, None]
    top = numpy.where(mask[:, :, None] > 0, hs, -numpy.inf).max(axis=0)
    return {"mean": mean, "max": top, "mean_max": numpy.concatenate([mean, top], axis=1)}[pooling]


def numpy_forward(p, x, mask, bidirectional, pooling):
    """The model in NumPy, each review reversed by hand for the second direction; dropout off (x 0.5)."""
    proj = numpy_pooled(numpy_lstm(p, p["Wemb"][x], mask), mask, pooling)
    if bidirectional:
        lengths = mask.sum(axis=0).astype(int)
        x_r = numpy.zeros_like(x)
        for b, n in enumerate(lengths):
            x_r[:n, b] = x[:n, b][::-1]
        p_r = {k.replace("lstm_r_", "lstm_"): v for k, v in p.items() if k.startswith("lstm_r_")}
        proj = numpy.concatenate([proj, numpy_pooled(numpy_lstm(p_r, p["Wemb"][x_r], mask), mask, pooling)], axis=1)
    logits = 0.5 * proj @ p["U"] + p["b"]
    e = numpy.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_each_review_is_reversed_within_its_own_length_and_padding_stays_padding():
    x, mask, _ = _batch()
    x[mask == 0] = 17  # were padding ever read, 17 would show
    got = Backend(False).function([xs := tensor.matrix(dtype="int64"), ms := tensor.matrix()], reverse_within(xs, ms))
    reversed_ = got(x, mask)
    assert reversed_[:, 0].tolist() == [3, 7, 5, 2, 17, 17] and reversed_[:, 1].tolist() == [9, 4, 17, 17, 17, 17]
    assert reversed_[:, 2].tolist() == [16, 15, 14, 13, 12, 11] and reversed_[:, 3].tolist() == [3, 17, 17, 17, 17, 17]


@pytest.mark.parametrize("bidirectional, pooling", ENCODERS)
def test_probabilities_match_a_numpy_forward_pass(fused, bidirectional, pooling):
    params, _, model = _model(_options(bidirectional, pooling, fused=fused))
    x, mask, _ = _batch()
    expected = numpy_forward(params, x, mask, bidirectional, pooling)
    numpy.testing.assert_allclose(model.f_pred_prob(x, mask), expected, rtol=1e-10, atol=1e-12)
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes["U"] == (5 * (1 + bidirectional) * (1 + (pooling == "mean_max")), 3)
    assert ("lstm_r_U" in shapes) == bidirectional


@pytest.mark.parametrize("bidirectional, pooling", ENCODERS)
def test_gradients_match_finite_differences_and_the_kernel_the_scan(bidirectional, pooling):
    x, mask, y = _batch()
    analytic = {}
    for fused in (True, False):
        _, tparams, model = _model(_options(bidirectional, pooling, fused=fused))
        model.use_noise.set_value(0.0)
        f_grads = Backend(fused).function(
            [model.x, model.mask, model.y], tensor.grad(model.cost, list(tparams.values()))
        )
        analytic[fused] = dict(zip(tparams, f_grads(x, mask, y)))
    for name in analytic[True]:
        numpy.testing.assert_allclose(analytic[True][name], analytic[False][name], rtol=1e-9, atol=1e-12, err_msg=name)
    f_cost = Backend(False).function([model.x, model.mask, model.y], model.cost)
    rng, eps = numpy.random.RandomState(0), 1e-6
    for name, shared in tparams.items():
        value = shared.get_value()
        rows = rng.choice(numpy.unique(x[mask > 0]), 3, replace=False) if name == "Wemb" else None
        for _ in range(3):
            index = (rows[_], rng.randint(5)) if name == "Wemb" else tuple(rng.randint(s) for s in value.shape)
            costs = []
            for step in (eps, -eps):
                moved = value.copy()
                moved[index] += step
                shared.set_value(moved)
                costs.append(f_cost(x, mask, y))
            shared.set_value(value)
            assert analytic[False][name][index] == pytest.approx((costs[0] - costs[1]) / (2 * eps), rel=1e-5, abs=1e-9)


@pytest.mark.slow
def test_a_bidirectional_max_pooled_model_learns_saves_loads_predicts_and_reports(marker_pkl, tmp_path, capsys):
    from lstm_sentiment import load_model, report
    from lstm_sentiment.data.imdb import write_dictionary
    from lstm_sentiment.train import train_lstm

    saveto = str(tmp_path / "m.npz")
    options = dict(dim_proj=8, n_words=40, max_epochs=6, validFreq=48, bidirectional=True, pooling="mean_max")
    errors = train_lstm(dataset=marker_pkl, saveto=saveto, **options)
    assert errors[2] < 0.1, errors
    with numpy.load(saveto) as f:
        assert f["lstm_r_U"].shape == (8, 32) and f["U"].shape == (32, 2)
    words = tmp_path / "words.dict.pkl"  # the marker task has ids, not words: any dictionary will do
    write_dictionary(words, {f"w{i}": i for i in range(2, 40)})
    model = load_model(saveto, dictionary=str(words))
    x, mask, _ = prepare_data([[4, 5, 3, 9], [7, 8, 9]], [1, 0])
    numpy.testing.assert_allclose(model.predict_proba_ids([[4, 5, 3, 9], [7, 8, 9]]), model.f_pred_prob(x, mask))
    assert model.predict_proba_ids([[4, 5, 3, 9], [7, 8, 9]]).argmax(axis=1).tolist() == [1, 0]  # 3: the marker
    assert report.main([saveto]) == 0
    assert "bidirectional True" in capsys.readouterr().out


@pytest.mark.parametrize("bidirectional, pooling", ENCODERS)
def test_the_kernel_runs_each_direction_and_scatters_each_lookups_gradient(bidirectional, pooling):
    from lstm_sentiment.kernel.build import load, why_unavailable
    from lstm_sentiment.model.optimizers import adam

    if load() is None:
        pytest.skip(f"the LSTM kernel is unavailable: {why_unavailable()}")
    _, tparams, model = _model(_options(bidirectional, pooling))
    grads = tensor.grad(model.cost, list(tparams.values()))
    f_grad_shared, _ = adam(tensor.scalar("lr"), tparams, grads, model.x, model.mask, model.y, model.cost)
    ops = [type(node.op).__name__ for node in f_grad_shared.maker.fgraph.toposort()]
    directions = 1 + bidirectional
    assert ops.count("LSTMFromIds") + ops.count("LSTM") == directions  # by ids where the pooling has a mean
    assert ops.count("LSTMGradFromIds") == directions  # the embedding's gradient by words, whatever the pooling
    assert ops.count("MaxPool") == directions * (pooling != "mean") and "MaxPoolGrad" not in ops  # in the kernel
    assert "AdvancedIncSubtensor1" not in ops  # the embedding's gradient by the kernel, not NumPy's add.at


@pytest.mark.parametrize("bidirectional, pooling", ENCODERS)
def test_prediction_pools_in_the_kernel_from_the_word_table(bidirectional, pooling):
    """Prediction runs one LSTMFromIds per direction that pools as it goes (its maxima too), never
    storing h: no MaxPool, no LSTM by (step, review) pairs; its probabilities are the scan graph's."""
    from lstm_sentiment.kernel.build import load, why_unavailable
    from lstm_sentiment.kernel.ops import LSTMFromIds

    if load() is None:
        pytest.skip(f"the LSTM kernel is unavailable: {why_unavailable()}")
    x, mask, _ = _batch()
    (_, _, fused), (_, _, plain) = (_model(_options(bidirectional, pooling, fused=f)) for f in (True, False))
    numpy.testing.assert_allclose(fused.f_pred_prob(x, mask), plain.f_pred_prob(x, mask), rtol=1e-10, atol=1e-12)
    ops = [node.op for node in fused.f_pred_prob.fn.maker.fgraph.toposort()]
    output = "pooled" if pooling == "mean" else "pooled_max"
    assert [op for op in ops if "LSTM" in type(op).__name__] == [LSTMFromIds(output)] * (1 + bidirectional)
    assert not any(type(op).__name__ == "MaxPool" for op in ops)
