"""Hugging Face datasets as labeled texts: ``hf:NAME[:CONFIG]`` from the hub, or ``hf:PATH`` saved with
``save_to_disk``, through the ``datasets`` library (the ``hf`` extra), imported only here."""

import json
import os

from ..base.errors import DataError
from .texts import SPLITS, Labeled


def load(spec):
    """The dataset (a ``DatasetDict`` or a ``Dataset``) of ``NAME[:CONFIG]`` or of a saved folder ``PATH``."""
    try:
        import datasets
    except ImportError:
        raise DataError(f'hf:{spec}: Hugging Face datasets need the datasets library: pip install -e ".[hf]"') from None
    try:
        if os.path.isdir(spec):
            return datasets.load_from_disk(spec)
        name, _, config = spec.partition(":")
        return datasets.load_dataset(name, config or None)
    except Exception as e:  # the library raises many kinds: no such dataset, no network, a damaged folder
        raise DataError(f"hf:{spec}: cannot load it with the datasets library ({type(e).__name__}: {e})") from None


def read_hub(spec, text_column, label_column):
    """The ``Labeled`` texts of the dataset: its ``train`` and ``test`` splits where it has them (a
    DatasetDict), else all of it, unsplit. A ClassLabel column gives its class names."""
    data = load(spec)
    parts = {s: data[s] for s in SPLITS if s in data} if hasattr(data, "keys") else {None: data}
    if not parts:
        raise DataError(f"hf:{spec}: no 'train' or 'test' split in it (it has {', '.join(data)}); save one")
    out = Labeled([], [], [], [])
    for split, part in parts.items():
        for column, flag in ((text_column, "text_column"), (label_column, "label_column")):
            if column not in part.column_names:
                raise DataError(
                    f"hf:{spec}: no column {column!r} in it ({', '.join(part.column_names)}); name it with --{flag}"
                )
        names = getattr(part.features[label_column], "names", None)  # a ClassLabel's
        for row, (text, label) in enumerate(zip(part[text_column], part[label_column])):
            place = f"hf:{spec}, {split or 'data'} row {row}"
            if names is not None and isinstance(label, int) and 0 <= label < len(names):
                label = names[label]
            out.add(place, text, label, split)
    return out


def fingerprint(spec):
    """What identifies the dataset: its cache files (a hub dataset), or its folder's (a saved one)."""
    data = load(spec)
    return json.dumps(data.cache_files, sort_keys=True, default=str)
