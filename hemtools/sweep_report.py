"""What a sweep store says: verdicts per (loss, params) and per (M, d), the gap to the simplex value, the
seconds per cell, a text phase diagram; and the restricted ``--where`` filter.

The filter is parsed here and applied to the rows in Python (never pasted into SQL): fields are the
names in ``FIELDS`` or ``params.NAME``, operators ``= == != <> < <= > >=``, values numbers or quoted
strings, conditions joined by ``and`` / ``or`` (``and`` binds tighter).  Anything else is refused with
one line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable

from .errors import ArgumentError
from .text import fmt_table as _fmt

FIELDS = ("loss", "M", "d", "verdict", "claim", "configuration", "host", "seconds", "value", "gap", "grad_norm",
          "reference", "cell_seed")
VERDICTS = ("confirmed", "refuted", "inconclusive", "error")
_TOKEN = re.compile(
    r"""\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])|(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"""|(?P<op><=|>=|==|!=|<>|=|<|>)|(?P<name>[A-Za-z_][\w]*(?:\.[\w]+)?))"""
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ArgumentError(f"--where: cannot read {text[pos:]!r} (expected FIELD OP VALUE [and|or ...])")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def field_of(r: dict, name: str):
    if name.startswith("params."):
        return (r.get("params") or {}).get(name[len("params.") :])
    if name == "gap":
        return gap_of(r)
    if name == "reference":
        ref = r.get("reference")
        return ref.get("value") if isinstance(ref, dict) else ref
    return r.get(name)


def _compare(a, op: str, b) -> bool:
    if a is None:
        return op in ("!=", "<>")
    if isinstance(b, float):
        try:
            a = float(a)
        except (TypeError, ValueError):
            return op in ("!=", "<>")
    else:
        a = str(a)
    if op in ("=", "=="):
        return a == b
    if op in ("!=", "<>"):
        return a != b
    try:
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except TypeError:
        return False


def parse_where(text: str) -> Callable[[dict], bool]:
    """``"loss='dhel' and M<=8 or verdict!='confirmed'"`` → a predicate on stored rows."""
    toks = _tokens(text)
    if not toks:
        raise ArgumentError("--where: empty filter")
    ors: list[list[tuple[str, str, object]]] = [[]]
    i = 0
    while True:
        if i + 3 > len(toks):
            raise ArgumentError(f"--where: incomplete condition in {text!r} (expected FIELD OP VALUE)")
        (k1, name), (k2, op), (k3, val) = toks[i : i + 3]
        if k1 != "name" or (name not in FIELDS and not name.startswith("params.")):
            raise ArgumentError(f"--where: unknown field {name!r}; fields: {', '.join(FIELDS)}, params.NAME")
        if k2 != "op":
            raise ArgumentError(f"--where: expected an operator after {name!r}, got {op!r}")
        if k3 == "num":
            value: object = float(val)
        elif k3 == "str":
            value = re.sub(r"\\(.)", r"\1", val[1:-1])
        else:
            raise ArgumentError(f"--where: expected a number or a quoted string after {name} {op}, got {val!r}")
        ors[-1].append((name, op, value))
        i += 3
        if i == len(toks):
            break
        kind, word = toks[i]
        if kind != "name" or word.lower() not in ("and", "or"):
            raise ArgumentError(f"--where: expected 'and' or 'or' after a condition, got {word!r}")
        if word.lower() == "or":
            ors.append([])
        i += 1

    def keep(r: dict) -> bool:
        return any(all(_compare(field_of(r, n), op, v) for n, op, v in conds) for conds in ors)

    return keep


# --------------------------------------------------------------------------------------------------------


def gap_of(r: dict) -> float | None:
    """Minimum found − the loss at the (aligned) regular simplex, when the reference is the simplex."""
    ref = r.get("reference")
    if not isinstance(ref, dict) or "simplex" not in str(ref.get("name", "")):
        return None
    try:
        g = float(r["value"]) - float(ref["value"])
    except (KeyError, TypeError, ValueError):
        return None
    return g if math.isfinite(g) else None


def _params_label(p) -> str:
    p = p or {}
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{k}={v}"
        for k, v in sorted(p.items())
    )


def summarize(rows: list[dict]) -> dict:
    """The report as plain data: groups per (loss, params) with verdict counts, seconds and cells."""
    groups: dict = {}
    for r in rows:
        label = _params_label(r.get("params"))
        g = groups.setdefault(
            (str(r.get("loss")), label),
            {"loss": str(r.get("loss")), "params": r.get("params") or {}, "verdicts": {}, "cells": [], "seconds": 0.0},
        )
        v = str(r.get("verdict"))
        g["verdicts"][v] = g["verdicts"].get(v, 0) + 1
        sec = r.get("seconds")
        sec = float(sec) if isinstance(sec, (int, float)) and math.isfinite(sec) else None
        g["seconds"] += sec or 0.0
        g["cells"].append(
            {
                "M": int(r["M"]),
                "d": int(r["d"]),
                "verdict": v,
                "claim": r.get("claim"),
                "value": r.get("value"),
                "reference": field_of(r, "reference"),
                "gap": gap_of(r),
                "configuration": r.get("configuration"),
                "seconds": sec,
                "seed": r.get("cell_seed"),
                "options": r.get("options"),
                "reason": r.get("reason") if v == "error" else None,
            }
        )
    out = []
    for key in sorted(groups):
        g = groups[key]
        g["cells"].sort(key=lambda c: (c["M"], c["d"], json.dumps(c["options"], sort_keys=True)))
        n = len(g["cells"])
        g["n"] = n
        g["seconds_per_cell"] = g["seconds"] / n if n else None
        gaps = [abs(c["gap"]) for c in g["cells"] if c["gap"] is not None and c["M"] <= c["d"] + 1]
        g["max_abs_gap_simplex_range"] = max(gaps) if gaps else None
        out.append(g)
    totals: dict = {}
    for g in out:
        for k, v in g["verdicts"].items():
            totals[k] = totals.get(k, 0) + v
    return {"rows": len(rows), "verdicts": totals, "groups": out}


def text_phase(cells: list[dict]) -> list[str]:
    """A character per (M, d): C R I E for the verdicts, upper case when M <= d+1 (the simplex range),
    lower case beyond; '.' not in the store; '*' several rows disagree."""
    Ms = sorted({c["M"] for c in cells})
    ds = sorted({c["d"] for c in cells})
    at: dict = {}
    for c in cells:
        ch = {"confirmed": "C", "refuted": "R", "inconclusive": "I"}.get(c["verdict"], "E")
        at[(c["M"], c["d"])] = ch if at.get((c["M"], c["d"]), ch) == ch else "*"
    width = max(len(str(m)) for m in Ms) + 1
    lines = ["    d \\ M " + "".join(str(m).rjust(width) for m in Ms)]
    for d in reversed(ds):
        row = ""
        for m in Ms:
            ch = at.get((m, d), ".")
            row += (ch if m <= d + 1 else ch.lower()).rjust(width)
        lines.append(f"    {str(d).rjust(5)} " + row)
    return lines


def render(rep: dict) -> str:
    lines = [f"{rep['rows']} cells: " + (", ".join(f"{k} {v}" for k, v in sorted(rep["verdicts"].items())) or "none")]
    for g in rep["groups"]:
        label = g["loss"] + (f" ({_params_label(g['params'])})" if g["params"] else "")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(g["verdicts"].items()))
        lines += [
            "",
            f"{label}: {g['n']} cells, {counts}; {_fmt(g['seconds_per_cell'])} s per cell"
            + (
                f"; max |gap| to the simplex value for M <= d+1: {_fmt(g['max_abs_gap_simplex_range'])}"
                if g["max_abs_gap_simplex_range"] is not None
                else ""
            ),
        ]
        lines += text_phase(g["cells"])
        lines.append("    (C confirmed, R refuted, I inconclusive, E error; lower case: M > d+1, beyond the simplex)")
        lines.append(
            f"  {'M':>4} {'d':>4}  {'verdict':<12} {'value':>12} {'simplex value':>14} {'gap':>10} "
            f"{'configuration':<20} {'seconds':>8}"
        )
        for c in g["cells"]:
            lines.append(
                f"  {c['M']:>4} {c['d']:>4}  {c['verdict']:<12} {_fmt(c['value'], '.6g'):>12} "
                f"{_fmt(c['reference'], '.6g'):>14} {_fmt(c['gap']):>10} {c['configuration'] or '-'!s:<20} "
                f"{_fmt(c['seconds']):>8}" + (f"  {c['reason']}" if c["reason"] else "")
            )
    return "\n".join(lines) + "\n"


def report_figure(rows: list[dict], path: str | None = None):
    """One row of panels per (loss, params): the (M, d) phase diagram coloured by verdict with the
    M = d+1 staircase (left of it: a regular simplex exists), |value − simplex value| (log scale) and the
    seconds per cell.  Cells absent from the rows are blank; several rows of one (M, d) (other options)
    show the last one."""
    import numpy as np
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from .plots import VERDICT_COLORS, save

    rep = summarize(rows)
    groups = rep["groups"]
    if not groups:
        raise ArgumentError("no sweep rows to draw")
    codes = {v: i for i, v in enumerate(VERDICTS)}
    cmap = ListedColormap([VERDICT_COLORS[v] for v in VERDICTS])
    fig = Figure(figsize=(14, 3.9 * len(groups) + 0.8), layout="constrained")
    axes = fig.subplots(len(groups), 3, squeeze=False)
    for (ax_v, ax_g, ax_s), g in zip(axes, groups, strict=False):
        Ms = sorted({c["M"] for c in g["cells"]})
        ds = sorted({c["d"] for c in g["cells"]})
        verdict = np.full((len(ds), len(Ms)), np.nan)
        gap = np.full_like(verdict, np.nan)
        secs = np.full_like(verdict, np.nan)
        for c in g["cells"]:
            i, j = ds.index(c["d"]), Ms.index(c["M"])
            verdict[i, j] = codes.get(c["verdict"], codes["error"])
            if c["gap"] is not None:
                gap[i, j] = max(abs(c["gap"]), 1e-17)
            if c["seconds"] is not None:
                secs[i, j] = c["seconds"]
        label = g["loss"] + (f" ({_params_label(g['params'])})" if g["params"] else "")
        ax_v.imshow(
            np.ma.masked_invalid(verdict), cmap=cmap, vmin=-0.5, vmax=len(VERDICTS) - 0.5, origin="lower", aspect="auto"
        )
        ax_v.set_title(f"{label}: verdict")
        if np.isfinite(gap).any():
            im = ax_g.imshow(
                np.ma.masked_invalid(gap),
                origin="lower",
                aspect="auto",
                cmap="viridis",
                norm=LogNorm(vmin=np.nanmin(gap), vmax=max(np.nanmax(gap), np.nanmin(gap) * 10)),
            )
            fig.colorbar(im, ax=ax_g, label="|value − simplex value|")
        ax_g.set_title("gap to the simplex value")
        if np.isfinite(secs).any():
            im = ax_s.imshow(np.ma.masked_invalid(secs), origin="lower", aspect="auto", cmap="magma")
            fig.colorbar(im, ax=ax_s, label="seconds")
        ax_s.set_title(f"seconds per cell (mean {_fmt(g['seconds_per_cell'])})")
        for ax in (ax_v, ax_g, ax_s):
            # the staircase M = d + 1: cells left of (and on) it admit a regular simplex
            xs, ys = [], []
            for row, d in enumerate(ds):
                x = sum(1 for m in Ms if m <= d + 1) - 0.5
                xs += [x, x]
                ys += [row - 0.5, row + 0.5]
            ax.plot(xs, ys, color="k", ls="--", lw=1.5)
            ax.set_xticks(range(len(Ms)), [str(m) for m in Ms], fontsize=7)
            ax.set_yticks(range(len(ds)), [str(d) for d in ds], fontsize=7)
            ax.set_xlabel("number of pairs M")
            ax.set_ylabel("dimension d")
    fig.legend(
        handles=[Patch(color=VERDICT_COLORS[v], label=v) for v in VERDICTS],
        loc="outside lower center",
        ncol=4,
        fontsize=8,
        title="verdict; dashed: M = d + 1 (left of it a regular simplex exists)",
    )
    fig.suptitle(f"Sweep report: {rep['rows']} cells")
    if path is not None:
        save(fig, path)
    return fig
