"""The human tables of the results (what the CLI prints without ``--json``), and the one number format.

Each ``render_*`` takes a result (a report object or its saved dict) and returns the text; nothing here
prints or decides.  The CLI commands, the pytest plugin and the notebooks call these.
"""

from __future__ import annotations

import math


def fmt(x, spec: str = "short") -> str:
    """A number for a table.  ``"short"``: 3 significant digits (0 as "0"), exponent form outside
    [1e-3, 1e4); ``"full"``: 15 significant digits, exponent form below 1e-3; any other ``spec`` is a format
    spec (``".15g"``).  None is "-", text (a non-finite value as JSON writes it) is shown as it is."""
    if x is None:
        return "-" if spec in ("short", "full") else str(x)
    if isinstance(x, str):
        return x
    if spec == "short":
        if x == 0:
            return "0"
        return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"
    if spec == "full":
        if x != x:  # nan
            return "nan"
        return f"{x:.15g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.6e}"
    return format(x, spec) if isinstance(x, (int, float)) else str(x)


def fmt_table(x, spec: str = ".3g") -> str:
    """A number in a sweep table: ``spec`` for 0 and magnitudes in [1e-3, 1e5), else 2-digit exponent form;
    None is "-", anything else (an int, text) as it is."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec) if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.2e}"
    return str(x)


def params_text(p: dict) -> str:
    """``k=v, ...``: floats in %g."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())


# --------------------------------------------------------------------------------------------------------
# verify


def render_verify(r) -> str:
    """The human table: claim, verdict, value, reference, gradient, each check, seconds."""
    params = params_text(r.params)
    lines = [
        f"loss       {r.loss}  M={r.M}  d={r.d}" + (f"  ({params})" if params else ""),
        f"claim      {r.claim}",
        f"verdict    {r.verdict.upper()}: {r.reason}",
        f"value      {r.value:.15g}   " + (f"(best of {r.restarts} restarts)" if getattr(r, "point", None) is None
                                              else f"(a polished candidate, below all {r.restarts} restarts)"),
        f"reference  {r.reference['value']:.15g}   {r.reference['name']}",
        f"gradient   {r.grad_norm:.1e}",
        f"config     {r.configuration or 'not recognised'}",
        "",
        f"  {'check':<22} {'status':<6} {'measured':>10}  {'':<5} {'tolerance':<9}  detail",
    ]
    for c in r.checks:
        rel = c.relation.replace(" ", "") if c.passed is not None else ""
        lines.append(f"  {c.name:<22} {c.status:<6} {fmt(c.measured):>10}  {rel:<5} {fmt(c.tolerance):<9}  {c.detail}")
    if len(r.minima) > 1:
        lines.append("")
        lines.append("  minima found: " + ", ".join(f"{v:.10g} (x{n})" for v, n in r.minima))
    for key, section in r.extras.items():
        if isinstance(section, dict) and section.get("summary"):
            lines.append(f"  {key}: {section['summary']}")
    ev = getattr(r, "evidence", None) or {}
    if ev.get("summary"):
        lines.append("")
        lines.append(f"  evidence: {ev['search']}")
        lines.append(f"            {ev['second_order']}")
        lines.append(f"            {ev['global_optimality']}")
    for note in r.notes:
        lines.append(f"  note: {note}")
    lines.append("")
    lines.append(f"seconds    {r.seconds:.2f}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# energy


def render_energy(r: dict) -> str:
    """The human table."""
    minima = r["minima"]
    lines = [
        f"energy     {r['kernel']}" + (f" ({params_text(r['params'])})" if r["params"] else "")
        + f"  N={r['N']}  d={r['d']}",
        f"minimum    {fmt(r['value'], '.15g')}",
        f"gradient   {fmt(r['grad_norm'], '.1e')}   (tolerance {fmt(r['grad_tol'], '.1e')} = 1e-10 x gradient "
        f"scale"
        f" {fmt(r['egrad_scale'], '.3g')}; {'converged' if r['converged'] else 'NOT converged'})",
        f"search     {r['solves']} solves: {r['restarts']} random restarts + {r['rounds']} basin-hopping rounds "
        f"({r['stop_reason']})",
        f"agreement  {r['hits']} of {r['solves']} solves reach the minimum ({r['random_hits']} random restarts); "
        f"{len(minima)} distinct minim{'um' if len(minima) == 1 else 'a'} found",
    ]
    rec = r.get("recognition")
    lines.append(f"config     {rec['name']} (Procrustes residual {rec['residual']:.1e})" if rec else
                 "config     not recognised among the known configurations")
    lp = r.get("lp_bound")
    if lp:
        if lp.get("gap") is None:
            bound = lp.get("bound")
            lines.append(f"LP bound   failed: {lp['status']}" if not isinstance(bound, (int, float)) or
                         not math.isfinite(bound) else
                         f"LP bound   {bound:.15g}: no relative gap (the energy underflows or is not finite)")
        else:
            verdict = ("certified global minimum" if lp["certified_global_minimum"] else
                       "bound above the energy: inconsistent, no certificate" if lp["gap"] < -1e-10 else
                       "no certificate (the minimum is not converged)" if not r["converged"] else
                       "no certificate (gap > 1e-6)")
            lines.append(f"LP bound   {fmt(lp['bound'], '.15g')}   degree {lp['degree']}, relative gap "
                         f"{fmt(lp['gap'], '.1e')}: {verdict}")
    if len(minima) > 1:
        shown = ", ".join(f"{m['value']:.10g} (x{m['count']})" for m in minima[:5])
        lines.append(f"minima     {shown}" + (" ..." if len(minima) > 5 else ""))
    lines.append(f"seconds    {r['seconds']:.2f}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# analyze


def render_analyze(r: dict) -> str:
    """The human table."""
    w = r["w1_details"]
    lines = [f"embeddings      {r['file']}: M={r['M']} points in d={r['d']} ({r['n_pairs']:,} pairs i<j)"]
    if r.get("pairs"):
        lines.append(f"pairs           {r['pairs']}")
    for n in r["notes"]:
        lines.append(f"note            {n}")
    if r.get("alignment") is not None:
        lines.append(f"alignment       {r['alignment']:.6g}   mean |u_i - v_i|^2 (0 = perfectly aligned, max 4)")
    err = f" (± {r['uniformity_error']:.1e})" if r["uniformity_error"] else ""
    lines.append(f"uniformity      {r['uniformity']:.6g}{err}   log mean exp(-2|u_i - u_j|^2) (lower = more uniform)")
    lines.append(f"effective rank  {r['effective_rank']:.6g}   of at most {min(r['M'], r['d'])}")
    how = "exact (sorted)" if w["method"] == "sorted" else f"± {w['error_bound']:.1e} (streamed histogram)"
    lines.append(f"W1 to uniform   {r['w1']:.6g}   {how}; 0 = inner products distributed as for uniform points")
    lines.append(f"inner products  min {r['min_inner_product']:.4g}, mean {r['mean_inner_product']:.4g}, "
                 f"max {r['max_inner_product']:.4g}")
    near = r.get("nearest")
    if near:
        proc = f", Procrustes residual {near['procrustes']:.2e}" if near["procrustes"] is not None else ""
        tag = "  (recognised)" if near["recognised"] else ""
        lines.append(f"nearest config  {near['name']}: inner-product distance {near['fingerprint']:.2e}{proc}{tag}")
    elif r["M"] <= 256:
        lines.append("nearest config  no known configuration has this M in this d")
    lines.append(f"seconds         {r['seconds']:.2f}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# compare


def _matrix(name: str, rows, width: int = 10) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        out.append(f"    {name}[{i}] = [" + ", ".join(f"{v:+.{width}f}" for v in row) + "]")
    return out



def render_compare(r, top: int = 3) -> str:
    """The human table: verdict, one line per kind of configuration, the worst cases with their inputs."""
    lines = [
        f"loss       {r.loss}" + (f"  ({params_text(r.params_loss)})" if r.params_loss else ""),
        f"reference  {r.reference}" + (f"  ({params_text(r.params_reference)})" if r.params_reference else ""),
        f"grid       M in {r.Ms}, d in {r.ds}, {r.trials} trials, seed {r.seed}; rtol {r.rtol:g}, atol {r.atol:g}",
        f"verdict    {r.verdict.upper()}: {r.reason}",
    ]
    lines += [f"diagnosis  {d}" if i == 0 else f"           {d}" for i, d in enumerate(r.diagnostics)]
    lines += [
        "",
        f"  {'configurations':<14} {'cases':>5} {'mismatch':>8}  {'max |Δvalue|':>12}  {'max ‖Δgrad‖':>12}  "
        f"{'worst Δ/tol':>11}",
    ]
    for where, s in r.by_where().items():
        lines.append(f"  {where:<14} {s['cases']:>5} {s['mismatches']:>8}  {fmt(s['max_value_diff']):>12}  "
                     f"{fmt(s['max_grad_diff']):>12}  {fmt(s['max_severity']):>11}"
                     + (f"  ({s['not_comparable']} without a derivative of the reference)" if s["not_comparable"]
                        else ""))
    worst = r.worst(top)
    if worst:
        lines += ["", "largest discrepancies (Δ/tol > 1 is a mismatch):"]
        for k, c in enumerate(worst, 1):
            lines.append(f"  {k}. {c.where}, M={c.M}, d={c.d}, trial {c.trial}: Δ/tol {fmt(c.severity)}"
                         + ("  MISMATCH" if c.mismatch else ""))
            lines.append(f"     value     {c.value_loss:.17g} (loss)  {c.value_reference:.17g} (reference)  "
                         f"|Δ| {fmt(c.value_diff)} vs tol {fmt(c.value_tol)}")
            lines.append(f"     gradient  ‖g‖ {fmt(c.grad_loss)} (loss)  {fmt(c.grad_reference)} (reference)  "
                         f"‖Δ‖ {fmt(c.grad_diff)} vs tol {fmt(c.grad_tol)}"
                         + ("" if c.grad_comparable else "  (not compared: the reference has no derivative here)"))
            if k == 1 and c.mismatch:
                x = c.points.tolist()
                if c.M * c.d <= 64:
                    lines.append("     inputs (rows on the unit sphere):")
                    if r.kind == "pairs":
                        lines += _matrix("U", x[: c.M]) + _matrix("V", x[c.M:])
                    else:
                        lines += _matrix("X", x)
                else:
                    lines.append("     inputs: too large to print; --json has them in full under worst[0].points")
    lines += ["", f"seconds    {r.seconds:.2f}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------------------
# symbolic

_MARK = {"proved": "PROVED", "passed": "pass", "refuted": "REFUTED", "failed": "FAIL", "undecided": "undecided",
         "undefined": "UNDEFINED", "inconclusive": "inconclusive", "n/a": "n/a"}


def render_symbolic(r) -> str:
    """The human report of ``hemtools symbolic``: closed form, its rows, each section's findings."""
    params = params_text(r.params)
    lines = [f"loss        {r.loss}" + (f"  ({params})" if params else ""),
             f"verdict     {r.verdict.upper()}",
             "",
             "closed form at the aligned regular simplex (u_i = v_i, u_i·u_j = −1/(M−1)):",
             f"  L = {r.closed_form.expr}"]
    for f in r.closed_form.derivations:
        lines.append(f"  [{_MARK.get(f.status, f.status)}] {f.statement} ({f.detail})")
    lines.append(f"  {'M':>3} {'d':>3}  {'closed form':>22}  {'loss at exact simplex':>22}  {'difference':>10}  status")
    for row in r.closed_form.rows:
        lines.append(f"  {row['M']:>3} {row['d']:>3}  {fmt(row['closed_form'], 'full'):>22}  "
                     f"{fmt(row['loss_at_simplex'], 'full'):>22}  "
                     f"{row['difference']:>10.1e}  {row['status']}")
    titles = {"stationarity": "stationarity of the aligned simplex",
              "conditions": "conditions (φ on [−2, 2]; ψ on the values of S)",
              "chain": "Jensen lower-bound chain", "ustatistic": "KCL: expected mini-batch loss (U-statistic, C4)",
              "alpha_cl": "α-CL: ∇L = −∇E_α with α stopped (C6)"}
    for key, findings in r.sections.items():
        lines += ["", titles.get(key, key) + ":"]
        for f in findings:
            lines.append(f"  [{_MARK.get(f.status, f.status)}] {f.name}: {f.statement}")
            if f.detail:
                lines.append(f"      {f.detail}")
    if r.conditions is not None:
        lines += ["", f"the proof's condition (F convex and nondecreasing): {r.conditions.holds} — "
                      f"{r.conditions.summary}"]
    lines += ["", f"seconds     {r.seconds:.2f}"]
    return "\n".join(lines) + "\n"
