"""The moved units of issue 12 on their own: results vocabulary and exit codes, jsonable, validators, io,
the number format, the progress helper, the result tags.  Standard library and numpy only: < 1 s."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hemtools import io, results, text, validators
from hemtools.errors import ArgumentError
from hemtools.progress import Progress
from hemtools.results import Comparison, ProofStatus, StopReason, Verdict, exit_code


def test_words_are_plain_strings_everywhere():
    assert Verdict.CONFIRMED == "confirmed" and {"confirmed": 1}[Verdict.CONFIRMED] == 1
    assert {Verdict.ERROR: 2}.get("error") == 2  # hashes as its word (Enum hashes its name)
    assert json.dumps({"v": Verdict.REFUTED, "c": Comparison.MATCH}) == '{"v": "refuted", "c": "match"}'
    assert f"{Verdict.INCONCLUSIVE:<13}|" == "inconclusive |" and str(ProofStatus.FAILED) == "failed"
    assert StopReason.ROUND_OFF_FLOOR.message == "converged: gradient at its round-off floor"
    assert StopReason.NEWTON_RESOLVED.converged and not StopReason.STAGNATED.converged
    assert set(results.STOP_MESSAGES) == set(StopReason)


def test_exit_codes_one_table():
    assert [exit_code(v) for v in ("confirmed", "refuted", "inconclusive", "error")] == [0, 1, 3, 4]
    assert [exit_code(v) for v in ("match", "mismatch", "passed", "failed")] == [0, 1, 0, 1]
    # grids (a sweep's rows or counts): error 4 > refuted 1 > inconclusive 3 > confirmed 0; nothing: 0
    assert exit_code({"confirmed": 3, "inconclusive": 1}) == 3
    assert exit_code({"confirmed": 3, "inconclusive": 1, "refuted": 1, "error": 1}) == 4
    assert exit_code(["confirmed", "refuted", "inconclusive"]) == 1 and exit_code({}) == 0
    assert exit_code({"refuted": 0}) == 0 and exit_code([]) == 0


def test_jsonable_one_function():
    doc = results.jsonable({"a": np.float64("inf"), "b": np.arange(3), 1: (1.5, None, True), "v": Verdict.ERROR,
                            "f": float("nan"), "o": object})
    assert doc["a"] == "inf" and doc["b"] == [0, 1, 2] and doc["1"] == [1.5, None, True] and doc["v"] == "error"
    assert doc["f"] == "nan" and doc["o"].startswith("<class")
    json.dumps(doc, allow_nan=False)
    assert results.jsonable({"x": object()}, leaf=lambda o: "leaf")["x"] == "leaf"
    assert results.jsonable_params({"tau": 0.5, "phi": len, "k": None}) == {"tau": 0.5, "phi": str(len), "k": None}
    assert results.tagged("verify", {"loss": "kcl"}) == {"result": "verify", "loss": "kcl"}


@pytest.mark.parametrize("args, kw, message", [
    (("--N", 1, 2), {}, "--N: expected an integer >= 2, got 1"),
    (("d", True, 2), {"hint": "points on S^(d-1)"}, "d: expected an integer >= 2 (points on S^(d-1)), got True"),
    (("M", 8.0, 2), {}, "M: expected an integer >= 2, got 8.0"),
    (("--degree", 5000, 1, 1999), {"hint": "the LP grid has 2001 points"},
     "--degree: expected an integer from 1 to 1999 (the LP grid has 2001 points), got 5000"),
])
def test_require_int_messages(args, kw, message):
    with pytest.raises(ArgumentError) as exc:
        validators.require_int(*args, **kw)
    assert str(exc.value) == message


def test_require_int_accepts_what_each_caller_accepted():
    assert validators.require_int("M", 8.0, 2, integral_floats=True) == 8
    assert validators.require_int("N", np.int64(5), 2) == 5
    assert validators.require_seed("seed", 2 ** 64 - 1) == 2 ** 64 - 1
    with pytest.raises(ArgumentError, match="from 0 to 2\\*\\*64 - 1"):
        validators.require_seed("seed", 2 ** 64)
    with pytest.raises(pytest.UsageError):
        validators.require_int("--hemtools-seed", -1, 0, error=pytest.UsageError)


def test_read_results_strict_and_resume(tmp_path):
    f = tmp_path / "sweep.jsonl"
    assert io.read_results(str(f), resume=True) == []
    with pytest.raises(ArgumentError, match="no such file"):
        io.read_results(str(f))
    f.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "cut by a cra')
    assert io.read_results(str(f)) == [{"a": 1}, {"a": 2}] == io.read_results(str(f), resume=True)
    f.write_text('{"cut\n{"a": 2}\n')
    assert io.read_results(str(f), resume=True) == [{"a": 2}]
    with pytest.raises(ArgumentError, match="not JSON"):
        io.read_results(str(f))
    f.write_text("[1, 2]")
    with pytest.raises(ArgumentError, match="expected a JSON object"):
        io.read_results(str(f))


def test_write_atomic_replaces_whole_files(tmp_path):
    p = tmp_path / "out.txt"
    io.write_atomic(str(p), "one")
    io.write_atomic(str(p), b"two")
    assert p.read_text() == "two" and [x.name for x in tmp_path.iterdir()] == ["out.txt"]


def test_fmt_once():
    assert [text.fmt(x) for x in (None, "inf", 0, 0.5, 1e-5, 12345.0)] == ["-", "inf", "0", "0.5", "1.00e-05",
                                                                           "1.23e+04"]
    assert [text.fmt(x, "full") for x in (0.1, 1e-5, float("nan"))] == ["0.1", "1.000000e-05", "nan"]
    assert text.fmt(1 / 3, ".3g") == "0.333" and text.fmt("nan", ".1e") == "nan"


def test_progress_lines_when_not_a_terminal(capsys):
    bar = Progress(2, lines=True, describe=lambda r: f"cell {r}")
    bar(1, 2, "a")
    bar.close()
    assert capsys.readouterr().err == "[1/2] cell a\n"
    quiet = Progress(2, describe=str)  # conditions: nothing when not a terminal
    quiet(1, 2, "a")
    assert capsys.readouterr().err == ""


def test_plot_reads_the_result_tag_and_guesses_old_files():
    from hemtools.plots import result_kind, result_type

    assert result_type({"result": "sweep", "loss": "kcl"}) == "verify"
    assert result_type({"result": "energy"}) == "energy" and result_type({"result": "compare"}) == "unknown"
    assert result_type({"kernel": "riesz", "N": 4}) == "energy"  # saved before the tag
    assert result_type({"loss": "kcl", "verdict": "confirmed", "M": 4}) == "verify"
    assert result_kind is result_type


def test_symbolic_report_is_tagged_and_plain_json():
    import json

    from hemtools import symbolic

    d = symbolic.analyse("dhel", sections=["stationarity"], Ms=(2, 3)).to_dict()
    assert d["result"] == "symbolic" and d["loss"] == "dhel"
    json.dumps(d, allow_nan=False)  # sympy numbers became floats or text
