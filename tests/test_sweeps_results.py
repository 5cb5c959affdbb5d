"""A sweep's table from its trials' files: best validation, its test error, the best configuration."""

import math

import pytest

from lstm_sentiment.base.errors import Error
from lstm_sentiment.sweeps import results
from lstm_sentiment.training.loop import Validation


def _trial(out, trial, valid_errs, test_errs=None, final=None):
    folder = results.trial_folder(str(out), trial)
    (out / "trials" / trial).mkdir(parents=True)
    results.start_validations(folder)
    for k, v in enumerate(valid_errs):
        test = test_errs[k] if test_errs else math.nan
        results.append_validation(folder, Validation(10 * (k + 1), 0, math.nan, v, test))
    if final is not None:
        results.write_result(folder, final)


def test_a_row_takes_the_last_of_the_lowest_validation_and_the_kept_parameters_test_error(tmp_path):
    _trial(tmp_path, "a", [0.4, 0.2, 0.3, 0.2], [0.5, 0.31, 0.3, 0.29])
    row = results.trial_row(str(tmp_path), "a", 1, {"lrate": 0.1}, "stopped", 12.34)
    assert (row["best_valid_err"], row["test_err"], row["updates"], row["seconds"]) == (0.2, 0.29, 40, 12.3)
    _trial(tmp_path, "b", [0.4, 0.25], final=(0.1, 0.25, 0.27))  # valid_only: the final test error
    row = results.trial_row(str(tmp_path), "b", 0, {"lrate": 0.2}, "done", 1.0)
    assert (row["best_valid_err"], row["test_err"], row["status"]) == (0.25, 0.27, "done")
    row = results.trial_row(str(tmp_path), "never", 0, {"lrate": 0.3}, "failed", 0.0, "boom")
    assert math.isnan(row["best_valid_err"]) and row["updates"] == 0 and row["error"] == "boom"


def test_the_table_is_written_read_back_and_names_the_best_configuration_over_its_seeds(tmp_path):
    columns = ("trial", "seed", "status", "best_valid_err", "test_err", "updates", "seconds", "error")
    rows = [
        dict(zip(columns, values), dim_proj=dim, optimizer=optimizer)
        for *values, dim, optimizer in (
            ("a", 0, "done", 0.2, 0.25, 40, 1.0, "", 64, "adam"),
            ("b", 1, "done", 0.3, 0.35, 40, 1.0, "", 64, "adam"),
            ("c", 0, "stopped", 0.22, math.nan, 10, 1.0, "", 32, "sgd"),
            ("d", 1, "failed", math.nan, math.nan, 0, 0.5, "ValueError: boom", 32, "sgd"),
        )
    ]
    results.write_table(str(tmp_path), rows, ["dim_proj", "optimizer"])
    read, searched = results.read_table(str(tmp_path))
    assert searched == ["dim_proj", "optimizer"]
    assert [(r["trial"], r["seed"], r["dim_proj"], r["optimizer"]) for r in read] == [
        ("a", 0, 64, "adam"),
        ("b", 1, 64, "adam"),
        ("c", 0, 32, "sgd"),
        ("d", 1, 32, "sgd"),
    ]
    text = results.format_table(read, searched)
    lines = text.splitlines()
    assert lines[0].split() == [
        "trial",
        "seed",
        "status",
        "best_valid_err",
        "test_err",
        "updates",
        "seconds",
        "dim_proj",
        "optimizer",
    ]
    assert [line.split()[0] for line in lines[1:5]] == ["a", "c", "b", "d"]  # best validation first
    assert "trial d failed: ValueError: boom" in text
    # by the mean over seeds: sgd's one validated trial (0.22) beats adam's two (0.25 on average)
    assert lines[-1] == (
        "best configuration by validation error: dim_proj=32, optimizer=sgd; over 1 seeds: "
        "valid_err 0.2200 +- 0.0000, test_err -"
    )


def test_a_folder_without_a_table_is_named(tmp_path):
    with pytest.raises(Error, match="results.csv: no such file; is .* the --out folder of a sweep"):
        results.read_table(str(tmp_path))
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(Error, match="not a sweep's table"):
        results.read_table(str(tmp_path))


def _table(out):
    """A sweep's table of two trials, with each trial's validations."""
    _trial(out, "a", [0.4, 0.2], [0.5, 0.3], final=(0.1, 0.2, 0.3))
    _trial(out, "b", [0.45, 0.35, 0.3], [0.5, 0.4, 0.35])
    rows = [
        results.trial_row(str(out), "a", 0, {"lrate": 0.1}, "done", 2.0),
        results.trial_row(str(out), "b", 1, {"lrate": 0.01}, "stopped", 3.0),
    ]
    results.write_table(str(out), rows, ["lrate"])


def _damage(path, kind):
    data = path.read_bytes()
    if kind == "binary":
        path.write_bytes(data[:40] + bytes(range(256)))
    elif kind == "cut mid-row":
        path.write_bytes(data[: data.rindex(b",") - 2])
    elif kind == "short row":
        path.write_bytes(data + b"c,0,done\n")
    elif kind == "non-numeric cell":
        path.write_bytes(data.replace(b",0.2,", b",0.2x,", 1) if b",0.2," in data else data.replace(b"0.2", b"zero"))
    elif kind == "Latin-1 bytes":
        path.write_bytes(data + "é,0,done,0.1,0.2,3,1.0,,0.1\n".encode("latin-1"))
    elif kind == "unterminated quote":
        path.write_bytes(data + b'"c,0,done\n')


DAMAGES = {
    "binary": r"line \d+: (not UTF-8 text|a NUL byte)",
    "cut mid-row": r"line 3: \d+ cells where the header has \d+: a row cut short",
    "short row": r"line 4: 3 cells where the header has 9",
    "non-numeric cell": r"line 2: \w+ is '(0.2x|zero)', not a number",
    "Latin-1 bytes": r"line 4: not UTF-8 text",
    "unterminated quote": r"line \d+: (not CSV|\d+ cells where)",
}


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_table_is_an_error_naming_the_file_and_line(tmp_path, kind, capsys):
    from lstm_sentiment.report import main

    _table(tmp_path)
    _damage(tmp_path / "results.csv", kind)
    with pytest.raises(Error, match=r"results.csv, " + DAMAGES[kind]):
        results.read_table(str(tmp_path))
    assert main(["--sweep", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.csv, line " in err, err


@pytest.mark.parametrize("kind", ["binary", "cut mid-row", "non-numeric cell", "Latin-1 bytes"])
def test_a_damaged_validations_file_is_an_error_naming_it(tmp_path, kind, capsys):
    from lstm_sentiment.report import main

    _table(tmp_path)
    validations = tmp_path / "trials" / "b" / "validations.csv"
    if kind == "non-numeric cell":
        validations.write_bytes(validations.read_bytes().replace(b"0.35", b"n/a", 1))
    elif kind == "Latin-1 bytes":
        validations.write_bytes(validations.read_bytes() + "40,0,é,0.3,0.3\n".encode("latin-1"))
    else:
        _damage(validations, kind)
    with pytest.raises(Error, match=r"trials/b/validations.csv, line \d+: "):
        results.read_validations(str(tmp_path / "trials" / "b"))
    assert main(["--sweep", str(tmp_path), "--plot", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert "validations.csv, line " in err.splitlines()[-1] and not (tmp_path / "s.png").exists(), err


def test_a_damaged_result_file_is_named(tmp_path):
    _table(tmp_path)
    (tmp_path / "trials" / "a" / "result.json").write_bytes(b'{"test_err": 0.3')
    with pytest.raises(Error, match=r"trials/a/result.json: not a readable result"):
        results.trial_row(str(tmp_path), "a", 0, {"lrate": 0.1}, "done", 2.0)
