"""Inspect a trained model: its options, errors and ``history_errs``, and plot its learning curves;
or a sweep's table and picture.

python -m lstm_sentiment.report lstm_model.npz --plot curves.png
python -m lstm_sentiment.report --sweep sweeps/first --plot sweep.png
"""

import argparse
import sys

import numpy

from .base.cli import run
from .base.errors import ModelFileError
from .base.files import check_figure_path, save_figure
from .base.logs import logger
from .model.files import class_names, options_path, read_checked_model, read_options


def _history(model):
    """``(updates, errs)``: the update index of each validation (None if not recorded) and the rows."""
    if model.history_errs is None:
        raise ModelFileError(f"{model.path}: no history_errs in it: not a model saved by training")
    return model.history_updates, model.history_errs


def best_row(errs):
    """The row whose parameters training kept: the last one with the lowest validation error."""
    return len(errs) - 1 - int(numpy.argmin(errs[::-1, 0]))


def _err(value):
    """An error as the table shows it: "-" where it was not computed (``valid_only`` runs' test errors)."""
    return "-" if numpy.isnan(value) else f"{value:.4f}"


def report(path):
    """The report's text, for a model that passes the checks of ``predict``."""
    model, built = read_checked_model(path)
    options = read_options(path)
    updates, errs = _history(model)
    lines = [f"model: {path}"]
    if options is None:
        lines.append(f"options: none ({options_path(path)} is missing: a model of the Theano tutorial?)")
        lines.append(f"  from its arrays: dim_proj {built['dim_proj']}, n_words {built['n_words']}")
    else:
        lines.append("options:")
        lines += [f"  {k} {options[k]}" for k in sorted(options)]
    if len(model.members) > 1:
        lines.append(
            f"ensemble: {len(model.members)} models, predicting by the mean of their class probabilities; "
            "history_errs holds their validations one model after another"
        )
    final = [k for k in ("train_err", "valid_err", "test_err") if k in model.final]
    if final:
        lines.append("final: " + "  ".join(f"{k} {float(model.final[k]):.4f}" for k in final))
    else:
        lines.append("final: none yet (training did not finish: a checkpoint, or an interrupted run)")
    if model.confusion is not None:
        lines += confusion_lines(model.confusion, class_names(built))
    if updates is None:
        lines.append("update index of each validation: not recorded (a model of the Theano tutorial?)")
    if len(errs):
        best = best_row(errs)
        at = f"update {updates[best]}" if updates is not None else f"validation {best}"
        lines.append(
            f"best validation: row {best} ({at}): valid_err {_err(errs[best, 0])} test_err {_err(errs[best, 1])}"
        )
    lines.append(f"history_errs: {len(errs)} validations")
    lines.append(f"{'row':>5} {'update':>8} {'valid_err':>10} {'test_err':>10}")
    for i, (v, t) in enumerate(errs):
        lines.append(f"{i:>5} {updates[i] if updates is not None else '-':>8} {_err(v):>10} {_err(t):>10}")
    return "\n".join(lines)


def confusion_lines(confusion, names):
    """The final test set's accuracy, each class's precision and recall, the mean absolute error where every
    class name is a number (star ratings), and the confusion matrix (rows: true class)."""
    total, width, counts = int(confusion.sum()), max(9, *map(len, names)), confusion.sum(axis=1)
    majority = int(numpy.argmax(counts))
    lines = [
        f"test set: {total} texts, accuracy {numpy.trace(confusion) / total:.4f}",
        f"  the test set's most frequent class ({names[majority]}) for every text: accuracy "
        f"{counts[majority] / total:.4f}",
    ]
    values = [_number(n) for n in names]
    if None not in values:  # classes that are numbers (star ratings): how far off, on average
        true, predicted = numpy.meshgrid(values, values, indexing="ij")
        lines[0] += f", mean absolute error {(confusion * abs(true - predicted)).sum() / total:.4f}"
        lines[1] += f", mean absolute error {(counts * abs(numpy.array(values) - values[majority])).sum() / total:.4f}"
    lines.append(f"  {'class':<{width}} {'precision':>9} {'recall':>9} {'texts':>7}")
    for k, name in enumerate(names):
        precision = _ratio(confusion[k, k], confusion[:, k].sum())
        lines.append(
            f"  {name:<{width}} {precision:>9} {_ratio(confusion[k, k], confusion[k].sum()):>9} "
            f"{int(confusion[k].sum()):>7}"
        )
    lines.append("confusion matrix (rows: true class, columns: predicted class):")
    lines.append(f"  {'':<{width}}" + "".join(f" {n:>7}" for n in names))
    lines += [f"  {n:<{width}}" + "".join(f" {int(v):>7}" for v in row) for n, row in zip(names, confusion)]
    return lines


def _ratio(part, whole):
    return f"{part / whole:.4f}" if whole else "-"


def _number(name):
    try:
        return float(name)
    except ValueError:
        return None


def plot(path, out):
    """Draw validation and test error against updates into the image ``out``."""
    return save_figure(curves_figure(path), out)


def curves_figure(path):
    """The matplotlib figure of ``plot``: the model's errors against updates (an ensemble's, model by model)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, _ = read_checked_model(path)
    options = read_options(path)
    updates, errs = _history(model)
    if not len(errs):
        raise ModelFileError(f"{path}: history_errs is empty: no validation to plot yet")
    x = updates if updates is not None else numpy.arange(len(errs))
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    if model.history_models is not None:
        _ensemble_curves(ax, x, errs, model)
    else:
        _model_curves(ax, x, errs, model)
    if model.final.get("early_stop"):
        ax.axvline(x[-1], color="grey", linestyle="--", label="early stop")
    ax.set_xlabel("update" if updates is not None else "validation (update index not recorded)")
    ax.set_ylabel("error rate")
    ax.grid(alpha=0.3)
    ax.legend()
    if options:
        lines = [
            ("dim_proj", "bidirectional", "pooling", "ensemble"),
            ("optimizer", "batch_size", "maxlen", "truncate"),
            ("n_words", "vocab_by", "use_dropout", "word_dropout"),
        ]
        title = "\n".join(", ".join(f"{k}={options[k]}" for k in keys if k in options) for keys in lines)
        ax.set_title("LSTM: " + title, fontsize=10)
    else:
        ax.set_title(f"LSTM: {path} (options not saved)", fontsize=10)
    fig.tight_layout()
    return fig


def _model_curves(ax, x, errs, model):
    """A model's validation (and test) error, its best validation, and its final test error there."""
    ax.plot(x, errs[:, 0], marker="o", markersize=3, label="validation error")
    if not numpy.isnan(errs[:, 1]).all():  # valid_only runs compute the test error once, at the end
        ax.plot(x, errs[:, 1], marker="o", markersize=3, label="test error")
    best = best_row(errs)
    ax.scatter(
        [x[best]],
        [errs[best, 0]],
        s=120,
        facecolors="none",
        edgecolors="black",
        zorder=3,
        label=f"best validation ({errs[best, 0]:.3f})",
    )
    if "test_err" in model.final:
        test_err = float(model.final["test_err"])
        ax.scatter(
            [x[best]], [test_err], marker="x", s=80, color="black", zorder=3, label=f"final test error ({test_err:.3f})"
        )


def _ensemble_curves(ax, x, errs, model):
    """An ensemble's models' validation errors, each its own curve, and the ensemble's final validation
    and test errors (of the mean of their class probabilities) after the last."""
    for k in numpy.unique(model.history_models):
        rows = model.history_models == k
        ax.plot(x[rows], errs[rows, 0], marker="o", markersize=3, label=f"model {k + 1}: validation error")
    marks = (
        ("valid_err", "validation", dict(marker="o", s=100, facecolors="none", edgecolors="black")),
        ("test_err", "test", dict(marker="x", s=80, color="black")),
    )
    for name, what, style in marks:
        if name in model.final:
            value = float(model.final[name])
            ax.scatter([x[-1]], [value], zorder=3, label=f"the ensemble's {what} error ({value:.3f})", **style)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m lstm_sentiment.report",
        description="Print a trained model's options, errors and history_errs; optionally plot them.",
    )
    parser.add_argument("model", nargs="?", help="the model file (npz)")
    parser.add_argument("--sweep", metavar="DIR", help="instead of a model: the table of the sweep in DIR")
    parser.add_argument(
        "--plot",
        metavar="IMAGE",
        help="draw validation and test error against updates into this image, e.g. curves.png (.pdf and .svg "
        "too; with --sweep: every trial's validation error, and the best against each searched argument)",
    )
    args = parser.parse_args(argv)
    if (args.model is None) == (args.sweep is None):
        parser.error("give a model file, or --sweep DIR")
    return run(_report_sweep if args.sweep else _report, args.sweep or args.model, args.plot)


def _report(path, out):
    if out:
        check_figure_path(out)
    print(report(path))
    if out:
        plot(path, out)
        logger.info("Wrote %s", out)


def _report_sweep(folder, out):
    from .sweeps.plot import plot_sweep
    from .sweeps.results import format_table, read_table

    if out:
        check_figure_path(out)
    print(format_table(*read_table(folder)), end="")
    if out:
        plot_sweep(folder, out)
        logger.info("Wrote %s", out)


if __name__ == "__main__":
    sys.exit(main())
