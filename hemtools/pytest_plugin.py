"""pytest plugin (auto-loaded through the ``pytest11`` entry point): regression tests for new losses.

A researcher developing a loss keeps what it must be minimised by in their own test suite:

    def test_my_loss_has_the_simplex_minimiser(hem_verify):
        hem_verify("mypkg.losses:my_loss", M=8, d=16, tau=0.5)   # fails with the certificate table

    @pytest.mark.hemtools(loss="mypkg.losses:my_loss", M=[3, 5], d=[4, 8], tau=0.5)
    def test_my_loss_on_a_grid(hem_verify):                       # one test per (M, d): [M3-d4] ...
        hem_verify()

``hem_verify(loss, M=8, d=16, claim="simplex", *, restarts, seed, dtype, device, expect="confirmed",
hessian=True, params=None, **params)`` runs :func:`hemtools.checks.verify` and returns the
:class:`~hemtools.checks.VerifyReport`; when the verdict is not ``expect`` (a verdict or a tuple of
them; None never fails) the test fails with the certificate table of ``hemtools verify`` and the command
that reproduces it.  Keyword arguments that are not options are the loss's parameters.

Where a value comes from, first match wins: the call, the ``hemtools`` marker, the command line
(``--hemtools-seed``, ``--hemtools-dtype``, ``--hemtools-device``, ``--hemtools-restarts``), the
defaults (seed 0, float64, cpu, 8 restarts).  ``hemtools_verify`` is the same fixture (older name).

The marker's ``M`` and ``d`` (an int or a list each; their product) or ``grid=[(M, d), ...]`` parametrise
the test; a test that takes arguments ``M`` and ``d`` receives them.

Like Hypothesis' plugin this module is light: it imports only pytest at start-up, and torch and the
solver only when a test uses the fixture, so installing hemtools does not slow down other test suites.
"""

from __future__ import annotations

import itertools
import math

import pytest

from hemtools.validators import require_int

DEFAULTS = {"seed": 0, "dtype": "float64", "device": "cpu", "restarts": 8}
OPTIONS = ("seed", "dtype", "device", "restarts")
MARKER_OPTIONS = ("loss", "claim", "expect", "hessian", "params") + OPTIONS
GRID_KEYS = ("M", "d", "grid")
_UNSET = object()


def pytest_addoption(parser):
    group = parser.getgroup("hemtools", "hemtools: minimiser verification of losses (hem_verify fixture)")
    group.addoption("--hemtools-seed", type=int, default=None, metavar="S",
                    help="seed of the restarts for hem_verify (default 0)")
    group.addoption("--hemtools-dtype", choices=("float64", "float32"), default=None,
                    help="dtype for hem_verify (default float64; verdicts need it)")
    group.addoption("--hemtools-device", default=None, metavar="DEV",
                    help="device for hem_verify: cpu (default), cuda, cuda:N or auto")
    group.addoption("--hemtools-restarts", type=int, default=None, metavar="R",
                    help="random restarts for hem_verify (default 8)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "hemtools(loss=None, M=None, d=None, grid=None, claim=None, **params): hem_verify defaults; "
                   "M and d (ints or lists) or grid=[(M, d), ...] parametrise the test")
    restarts = config.getoption("--hemtools-restarts", None)
    if restarts is not None:
        require_int("--hemtools-restarts", restarts, 1, error=pytest.UsageError)
    seed = config.getoption("--hemtools-seed", None)
    if seed is not None:
        require_int("--hemtools-seed", seed, 0, error=pytest.UsageError)


# --------------------------------------------------------------------------------------------------------
# the (M, d) grid of the marker


class MarkerError(Exception):
    """A malformed @pytest.mark.hemtools: reported as the error of that one test, not of the collection."""


def _ints(value, what: str) -> list[int]:
    values = value if isinstance(value, (list, tuple, range)) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 2 for v in values):
        raise MarkerError(f"@pytest.mark.hemtools({what}=...) expects integers >= 2, got {value!r}")
    return list(values)


def grid_cases(kwargs: dict) -> list[tuple[int, int]]:
    """The (M, d) cases of a marker's keyword arguments: ``grid`` or the product of ``M`` and ``d``."""
    if "grid" in kwargs:
        if "M" in kwargs or "d" in kwargs:
            raise MarkerError("@pytest.mark.hemtools takes grid=[(M, d), ...] or M= and d=, not both")
        cases = []
        for item in kwargs["grid"] if isinstance(kwargs["grid"], (list, tuple)) else [kwargs["grid"]]:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise MarkerError(f"@pytest.mark.hemtools(grid=...) expects (M, d) pairs, got {item!r}")
            cases.append((_ints(item[0], "grid M")[0], _ints(item[1], "grid d")[0]))
        return cases
    if "M" in kwargs and "d" in kwargs:
        return list(itertools.product(_ints(kwargs["M"], "M"), _ints(kwargs["d"], "d")))
    if "M" in kwargs or "d" in kwargs:
        raise MarkerError("@pytest.mark.hemtools needs both M= and d= (or grid=)")
    return []


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("hemtools")
    if marker is None:
        return
    try:
        if marker.args:  # @pytest.mark.hemtools("kcl") was ignored, then "no loss given"
            raise MarkerError(f"@pytest.mark.hemtools takes keyword arguments only (loss=..., M=..., d=...), got "
                              f"positional {', '.join(map(repr, marker.args))}")
        cases = grid_cases(marker.kwargs)
    except MarkerError as exc:
        if "hemtools_case" not in metafunc.fixturenames:
            pytest.fail(f"{metafunc.definition.nodeid}: {exc}", pytrace=False)  # the collection fails
        metafunc.parametrize("hemtools_case", [exc], ids=["bad-marker"], indirect=True)  # this test fails
        return
    if not cases:
        return
    ids = [f"M{M}-d{d}" for M, d in cases]
    if "M" in metafunc.fixturenames and "d" in metafunc.fixturenames:
        metafunc.parametrize("M,d", cases, ids=ids)
    elif "hemtools_case" in metafunc.fixturenames:
        metafunc.parametrize("hemtools_case", cases, ids=ids, indirect=True)


@pytest.fixture
def hemtools_case(request):
    """The (M, d) of this test from the marker's grid, or None."""
    if hasattr(request, "param"):
        if isinstance(request.param, MarkerError):
            pytest.fail(str(request.param), pytrace=False)
        return request.param
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if "M" in params and "d" in params and request.node.get_closest_marker("hemtools") is not None:
        return params["M"], params["d"]
    return None


# --------------------------------------------------------------------------------------------------------
# the fixture


def _reproduce(report) -> str:
    parts = ["hemtools verify", f"--loss {report.loss}", f"--M {report.M}", f"--d {report.d}",
             f"--claim {report.claim}", f"--restarts {report.restarts}", f"--seed {report.seed}"]
    if report.dtype != "float64":
        parts.append(f"--dtype {report.dtype}")
    if report.device != "cpu":
        parts.append(f"--device {report.device}")
    for k, v in report.params.items():
        if isinstance(v, (int, float, str)) and not isinstance(v, bool) and \
                not (isinstance(v, float) and not math.isfinite(v)):  # a non-finite default: not typed
            parts.append(f"--param {k}={v!r}" if isinstance(v, float) else f"--param {k}={v}")  # repr: all digits
    return " ".join(parts)


def _make_verify(request, case):
    marker = request.node.get_closest_marker("hemtools")
    marked = {k: v for k, v in (marker.kwargs if marker else {}).items() if k not in GRID_KEYS}
    config = request.config
    cli = {k: config.getoption(f"--hemtools-{k}", None) for k in OPTIONS}

    def hem_verify(loss=None, M=None, d=None, claim=_UNSET, *, restarts=None, seed=None, dtype=None, device=None,
                   expect=_UNSET, hessian=None, params=None, **loss_params):
        """Verify ``loss``'s minimiser; fail the test with the certificate table unless the verdict is ``expect``."""
        call = {"restarts": restarts, "seed": seed, "dtype": dtype, "device": device}

        def pick(name, given):
            if given is not None and given is not _UNSET:
                return given
            if name in marked:
                return marked[name]
            return cli.get(name) if cli.get(name) is not None else DEFAULTS.get(name)

        loss = pick("loss", loss)
        if loss is None:
            pytest.fail("hem_verify: no loss given (pass it to hem_verify or to @pytest.mark.hemtools(loss=...))",
                        pytrace=False)
        if M is None or d is None:
            gM, gd = case if case is not None else (8, 16)
            M = gM if M is None else M
            d = gd if d is None else d
        claim = marked.get("claim", "simplex") if claim is _UNSET else claim
        expect = marked.get("expect", "confirmed") if expect is _UNSET else expect
        wanted = (expect,) if isinstance(expect, str) else tuple(expect or ())
        verdicts = ("confirmed", "refuted", "inconclusive")
        if any(w not in verdicts for w in wanted):  # a typo ("confirmd") failed every run as a wrong verdict
            pytest.fail(f"hem_verify: expect: expected {', '.join(verdicts)}, a tuple of them or None, got {expect!r}",
                        pytrace=False)
        hessian = pick("hessian", hessian)
        p = {k: v for k, v in marked.items() if k not in MARKER_OPTIONS}
        p.update(marked.get("params") or {})
        p.update(params or {})
        p.update(loss_params)
        opts = {k: pick(k, call[k]) for k in OPTIONS}

        from hemtools.checks import verify  # lazy: torch is imported only when a test verifies
        from hemtools.errors import ArgumentError, UserCodeError

        failure = None
        try:
            report = verify(loss, M, d, claim=claim, params=p, hessian=True if hessian is None else bool(hessian),
                            **opts)
        except ArgumentError as exc:
            failure = f"hem_verify: {exc}"
        except UserCodeError as exc:
            failure = f"hem_verify: {exc}\n{exc.traceback_text}"
        if failure is not None:  # outside the except block: no chained tracebacks in the report
            pytest.fail(failure, pytrace=False)
        if expect is not None and report.verdict not in wanted:
            from hemtools.text import render_verify as render

            pytest.fail(f"hemtools: {report.loss} M={report.M} d={report.d}: expected {' or '.join(wanted)}, "
                        f"got {report.verdict}\n\n{render(report)}\nreproduce: {_reproduce(report)}", pytrace=False)
        return report

    return hem_verify


@pytest.fixture
def hem_verify(request, hemtools_case):
    """``hem_verify(loss, M=8, d=16, claim="simplex", **params) -> VerifyReport``; fails the test with the
    certificate table when the verdict is not ``expect`` (default "confirmed")."""
    return _make_verify(request, hemtools_case)


@pytest.fixture
def hemtools_verify(request, hemtools_case):
    """The same as ``hem_verify`` (its first name)."""
    return _make_verify(request, hemtools_case)
