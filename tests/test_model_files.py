"""A trained model's files: each reader against damaged files, each writer read back."""

import json
import os
import pathlib
import pickle

import numpy
import pytest

from lstm_sentiment.base.errors import DataError, ModelFileError
from lstm_sentiment.imdb import read_dictionary as read_pkl_dictionary
from lstm_sentiment.model.files import (
    read_dictionary,
    read_model,
    read_options,
    write_dictionary,
    write_model,
    write_options,
)
from lstm_sentiment.model.trained import load_model

from test_report import OPTIONS, params


@pytest.fixture
def model(tmp_path):
    path = str(tmp_path / "m.npz")
    write_model(path, params(), [[0.4, 0.5]], [7], valid_err=0.4)
    write_options(path, dict(OPTIONS, encoder="lstm"))
    write_dictionary(path, {"good": 2, "café": 3})
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
    path = pathlib.Path(f"{model}.json")
    options = json.loads(path.read_text())
    path.write_text(json.dumps(dict(options, dim_proj="three")))
    with pytest.raises(ModelFileError, match="m.npz.json: dim_proj is 'three', not a positive integer"):
        load_model(model)
    path.write_text(json.dumps(dict(options, dim_proj=4)))
    with pytest.raises(ModelFileError, match=r"'Wemb' has shape \(5, 3\), but dim_proj=4, n_words=5 and ydim=2"):
        load_model(model)


def _model_with_companions(tmp_path, dictionary):
    """A model saved as training saves it: the companions first, their digests in the npz."""
    path = str(tmp_path / "c.npz")
    digests = dict(
        options=write_options(path, dict(OPTIONS, encoder="lstm")),
        dictionary=write_dictionary(path, dictionary) if dictionary is not None else "",
    )
    write_model(path, params(), [[0.4, 0.5]], [7], companions=digests)
    return path


def test_companions_of_another_model_or_of_a_torn_save_are_refused(tmp_path):
    path = _model_with_companions(tmp_path, {"good": 2, "bad": 3})
    assert load_model(path).dictionary == {"good": 2, "bad": 3}
    write_dictionary(path, {"good": 3, "bad": 2})  # as a save killed between the dictionary and the npz
    with pytest.raises(ModelFileError, match=r"c.npz.dict.json: not the dictionary saved with c.npz"):
        load_model(path)
    assert load_model(path, dictionary=write_pkl_dictionary(tmp_path)).dictionary == {"w": 2}  # the user's choice
    write_options(path, dict(OPTIONS, encoder="lstm", lrate=0.5))
    with pytest.raises(ModelFileError, match=r"c.npz.json: not the options saved with c.npz"):
        load_model(path)


def test_a_dictionary_beside_a_model_saved_without_one_is_refused(tmp_path):
    path = _model_with_companions(tmp_path, None)
    with pytest.raises(ModelFileError, match=r"dict.json: missing"):
        load_model(path)
    write_dictionary(path, {"stale": 2})  # left by an earlier model at this path
    with pytest.raises(ModelFileError, match=r"c.npz.dict.json: not the dictionary saved with c.npz"):
        load_model(path)


def write_pkl_dictionary(tmp_path):
    path = tmp_path / "imdb.dict.pkl"
    path.write_bytes(pickle.dumps({"w": 2}))
    return str(path)
