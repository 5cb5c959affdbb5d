"""A sweep's space file: the issue's form is read; anything that would fail later is refused first."""

import json
import pathlib

import pytest

from lstm_sentiment.base.errors import OptionError
from lstm_sentiment.sweeps.space import Dimension, parse_space, read_space

EXAMPLE = {
    "fixed": {"dataset": "data/imdb.pkl", "max_epochs": 30},
    "search": {
        "dim_proj": {"choice": [64, 128, 256]},
        "lrate": {"loguniform": [1e-4, 1e-1]},
        "maxlen": {"randint": [50, 400]},
        "optimizer": {"choice": ["adadelta", "rmsprop", "sgd"]},
    },
    "seeds": 2,
}


def test_the_issues_example_is_read_as_it_says():
    space = parse_space(EXAMPLE)
    assert space.fixed == {"dataset": "data/imdb.pkl", "max_epochs": 30} and space.seeds == 2
    assert space.search["maxlen"] == Dimension("randint", (50, 400))
    assert space.search["maxlen"].extremes() == (50, 399)  # the upper bound is excluded
    assert space.search["optimizer"].extremes() == ("adadelta", "rmsprop", "sgd")


def test_the_shipped_example_is_a_valid_space():
    space = read_space(str(pathlib.Path(__file__).parent.parent / "configs" / "sweep-example.json"))
    assert space.seeds == 2 and set(space.search) == {"dim_proj", "lrate", "maxlen", "optimizer"}


def _with(**changes):
    raw = json.loads(json.dumps(EXAMPLE))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        if name:
            raw[section][name] = value
        else:
            raw[section] = value
    return raw


@pytest.mark.parametrize(
    "raw, message",
    [
        ([1, 2], 'expected a JSON object with "search"'),
        ({"fixed": {}}, 'expected a JSON object with "search"'),
        (_with(extra={}), 'expected a JSON object with "search"'),
        (_with(search={}), '"search" with one argument or more'),
        (_with(seeds=0), '"seeds" is 0; it must be a positive integer'),
        (_with(search__dim=dict(choice=[1])), "unknown argument 'dim'"),
        (_with(fixed__seed=3), "seed is set by the sweep for each trial"),
        (_with(search__saveto=dict(choice=["a.npz"])), "saveto is set by the sweep"),
        (_with(fixed__max_epochs=3, search__max_epochs=dict(choice=[1])), "max_epochs is both fixed and searched"),
        (_with(search__lrate=dict(normal=[0, 1])), r"lrate: expected one of \{choice, uniform, loguniform, randint"),
        (
            _with(search__lrate=dict(loguniform=[0, 1])),
            r"loguniform needs \[low, high\], two numbers, low < high and low > 0",
        ),
        (_with(search__lrate=dict(uniform=[0.1, 0.1])), r"uniform needs \[low, high\], two numbers, low < high"),
        (_with(search__maxlen=dict(randint=[50.5, 400])), r"randint needs \[low, high\], two integers"),
        (_with(search__dim_proj=dict(choice=[])), "choice needs a non-empty list"),
        (_with(search__optimizer=dict(choice=["adadelta", "adamw"])), "s.json: optimizer: 'adamw' is not allowed"),
        (_with(search__dim_proj=dict(randint=[0, 8])), "s.json: dim_proj: 0 is not allowed; it must be a positive"),
        (_with(search__lrate=dict(uniform=[-1, 1])), "s.json: lrate: -1 is not allowed"),
        (_with(fixed__batch_size=0), "batch_size: 0 is not allowed"),
        (
            _with(search__dim_proj=dict(uniform=[32, 256])),
            "dim_proj: uniform draws real numbers, but dim_proj takes int",
        ),
        (_with(search__maxlen=dict(loguniform=[50, 400])), "maxlen: loguniform draws real numbers, .* use randint or"),
        (_with(search__optimizer=dict(uniform=[0, 1])), "optimizer: uniform draws real numbers, .*str; use choice$"),
        (_with(search__use_dropout=dict(randint=[0, 2])), "use_dropout: randint draws integers, but .* takes bool"),
        (_with(search__dim_proj=dict(choice=[64, 96.5])), "dim_proj: the choice 96.5 is not of its type, int"),
        (_with(search__use_dropout=dict(choice=[True, 0])), "use_dropout: the choice 0 is not of its type, bool"),
        (_with(fixed__dataset=5), "dataset: 5 is not of its type, str"),
        (_with(fixed__decay_c=1e400), "decay_c: inf is not allowed; it must be a non-negative finite number"),
    ],
)
def test_a_bad_space_is_refused_naming_what_is_wrong(raw, message):
    with pytest.raises(OptionError, match=message):
        parse_space(raw, "s.json")


def test_a_missing_or_unreadable_space_file_is_named(tmp_path):
    with pytest.raises(OptionError, match="nope.json: no such space file"):
        read_space(str(tmp_path / "nope.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(OptionError, match="bad.json: not a readable JSON space file"):
        read_space(str(tmp_path / "bad.json"))


def test_a_range_of_integers_may_search_a_real_argument():
    space = parse_space(_with(search__lrate=dict(randint=[1, 3])))  # whole numbers are real numbers too
    assert space.search["lrate"] == Dimension("randint", (1, 3))
