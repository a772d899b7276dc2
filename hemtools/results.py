"""The results vocabulary: verdicts, statuses, why a solver stopped, exit codes, JSON values.

Every word a result can say lives here once (SPEC §5):

  Verdict       confirmed · refuted · inconclusive · error        (verify, sweep rows)
  Comparison    match · mismatch · inconclusive                   (compare)
  ProofStatus   passed · failed · inconclusive                    (symbolic, proof scripts)
  StopReason    why a restart of the solver stopped, with its message (optim)
  ResultType    the ``"result"`` tag of every ``to_dict()``: verify, energy, analyze, compare, symbolic, sweep

The enums are ``str`` subclasses whose value is the word itself, so ``report.verdict == "confirmed"``,
``json.dumps`` and f-strings see the plain word.  Standard library only: imported by ``--help``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from enum import Enum


class _Word(str, Enum):
    """A str Enum that prints, formats and serialises as its value (``enum.StrEnum`` is Python ≥ 3.11)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __hash__(self) -> int:  # Enum hashes its name: a dict keyed by "confirmed" must find CONFIRMED
        return str.__hash__(self)


class Verdict(_Word):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"  # a sweep cell whose user code raised


class Comparison(_Word):
    MATCH = "match"
    MISMATCH = "mismatch"
    INCONCLUSIVE = "inconclusive"


class ProofStatus(_Word):
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"


class ResultType(_Word):
    VERIFY = "verify"
    ENERGY = "energy"
    ANALYZE = "analyze"
    COMPARE = "compare"
    SYMBOLIC = "symbolic"
    SWEEP = "sweep"


RESULT_KEY = "result"  # the key of the tag in every to_dict()


class StopReason(_Word):
    """Why one restart of the solver stopped; ``message`` is the text the reports print (unchanged words)."""

    NON_FINITE = "non_finite"
    ROUND_OFF_FLOOR = "round_off_floor"
    NEWTON_RESOLVED = "newton_resolved"
    STAGNATED = "stagnated"
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"

    @property
    def message(self) -> str:
        return STOP_MESSAGES[self]

    @property
    def converged(self) -> bool:
        return self in (StopReason.ROUND_OFF_FLOOR, StopReason.NEWTON_RESOLVED)


STOP_MESSAGES: dict[StopReason, str] = {
    StopReason.NON_FINITE: "non-finite value or gradient",
    StopReason.ROUND_OFF_FLOOR: "converged: gradient at its round-off floor",
    StopReason.NEWTON_RESOLVED: "converged: gradient below tolerance, Newton step resolved",
    StopReason.STAGNATED: "stagnated: no further decrease possible in this precision",
    StopReason.ITERATION_LIMIT: "iteration limit reached",
    StopReason.TIME_LIMIT: "time limit reached",
}


# --------------------------------------------------------------------------------------------------------
# exit codes (SPEC §5): the one table

EXIT_OK, EXIT_REFUTED, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

EXIT_CODES: dict[str, int] = {
    Verdict.CONFIRMED: EXIT_OK, Verdict.REFUTED: EXIT_REFUTED, Verdict.INCONCLUSIVE: EXIT_INCONCLUSIVE,
    Comparison.MATCH: EXIT_OK, Comparison.MISMATCH: EXIT_REFUTED,
    ProofStatus.PASSED: EXIT_OK, ProofStatus.FAILED: EXIT_REFUTED,
}


def exit_code(verdicts: str | Iterable[str] | Mapping[str, int]) -> int:
    """The exit code of one verdict, or of a grid of them (a list, or counts by verdict): 4 when any cell is
    an error (its user code raised), else 1 when any is refuted (failed, mismatch), else 3 when any is
    inconclusive, else 0 (an empty grid too)."""
    if isinstance(verdicts, str):
        return EXIT_ERROR if verdicts == Verdict.ERROR else EXIT_CODES[verdicts]
    seen = {v for v, n in verdicts.items() if n} if isinstance(verdicts, Mapping) else {v for v in verdicts if v}
    codes = {exit_code(str(v)) for v in seen if v == Verdict.ERROR or v in EXIT_CODES}  # other words: no code
    for code in (EXIT_ERROR, EXIT_REFUTED, EXIT_INCONCLUSIVE):
        if code in codes:
            return code
    return EXIT_OK


# --------------------------------------------------------------------------------------------------------
# JSON values


def number(x):
    """A float for JSON: None stays None, a non-finite value becomes its text ("inf", "nan": JSON has none)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else str(x)


def jsonable(obj, leaf=str):
    """Plain JSON data from results: dicts (keys as text), lists and tuples, numpy/torch arrays and scalars,
    enums as their word, non-finite floats as text ("inf", "nan": JSON has none); any other object goes
    through ``leaf`` (its text by default; symbolic passes its sympy printer)."""
    if obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, Enum):
        return jsonable(obj.value, leaf)
    if isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return number(obj)
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v, leaf) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v, leaf) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, type):  # numpy / torch arrays and scalars
        return jsonable(obj.tolist(), leaf)
    return leaf(obj)


def jsonable_params(params: Mapping) -> dict:
    """A loss's parameters for JSON: numbers, text, bools and None as they are, anything else as its text
    (a callable φ, a formula object).  A CLI number stays the float it is; a non-finite float (only a user
    loss's own default can be one: typed values are validated finite) becomes its text, as in :func:`jsonable`."""
    return {k: (number(v) if isinstance(v, float) else
                v if isinstance(v, (int, str, bool)) or v is None else _text(v)) for k, v in params.items()}


def _text(v) -> str:
    """A parameter value's text: a function by its qualified name (its repr has a memory address, which differs
    from process to process and would split one parameter set into several in a sweep's report)."""
    import inspect

    text = str(v)
    if " at 0x" in text and inspect.isroutine(v) and getattr(v, "__qualname__", None) \
            and "<locals>" not in v.__qualname__:
        module = getattr(v, "__module__", None)
        return f"{module}.{v.__qualname__}" if module and module != "builtins" else v.__qualname__
    return text


def tagged(result_type: ResultType | str, out: dict) -> dict:
    """``out`` with the ``"result"`` tag first (a new key beside the SPEC §5 keys)."""
    return {RESULT_KEY: str(result_type), **{k: v for k, v in out.items() if k != RESULT_KEY}}
