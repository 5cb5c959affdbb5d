"""The tutorial's ``imdb.py``: ``load_data`` and ``prepare_data`` (the code is in ``data/imdb.py``)."""

from .data.datasets import get_dataset_file
from .data.imdb import load_data, prepare_data, read_dataset, read_dictionary, write_dataset, write_dictionary

__all__ = [
    "get_dataset_file",
    "load_data",
    "prepare_data",
    "read_dataset",
    "read_dictionary",
    "write_dataset",
    "write_dictionary",
]
