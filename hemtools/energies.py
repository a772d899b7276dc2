"""Hyperspherical energy minimisation: the baselines for batches larger than d+1 (SPEC §2 C3).

(Work in progress: issue 6 fills this module in.)  ``verify_extras`` is the hook that ``checks.verify``
calls for M > d+1; it returns a dict of JSON-able sections, each with a one-line ``summary`` that the
human table shows.
"""

from __future__ import annotations

from typing import Any, Mapping


def verify_extras(spec, params: Mapping[str, Any], M: int, d: int, U, found: float) -> dict:
    """Extra sections of a verify report for M > d+1 (energy baseline, recognised configuration, LP bound)."""
    return {}
