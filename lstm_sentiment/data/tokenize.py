"""The tutorial's tokenization: the Moses tokenizer for English, with its escaping, lowercased."""

import functools
import importlib.metadata
import multiprocessing
import os
import re

from ..base.errors import DataError
from ..base.logs import logger, progress

# What decides the tokens besides the text; preprocess.SETTINGS records it.
TOKENIZER = f"sacremoses {importlib.metadata.version('sacremoses')} MosesTokenizer(lang='en')"


def tokenizer_name(lang):
    """The tokenizer of ``lang`` as the caches' settings record it."""
    return TOKENIZER.replace("lang='en'", f"lang={lang!r}")


@functools.cache
def moses_tokenizer(lang="en"):
    """sacremoses' tokenizer for ``lang``, with its character-class tests precomputed: same output,
    twice as fast. sacremoses rebuilds a set of thousands of characters on every ``islower`` and
    ``isanyalpha`` call, which is most of its time on these reviews. Imported on first use, since
    importing sacremoses compiles its patterns (0.4 s), which training from an imdb.pkl never needs.
    """
    import sacremoses

    class MosesTokenizer(sacremoses.MosesTokenizer):
        _lower = frozenset(sacremoses.MosesTokenizer.IsLower)
        _alpha = frozenset(sacremoses.MosesTokenizer.IsAlpha)

        def islower(self, text):
            return self._lower.issuperset(text)

        def isanyalpha(self, text):
            return not self._alpha.isdisjoint(text)

    return MosesTokenizer(lang=lang)


def tokenize_text(text, lang="en"):
    """Moses-tokenized (with its default escaping) and lowercased ``text``, as one string; its lines
    joined by spaces."""
    text = " ".join(re.split("\r\n|\r|\n", text)).strip()
    return moses_tokenizer(lang).tokenize(text, escape=True, return_str=True).lower()


def tokenize_review(review):
    """The first line of a review ``(name, bytes)``, as ``tokenize_text`` gives it."""
    name, data = review
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start}); reviews must be UTF-8") from None
    return tokenize_text(re.split("\r\n|\r|\n", text, maxsplit=1)[0].strip())  # readline()'s first line


def tokenize(reviews, processes=None, function=tokenize_review):
    """``function`` (``tokenize_review`` of every ``(name, bytes)``, or ``tokenize_text`` of texts) over
    ``reviews``, in order, on ``processes`` cores (default: all)."""
    processes = processes or os.cpu_count() or 1
    logger.info("Tokenizing %d texts with %d processes", len(reviews), processes)
    bar = dict(total=len(reviews), desc="tokenize", unit="text")
    if processes == 1:
        return [function(r) for r in progress(reviews, **bar)]
    # fork where there is one: it needs no `if __name__ == "__main__":` guard in the user's script
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(processes) as pool:
        return list(progress(pool.imap(function, reviews, chunksize=200), **bar))
