"""A sweep's files and its table: each trial's folder, and DIR/results.csv (one row per trial).

DIR/trials/<trial id>/model.npz         the trial's model (with its .json and .dict.json)
DIR/trials/<trial id>/train.log         its log
DIR/trials/<trial id>/validations.csv   update, epoch, train_err, valid_err, test_err of each validation
DIR/trials/<trial id>/result.json       written when training ends: the final errors
DIR/results.csv                         the table: trial, seed, status, best_valid_err, test_err,
                                        updates, seconds, error, then one column per searched argument
"""

import contextlib
import csv
import io
import json
import math
import os
import statistics

from ..base.errors import Error
from ..base.files import atomic_write

VALIDATION_COLUMNS = ("update", "epoch", "train_err", "valid_err", "test_err")
COLUMNS = ("trial", "seed", "status", "best_valid_err", "test_err", "updates", "seconds", "error")


def trial_folder(out, trial):
    return os.path.join(out, "trials", trial)


def start_validations(folder):
    """A new, empty validations.csv (a trial that restarts starts its history again)."""
    with open(os.path.join(folder, "validations.csv"), "w", newline="") as f:
        csv.writer(f).writerow(VALIDATION_COLUMNS)


def append_validation(folder, v):
    """One validation (a ``training.loop.Validation``), appended and flushed at once."""
    with open(os.path.join(folder, "validations.csv"), "a", newline="") as f:
        csv.writer(f).writerow([getattr(v, k) for k in VALIDATION_COLUMNS])


def read_validations(folder):
    """The trial's validations as dicts of floats, in order; [] when there are none."""
    path = os.path.join(folder, "validations.csv")
    if not os.path.exists(path):
        return []
    columns, rows = read_csv(path)
    if tuple(columns) != VALIDATION_COLUMNS:
        raise Error(f"{path}: not a trial's validations (its columns are {columns})")
    return [{k: _cell_value(path, line, k, row[k], float) for k in VALIDATION_COLUMNS} for line, row in rows]


def read_csv(path):
    """``(columns, rows)`` of the CSV file at ``path``: each row as (its line, column -> text). A file that is
    not UTF-8, holds a NUL byte, breaks CSV's quoting or has a row of another length is an Error naming the
    file and the line: a damaged file is never read as fewer or other rows."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Error(f"{path}: cannot read it ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise Error(f"{path}, line {line}: not UTF-8 text ({e.reason}): a damaged file") from None
    if "\0" in text:
        raise Error(f"{path}, line {text.count(chr(10), 0, text.index(chr(0))) + 1}: a NUL byte: a damaged file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = next(reader, [])
        rows = []
        for cells in reader:
            if len(cells) != len(columns):
                raise Error(
                    f"{path}, line {reader.line_num}: {len(cells)} cells where the header has {len(columns)}: "
                    f"a row cut short or a damaged file"
                )
            rows.append((reader.line_num, dict(zip(columns, cells))))
    except csv.Error as e:
        raise Error(f"{path}, line {reader.line_num}: not CSV ({e}): a damaged file") from None
    return columns, rows


def _cell_value(path, line, column, text, kind):
    """The cell ``text`` as ``kind`` ("" and "nan" a float's NaN); an Error naming where it is otherwise."""
    if kind is float and text in ("", "nan"):
        return math.nan
    try:
        return kind(text)
    except ValueError:
        raise Error(f"{path}, line {line}: {column} is {text!r}, not a number: a damaged file") from None


def write_result(folder, errors):
    """result.json: the trial's training ended, with these (train, valid, test) errors."""
    with atomic_write(os.path.join(folder, "result.json"), "w") as f:
        json.dump(dict(zip(("train_err", "valid_err", "test_err"), map(float, errors))), f)


def remove_result(folder):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(folder, "result.json"))


def read_result(folder):
    """The final errors of a trial whose training ended (result.json), or None."""
    path = os.path.join(folder, "result.json")
    try:
        with open(path, encoding="utf-8") as f:
            result = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Error(f"{path}: not a readable result ({e}): a damaged file") from None
    if not (isinstance(result, dict) and isinstance(result.get("test_err"), (int, float))):
        raise Error(f"{path}: not a trial's result (no test_err number in it)")
    return result


def trial_row(out, trial, seed, searched, status, seconds, error=""):
    """One row of the table, from the trial's files: its best validation, and the test error of the
    parameters it kept (the final one when it ended; else the test error at its best validation)."""
    folder = trial_folder(out, trial)
    validations, result = read_validations(folder), read_result(folder)
    best = min(reversed(validations), key=lambda v: v["valid_err"]) if validations else None  # the last of the lowest
    if result is not None:
        test_err = result["test_err"]
    else:
        test_err = best["test_err"] if best else math.nan
    return dict(
        trial=trial,
        seed=seed,
        status=status,
        best_valid_err=best["valid_err"] if best else math.nan,
        test_err=test_err,
        updates=int(validations[-1]["update"]) if validations else 0,
        seconds=round(seconds, 1),
        error=error,
        **searched,
    )


def write_table(out, rows, searched):
    """DIR/results.csv, atomically."""
    with atomic_write(os.path.join(out, "results.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*COLUMNS, *searched])
        writer.writeheader()
        writer.writerows(rows)


def read_table(out):
    """The rows of DIR/results.csv, and the searched arguments (the columns after ``COLUMNS``)."""
    path = os.path.join(out, "results.csv")
    if not os.path.exists(path):
        raise Error(f"{path}: no such file; is {out} the --out folder of a sweep?")
    columns, lines = read_csv(path)
    if tuple(columns[: len(COLUMNS)]) != COLUMNS:
        raise Error(f"{path}: not a sweep's table (its columns are {columns})")
    rows = []
    for line, row in lines:
        for k, kind in (("best_valid_err", float), ("test_err", float), ("seconds", float)):
            row[k] = _cell_value(path, line, k, row[k], kind)
        for k in ("seed", "updates"):
            row[k] = _cell_value(path, line, k, row[k], int)
        for k in columns[len(COLUMNS) :]:
            row[k] = _value(row[k])
        rows.append(row)
    return rows, columns[len(COLUMNS) :]


def _value(text):
    """A searched argument's value as it was drawn: an int, a float, or else the text (a choice)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _cell(value):
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def format_table(rows, searched):
    """The table as text, best validation error first, then the best configuration over its seeds."""
    columns = ["trial", "seed", "status", "best_valid_err", "test_err", "updates", "seconds", *searched]
    ordered = sorted(rows, key=lambda r: (math.isnan(r["best_valid_err"]), r["best_valid_err"]))
    cells = [columns] + [[_cell(r[c]) for c in columns] for r in ordered]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    out = io.StringIO()
    for row in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(row, widths)).rstrip() + "\n")
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        out.write(f"trial {r['trial']} failed: {r['error']}\n")
    out.write(best_configuration(rows, searched))
    return out.getvalue()


def best_configuration(rows, searched):
    """The configuration with the lowest mean best validation error over its seeds, with the spread."""
    groups = {}
    for r in rows:
        if not math.isnan(r["best_valid_err"]):
            groups.setdefault(tuple(str(r[k]) for k in searched), []).append(r)
    if not groups:
        return "no trial has validated yet\n"
    key, members = min(groups.items(), key=lambda kv: statistics.fmean(r["best_valid_err"] for r in kv[1]))

    def spread(name):
        values = [r[name] for r in members if not math.isnan(r[name])]
        if not values:
            return "-"
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.fmean(values):.4f} +- {sd:.4f}"

    config = ", ".join(f"{k}={_cell(members[0][k])}" for k in searched)
    return (
        f"best configuration by validation error: {config}; over {len(members)} seeds: "
        f"valid_err {spread('best_valid_err')}, test_err {spread('test_err')}\n"
    )
