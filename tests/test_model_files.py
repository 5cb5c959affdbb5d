"""A trained model's files: each reader against damaged files, each writer read back."""

import json
import os
import pathlib
import pickle

import numpy
import pytest

from lstm_sentiment.base.errors import DataError, ModelFileError
from lstm_sentiment.imdb import read_dictionary as read_pkl_dictionary
from lstm_sentiment.model.files import member_params, read_dictionary, read_model, read_options, write_model
from lstm_sentiment.model.trained import load_model

from test_report import OPTIONS, params


@pytest.fixture
def model(tmp_path):
    path = str(tmp_path / "m.npz")
    write_model(path, params(), [[0.4, 0.5]], [7], dict(OPTIONS, encoder="lstm"), {"good": 2, "café": 3}, valid_err=0.4)
    return path


def test_what_is_written_is_read_back(model):
    m = read_model(model)
    assert sorted(m.params) == sorted(params())
    numpy.testing.assert_array_equal(m.params["U"], params()["U"])
    assert m.history_errs.tolist() == [[0.4, 0.5]] and m.history_updates.tolist() == [7]
    assert m.final == {"valid_err": 0.4}
    assert read_options(model)["dim_proj"] == 3
    assert read_dictionary(model) == {"good": 2, "café": 3}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a readable npz model file"),
        (b"PK\x03\x04 torn", "not a readable npz model file"),
        (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", "not a readable"),
    ],
)
def test_a_damaged_npz_is_named(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=f"bad.npz: {message}"):
        read_model(str(path))


def test_a_flipped_byte_in_a_member_is_caught_by_its_crc(model):
    path = pathlib.Path(model)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x55
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="m.npz: not a readable npz model file"):
        read_model(model)


def test_companions_missing_or_damaged(model, tmp_path):
    assert read_options(str(tmp_path / "none.npz")) is None
    assert read_dictionary(str(tmp_path / "none.npz")) is None
    pathlib.Path(f"{model}.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match=r"m.npz.json: expected a JSON object of options"):
        read_options(model)
    pathlib.Path(f"{model}.dict.json").write_text('{"good": "two"}')
    with pytest.raises(ModelFileError, match=r"m.npz.dict.json: expected a JSON object of word -> non-negative id"):
        read_dictionary(model)
    pathlib.Path(f"{model}.dict.json").write_text("{")
    with pytest.raises(ModelFileError, match=r"m.npz.dict.json: not readable word dictionary"):
        read_dictionary(model)


def test_the_dictionary_error_paths_of_load_model(model, tmp_path):
    with pytest.raises(ModelFileError, match=r"dict.json: missing. .* --dictionary PATH/imdb.dict.pkl"):
        os.unlink(f"{model}.dict.json")
        load_model(model)
    bad = tmp_path / "imdb.dict.pkl"
    bad.write_bytes(pickle.dumps(["not", "a", "dict"]))
    with pytest.raises(DataError, match="imdb.dict.pkl: expected a pickled dict of word -> id, found a list"):
        load_model(model, dictionary=str(bad))
    with pytest.raises(DataError, match="nowhere.dict.pkl: no such file"):
        read_pkl_dictionary(str(tmp_path / "nowhere.dict.pkl"))


def test_options_that_cannot_build_the_model_are_refused(model):
    options = read_options(model)
    write_model(model, params(), [[0.4, 0.5]], [7], dict(options, dim_proj="three"), {"good": 2})
    with pytest.raises(ModelFileError, match="m.npz.json: dim_proj is 'three', not a positive integer"):
        load_model(model)
    write_model(model, params(), [[0.4, 0.5]], [7], dict(options, dim_proj=4), {"good": 2})
    with pytest.raises(ModelFileError, match=r"'Wemb' has shape \(5, 3\), but dim_proj=4, n_words=5 and ydim=2"):
        load_model(model)


def test_an_ensembles_models_are_read_in_order_and_each_is_checked(model):
    options, first, second = read_options(model), params(), {k: v + 1 for k, v in params().items()}
    write_model(model, member_params([first, second]), [], [], options, {"good": 2})
    m = read_model(model)
    assert len(m.members) == 2 and m.params is m.members[0]
    numpy.testing.assert_array_equal(m.members[1]["lstm_U"], second["lstm_U"])
    probs = load_model(model).predict_proba_ids([[2, 3, 4]])
    models = []
    for k, one in enumerate((first, second)):  # each model alone
        write_model(f"{model}.{k}", one, [], [], options, {"good": 2})
        models.append(load_model(f"{model}.{k}").predict_proba_ids([[2, 3, 4]]))
    numpy.testing.assert_allclose(probs, (models[0] + models[1]) / 2, rtol=1e-6)
    assert not numpy.allclose(models[0], models[1])

    damaged = member_params([first, dict(second, lstm_U=second["lstm_U"][:2])])
    write_model(model, damaged, [], [], options, {"good": 2})
    with pytest.raises(ModelFileError, match=r"'member1/lstm_U' has shape \(2, 12\), but dim_proj=3"):
        load_model(model)
    write_model(model, member_params([first, {}, second]), [], [], options, {"good": 2})  # a gap
    with pytest.raises(ModelFileError, match="not in the archive: member1/Wemb, member1/lstm_W"):
        load_model(model)


def _model_with_companions(tmp_path, dictionary):
    path = str(tmp_path / "c.npz")
    write_model(path, params(), [[0.4, 0.5]], [7], dict(OPTIONS, encoder="lstm"), dictionary)
    return path


def _write_json(path, value):
    """A companion written on its own, as a save killed between its renames leaves one, or a user's copy."""
    pathlib.Path(path).write_text(json.dumps(value))


def test_companions_of_another_model_or_of_a_torn_save_are_refused(tmp_path):
    path = _model_with_companions(tmp_path, {"good": 2, "bad": 3})
    assert load_model(path).dictionary == {"good": 2, "bad": 3}
    _write_json(f"{path}.dict.json", {"good": 3, "bad": 2})
    with pytest.raises(ModelFileError, match=r"c.npz.dict.json: not the dictionary saved with c.npz"):
        load_model(path)
    assert load_model(path, dictionary=write_pkl_dictionary(tmp_path)).dictionary == {"w": 2}  # the user's choice
    _write_json(f"{path}.json", dict(OPTIONS, encoder="lstm", lrate=0.5))
    with pytest.raises(ModelFileError, match=r"c.npz.json: not the options saved with c.npz"):
        load_model(path)


def test_a_dictionary_beside_a_model_saved_without_one_is_refused(tmp_path):
    path = _model_with_companions(tmp_path, None)
    with pytest.raises(ModelFileError, match=r"dict.json: missing"):
        load_model(path)
    _write_json(f"{path}.dict.json", {"stale": 2})  # copied there by hand
    with pytest.raises(ModelFileError, match=r"c.npz.dict.json: not the dictionary saved with c.npz"):
        load_model(path)


def test_a_model_saved_without_a_dictionary_removes_the_one_of_the_model_it_replaces(tmp_path):
    path = _model_with_companions(tmp_path, {"old": 2})
    assert read_dictionary(path) == {"old": 2}
    _model_with_companions(tmp_path, None)
    assert not os.path.exists(f"{path}.dict.json") and read_options(path)["dim_proj"] == 3


def test_a_full_disk_while_the_model_is_written_leaves_all_three_files_as_they_were(tmp_path, monkeypatch):
    """The options and dictionary are written before the npz: the disk filling at the npz's fsync must
    leave the old options and dictionary too, or the old model would no longer load."""
    import errno

    from lstm_sentiment.base.errors import DiskFull

    path = _model_with_companions(tmp_path, {"old": 2})
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    fsync, calls = os.fsync, []

    def full_at_the_third(fd):
        calls.append(fd)
        if len(calls) == 3:  # options, dictionary, then the npz
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full_at_the_third)
    with pytest.raises(DiskFull, match=r"c.npz.json, .*c.npz.dict.json and .*c.npz: cannot write them \(No space"):
        write_model(path, params(), [[0.1, 0.2]], [9], dict(OPTIONS, encoder="lstm", lrate=0.5), {"new": 2})
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before
    assert load_model(path).dictionary == {"old": 2}


def write_pkl_dictionary(tmp_path):
    path = tmp_path / "imdb.dict.pkl"
    path.write_bytes(pickle.dumps({"w": 2}))
    return str(path)
