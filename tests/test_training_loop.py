import json
import os
import pathlib
import pickle
import re
import shutil
import stat
import subprocess
import sys

import numpy
import pytest

from lstm_sentiment.base.errors import DataError, OptionError, TrainingDiverged
from lstm_sentiment.imdb import read_dataset, read_dictionary
from lstm_sentiment.model.files import read_dictionary as read_model_dictionary
from lstm_sentiment.model.files import read_options, write_model
from lstm_sentiment.model.trained import load_model
from lstm_sentiment.report import report
from lstm_sentiment.train import build_parser, main, train_lstm

from conftest import make_archive, marker_reviews, write_pkl

# Small settings shared by the tests, so that PyTensor compiles the model once.
SMALL = dict(dim_proj=16, n_words=40, validFreq=48, saveFreq=48, dispFreq=10)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One training run of the marker task: (returned errors, model path)."""
    folder = tmp_path_factory.mktemp("trained")
    data = write_pkl(folder / "marker.pkl", marker_reviews(800, 0), marker_reviews(200, 1))
    saveto = str(folder / "model.npz")
    errors = train_lstm(dataset=data, saveto=saveto, max_epochs=20, **SMALL)
    return errors, saveto


def test_train_lstm_learns_the_marker_task(trained):
    (train_err, valid_err, test_err), _ = trained
    assert train_err < 0.1
    assert valid_err < 0.15
    assert test_err < 0.15


def test_saved_model_has_the_tutorials_keys_and_history(trained):
    errors, saveto = trained
    with numpy.load(saveto, allow_pickle=False) as f:
        assert set(f.files) == {
            "Wemb",
            "lstm_W",
            "lstm_U",
            "lstm_b",
            "U",
            "b",
            "history_errs",
            "history_updates",
            "options_sha256",
            "dictionary_sha256",
            "early_stop",
            "train_err",
            "valid_err",
            "test_err",
            "test_confusion",  # the final test set's, row the true class: its errors are test_err
        }
        history = f["history_errs"]
        confusion = f["test_confusion"]
        assert confusion.shape == (2, 2) and 1 - numpy.trace(confusion) / confusion.sum() == f["test_err"]
        assert history.ndim == 2 and history.shape[1] == 2 and len(history) >= 5
        numpy.testing.assert_array_equal(f["history_updates"], 48 * numpy.arange(1, len(history) + 1))
        numpy.testing.assert_allclose([f["train_err"], f["valid_err"], f["test_err"]], errors)
        # the saved parameters are the best ones: their valid error is the best in history
        assert float(f["valid_err"]) == pytest.approx(history[:, 0].min(), abs=1e-6)
        assert f["Wemb"].shape == (40, 16)


def test_options_are_saved_as_json_with_the_optimizer_by_name(trained):
    _, saveto = trained
    with open(saveto + ".json") as f:
        options = json.load(f)
    assert options["optimizer"] == "adadelta"
    assert options["dim_proj"] == 16 and options["ydim"] == 2
    assert not os.path.exists(saveto + ".pkl")


def test_reload_model_reads_the_given_path(trained, tmp_path, monkeypatch):
    _, saveto = trained
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(saveto, elsewhere / "best.npz")
    monkeypatch.chdir(tmp_path)  # no lstm_model.npz here: the tutorial's bug would fail
    data = write_pkl(tmp_path / "d.pkl", marker_reviews(800, 0), marker_reviews(200, 1))
    fresh = train_lstm(dataset=data, saveto=None, max_epochs=1, seed=9, **SMALL)
    reloaded = train_lstm(
        dataset=data, saveto=None, max_epochs=1, seed=9, reload_model=str(elsewhere / "best.npz"), **SMALL
    )
    assert fresh[2] > 0.3  # one epoch from scratch has not learned the task
    assert reloaded[2] < 0.15


def test_same_seed_gives_the_same_numbers(marker_pkl, tmp_path):
    runs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        saveto = str(tmp_path / f"{name}.npz")
        train_lstm(dataset=marker_pkl, saveto=saveto, max_epochs=2, seed=seed, **SMALL)
        with numpy.load(saveto) as f:
            runs.append({k: f[k] for k in f.files})
    for k in runs[0]:
        if not k.endswith("_sha256"):  # the options' digest: their saveto differs
            numpy.testing.assert_array_equal(runs[0][k], runs[1][k])
    assert not numpy.array_equal(runs[0]["lstm_U"], runs[2]["lstm_U"])


def test_an_ensemble_trains_its_models_one_after_another_and_is_evaluated_by_their_mean(marker_pkl, tmp_path):
    paths = [str(tmp_path / name) for name in ("one.npz", "three.npz")]
    with open(marker_pkl.replace(".pkl", ".dict.pkl"), "wb") as f:
        pickle.dump({f"w{i}": i for i in range(2, 40)}, f)  # so that each model file can be loaded
    train_lstm(dataset=marker_pkl, saveto=paths[0], max_epochs=2, **SMALL)
    errors = train_lstm(dataset=marker_pkl, saveto=paths[1], max_epochs=2, ensemble=3, **SMALL)
    with numpy.load(paths[0]) as f, numpy.load(paths[1]) as g:
        one, three = dict(f), dict(g)
    names = ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b")
    for name in names:  # the first model: the run without ensemble
        numpy.testing.assert_array_equal(three[name], one[name])
    assert not numpy.array_equal(three["member1/lstm_U"], three["lstm_U"])  # the others: seeds of their own
    assert not numpy.array_equal(three["member2/lstm_U"], three["member1/lstm_U"])
    n, updates = len(one["history_errs"]), three["history_updates"]
    numpy.testing.assert_array_equal(three["history_errs"][:n], one["history_errs"])
    assert three["history_errs"].shape == (3 * n, 2)
    assert three["history_models"].tolist() == [0] * n + [1] * n + [2] * n and "history_models" not in one
    step = updates[n] - updates[0]  # each model's validations, its updates counted on from the one before
    assert step >= updates[n - 1] and (updates[n:] - updates[:-n] == step).all()

    (test_reviews, test_labels), members = read_dataset(marker_pkl)[1], []
    for k in range(3):  # each model alone, as a file of its own
        alone = {name: three[f"member{k}/{name}" if k else name] for name in names}
        write_model(f"{paths[1]}.{k}", alone, [], [], read_options(paths[1]), read_model_dictionary(paths[1]))
        members.append(load_model(f"{paths[1]}.{k}").predict_proba_ids(test_reviews))
    mean = sum(members) / 3
    numpy.testing.assert_allclose(load_model(paths[1]).predict_proba_ids(test_reviews), mean, rtol=1e-5)
    assert errors[2] == three["test_err"] == numpy.mean(mean.argmax(axis=1) != numpy.asarray(test_labels))
    assert "ensemble: 3 models, predicting by the mean" in report(paths[1])
    assert "ensemble:" not in report(paths[0])


@pytest.mark.slow
def test_no_fused_trains_the_plain_graph_to_the_same_model(marker_pkl, tmp_path, monkeypatch):
    """The kernel and the scan graph on the C backend: the same training, up to float32 rounding."""
    import pytensor

    from lstm_sentiment.kernel.build import load, why_unavailable

    if load() is None:
        pytest.skip(f"the LSTM kernel is unavailable: {why_unavailable()}")
    runs, linkers = {}, {}
    compile_function = pytensor.function

    def spy(*args, **kwargs):
        fn = compile_function(*args, **kwargs)
        linkers.setdefault(fused, set()).add((type(fn.maker.linker).__name__, fn.maker.linker.c_thunks))
        ops = {type(n.op).__name__ for n in fn.maker.fgraph.toposort()}
        assert ("LSTM" in ops or "Adadelta" in ops or "Scan" not in ops) if fused else "LSTM" not in ops
        return fn

    monkeypatch.setattr(pytensor, "function", spy)
    for fused in (True, False):
        saveto = str(tmp_path / f"{fused}.npz")
        train_lstm(dataset=marker_pkl, saveto=saveto, max_epochs=2, fused=fused, **SMALL)
        with numpy.load(saveto) as f:
            runs[fused] = {k: f[k] for k in f.files}
    assert linkers == {True: {("VMLinker", False)}, False: {("VMLinker", True)}}
    for k in ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b", "history_errs"):
        numpy.testing.assert_allclose(runs[True][k], runs[False][k], rtol=1e-3, atol=1e-5, err_msg=k)


def test_early_stopping_follows_the_tutorials_rule(tmp_path):
    rng = numpy.random.RandomState(6)
    noise = lambda n: (
        [list(rng.randint(2, 40, size=rng.randint(2, 20))) for _ in range(n)],
        list(rng.randint(0, 2, size=n)),
    )
    data = write_pkl(tmp_path / "noise.pkl", noise(400), noise(100))
    saveto = str(tmp_path / "m.npz")
    patience = 2
    train_lstm(
        dataset=data, saveto=saveto, max_epochs=60, patience=patience, **dict(SMALL, validFreq=3, valid_portion=0.2)
    )
    with numpy.load(saveto) as f:
        valid = f["history_errs"][:, 0]

    # the tutorial's rule: a new best resets the count of validations that
    # fail to beat the best of all but the last `patience`; stop past `patience`
    bad_counter, resets, stop = 0, 0, None
    for k in range(len(valid)):
        if valid[k] <= valid[: k + 1].min():
            resets += bad_counter > 0
            bad_counter = 0
        if k + 1 > patience and valid[k] >= valid[: k + 1 - patience].min():
            bad_counter += 1
            if bad_counter > patience:
                stop = k
                break
    assert stop is not None, "labels are noise: validation error must stall"
    assert resets > 0, "this run must exercise the reset of bad_counter"
    assert len(valid) == stop + 1


def _diverging_model(trained, tmp_path):
    """The trained model with huge finite weights (an infinite one is refused at load): every gate
    saturates, h is near 1, both classes' scores overflow to inf, and the softmax gives inf - inf = NaN
    at update 1."""
    _, saveto = trained
    with numpy.load(saveto) as f:
        params = {k: f[k] for k in ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b")}
    params["Wemb"][:], params["lstm_W"][:], params["U"][:] = 3e38, 1.0, 3e38
    numpy.savez(tmp_path / "inf.npz", **params)
    return str(tmp_path / "inf.npz")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # on purpose
def test_diverging_cost_stops_with_a_clear_message(trained, marker_pkl, tmp_path):
    inf = _diverging_model(trained, tmp_path)
    with pytest.raises(TrainingDiverged, match=r"bad cost detected: (nan|inf) at update 1 \(epoch 0\)"):
        train_lstm(
            dataset=marker_pkl,
            saveto=str(tmp_path / "m.npz"),
            max_epochs=3,
            reload_model=inf,
            **SMALL,
        )


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # on purpose
def test_a_run_that_fails_before_its_first_save_leaves_the_model_there_as_it_was(trained, marker_pkl, tmp_path):
    """The dictionary is written with the model, not at the start: the old model keeps its own."""
    from lstm_sentiment.data.imdb import dictionary_beside, write_dictionary

    inf = _diverging_model(trained, tmp_path)
    write_dictionary(dictionary_beside(marker_pkl), {f"w{i}": i for i in range(2, 40)})
    model = tmp_path / "m.npz"
    existing = {model: b"the model that was there", pathlib.Path(f"{model}.json"): b"{}"}
    existing[pathlib.Path(f"{model}.dict.json")] = b'{"its": 2, "own": 3, "words": 4}'
    for path, data in existing.items():
        path.write_bytes(data)
    with pytest.raises(TrainingDiverged, match="at update 1 "):
        train_lstm(dataset=marker_pkl, saveto=str(model), max_epochs=3, reload_model=inf, **SMALL)
    assert {path: path.read_bytes() for path in existing} == existing


def test_saveto_that_is_not_a_regular_file_is_refused_before_any_work(tmp_path):
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    proc = _cli(["--saveto", str(fifo), "--dataset", str(tmp_path / "missing.pkl")])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2 and out.count("\n") == 1, out
    assert "saveto: " in out and "is not a regular file" in out and "Traceback" not in out
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # left as it was


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(dim_proj=0), "dim_proj: 0 is not allowed; it must be a positive integer"),
        (dict(batch_size=-3), "batch_size: -3"),
        (dict(n_words=1), "n_words: 1 is not allowed; it must be an integer >= 2"),
        (dict(validFreq=0), "validFreq: 0 .* or -1"),
        (dict(lrate=-1.0), "lrate: -1.0"),
        (dict(valid_portion=1.0), "valid_portion: 1.0 .* strictly between 0 and 1"),
        (dict(optimizer="nadam"), "optimizer: 'nadam' is not allowed; it must be one of sgd, adadelta, rmsprop, adam"),
        (dict(truncate=-1), "truncate: -1 is not allowed; it must be a non-negative integer"),
        (dict(bucket=2.5), "bucket: 2.5 is not allowed"),
        (dict(truncate_keep="middle"), "truncate_keep: 'middle' is not allowed; it must be head, tail or random"),
        (dict(saveto="/no/such/folder/m.npz"), "saveto: .*\\(/no/such/folder does not exist\\)"),
        (dict(reload_model="/no/such.npz"), "reload_model: '/no/such.npz' .* existing model file"),
        (dict(max_epochs=0), "max_epochs: 0"),
        (dict(patience=-1), "patience: -1"),
        (dict(dispFreq=0), "dispFreq: 0"),
        (dict(saveFreq=-2), "saveFreq: -2 .* or -1"),
        (dict(valid_portion=0.0), "valid_portion: 0.0"),
        (dict(decay_c=-0.5), "decay_c: -0.5"),
        (dict(test_size=0), "test_size: 0 .* or -1"),
        (dict(maxlen=2), "maxlen: 2 leaves 0 training and 0 validation reviews"),
        (dict(maxlen=2, vocab_by="reviews"), "maxlen: 2 leaves 0 training and 0 validation reviews"),
        (dict(vocab_by="words"), "vocab_by: 'words' is not allowed; it must be count or reviews"),
        (dict(test_size=5000), "test_size: 5000 is larger than the test set \\(200 reviews\\)"),
        (dict(lrate=float("inf")), "lrate: inf is not allowed; it must be a positive finite number"),
        (dict(lrate=float("nan")), "lrate: nan is not allowed"),
        (dict(decay_c=float("inf")), "decay_c: inf is not allowed; it must be a non-negative finite number"),
        (dict(lrate_decay=float("nan")), "lrate_decay: nan is not allowed"),
        (dict(dim_proj=100_000), "dim_proj 100000 and n_words 40: .* need about .* GiB, more than this machine's"),
        (dict(n_words=10**9), "dim_proj 16 and n_words 1000000000: .* more than this machine's .* GiB of memory"),
    ],
)
def test_bad_arguments_get_a_message_naming_them(marker_pkl, changes, message):
    with pytest.raises(OptionError, match=message):
        train_lstm(**dict(dict(dataset=marker_pkl, saveto=None, max_epochs=1, **SMALL), **changes))


def test_dataset_imdb_builds_imdb_pkl_in_the_data_folder_from_an_archive_there(acl_imdb, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    make_archive(data / "aclImdb_v1.tar.gz", acl_imdb)
    monkeypatch.setenv("LSTM_SENTIMENT_DATA", str(data))
    small = dict(SMALL, validFreq=1, maxlen=0, valid_portion=0.4)
    errors = train_lstm(saveto=None, max_epochs=1, **small)  # no network: the archive is there
    (train_x, train_y), (test_x, _) = read_dataset(data / "imdb.pkl")
    assert (len(train_x), train_y, len(test_x)) == (5, [1, 1, 1, 0, 0], 2)
    assert "great" in read_dictionary(data / "imdb.dict.pkl")
    assert errors[2] * 2 == round(errors[2] * 2)  # an error rate over the archive's 2 test reviews
    write_pkl(data / "imdb.pkl", marker_reviews(200, 0), marker_reviews(50, 1))
    train_lstm(saveto=None, max_epochs=1, **small)  # an imdb.pkl there is used as it is
    with open(data / "imdb.pkl", "rb") as f:
        assert len(pickle.load(f)[0]) == 200


@pytest.mark.parametrize("kind", ["folder", "archive"])
def test_dataset_can_be_a_folder_or_an_archive(acl_imdb, tmp_path, kind):
    source = acl_imdb if kind == "folder" else make_archive(tmp_path / "a.tar.gz", acl_imdb)
    data = tmp_path / "cache"
    data.mkdir()
    train_lstm(
        dataset=str(source),
        data_dir=str(data),
        saveto=None,
        max_epochs=1,
        **dict(SMALL, validFreq=1, maxlen=0, valid_portion=0.4),
    )
    (train_x, train_y), _ = read_dataset(data / "imdb.pkl")
    assert (len(train_x), train_y) == (5, [1, 1, 1, 0, 0])


def test_a_missing_dataset_is_named(tmp_path):
    with pytest.raises(DataError, match="nothing.pkl: no such file or folder"):
        train_lstm(dataset=str(tmp_path / "nothing.pkl"), saveto=None, **SMALL)


def test_flags_use_the_tutorials_names_with_kebab_case_aliases(capsys):
    parser = build_parser()
    a = parser.parse_args(["--validFreq", "5", "--dim_proj", "8", "--no-use_dropout"])
    b = parser.parse_args(["--valid-freq", "5", "--dim-proj", "8", "--no-use-dropout"])
    assert vars(a) == vars(b)
    assert a.validFreq == 5 and a.dim_proj == 8 and a.use_dropout is False
    assert parser.parse_args([]).optimizer == "adadelta"
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    help_text = capsys.readouterr().out
    for flag in (
        "--dim_proj",
        "--patience",
        "--max_epochs",
        "--dispFreq",
        "--decay_c",
        "--lrate",
        "--n_words",
        "--optimizer",
        "--saveto",
        "--validFreq",
        "--saveFreq",
        "--maxlen",
        "--batch_size",
        "--valid_batch_size",
        "--use_dropout",
        "--reload_model",
        "--test_size",
        "--dataset",
        "--seed",
        "--mode",
    ):
        assert flag in help_text
    assert "(default: 128)" in help_text and "(default: 370)" in help_text


def _cli(args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "lstm_sentiment.train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _small_flags():
    return [f"--{k}={v}" for k, v in SMALL.items()]


@pytest.mark.slow
def test_command_line_trains_the_marker_task(marker_pkl, tmp_path):
    saveto = str(tmp_path / "cli.npz")
    proc = _cli(["--dataset", marker_pkl, "--saveto", saveto, "--max-epochs", "20", *_small_flags()])
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "Epoch 0 Update 10 Cost" in out
    assert "Train " in out and " Valid " in out and " Test " in out
    assert "Traceback" not in out and "RuntimeWarning" not in out
    with numpy.load(saveto) as f:
        assert f["test_err"] < 0.15


@pytest.mark.slow
def test_command_line_reports_bad_input_without_a_traceback(tmp_path):
    proc = _cli(["--dataset", str(tmp_path / "missing.pkl"), "--saveto", ""])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "missing.pkl: no such file or folder" in out and "Traceback" not in out

    proc = _cli(["--batch_size", "0"])
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2
    assert "batch_size: 0 is not allowed" in out and "Traceback" not in out


@pytest.mark.slow
def test_default_configuration_learns_the_real_reviews(real_preprocessed, tmp_path):
    # The tutorial's defaults, on the reviews this package preprocessed from the real archive;
    # 12 epochs, validating once per epoch on 500 test reviews.
    # 57.7% of the training reviews under maxlen are positive: chance is an error of 0.42.
    train_err, valid_err, test_err = train_lstm(
        dataset=real_preprocessed[0],
        saveto=str(tmp_path / "imdb.npz"),
        max_epochs=12,
        validFreq=-1,
        test_size=500,
    )
    assert train_err < 0.25
    assert valid_err < 0.35
    assert test_err < 0.4


def test_the_flag_table_of_the_docs_is_the_help():
    """Every flag of --help is a row of docs/flags.md's table, with the same default and description."""
    readme = (pathlib.Path(__file__).parent.parent / "docs" / "flags.md").read_text()
    rows = re.findall(r"^\| `--(\w+)` \| `([^`]*)` \| (.*) \|$", readme, flags=re.M)
    actions = {a.dest: a for a in build_parser()._actions if a.dest != "help"}
    assert [name for name, _, _ in rows] == list(actions)
    for name, default, meaning in rows:
        assert actions[name].help.startswith(meaning), name
        assert f"(default: {default})" in actions[name].help or "(default:" in meaning, name


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, lrate, epochs", [("sgd", 5.0, 20), ("rmsprop", 0.01, 10)])
def test_sgd_and_rmsprop_learn_the_marker_task_through_train_lstm(marker_pkl, optimizer, lrate, epochs):
    errors = train_lstm(dataset=marker_pkl, saveto="", max_epochs=epochs, optimizer=optimizer, lrate=lrate, **SMALL)
    assert errors[2] < 0.1, errors


def test_weight_decay_shrinks_the_classifier(marker_pkl, tmp_path):
    norms = {}
    for decay_c in (0.0, 0.5):
        saveto = str(tmp_path / f"{decay_c}.npz")
        train_lstm(dataset=marker_pkl, saveto=saveto, max_epochs=3, decay_c=decay_c, **SMALL)
        with numpy.load(saveto) as f:
            norms[decay_c] = (numpy.linalg.norm(f["U"]), numpy.linalg.norm(f["lstm_U"]))
    assert norms[0.5][0] < 0.5 * norms[0.0][0]  # U, and U alone, is decayed
    assert norms[0.5][1] == pytest.approx(norms[0.0][1], rel=0.2)


def test_test_size_evaluates_a_random_subset_of_the_test_set(marker_pkl, caplog):
    caplog.set_level("INFO", logger="lstm_sentiment")
    _, _, test_err = train_lstm(dataset=marker_pkl, saveto="", max_epochs=1, test_size=7, **SMALL)
    assert "7 test examples" in caplog.text and "200 test examples" not in caplog.text
    assert round(test_err * 7, 6) == round(test_err * 7)  # an error rate over 7 reviews


def test_truncate_cuts_training_reviews_only_unless_asked(marker_pkl):
    from lstm_sentiment.training.data import load_splits
    from lstm_sentiment.training.options import Options

    def splits(**changes):
        numpy.random.seed(0)
        return load_splits(Options(dataset=marker_pkl, maxlen=0, **changes))

    whole, head = splits(), splits(truncate=5, truncate_keep="head")
    tail, random = splits(truncate=5, truncate_keep="tail"), splits(truncate=5)
    assert max(map(len, whole.train[0])) > 5 and max(map(len, head.train[0])) == 5
    assert head.train[0] == [r[:5] for r in whole.train[0]] and head.train[1] == whole.train[1]
    assert tail.train[0] == [r[-5:] for r in whole.train[0]]
    assert head.valid == whole.valid and head.test == whole.test  # evaluation sees whole reviews
    assert random.train == whole.train  # random windows are drawn for each minibatch, in training
    cut = splits(truncate=5, truncate_keep="tail", truncate_eval=True)
    assert cut.valid[0] == [r[-5:] for r in whole.valid[0]] and cut.test[0] == [r[-5:] for r in whole.test[0]]


def test_vocab_by_reviews_keeps_the_words_of_the_most_training_reviews_in_every_split_and_the_dictionary(
    tmp_path,
):
    from lstm_sentiment.data.imdb import write_dictionary
    from lstm_sentiment.training.data import load_splits
    from lstm_sentiment.training.options import Options

    words = ["name", "the", "good", "bad", "plot", "dull"]  # ids 2 to 7, ranked by count as the tutorial ranks
    train = [[2] * 40 + [3, 4], [3, 5, 6], [3, 4, 7], [3, 5, 7], [3, 4, 6], [3, 5]] * 4, [1, 0, 1, 0, 1, 0] * 4
    path = write_pkl(tmp_path / "d.pkl", train, ([[2, 4, 5, 6, 7, 3]], [1]))
    write_dictionary(str(tmp_path / "d.dict.pkl"), {w: i + 2 for i, w in enumerate(words)})

    def splits(**changes):
        numpy.random.seed(0)
        return load_splits(Options(dataset=path, maxlen=0, valid_portion=0.25, **changes))

    count, reviews, whole = splits(n_words=5), splits(n_words=5, vocab_by="reviews"), splits(n_words=100)
    even = write_pkl(tmp_path / "e.pkl", ([[w] for w in range(2, 12)] * 4, [0, 1] * 20), ([[2]], [1]))
    write_dictionary(str(tmp_path / "e.dict.pkl"), {f"w{w}": w for w in range(2, 12)})
    for seed in (1, 2, 3):  # other validation reviews, the same ranks: all the training reviews count
        numpy.random.seed(seed)
        ranked = load_splits(Options(dataset=even, maxlen=0, valid_portion=0.25, vocab_by="reviews"))
        assert ranked.dictionary == {f"w{w}": w for w in range(2, 12)}  # 4 reviews each: the old order
    assert {w for w, i in count.dictionary.items() if i < 5} == {"name", "the", "good"}  # "name": 160 places
    assert {w for w, i in reviews.dictionary.items() if i < 5} == {"the", "good", "bad"}  # "name": 4 reviews
    assert reviews.dictionary["the"] == 2 and sorted(reviews.dictionary.values()) == list(range(2, 8))
    old = {i: w for w, i in whole.dictionary.items()}
    for got, every in ((reviews.train, whole.train), (reviews.valid, whole.valid), (reviews.test, whole.test)):
        ids = [[reviews.dictionary[old[i]] for i in r] for r in every[0]]  # each word's new id, through the words
        assert got == ([[i if i < 5 else 1 for i in r] for r in ids], every[1])
    assert reviews.test[0][0][0] == 1 and reviews.test[0][0][-1] == 2  # "name" unknown, "the" first


def test_vocab_by_reviews_keeps_an_empty_review_empty():
    from lstm_sentiment.training.data import _by_reviews

    splits = [([[2, 3, 3], [], [3]], [0, 1, 0]), ([[3], []], [1, 0]), ([[]], [0])]  # 3 in 3 reviews, 2 in 1
    train, valid, test, dictionary = _by_reviews(splits, {"a": 2, "b": 3}, 4)
    assert train == ([[3, 2, 2], [], [2]], [0, 1, 0]) and valid == ([[2], []], [1, 0]) and test == ([[]], [0])
    assert dictionary == {"a": 3, "b": 2}


def test_random_windows_change_with_each_epoch_and_keep_the_truncated_length(marker_pkl, monkeypatch):
    from lstm_sentiment.training import loop

    seen = []
    real = loop.prepare_data
    monkeypatch.setattr(loop, "prepare_data", lambda seqs, labels, **kw: seen.append(seqs) or real(seqs, labels, **kw))
    train_lstm(dataset=marker_pkl, saveto="", max_epochs=2, truncate=6, bucket=2, **SMALL)
    training = [s for s in seen if len(s) == 16]  # the full training minibatches: 47 in each epoch (760 reviews)
    assert len(training) == 94 and all(len(r) <= 6 for batch in training for r in batch)
    first, second = ({tuple(r) for batch in training[e * 47 : (e + 1) * 47] for r in batch} for e in (0, 1))
    assert first != second  # the same reviews, other windows


def test_word_dropout_hides_words_of_training_minibatches_only(marker_pkl, monkeypatch):
    from lstm_sentiment.training import loop

    seen = []
    real = loop.prepare_data
    monkeypatch.setattr(loop, "prepare_data", lambda seqs, labels, **kw: seen.append(seqs) or real(seqs, labels, **kw))
    options = dict(SMALL, max_epochs=3, word_dropout=0.2, optimizer="adam", lrate=0.01)
    errors = train_lstm(dataset=marker_pkl, saveto="", **options)
    training = [s for s in seen if len(s) == 16]  # full training minibatches
    evaluation = [s for s in seen if len(s) == 64]  # full evaluation batches
    unknown = numpy.mean([w == 1 for batch in training for r in batch for w in r])
    assert 0.15 < unknown < 0.25, unknown  # the marker data has no unknown word of its own
    assert not any(w == 1 for batch in evaluation for r in batch for w in r)
    assert errors[1] < 0.1 and errors[2] < 0.1, errors  # the marker still gets through


def test_adam_with_truncation_buckets_and_valid_only_learns_the_marker_task(marker_pkl, tmp_path, caplog):
    caplog.set_level("INFO", logger="lstm_sentiment")
    saveto = str(tmp_path / "adam.npz")
    options = dict(SMALL, optimizer="adam", lrate=0.01, truncate=20, bucket=4, valid_only=True, max_epochs=4)
    errors = train_lstm(dataset=marker_pkl, saveto=saveto, **options)
    assert errors[1] < 0.1 and errors[2] < 0.1, errors
    with numpy.load(saveto) as f:
        history = f["history_errs"]
        assert numpy.isnan(history[:, 1]).all() and numpy.isfinite(history[:, 0]).all()  # test: once, at the end
        assert f["test_err"] == errors[2]
    assert "Valid " in caplog.text and "Train 0." in caplog.text  # "Train" only in the final line
    assert caplog.text.count("Train ") == 1


def _config(tmp_path, values, name="c.json"):
    path = tmp_path / name
    path.write_text(json.dumps(values) if not isinstance(values, str) else values)
    return str(path)


def test_config_file_then_flags_give_the_options(tmp_path, monkeypatch):
    from lstm_sentiment import train as command
    from lstm_sentiment.training import loop

    seen = {}
    monkeypatch.setattr(loop, "train_lstm", lambda **options: seen.update(options))
    config = _config(tmp_path, {"dim_proj": 64, "lrate": 0.5, "optimizer": "adam", "ydim": 2, "use_dropout": False})
    command.train_from_flags(["--config", config, "--lrate", "0.25"])
    assert seen["dim_proj"] == 64 and seen["optimizer"] == "adam" and not seen["use_dropout"]  # from the file
    assert seen["lrate"] == 0.25  # the flag wins over the file
    assert seen["batch_size"] == 16 and "config" not in seen and "ydim" not in seen  # defaults elsewhere
    command.train_from_flags(["--use_dropout", "--config", config])
    assert seen["use_dropout"] is True  # wherever the flag is


@pytest.mark.parametrize(
    "values, message",
    [
        ({"dim_proj": 64, "dim": 3}, "c.json: unknown argument 'dim'; see --help"),
        ({"dim_proj": "64"}, "c.json: dim_proj: '64' has type str; it must be int"),
        ({"use_dropout": 1}, "c.json: use_dropout: 1 has type int; it must be bool"),
        ({"maxlen": 1.5}, "c.json: maxlen: 1.5 has type float; it must be int or null"),
        ("[1, 2]", "c.json: expected a JSON object of options"),
        ("{not json", "c.json: not readable JSON options"),
    ],
)
def test_a_bad_config_file_is_named_with_what_is_wrong(tmp_path, values, message):
    from lstm_sentiment.training.options import read_config

    with pytest.raises(Exception, match=message) as e:
        read_config(_config(tmp_path, values))
    assert isinstance(e.value, ValueError)  # an Error: one line and status 2 on the command line
    assert main(["--config", str(tmp_path / "c.json")]) == 2
    assert main(["--config", str(tmp_path / "missing.json")]) == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"lrate": 1e400}', "lrate: inf is not allowed; it must be a positive finite number"),
        ('{"lrate": Infinity}', "lrate: inf is not allowed"),
        ('{"decay_c": NaN}', "decay_c: nan is not allowed"),
        ('{"dim_proj": 1000000000}', "dim_proj 1000000000 and n_words 10000: the parameters and the adadelta"),
    ],
)
def test_a_config_of_non_finite_numbers_or_absurd_sizes_is_refused_before_any_work(tmp_path, capsys, text, message):
    assert main(["--config", _config(tmp_path, text), "--dataset", "/nonexistent.pkl", "--saveto", ""]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err  # before the dataset is looked for


def test_the_memory_estimate_counts_the_arrays_a_run_keeps(marker_pkl):
    """The estimate's parameters and optimizer state against the shared variables a compiled run holds."""
    from lstm_sentiment.model.files import PARAMS
    from lstm_sentiment.model.optimizers import optimizers
    from lstm_sentiment.training.loop import Training
    from lstm_sentiment.training.options import OPTIMIZERS as STATE_ARRAYS
    from lstm_sentiment.training.options import Options

    assert list(STATE_ARRAYS) == list(optimizers)  # every optimizer weighed, and no other

    for optimizer in STATE_ARRAYS:
        options = Options(dataset=marker_pkl, saveto="", dim_proj=8, n_words=40, optimizer=optimizer, floatX="float64")
        shared = Training(options).model.shared()
        params = sum(v.get_value().nbytes for k, v in shared.items() if k in PARAMS)
        values = [v.get_value() for v in shared.values()]  # the float arrays: not the RNG, counters, rows' steps
        kept = sum(v.nbytes for v in values if isinstance(v, numpy.ndarray) and v.dtype.kind == "f" and v.size > 1)
        estimate = options.memory_needed()  # parameters and state twice (a save's copies), gradients, best
        copies, table = 2 * (1 + STATE_ARRAYS[optimizer]) + 2, 40 * 4 * 8 * 8  # the word table: n_words x 4 dim
        assert kept == params * (1 + STATE_ARRAYS[optimizer]), optimizer
        assert estimate == params * copies + table, optimizer


def test_minibatches_too_large_for_the_memory_are_refused_once_their_lengths_are_known(marker_pkl, monkeypatch):
    """The marker task's reviews have up to 24 words: 800 of them by 24 steps by 8 numbers of 16 units."""
    from lstm_sentiment.training import options

    small = dict(dataset=marker_pkl, saveto="", max_epochs=1, maxlen=0, **SMALL)
    needed = options.Options(**small, floatX="float32").memory_needed()
    batch = 24 * 760 * 8 * 16 * 4  # the longest review, the training reviews, 8 numbers of dim_proj each
    monkeypatch.setattr(options, "memory_bytes", lambda: needed + batch - 1)
    with pytest.raises(OptionError, match=r"batch_size 760 and valid_batch_size 64: minibatches of reviews of up to"):
        train_lstm(**small, batch_size=760, floatX="float32")
    monkeypatch.setattr(options, "memory_bytes", lambda: needed + batch)
    train_lstm(**small, batch_size=760, floatX="float32")  # just fits


def test_the_saved_options_of_a_model_are_a_config(trained, monkeypatch):
    from lstm_sentiment import train as command
    from lstm_sentiment.training import loop

    seen = {}
    monkeypatch.setattr(loop, "train_lstm", lambda **options: seen.update(options))
    command.train_from_flags(["--config", trained[1] + ".json"])
    with open(trained[1] + ".json") as f:
        saved = json.load(f)
    assert seen == {k: v for k, v in saved.items() if k != "ydim"}


CONFIGS = pathlib.Path(__file__).parent.parent / "configs"


def test_the_shipped_configs_load_and_pass_the_checks():
    from lstm_sentiment.training.options import Options, read_config

    tutorial = read_config(str(CONFIGS / "tutorial.json"))
    assert tutorial == Options().to_dict()  # the tutorial's defaults, every one
    full = Options(**read_config(str(CONFIGS / "full.json")))
    full.check()
    assert full.maxlen == 0 and full.truncate > 0 and full.bucket > 0  # every training review, cut
    best = Options(**read_config(str(CONFIGS / "best.json")))
    best.check()
    assert best.bidirectional and best.pooling == "mean_max" and best.ensemble == 3 and best.n_words == 5000
    assert best.vocab_by == "reviews" and full.vocab_by == "count"
    changed = ("bidirectional", "pooling", "ensemble", "n_words", "vocab_by", "saveto")
    assert {k: v for k, v in best.to_dict().items() if k not in changed} == {
        k: v for k, v in full.to_dict().items() if k not in changed
    }  # the full recipe, with the encoder beside the tutorial's, three times, and half its words, by reviews


def test_lrate_decay_scales_the_step_of_each_epoch(marker_pkl, tmp_path):
    def wemb(epochs, decay):
        saveto = str(tmp_path / f"{epochs}-{decay}.npz")
        options = dict(SMALL, validFreq=10**6, optimizer="sgd", lrate=1.0, lrate_decay=decay)  # the last parameters
        train_lstm(dataset=marker_pkl, saveto=saveto, max_epochs=epochs, **options)
        with numpy.load(saveto) as f:
            return f["Wemb"]

    one = wemb(1, 1.0)
    assert numpy.abs(wemb(2, 1e-9) - one).max() < 1e-6  # the second epoch's steps are a billionth
    assert numpy.abs(wemb(2, 1.0) - one).max() > 1e-3


def test_on_validation_sees_every_validation_as_history_errs_records_it(marker_pkl, tmp_path):
    seen = []
    saveto = str(tmp_path / "m.npz")
    train_lstm(dataset=marker_pkl, saveto=saveto, max_epochs=3, on_validation=seen.append, **SMALL)
    with numpy.load(saveto) as f:
        history, updates = f["history_errs"], f["history_updates"]
    assert [v.update for v in seen] == list(updates) and len(seen) >= 2
    assert [[v.valid_err, v.test_err] for v in seen] == history.tolist()
    assert [v.epoch for v in seen] == [(u - 1) // 48 for u in updates]  # 760 reviews: 48 minibatches an epoch
    assert all(0 <= v.train_err <= 1 for v in seen)
