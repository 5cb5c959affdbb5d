"""Your own labeled texts in the tutorial's format: ``<name>.pkl``, ``<name>.dict.pkl`` and
``<name>.classes.json`` in the data folder, built once and cached as IMDB's are.

The pipeline is IMDB's: Moses tokenization (its language ``lang``),
lowercased; a dictionary from the training texts only, ids by descending
frequency from 2; labels as class numbers, in the order of ``texts.classes``.
The test set is ``test`` (a file or folder of the same format), else the
rows the source marks ``test`` (a ``split`` column, or ``train``/``test``
folders), else ``test_portion`` of the texts, drawn with ``seed``.
"""

import dataclasses
import functools
import hashlib
import json
import os
import re

import numpy

from ..base.errors import DataError
from ..base.files import atomic_write
from ..base.logs import logger
from .fetch import sha256_of
from .imdb import classes_beside, dictionary_beside, write_classes, write_dataset, write_dictionary
from .preprocess import build_dict, cached, listing_line
from .texts import classes, read_texts
from .tokenize import tokenize, tokenize_text, tokenizer_name


@dataclasses.dataclass(frozen=True)
class TextOptions:
    """How labeled texts become a dataset: their columns, test set, language."""

    text_column: str = "text"
    label_column: str = "label"
    test: str | None = None
    test_portion: float = 0.1
    seed: int = 123
    lang: str = "en"


def dataset_path(source, out):
    """Where the dataset of ``source`` goes: ``<out>/<name>.pkl``, its name from the source's."""
    name = os.path.basename(os.path.normpath(str(source).removeprefix("hf:"))) or "dataset"
    name = re.sub(r"[^\w.-]+", "_", os.path.splitext(name)[0] if not os.path.isdir(source) else name)
    return os.path.join(out, f"{name}.pkl")


def preprocess_texts(source, out, options=TextOptions(), processes=None):
    """Build the dataset of the labeled texts ``source`` in the folder ``out``; returns the pkl's path."""
    path = dataset_path(source, out)
    manifest = dict(source=str(source), fingerprint=_fingerprint(source, options.test), settings=_settings(options))
    if cached(_manifest_path(path), manifest, (path, dictionary_beside(path), classes_beside(path))):
        logger.info("Using cached %s (made from the same %s)", path, source)
        return path
    train, test = split(read_texts(source, options.text_column, options.label_column), options)
    names = _classes(source, train, test)
    tokenized = tokenize([*train.texts, *test.texts], processes, functools.partial(tokenize_text, lang=options.lang))
    dictionary = build_dict(tokenized[: len(train)])
    x = [[dictionary.get(w, 1) for w in sentence.split()] for sentence in tokenized]
    empty = [p for p, s in zip([*train.places, *test.places], x) if not s]
    if empty:
        raise DataError(f"{empty[0]}: the text has no word once tokenized; give a text")
    labels = [names.index(str(y)) for y in [*train.labels, *test.labels]]
    write_dataset(path, (x[: len(train)], labels[: len(train)]), (x[len(train) :], labels[len(train) :]))
    write_dictionary(dictionary_beside(path), dictionary)
    write_classes(classes_beside(path), names)
    with atomic_write(_manifest_path(path), "w") as f:
        json.dump(manifest, f, indent=2)
    logger.info(
        "Wrote %s: %d train and %d test texts of %d classes (%s)",
        path,
        len(train),
        len(test),
        len(names),
        ", ".join(names[:10]) + (", ..." if len(names) > 10 else ""),
    )
    return path


def _classes(source, train, test):
    """The class names of the training texts; DataError for one class only, or a test label none has."""
    names = classes(train.labels)
    if len(names) < 2:
        raise DataError(f"{source}: every training text has the label {names[0]!r}; a classifier needs two classes")
    unknown = [(p, y) for p, y in zip(test.places, test.labels) if str(y) not in names]
    if unknown:
        place, label = unknown[0]
        raise DataError(f"{place}: the test label {label!r} is no training text's; it cannot be learned")
    return names


def split(texts, options):
    """(train, test) ``Labeled`` texts: the test source, else the source's own split, else a random portion."""
    marked = any(s is not None for s in texts.splits)
    if options.test:
        if marked:
            raise DataError(f"{texts.places[0]}: a split column and --test {options.test}; give one or the other")
        return texts, read_texts(options.test, options.text_column, options.label_column)
    if marked:
        train, test = texts.part("train"), texts.part("test")
        if not len(train):
            raise DataError(f"{texts.places[0]}: the split column marks no text 'train'; some must be")
        if len(test):
            return train, test
        texts = train
    if not 0 < options.test_portion < 1:
        raise DataError(f"test_portion: {options.test_portion!r} is not allowed; it must be strictly between 0 and 1")
    order = numpy.random.RandomState(options.seed).permutation(len(texts))
    n_test = max(1, round(len(texts) * options.test_portion))
    logger.info(
        "No test set given: %d of %d texts (test_portion %g) held out as the test set",
        n_test,
        len(texts),
        options.test_portion,
    )
    return texts.take(sorted(order[n_test:])), texts.take(sorted(order[:n_test]))


def _settings(options):
    return dict(format=1, tokenizer=tokenizer_name(options.lang), **dataclasses.asdict(options))


def _fingerprint(source, test):
    """The SHA-256 of the source's (and the test source's) files, names, sizes and times for a folder."""
    digest = hashlib.sha256()
    for s in filter(None, (source, test)):
        s, hub = str(s).removeprefix("hf:"), str(s).startswith("hf:")
        if os.path.isdir(s):
            for root, _, files in sorted(os.walk(s)):
                for f in sorted(files):
                    path = os.path.join(root, f)
                    digest.update(listing_line(os.path.relpath(path, s), path))
        elif hub:
            from .hub import fingerprint

            digest.update(fingerprint(s).encode())
        elif os.path.isfile(s):
            digest.update(sha256_of(s).encode())
        else:
            raise DataError(f"{s}: no such file or folder (expected labeled texts: .csv, .tsv, .jsonl, a folder)")
    return digest.hexdigest()


def _manifest_path(path):
    return re.sub(r"\.pkl$", ".manifest.json", path)
