import numpy
import pytensor.tensor as tensor
import pytest

from lstm_sentiment.base.errors import ModelFileError
from lstm_sentiment.imdb import prepare_data
from lstm_sentiment.kernel.backend import Backend
from lstm_sentiment.lstm import (
    build_model,
    get_minibatches_idx,
    init_params,
    init_tparams,
    load_params,
    lstm_layer,
    pred_error,
    pred_probs,
    unzip,
    zipp,
)

OPTIONS = dict(n_words=20, dim_proj=6, ydim=2, encoder="lstm", use_dropout=True, seed=5)


def sigmoid(a):
    return 1.0 / (1.0 + numpy.exp(-a))


def numpy_lstm(p, emb, mask):
    """The tutorial's LSTM in NumPy: hidden states at every step, h and c carried where mask is 0."""
    d = p["lstm_U"].shape[0]
    h = numpy.zeros((emb.shape[1], d))
    c = numpy.zeros((emb.shape[1], d))
    hs = []
    for t in range(emb.shape[0]):
        pre = h @ p["lstm_U"] + emb[t] @ p["lstm_W"] + p["lstm_b"]
        i, f, o = sigmoid(pre[:, :d]), sigmoid(pre[:, d : 2 * d]), sigmoid(pre[:, 2 * d : 3 * d])
        g = numpy.tanh(pre[:, 3 * d :])
        m = mask[t][:, None]
        c = m * (f * c + i * g) + (1 - m) * c
        h = m * (o * numpy.tanh(c)) + (1 - m) * h
        hs.append(h)
    return numpy.array(hs)


def numpy_forward(p, x, mask, dropout_scale):
    """The tutorial's whole model in NumPy: the reference for the compiled graph."""
    hs = numpy_lstm(p, p["Wemb"][x], mask)
    proj = (hs * mask[:, :, None]).sum(axis=0) / mask.sum(axis=0)[:, None] * dropout_scale
    logits = proj @ p["U"] + p["b"]
    e = numpy.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _batch():
    seqs = [[2, 5, 7, 3], [4, 9], [11, 12, 13, 14, 15, 16], [3]]
    return prepare_data(seqs, [1, 0, 1, 0])


def _model(options=OPTIONS):
    numpy.random.seed(3)
    params = init_params(dict(options))
    for k in ("lstm_b", "b"):  # non-zero biases, so that they are tested too
        params[k] = (0.3 * numpy.random.randn(*params[k].shape)).astype(params[k].dtype)
    tparams = init_tparams(params)
    return params, tparams, build_model(tparams, dict(options))


def test_parameters_have_the_tutorials_names_and_shapes():
    params = init_params(dict(OPTIONS))
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {
        "Wemb": (20, 6),
        "lstm_W": (6, 24),
        "lstm_U": (6, 24),
        "lstm_b": (24,),
        "U": (6, 2),
        "b": (2,),
    }
    # each gate block of W and U is orthogonal
    for k in ("lstm_W", "lstm_U"):
        for g in range(4):
            block = params[k][:, 6 * g : 6 * (g + 1)].astype("float64")
            numpy.testing.assert_allclose(block @ block.T, numpy.eye(6), atol=1e-5)


def test_probabilities_match_a_numpy_forward_pass(fused):
    params, tparams, (use_noise, x, mask, y, f_pred_prob, f_pred, cost) = _model(dict(OPTIONS, fused=fused))
    bx, bmask, _ = _batch()
    use_noise.set_value(0.0)
    probs = f_pred_prob(bx, bmask)
    expected = numpy_forward({k: v.astype("float64") for k, v in params.items()}, bx, bmask, 0.5)
    numpy.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    # row-wise softmax: each row sums to one (a whole-matrix softmax would not)
    numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    numpy.testing.assert_array_equal(f_pred(bx, bmask), expected.argmax(axis=1))


def test_lstm_layer_carries_h_and_c_over_masked_steps(fused):
    params, tparams, _ = _model()
    emb = tensor.tensor3("emb", dtype="float32")
    mask = tensor.matrix("mask", dtype="float32")
    f = Backend(fused).function([emb, mask], lstm_layer(tparams, emb, dict(OPTIONS, fused=fused), mask=mask))
    rng = numpy.random.RandomState(1)
    e = rng.randn(5, 3, 6).astype("float32")
    m = numpy.array([[1, 1, 1], [0, 1, 1], [1, 0, 1], [0, 0, 1], [1, 0, 0]], dtype="float32")
    hs = f(e, m)
    expected = numpy_lstm({k: v.astype("float64") for k, v in params.items()}, e, m)
    numpy.testing.assert_allclose(hs, expected, rtol=1e-4, atol=1e-6)
    numpy.testing.assert_array_equal(hs[1, 0], hs[0, 0])  # masked step: h carried unchanged
    assert not numpy.allclose(hs[2, 0], hs[0, 0])  # and c carried, so step 2 continues from step 0
    numpy.testing.assert_array_equal(hs[4, 1], hs[1, 1])


def test_padding_does_not_change_a_reviews_prediction(fused):
    _, _, (use_noise, x, mask, y, f_pred_prob, _, _) = _model(dict(OPTIONS, fused=fused))
    use_noise.set_value(0.0)
    alone = f_pred_prob(*prepare_data([[4, 9]], [0])[:2])
    padded = f_pred_prob(*prepare_data([[4, 9], [1, 2, 3, 4, 5, 6, 7, 8]], [0, 1])[:2])
    numpy.testing.assert_allclose(padded[0], alone[0], rtol=1e-5)


def test_gradients_match_finite_differences_through_the_masked_scan(fused):
    params, tparams, (use_noise, x, mask, y, _, _, cost) = _model(dict(OPTIONS, fused=fused, floatX="float64"))
    use_noise.set_value(0.0)
    grads = tensor.grad(cost, wrt=list(tparams.values()))
    f_cost = Backend(fused).function([x, mask, y], cost)
    f_grads = Backend(fused).function([x, mask, y], grads)
    bx, bmask, by = _batch()
    analytic = dict(zip(tparams, f_grads(bx, bmask, by)))

    rng = numpy.random.RandomState(0)
    eps = 1e-6
    for name, shared in tparams.items():
        value = shared.get_value()
        if name == "Wemb":  # rows of words in the batch
            rows = rng.choice(numpy.unique(bx), 4, replace=False)
            indices = [(r, rng.randint(value.shape[1])) for r in rows]
        else:
            indices = [tuple(rng.randint(s) for s in value.shape) for _ in range(6)]
        for index in indices:
            plus, minus = value.copy(), value.copy()
            plus[index] += eps
            minus[index] -= eps
            shared.set_value(plus)
            c_plus = f_cost(bx, bmask, by)
            shared.set_value(minus)
            c_minus = f_cost(bx, bmask, by)
            shared.set_value(value)
            numeric = (c_plus - c_minus) / (2 * eps)
            assert analytic[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-9), (
                name,
                index,
            )
    # the padding id 0 is never looked up: its embedding gets no gradient
    assert not analytic["Wemb"][[w for w in range(20) if w not in bx]].any()


def test_dropout_changes_at_every_call_while_noise_is_on_and_is_off_otherwise(fused):
    _, _, (use_noise, x, mask, y, f_pred_prob, _, _) = _model(dict(OPTIONS, fused=fused))
    bx, bmask, _ = _batch()
    use_noise.set_value(1.0)
    noisy = [f_pred_prob(bx, bmask) for _ in range(3)]
    assert not numpy.allclose(noisy[0], noisy[1])
    assert not numpy.allclose(noisy[1], noisy[2])
    use_noise.set_value(0.0)
    quiet = [f_pred_prob(bx, bmask) for _ in range(3)]
    numpy.testing.assert_array_equal(quiet[0], quiet[1])
    numpy.testing.assert_array_equal(quiet[0], quiet[2])


def test_dropout_keeps_about_half_of_the_units():
    _, tparams, (use_noise, x, mask, y, f_pred_prob, _, _) = _model()
    # With U = I-like readout on a 2-unit slice, zeroed units show as equal logits.
    zero_hidden = numpy.zeros_like(tparams["U"].get_value())
    zero_hidden[0, 0] = 1.0
    tparams["U"].set_value(zero_hidden)
    tparams["b"].set_value(numpy.zeros(2, dtype="float32"))
    use_noise.set_value(1.0)
    bx, bmask, _ = prepare_data([[5, 6]] * 400, [0] * 400)
    probs = f_pred_prob(bx, bmask)
    dropped = numpy.isclose(probs[:, 0], 0.5)
    assert 0.4 < dropped.mean() < 0.6


def test_dropout_off_in_options_gives_unscaled_output():
    options = dict(OPTIONS, use_dropout=False)
    params, _, (use_noise, x, mask, y, f_pred_prob, _, _) = _model(options)
    bx, bmask, _ = _batch()
    use_noise.set_value(1.0)  # no dropout layer: the switch has no effect
    expected = numpy_forward({k: v.astype("float64") for k, v in params.items()}, bx, bmask, 1.0)
    numpy.testing.assert_allclose(f_pred_prob(bx, bmask), expected, rtol=1e-4, atol=1e-6)


def test_get_minibatches_idx_can_be_walked_twice_and_covers_everything():
    kf = get_minibatches_idx(10, 4)
    first = [list(idx) for _, idx in kf]
    second = [list(idx) for _, idx in kf]  # the tutorial's zip was empty here
    assert first == second == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [n for n, _ in kf] == [0, 1, 2]
    numpy.random.seed(0)
    shuffled = numpy.concatenate([idx for _, idx in get_minibatches_idx(10, 4, shuffle=True)])
    assert sorted(shuffled) == list(range(10)) and list(shuffled) != list(range(10))


def test_pred_error_is_right_on_every_validation_not_only_the_first():
    _, _, (use_noise, x, mask, y, f_pred_prob, f_pred, _) = _model()
    use_noise.set_value(0.0)
    seqs = [[2, 5], [4, 9, 3], [7], [8, 8, 8, 8]]
    predicted = list(f_pred(*prepare_data(seqs, [0] * 4)[:2]))
    data = (seqs, predicted[:2] + [1 - p for p in predicted[2:]])
    kf = get_minibatches_idx(4, 3)
    errors = [pred_error(f_pred, prepare_data, data, kf) for _ in range(3)]
    numpy.testing.assert_allclose(errors, [0.5, 0.5, 0.5])


def test_pred_probs_handles_any_number_of_classes():
    options = dict(OPTIONS, ydim=3)
    _, _, (use_noise, x, mask, y, f_pred_prob, _, _) = _model(options)
    use_noise.set_value(0.0)
    seqs = [[2, 5], [4, 9, 3], [7], [8, 8, 8, 8], [6]]
    probs = pred_probs(f_pred_prob, prepare_data, (seqs, [0, 1, 2, 0, 1]), get_minibatches_idx(5, 2))
    assert probs.shape == (5, 3)
    numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    numpy.testing.assert_allclose(probs[1], f_pred_prob(*prepare_data([seqs[1]], [1])[:2])[0], rtol=1e-5)


def test_zipp_and_unzip_round_trip():
    params, tparams, _ = _model()
    saved = unzip(tparams)
    tparams["U"].set_value(numpy.zeros_like(saved["U"]))
    zipp(saved, tparams)
    numpy.testing.assert_array_equal(tparams["U"].get_value(), saved["U"])
    assert list(saved) == list(params)


def test_load_params_reads_npz_and_checks_it(tmp_path):
    params = init_params(dict(OPTIONS))
    saved = {k: v + 1 for k, v in params.items()}
    path = tmp_path / "m.npz"
    numpy.savez(path, **saved)
    loaded = load_params(str(path), init_params(dict(OPTIONS)))
    for k in params:
        numpy.testing.assert_array_equal(loaded[k], saved[k])

    with pytest.raises(ModelFileError, match="'Wemb' has shape \\(20, 6\\)"):
        load_params(str(path), init_params(dict(OPTIONS, dim_proj=8)))
    numpy.savez(path, **{k: v for k, v in saved.items() if k != "b"})
    with pytest.raises(ModelFileError, match="parameters are not in the archive: b$"):
        load_params(str(path), init_params(dict(OPTIONS)))
    path.write_bytes(b"PK\x03\x04 torn")
    with pytest.raises(ModelFileError, match="not a readable npz"):
        load_params(str(path), init_params(dict(OPTIONS)))
    with pytest.raises(ModelFileError, match="no such npz model file"):
        load_params(str(tmp_path / "missing.npz"), init_params(dict(OPTIONS)))
