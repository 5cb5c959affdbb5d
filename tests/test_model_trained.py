import json
import os
import pickle
import shutil
import subprocess
import sys
import threading

import numpy
import pytest

from lstm_sentiment.base.errors import ModelFileError
from lstm_sentiment.imdb import prepare_data
from lstm_sentiment.imdb import read_dictionary as read_dictionary_pkl
from lstm_sentiment.lstm import get_minibatches_idx, pred_probs
from lstm_sentiment.model.files import read_dictionary
from lstm_sentiment.predict import load_model
from lstm_sentiment.train import train_lstm
from lstm_sentiment.training.data import load_splits
from lstm_sentiment.training.options import Options

from conftest import make_acl_imdb, word_task_reviews


def cli(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "lstm_sentiment.predict", *args], input=stdin, capture_output=True, timeout=300
    )


def test_a_model_trained_on_raw_reviews_predicts_their_labels_from_raw_text(word_model):
    path, _, reviews = word_model
    model = load_model(path)
    texts = reviews["test", "pos"] + reviews["test", "neg"]
    labels = numpy.array([1] * 50 + [0] * 50)
    assert (model.predict(texts) == labels).mean() >= 0.95
    assert list(model.predict(["An excellent film.", "A terrible film."])) == [1, 0]


def test_raw_text_the_command_and_pred_probs_agree_with_imdb_pkl(word_model):
    path, data, reviews = word_model
    model = load_model(path)
    with open(os.path.join(data, "imdb.pkl"), "rb") as f:
        pickle.load(f)
        test_x, test_y = pickle.load(f)
    by_name = sorted(range(50), key=lambda i: f"{i}_.txt")  # imdb.pkl's order: sorted file names
    texts = [reviews["test", label][i] for label in ("pos", "neg") for i in by_name]

    from_pkl = pred_probs(
        model.f_pred_prob,
        prepare_data,
        ([[1 if w >= 40 else w for w in x] for x in test_x], test_y),
        get_minibatches_idx(len(test_x), 7),
    )
    from_text = model.predict_proba(texts)
    numpy.testing.assert_allclose(from_text, from_pkl, rtol=1e-5, atol=1e-6)

    done = cli("--model", path, "--format", "json", *texts[:5], texts[-1])
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.decode().splitlines()]
    got = [[r["probabilities"]["negative"], r["probabilities"]["positive"]] for r in rows]
    numpy.testing.assert_allclose(got, from_pkl[[0, 1, 2, 3, 4, 99]], atol=2e-6)
    assert [r["label"] for r in rows] == ["positive"] * 5 + ["negative"]
    assert rows[0]["text"] == texts[0]


@pytest.mark.slow
def test_the_text_format_and_standard_input(word_model):
    path, _, _ = word_model
    done = cli("--model", path, stdin=b"An excellent story.\nA terrible plot.\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("positive\tp(negative)=") and lines[0].endswith("\tAn excellent story.")
    assert lines[1].startswith("negative\t")


def test_long_reviews_in_one_batch_with_short_ones(word_model):
    path, _, _ = word_model
    model = load_model(path)
    long = " ".join(["the film was"] * 300) + " excellent."
    alone = model.predict_proba([long])
    together = model.predict_proba(["A terrible one.", long, "Excellent."])
    numpy.testing.assert_allclose(together[1], alone[0], rtol=1e-5)


def test_one_model_shared_by_threads_gives_each_its_own_answers(word_model):
    """Eight threads, each classifying its own texts again and again with one model: the answers of one
    thread alone. (PyTensor's functions keep inputs and outputs in shared storage.)"""
    path, _, reviews = word_model
    model = load_model(path)
    texts = reviews["test", "pos"] + reviews["test", "neg"]
    jobs = [texts[i::8] for i in range(8)]
    alone = [model.predict_proba(job) for job in jobs]
    results = [[] for _ in jobs]

    def work(k):
        for _ in range(20):
            results[k].append(model.predict_proba(jobs[k]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        assert len(results[k]) == 20 and all(numpy.array_equal(r, alone[k]) for r in results[k])


def test_the_model_compiles_once(word_model):
    model = load_model(word_model[0])
    model.predict(["Excellent."])
    compiled = model.f_pred_prob.fn
    model.predict(["Terrible.", "A film."])
    assert model.f_pred_prob.fn is compiled


def test_a_model_copied_with_its_companions_works_elsewhere(word_model, tmp_path):
    path, _, _ = word_model
    for suffix in ("", ".json", ".dict.json"):
        shutil.copy(path + suffix, tmp_path / f"copy.npz{suffix}")
    assert list(load_model(str(tmp_path / "copy.npz")).predict(["Excellent!"])) == [1]


def test_missing_companions_and_other_bad_input_get_clear_errors(word_model, tmp_path):
    path, data, _ = word_model
    shutil.copy(path, tmp_path / "m.npz")  # no options, no dictionary: a Theano tutorial model
    with pytest.raises(ModelFileError, match="m.npz.dict.json: missing.* --dictionary"):
        load_model(str(tmp_path / "m.npz"))
    done = cli("--model", str(tmp_path / "m.npz"), "--dictionary", os.path.join(data, "imdb.dict.pkl"), "Excellent.")
    assert done.returncode == 0, done.stderr
    assert b"m.npz.json is missing (a model of the Theano tutorial?)" in done.stderr
    assert done.stdout.startswith(b"positive")

    with pytest.raises(ModelFileError, match="nowhere.npz: no such npz model file"):
        load_model(str(tmp_path / "nowhere.npz"))

    for suffix in (".json", ".dict.json"):
        shutil.copy(path + suffix, tmp_path / f"m.npz{suffix}")
    options = json.loads((tmp_path / "m.npz.json").read_text())
    (tmp_path / "m.npz.json").write_text(json.dumps(dict(options, dim_proj=32)))  # not the ones saved with it
    with pytest.raises(ModelFileError, match="m.npz.json: not the options saved with m.npz"):
        load_model(str(tmp_path / "m.npz"))

    model = load_model(path)
    with pytest.raises(ValueError, match="empty text"):
        model.predict(["   "])
    bad = tmp_path / "reviews.txt"
    bad.write_bytes(b"An excellent film.\ncaf\xe9 latin-1\n")
    done = cli("--model", path, "--file", str(bad))
    assert done.returncode == 2
    assert b"reviews.txt, line 2: not UTF-8 text" in done.stderr and b"Traceback" not in done.stderr


def test_a_model_of_words_ranked_by_reviews_reads_raw_text_through_its_own_ranks(tmp_path):
    reviews = word_task_reviews(2, n_train=100, n_test=10)
    for label in ("pos", "neg"):  # a name of many places in few reviews: ranked high by count, low by reviews
        reviews["train", label][0] += " Zorro" * 60
    data, saveto = tmp_path / "data", str(tmp_path / "m.npz")
    options = dict(dataset=str(make_acl_imdb(tmp_path, reviews)), data_dir=str(data), n_words=12, maxlen=0)
    options.update(vocab_by="reviews", dim_proj=8, max_epochs=1, seed=5)
    train_lstm(saveto=saveto, **options)

    original, ranked = read_dictionary_pkl(data / "imdb.dict.pkl"), read_dictionary(saveto)
    numpy.random.seed(5)
    assert ranked == load_splits(Options(**options)).dictionary and ranked.keys() == original.keys()
    assert original["zorro"] < 12 <= ranked["zorro"] and ranked["excellent"] < 12
    with open(data / "imdb.pkl", "rb") as f:
        pickle.load(f)
        test_x, test_y = pickle.load(f)
    word = {i: w for w, i in original.items()}
    test_x = [[ranked[word[i]] if ranked[word[i]] < 12 else 1 for i in x] for x in test_x]  # through the words
    model = load_model(saveto)
    by_name = sorted(range(10), key=lambda i: f"{i}_.txt")  # imdb.pkl's order: sorted file names
    texts = [reviews["test", label][i] for label in ("pos", "neg") for i in by_name]
    from_ids = pred_probs(model.f_pred_prob, prepare_data, (test_x, test_y), get_minibatches_idx(len(test_x), 7))
    numpy.testing.assert_allclose(model.predict_proba(texts), from_ids, rtol=1e-5, atol=1e-6)
    with pytest.raises(
        ModelFileError, match="ranked by reviews .*m.npz.dict.json, not of .*imdb.dict.pkl: use that file"
    ):
        load_model(saveto, str(data / "imdb.dict.pkl"))  # the tutorial's ranks: other ids
