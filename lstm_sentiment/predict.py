"""Use a trained model on new text: ``load_model(path).predict_proba(texts)``, and its command line.

    python -m lstm_sentiment.predict --model lstm_model.npz "A gripping film." "Two hours lost."

Text goes through the preprocessing of training (Moses tokenization with its
escaping, lowercasing, the model's word dictionary, ids >= n_words unknown),
and through the model in length-sorted batches, masked as in training.
"""

import argparse
import json
import os
import sys

import numpy

from .checkpoint import ModelFileError, dictionary_path, options_path
from .imdb import DataError, prepare_data, read_pickles
from .imdb_preprocess import tokenize_text
from .logs import log_to_stderr, logger
from .lstm import build_model, get_minibatches_idx, init_params, init_tparams, load_params, pred_probs

LABELS = ("negative", "positive")  # class 0 and class 1 of the IMDB data


class Model:
    """A trained model, compiled once and reused for every call."""

    def __init__(self, path, options, dictionary, batch_size=64):
        self.path, self.options, self.dictionary, self.batch_size = path, options, dictionary, batch_size
        rng_state = numpy.random.get_state()  # init_params draws values that load_params replaces
        params = load_params(path, init_params(options))
        numpy.random.set_state(rng_state)
        self.tparams = init_tparams(params)
        use_noise, _, _, _, self.f_pred_prob, _, _ = build_model(self.tparams, options)
        use_noise.set_value(0.0)

    def word_ids(self, text):
        """``text`` as the word ids of the dictionary (1 for unknown words)."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got a {type(text).__name__}")
        words = tokenize_text(text).split()
        if not words:
            raise ValueError("empty text: there is nothing to classify")
        return [self.dictionary.get(w, 1) for w in words]

    def predict_proba(self, texts):
        """Class probabilities, one row per text: column 0 negative, column 1 positive."""
        return self.predict_proba_ids([self.word_ids(t) for t in texts])

    def predict_proba_ids(self, seqs):
        """Class probabilities of reviews given as lists of word ids (as in imdb.pkl)."""
        seqs = [[1 if w >= self.options["n_words"] else w for w in s] for s in seqs]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # little padding per batch
        batches = [(n, numpy.asarray(order)[idx]) for n, idx in get_minibatches_idx(len(seqs), self.batch_size)]
        return pred_probs(self.f_pred_prob, prepare_data, (seqs, [0] * len(seqs)), batches)

    def predict(self, texts):
        """The predicted class of each text (1 positive, 0 negative)."""
        return self.predict_proba(texts).argmax(axis=1)


def load_model(path, dictionary=None, batch_size=64):
    """The model saved at ``path`` with its companions ``<path>.json`` and ``<path>.dict.json``.

    ``dictionary``, the path of an ``imdb.dict.pkl``, stands in for a missing
    ``<path>.dict.json``, as for models of the Theano tutorial.
    """
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file")
    options = _options(path)
    words = read_pickles(dictionary, 1)[0] if dictionary else _dictionary(path)
    return Model(path, options, words, batch_size)


def _options(path):
    """The saved options; for a model without them (the Theano tutorial's), what its arrays say."""
    try:
        with open(options_path(path)) as f:
            return json.load(f)
    except FileNotFoundError:
        pass
    except ValueError as e:
        raise ModelFileError(f"{options_path(path)}: not readable JSON options ({e})") from e
    try:
        with numpy.load(path, allow_pickle=False) as f:
            n_words, dim_proj = f["Wemb"].shape
            ydim = f["U"].shape[1]
    except (KeyError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a model file of this package or the tutorial ({e})") from e
    logger.warning(
        "%s is missing (a model of the Theano tutorial?): using its shapes (dim_proj=%d, "
        "n_words=%d) and the tutorial's defaults (encoder lstm, use_dropout True)",
        options_path(path), dim_proj, n_words,
    )
    return dict(dim_proj=int(dim_proj), n_words=int(n_words), ydim=int(ydim), encoder="lstm", use_dropout=True)


def _dictionary(path):
    try:
        with open(dictionary_path(path), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ModelFileError(
            f"{dictionary_path(path)}: missing. The model needs the word dictionary it was trained "
            f"with: copy it beside the model, or pass --dictionary PATH/imdb.dict.pkl"
        ) from None
    except ValueError as e:
        raise ModelFileError(f"{dictionary_path(path)}: not a readable word dictionary ({e})") from e


def label_name(k, ydim):
    return LABELS[k] if ydim == 2 else f"class {k}"


def read_texts(args):
    """The texts to classify: the arguments, else the file's lines (``-``: standard input)."""
    if args.texts:
        return args.texts
    source = args.file or "-"
    data = sys.stdin.buffer.read() if source == "-" else open(source, "rb").read()
    texts = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DataError(f"{source}, line {number}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        if not texts[-1].strip():
            raise DataError(f"{source}, line {number}: empty text; give one review per line")
    return texts


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.predict",
        description="Classify reviews with a trained model: one line per text, with the "
        "predicted label and the probability of each class.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("texts", nargs="*", help="reviews to classify (none: read --file or standard input)")
    parser.add_argument("--model", default="lstm_model.npz", help="the trained model (npz)")
    parser.add_argument("--file", help="a file of reviews, one per line ('-': standard input)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text lines, or JSON lines for scripts")
    parser.add_argument("--dictionary", help="an imdb.dict.pkl, for a model saved without its <model>.dict.json")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=64, help="reviews per batch")
    args = parser.parse_args(argv)
    log_to_stderr()
    try:
        texts = read_texts(args)
        model = load_model(args.model, args.dictionary, args.batch_size)
        probs = model.predict_proba(texts)
    except (ModelFileError, DataError, ValueError, OSError) as e:
        logger.error("error: %s", e)
        return 2
    ydim = probs.shape[1]
    for text, p in zip(texts, probs):
        label = label_name(int(p.argmax()), ydim)
        named = {label_name(k, ydim): round(float(v), 6) for k, v in enumerate(p)}
        if args.format == "json":
            print(json.dumps({"label": label, "probabilities": named, "text": text}, ensure_ascii=False))
        else:
            shown = "  ".join(f"p({k})={v:.4f}" for k, v in named.items())
            print(f"{label}\t{shown}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
