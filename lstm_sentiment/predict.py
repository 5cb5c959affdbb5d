"""The prediction command: classify reviews with a trained model.

    python -m lstm_sentiment.predict --model lstm_model.npz "A gripping film." "Two hours lost."

From Python: ``load_model(path).predict_proba(texts)`` (``model/trained.py``).
"""

import argparse
import json
import pathlib
import sys

from .base.cli import import_configured, run
from .base.errors import DataError

__all__ = ["TrainedModel", "load_model", "main"]  # noqa: F822 (given by __getattr__)


def __getattr__(name):
    # PyTensor loads on first use, inside ``run``: a Ctrl-C while it loads is one line, not a traceback
    if name in ("TrainedModel", "load_model"):
        from .model import trained

        return getattr(trained, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_texts(texts, source):
    """The texts to classify: ``texts``, else the lines of the file ``source`` (``-``: standard input)."""
    if texts:
        return texts
    try:
        data = sys.stdin.buffer.read() if source == "-" else pathlib.Path(source).read_bytes()
    except OSError as e:
        raise DataError(f"{source}: cannot read it ({e.strerror})") from None
    lines = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise DataError(f"{source}, line {number}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        if not lines[-1].strip():
            raise DataError(f"{source}, line {number}: empty text; give one review per line")
    if not lines:
        raise DataError(
            f"{'standard input' if source == '-' else source}: no text to classify; give one review "
            f"per line, or texts as arguments"
        )
    return lines


def classify(args):
    """Print one line per text: the label and each class's probability (text or JSON lines)."""
    import_configured("pytensor", "PYTENSOR_FLAGS, ~/.pytensorrc or OMP_NUM_THREADS")
    from .model.trained import load_model

    texts = read_texts(args.texts, args.file or "-")
    model = load_model(args.model, args.dictionary, args.batch_size)
    probs = model.predict_proba(texts)
    for text, p in zip(texts, probs):
        label = model.classes[int(p.argmax())]
        named = {name: round(float(v), 6) for name, v in zip(model.classes, p)}
        if args.format == "json":
            print(json.dumps({"label": label, "probabilities": named, "text": text}, ensure_ascii=False))
        else:
            shown = "  ".join(f"p({k})={v:.4f}" for k, v in named.items())
            print(f"{label}\t{shown}\t{text}")


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
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text lines, or JSON lines")
    parser.add_argument("--dictionary", help="an imdb.dict.pkl, for a model saved without its <model>.dict.json")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=64, help="reviews per batch")
    return run(classify, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
