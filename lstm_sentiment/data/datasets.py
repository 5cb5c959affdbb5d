"""train_lstm's ``dataset`` argument as the path of a dataset in the tutorial's format, built when needed:
IMDB (``imdb``, an ``imdb.pkl``, an aclImdb folder or archive, a URL) or your own labeled texts."""

import os

from ..base.errors import DataError, OptionError
from .fetch import OFFICIAL_URL, is_url
from .own import TextOptions, preprocess_texts
from .preprocess import ARCHIVE_SUFFIXES, default_data_dir, make_folder, preprocess
from .texts import is_texts_source


def get_dataset_file(dataset="imdb", folder=None, texts=None):
    """The path of the dataset to train on, building it first when needed.

    ``dataset`` is ``"imdb"`` (``imdb.pkl`` in the data folder, built there from
    the official archive when missing), an ``imdb.pkl`` path (``.gz`` too), an
    ``aclImdb`` folder, an ``aclImdb_v1.tar.gz`` archive or a URL; or labeled
    texts (a .csv, .tsv or .jsonl file, a folder of class folders, ``hf:NAME``),
    read as ``texts`` says. All but a .pkl are preprocessed into the data
    folder, reusing earlier outputs.
    """
    folder = folder or default_data_dir()
    if texts is not None and texts.test and not is_texts_source(dataset):
        raise OptionError(
            f"test: {texts.test!r} is only for labeled texts (.csv, .tsv, .jsonl, a folder of class folders, hf:); "
            f"{dataset} has its own test set"
        )
    if dataset == "imdb":
        path = os.path.join(folder, "imdb.pkl")
        if os.path.isfile(path):
            return path
        dataset = OFFICIAL_URL
    if is_texts_source(dataset):
        make_folder(folder)
        return preprocess_texts(dataset, folder, texts or TextOptions())
    if is_url(dataset) or os.path.isdir(dataset) or str(dataset).endswith(ARCHIVE_SUFFIXES):
        return preprocess(dataset, out=folder)[0]
    if not os.path.isfile(dataset):
        raise DataError(
            f"{dataset}: no such file or folder (expected an imdb.pkl, an aclImdb folder or archive, a URL, "
            f"or labeled texts: a .csv, .tsv or .jsonl file, a folder of class folders, hf:NAME)"
        )
    return dataset
