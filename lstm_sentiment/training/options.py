"""The arguments of ``train_lstm``: each described once, here, for the signature, ``--help`` and README.

A leaf: neither PyTensor nor the model is imported, so that ``--help``, a
config file's check and a sweep's space check start at once.
"""

import dataclasses
import inspect
import math
import os
import typing

from ..base.errors import OptionError
from ..base.machine import memory_bytes
from ..data.batches import KEEP, VOCAB_BY
from ..data.own import TextOptions
from ..model.files import POOLINGS, param_shapes, read_model, read_options_file

# Each optimizer of ``model.optimizers`` and the arrays of state it keeps per parameter, of the parameter's
# shape: the memory check weighs a run with them
OPTIMIZERS = {"sgd": 1, "adadelta": 3, "rmsprop": 4, "adam": 3}


def _option(default, help):
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class Options:
    """The options of a training run, in the tutorial's order and with its defaults (new ones last)."""

    dim_proj: int = _option(128, "word embedding dimension and number of LSTM hidden units")
    patience: int = _option(10, "validations without progress to wait before early stopping")
    max_epochs: int = _option(5000, "the maximum number of epochs")
    dispFreq: int = _option(10, "log the training cost every N updates")
    decay_c: float = _option(0.0, "weight decay (L2) on the classifier weights U")
    lrate: float = _option(0.0001, "learning rate of sgd, rmsprop and adam (adadelta does not use one)")
    n_words: int = _option(10000, "vocabulary size: word ids >= n_words become 1 (unknown)")
    optimizer: str = _option(
        "adadelta", "the optimizer: adadelta, rmsprop, sgd or adam (a name, or one of the functions)"
    )
    encoder: str = _option("lstm", "the encoder; the tutorial has only lstm")
    saveto: str = _option("lstm_model.npz", "where the best model goes (options in <saveto>.json); '' to not save")
    validFreq: int = _option(370, "compute train/valid/test errors every N updates (-1: once per epoch)")
    saveFreq: int = _option(1110, "save the model and a checkpoint every N updates (-1: once per epoch)")
    maxlen: int | None = _option(100, "drop training reviews of this many words or more (0: keep all)")
    batch_size: int = _option(16, "the training minibatch size")
    valid_batch_size: int = _option(64, "the minibatch size for evaluation")
    dataset: str = _option(
        "imdb",
        "'imdb' (imdb.pkl in the data folder, built there from the official archive when missing), "
        "or an imdb.pkl, an aclImdb folder, an aclImdb_v1.tar.gz archive or a URL",
    )
    use_dropout: bool = _option(True, "dropout (p=0.5) on the pooled LSTM output")
    reload_model: str | None = _option(None, "start from the parameters of this saved model (npz)")
    test_size: int = _option(-1, "evaluate on a random subset of this many test reviews (-1: all)")
    valid_portion: float = _option(0.05, "share of the training set held out for validation")
    seed: int = _option(
        123, "seeds NumPy's global RNG (initialisation, split, shuffling) and the dropout RNG: same seed, same numbers"
    )
    mode: str | None = _option(
        None,
        "PyTensor mode to compile with, e.g. FAST_COMPILE (default: Python thunks around the kernel; "
        "with --no-fused, the C backend)",
    )
    data_dir: str | None = _option(None, "where datasets and caches go (default: $LSTM_SENTIMENT_DATA or ./data)")
    resume: str | None = _option(
        None,
        "continue the run saved in this checkpoint (<saveto>.checkpoint.npz), with its saved options; "
        "other arguments are then ignored",
    )
    fused: bool = _option(
        True,
        "the LSTM layer and ADADELTA's or Adam's step in the compiled kernel (the same maths); "
        "off: the tutorial's scan graph, on PyTensor's C backend",
    )
    floatX: str | None = _option(
        None, "the model's float type, float32 or float64 (default: PyTensor's floatX if you set one, else float32)"
    )
    truncate: int = _option(
        0, "cut training reviews longer than N words to N words (0: no cut); maxlen, if set, drops reviews first"
    )
    truncate_keep: str = _option(
        "random",
        "which words truncate keeps: head (the first N), tail (the last N) or random "
        "(a window of N drawn again for each minibatch)",
    )
    truncate_eval: bool = _option(
        False,
        "truncate validation and test reviews too, random windows drawn once, at loading "
        "(off: evaluation sees whole reviews)",
    )
    bucket: int = _option(
        0,
        "training minibatches of similar length: shuffle, sort each pool of N minibatches by length, "
        "shuffle the minibatches (0: the tutorial's random minibatches)",
    )
    lrate_decay: float = _option(1.0, "multiply the learning rate by this after each epoch (1: constant)")
    word_dropout: float = _option(
        0.0, "replace each word of a training minibatch by the unknown word (1) with this probability (0: off)"
    )
    valid_only: bool = _option(
        False, "at each validation compute the validation error only (train and test errors once, at the end)"
    )
    bidirectional: bool = _option(
        False, "also run an LSTM of its own over each review reversed, and join the two directions' poolings"
    )
    pooling: str = _option(
        "mean", "pool the LSTM's states over the real steps: mean (the tutorial's), max, or mean_max (both joined)"
    )
    ensemble: int = _option(
        1,
        "train this many models one after another on the same split (model k with seed + k for its start, "
        "order and dropout), saved in one file that predicts by the mean of their class probabilities",
    )
    text_column: str = _option("text", "labeled texts (CSV, TSV, JSON Lines, hf:): the text's column")
    label_column: str = _option("label", "labeled texts: the label's column (strings or integers, any number)")
    test: str | None = _option(None, "labeled texts: the test set, a file or folder of the dataset's format")
    test_portion: float = _option(
        0.1, "labeled texts without a test set (no --test, no split column): the share held out as test, by seed"
    )
    lang: str = _option("en", "labeled texts: the language of the Moses tokenizer")
    vocab_by: str = _option(
        "count",
        "which n_words words are kept: count (the tutorial's: the most frequent) or reviews (those in the most "
        "training reviews, so that the names one movie's reviews repeat do not take the places of words)",
    )

    def __post_init__(self):
        if callable(self.optimizer):  # the tutorial passes the function itself
            self.optimizer = getattr(self.optimizer, "__name__", repr(self.optimizer))

    @classmethod
    def from_dict(cls, values, where="options"):
        """Options from a dict (keyword arguments, saved JSON); an unknown name is an OptionError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known - {"ydim", "classes"})
        if unknown:
            raise OptionError(f"{where}: unknown argument {', '.join(map(repr, unknown))}; see --help")
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self):
        return dataclasses.asdict(self)

    def text_options(self):
        """How labeled texts become this run's dataset (``data.own``)."""
        names = ("text_column", "label_column", "test", "test_portion", "seed", "lang")
        return TextOptions(**{n: getattr(self, n) for n in names})

    def check(self):
        """Raise OptionError, naming the argument and what it allows, for any bad value or path."""
        self.check_values()
        self._check_paths()

    def check_values(self):
        """Raise OptionError, naming the argument and what it allows, for any bad value (paths aside), and for
        sizes whose parameters would not fit in this machine's memory."""
        for name, ok, allowed in self._rules():
            if not ok:
                raise OptionError(f"{name}: {getattr(self, name)!r} is not allowed; it must be {allowed}")
        self._check_memory(
            self.memory_needed(),
            f"dim_proj {self.dim_proj} and n_words {self.n_words}: the parameters and the {self.optimizer} "
            f"optimizer's state",
            "choose a smaller dim_proj or n_words",
        )

    def memory_needed(self):
        """Bytes of the parameters, their gradients, the optimizer's state and the best parameters kept, the
        copies a checkpoint's save makes of parameters and state, the word table of evaluation (each
        word's input projection) and an ensemble's finished models: the run's peak, less its minibatches."""
        shapes = param_shapes(self.dim_proj, self.n_words, 2, self.bidirectional, self.pooling)
        count = sum(math.prod(shape) for shape in shapes.values())  # Wemb, the LSTMs', U and b of two classes
        state = OPTIMIZERS[self.optimizer]
        copies = 2 * (1 + state) + 2  # parameters and state, each again as saved; gradients; best parameters
        copies += 2 * (self.ensemble - 1)  # an ensemble's finished models, and their copies as saved
        directions = 2 if self.bidirectional else 1
        return (count * copies + directions * self.n_words * 4 * self.dim_proj) * self._itemsize()

    def batch_memory(self, longest_train, n_train, longest_eval, n_eval):
        """Bytes of the largest minibatches' states: 8 numbers of dim_proj per (step, review) and direction in
        training (h, c, the four gates, the input's gradient), 2 in evaluation (h and c, on the plain graph)."""
        per_pair = self.dim_proj * self._itemsize() * (2 if self.bidirectional else 1)  # per direction
        train = longest_train * min(self.batch_size, n_train) * 8 * per_pair
        return max(train, longest_eval * min(self.valid_batch_size, n_eval) * 2 * per_pair)

    def check_batches(self, longest_train, n_train, longest_eval, n_eval):
        """OptionError where the largest minibatches, beside the parameters, would not fit in memory; their
        lengths are known once the data is loaded."""
        self._check_memory(
            self.memory_needed() + self.batch_memory(longest_train, n_train, longest_eval, n_eval),
            f"batch_size {self.batch_size} and valid_batch_size {self.valid_batch_size}: minibatches of reviews "
            f"of up to {max(longest_train, longest_eval)} words, with the parameters,",
            "choose smaller batch sizes, or a maxlen or truncate",
        )

    def _check_memory(self, needed, what, advice):
        memory = memory_bytes()
        if memory is not None and needed > memory:
            raise OptionError(
                f"{what} need about {needed / 2**30:.1f} GiB, more than this machine's {memory / 2**30:.1f} GiB "
                f"of memory; {advice}"
            )

    def _itemsize(self):
        return 8 if self.floatX == "float64" else 4

    def _rules(self):
        def integer(v, low):
            return isinstance(v, int) and not isinstance(v, bool) and v >= low

        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        positive, per_epoch = "a positive integer", "a positive integer, or -1 for once per epoch"
        for name in ("dim_proj", "patience", "max_epochs", "dispFreq", "batch_size", "valid_batch_size", "ensemble"):
            yield name, integer(getattr(self, name), 1), positive
        for name in ("truncate", "bucket"):
            yield name, integer(getattr(self, name), 0), "a non-negative integer (0: off)"
        yield "truncate_keep", self.truncate_keep in KEEP, ", ".join(KEEP[:-1]) + " or " + KEEP[-1]
        yield "pooling", self.pooling in POOLINGS, ", ".join(POOLINGS[:-1]) + " or " + POOLINGS[-1]
        for name in ("validFreq", "saveFreq"):
            yield name, integer(getattr(self, name), 1) or getattr(self, name) == -1, per_epoch
        yield "n_words", integer(self.n_words, 2), "an integer >= 2"
        yield "maxlen", self.maxlen is None or integer(self.maxlen, 0), "a non-negative integer (0 or None: no limit)"
        yield "lrate", number(self.lrate) and self.lrate > 0, "a positive finite number"
        yield "lrate_decay", number(self.lrate_decay) and 0 < self.lrate_decay <= 1, "a number in (0, 1]"
        yield "word_dropout", number(self.word_dropout) and 0 <= self.word_dropout < 1, "a number in [0, 1)"
        yield "vocab_by", self.vocab_by in VOCAB_BY, " or ".join(VOCAB_BY)
        yield "decay_c", number(self.decay_c) and self.decay_c >= 0, "a non-negative finite number"
        yield "valid_portion", number(self.valid_portion) and 0 < self.valid_portion < 1, "strictly between 0 and 1"
        yield "test_portion", number(self.test_portion) and 0 < self.test_portion < 1, "strictly between 0 and 1"
        for name in ("text_column", "label_column", "lang"):
            yield name, isinstance(getattr(self, name), str) and getattr(self, name) != "", "a non-empty string"
        yield "test_size", integer(self.test_size, 1) or self.test_size == -1, "a positive integer, or -1 for all"
        yield "seed", integer(self.seed, 0) and self.seed < 2**32, "an integer from 0 to 2**32 - 1"
        yield "optimizer", self.optimizer in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"
        yield "encoder", self.encoder == "lstm", "'lstm'"
        yield "floatX", self.floatX in (None, "float32", "float64"), "float32 or float64"
        yield "mode", self.mode is None or _known_mode(self.mode), "a PyTensor mode, e.g. FAST_RUN or FAST_COMPILE"

    def _check_paths(self):
        if self.saveto:
            folder = os.path.dirname(os.path.abspath(self.saveto))
            if not os.path.isdir(folder):
                raise OptionError(
                    f"saveto: {self.saveto!r} is not allowed; it must be in an existing folder "
                    f"({folder} does not exist)"
                )
            if not os.access(folder, os.W_OK):
                raise OptionError(
                    f"saveto: {self.saveto!r} is not allowed; it must be in a writable folder ({folder} is not)"
                )
            if os.path.isdir(self.saveto):
                raise OptionError(f"saveto: {self.saveto!r} is a folder; name a file in it, e.g. {self.saveto}/m.npz")
            if os.path.exists(self.saveto) and not os.path.isfile(self.saveto):
                raise OptionError(
                    f"saveto: {self.saveto!r} is not a regular file (a FIFO or a device?); name a model file"
                )
        if self.reload_model:
            if not os.path.isfile(self.reload_model):
                raise OptionError(
                    f"reload_model: {self.reload_model!r} is not allowed; it must be the path of an existing model file"
                )
            # checked now, before any data is loaded or code compiled; U and b need ydim, from the data
            shapes = param_shapes(self.dim_proj, self.n_words, bidirectional=self.bidirectional)
            given = f"dim_proj={self.dim_proj} and n_words={self.n_words}"
            read_model(self.reload_model).check_params(shapes, given)


def read_config(path):
    """The options of a JSON config file (the format of the ``<saveto>.json`` saved beside every model),
    as a dict: OptionError naming the file for a missing file, an unknown argument or a value of the wrong type."""
    if not os.path.isfile(path):
        raise OptionError(f"config: {path!r}: no such file; give a JSON file of train_lstm's arguments")
    values = read_options_file(path)
    Options.from_dict(values, where=path)  # unknown names
    hints = typing.get_type_hints(Options)
    for name, value in values.items():
        if name in hints and not has_type(name, value):
            raise OptionError(
                f"{path}: {name}: {value!r} has type {type(value).__name__}; it must be {type_name(name)}"
            )
    return {k: v for k, v in values.items() if k in hints}


def option_types(name):
    """The types the option ``name`` takes (NoneType among them where it may be None)."""
    hint = typing.get_type_hints(Options)[name]
    return typing.get_args(hint) or (hint,)


def has_type(name, value):
    """Whether ``value`` is of a type the option ``name`` takes (an int where a float is taken, too)."""
    kinds = option_types(name)
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds) or (float in kinds and isinstance(value, int))


def type_name(name):
    return " or ".join("null" if t is type(None) else t.__name__ for t in option_types(name))


def _known_mode(mode):
    """Whether PyTensor knows the mode ``mode``: PyTensor is loaded here only when a mode is named."""
    from pytensor.compile.mode import get_mode

    try:
        get_mode(mode)
    except Exception:  # PyTensor raises several kinds for a name it does not know
        return False
    return True


def signature(**extra):
    """``train_lstm``'s signature: one keyword argument per option, with its default, then ``extra``'s."""
    defaults = {f.name: f.default for f in dataclasses.fields(Options)} | extra
    return inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=v) for name, v in defaults.items()]
    )
