"""A sweep's search space, from its JSON file: the fixed arguments, the searched ones, the seeds.

    {"fixed": {"dataset": "data/imdb.pkl", "max_epochs": 30},
     "search": {"dim_proj": {"choice": [64, 128, 256]}, "lrate": {"loguniform": [1e-4, 1e-1]}},
     "seeds": 2}

Kinds: ``choice`` (a list of values), ``uniform`` and ``loguniform`` (a range
of numbers), ``randint`` (a range of integers, the upper bound excluded).
Each kind must draw values of the argument's type (``uniform`` on an integer
argument is refused: use ``randint``), and every value a search can draw is
checked against train_lstm's own option checks before anything starts.
"""

import dataclasses
import json
import math

from ..base.errors import OptionError
from ..training.options import Options, has_type, option_types, type_name

KINDS = ("choice", "uniform", "loguniform", "randint")
# set by the sweep for each trial: never fixed or searched
SET_BY_SWEEP = ("seed", "saveto", "resume", "reload_model")


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched argument: its kind and the values (choice) or bounds (the others)."""

    kind: str
    values: tuple

    def extremes(self):
        """The values to check: every choice, or both ends of a range (the upper one of randint: minus 1)."""
        if self.kind == "randint":
            return (self.values[0], self.values[1] - 1)
        return self.values


@dataclasses.dataclass(frozen=True)
class Space:
    fixed: dict
    search: dict  # name -> Dimension
    seeds: int


def read_space(path):
    """The ``Space`` of the JSON file at ``path``; OptionError naming the file and what is wrong."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise OptionError(f"{path}: no such space file") from None
    except (OSError, ValueError) as e:
        raise OptionError(f"{path}: not a readable JSON space file ({e})") from None
    return parse_space(raw, path)


def parse_space(raw, where="space"):
    """The ``Space`` of a dict in the file's format; OptionError for anything that would fail later."""
    if not isinstance(raw, dict) or set(raw) - {"fixed", "search", "seeds"} or "search" not in raw:
        raise OptionError(f'{where}: expected a JSON object with "search" and, optionally, "fixed" and "seeds"')
    fixed, search, seeds = raw.get("fixed", {}), raw["search"], raw.get("seeds", 1)
    if not isinstance(fixed, dict) or not isinstance(search, dict) or not search:
        raise OptionError(f'{where}: "fixed" and "search" must be JSON objects, "search" with one argument or more')
    if not (isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1):
        raise OptionError(f'{where}: "seeds" is {seeds!r}; it must be a positive integer')
    names = list(fixed) + list(search)
    Options.from_dict(dict.fromkeys(names), where)  # unknown arguments
    for name in names:
        if name in SET_BY_SWEEP:
            raise OptionError(f"{where}: {name} is set by the sweep for each trial; remove it")
        if name in fixed and name in search:
            raise OptionError(f"{where}: {name} is both fixed and searched")
        if name in fixed and not has_type(name, fixed[name]):
            raise OptionError(f"{where}: {name}: {fixed[name]!r} is not of its type, {type_name(name)}")
    space = Space(fixed, {name: _dimension(name, spec, where) for name, spec in search.items()}, seeds)
    _check_values(space, where)
    return space


def _dimension(name, spec, where):
    if not (isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in KINDS):
        raise OptionError(f"{where}: {name}: expected one of {{{', '.join(KINDS)}: ...}}, found {spec!r}")
    ((kind, values),) = spec.items()
    if kind == "choice":
        if not (isinstance(values, list) and values):
            raise OptionError(f"{where}: {name}: choice needs a non-empty list of values, found {values!r}")
        for value in values:
            if not has_type(name, value):
                raise OptionError(f"{where}: {name}: the choice {value!r} is not of its type, {type_name(name)}")
        return Dimension(kind, tuple(values))
    draws = int if kind == "randint" else float
    if draws not in option_types(name) and not (draws is int and float in option_types(name)):
        raise OptionError(
            f"{where}: {name}: {kind} draws {'integers' if draws is int else 'real numbers'}, but {name} takes "
            f"{type_name(name)}; use {'randint or ' if int in option_types(name) else ''}choice"
        )
    numbers = isinstance(values, list) and len(values) == 2 and all(_is_number(v) for v in values)
    if kind == "randint":
        numbers = numbers and all(isinstance(v, int) for v in values)
    if not numbers or not values[0] < values[1] or (kind == "loguniform" and values[0] <= 0):
        bounds = "two integers, low < high" if kind == "randint" else "two numbers, low < high"
        extra = " and low > 0" if kind == "loguniform" else ""
        raise OptionError(f"{where}: {name}: {kind} needs [low, high], {bounds}{extra}; found {values!r}")
    return Dimension(kind, tuple(values))


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_values(space, where):
    """Every value a trial can get passes train_lstm's checks (paths aside: they are checked when the trial runs)."""
    base = dict(space.fixed, saveto="")
    for name, dim in space.search.items():
        for value in dim.extremes():
            try:
                Options.from_dict(dict(base, **{name: value}), where).check_values()
            except OptionError as e:  # it names the argument and the value
                raise OptionError(f"{where}: {e}") from None
