"""Inspect a trained model: its options, errors and ``history_errs``, and plot its learning curves.

    python -m lstm_sentiment.report lstm_model.npz --plot curves.png
"""

import argparse
import json
import sys

import numpy

from .checkpoint import ModelFileError, options_path
from .logs import log_to_stderr, logger

PARAMS = ("Wemb", "lstm_W", "lstm_U", "lstm_b", "U", "b")


def read_model(path):
    """``(arrays, options)`` of a saved model; options are None when the model has none (the tutorial's)."""
    try:
        with numpy.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such model file") from None
    except (OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable npz model file ({e})") from e
    if "history_errs" not in arrays:
        raise ModelFileError(f"{path}: no history_errs in it: not a model saved by training")
    try:
        with open(options_path(path)) as f:
            options = json.load(f)
    except FileNotFoundError:
        options = None
    return arrays, options


def history(arrays):
    """``(updates, errs)``: the update index of each validation (None if not recorded) and the rows."""
    errs = arrays["history_errs"].reshape(-1, 2)
    updates = arrays.get("history_updates")
    return (updates if updates is not None and len(updates) == len(errs) else None), errs


def best_row(errs):
    """The row whose parameters training kept: the last one with the lowest validation error."""
    return len(errs) - 1 - int(numpy.argmin(errs[::-1, 0]))


def report(path):
    """The report's text."""
    arrays, options = read_model(path)
    updates, errs = history(arrays)
    lines = [f"model: {path}"]
    if options is None:
        lines.append(f"options: none ({options_path(path)} is missing: a model of the Theano tutorial?)")
        n_words, dim_proj = arrays["Wemb"].shape if "Wemb" in arrays else ("?", "?")
        lines.append(f"  from its arrays: dim_proj {dim_proj}, n_words {n_words}")
    else:
        lines.append("options:")
        lines += [f"  {k} {options[k]}" for k in sorted(options)]
    final = [k for k in ("train_err", "valid_err", "test_err") if k in arrays]
    if final:
        lines.append("final: " + "  ".join(f"{k} {float(arrays[k]):.4f}" for k in final))
    else:
        lines.append("final: none yet (training did not finish: a checkpoint, or an interrupted run)")
    missing = [k for k in PARAMS if k not in arrays]
    if missing:
        lines.append(f"missing parameters: {', '.join(missing)}")
    if updates is None:
        lines.append("update index of each validation: not recorded (a model of the Theano tutorial?)")
    if len(errs):
        best = best_row(errs)
        at = f"update {updates[best]}" if updates is not None else f"validation {best}"
        lines.append(f"best validation: row {best} ({at}): valid_err {errs[best, 0]:.4f} test_err {errs[best, 1]:.4f}")
    lines.append(f"history_errs: {len(errs)} validations")
    lines.append(f"{'row':>5} {'update':>8} {'valid_err':>10} {'test_err':>10}")
    for i, (v, t) in enumerate(errs):
        lines.append(f"{i:>5} {updates[i] if updates is not None else '-':>8} {v:>10.4f} {t:>10.4f}")
    return "\n".join(lines)


def plot(path, out):
    """Draw validation and test error against updates into the image ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays, options = read_model(path)
    updates, errs = history(arrays)
    if not len(errs):
        raise ModelFileError(f"{path}: history_errs is empty: no validation to plot yet")
    x = updates if updates is not None else numpy.arange(len(errs))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    ax.plot(x, errs[:, 0], marker="o", markersize=3, label="validation error")
    ax.plot(x, errs[:, 1], marker="o", markersize=3, label="test error")
    best = best_row(errs)
    ax.scatter([x[best]], [errs[best, 0]], s=120, facecolors="none", edgecolors="black", zorder=3,
               label=f"best validation ({errs[best, 0]:.3f})")
    if bool(arrays.get("early_stop", False)):
        ax.axvline(x[-1], color="grey", linestyle="--", label="early stop")
    ax.set_xlabel("update" if updates is not None else "validation (update index not recorded)")
    ax.set_ylabel("error rate")
    ax.grid(alpha=0.3)
    ax.legend()
    if options:
        lines = [("dim_proj", "optimizer", "batch_size"), ("maxlen", "n_words", "use_dropout")]
        title = "\n".join(", ".join(f"{k}={options.get(k)}" for k in keys) for keys in lines)
        ax.set_title("LSTM: " + title, fontsize=10)
    else:
        ax.set_title(f"LSTM: {path} (options not saved)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.report",
        description="Print a trained model's options, errors and history_errs; optionally plot them.",
    )
    parser.add_argument("model", help="the model file (npz)")
    parser.add_argument("--plot", metavar="PNG", help="draw validation and test error against updates here")
    args = parser.parse_args(argv)
    log_to_stderr()
    try:
        print(report(args.model))
        if args.plot:
            plot(args.model, args.plot)
            logger.info("Wrote %s", args.plot)
    except ModelFileError as e:
        logger.error("error: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
