"""The picture of a sweep: every trial's validation error against updates (the stopped ones cut short,
marked x), and the best validation error of each trial against each searched argument."""

import math

from ..base.files import save_figure
from . import results

STYLES = {"done": "-", "stopped": "--", "failed": ":", "unfinished": ":"}


def plot_sweep(out, image):
    """Draw the sweep in the folder ``out`` into ``image`` (.png, .pdf or .svg)."""
    return save_figure(sweep_figure(out), image)


def sweep_figure(out):
    """The sweep's figure: its trials' curves above, one scatter per searched argument below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows, searched = results.read_table(out)
    fig = plt.figure(figsize=(4 * max(2, len(searched)), 8), dpi=100)
    grid = fig.add_gridspec(2, max(1, len(searched)))
    curves = fig.add_subplot(grid[0, :])
    for row in rows:
        history = results.read_validations(results.trial_folder(out, row["trial"]))
        if not history:
            continue
        x, y = [v["update"] for v in history], [v["valid_err"] for v in history]
        (line,) = curves.plot(x, y, STYLES.get(row["status"], "-"), linewidth=1, alpha=0.8)
        if row["status"] == "stopped":
            curves.plot(x[-1], y[-1], "x", color=line.get_color(), markersize=8)
    curves.set_xlabel("update")
    curves.set_ylabel("validation error")
    curves.set_title(f"{len(rows)} trials: done (solid), stopped by ASHA (dashed, x), failed or unfinished (dotted)")
    curves.grid(alpha=0.3)
    for i, name in enumerate(searched):
        ax = fig.add_subplot(grid[1, i])
        points = [(r[name], r["best_valid_err"]) for r in rows if not math.isnan(r["best_valid_err"])]
        values = [_number(v) for v, _ in points]
        if points and all(v is not None for v in values):
            ax.scatter(values, [e for _, e in points], s=20)
            if min(values) > 0 and max(values) / min(values) > 20:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labels of decades only
        else:
            labels = sorted({str(v) for v, _ in points})
            ax.scatter([labels.index(str(v)) for v, _ in points], [e for _, e in points], s=20)
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel("best validation error")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _number(value):
    try:
        return float(value)
    except ValueError:
        return None
