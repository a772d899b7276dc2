"""The import graph of hemtools, read from the source (ast; nothing is imported or run): who may import whom.

Every ``import``/``from … import`` counts, the lazy ones inside functions too (a lazy import is still a
dependency).  Run ``python tests/test_architecture.py`` to print the graph's summary: module count, edges,
cycles and core → commands edges; ``python tests/test_architecture.py --edges`` prints every edge.
"""

from __future__ import annotations

import ast
import os
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "hemtools"

#: core modules that still import the CLI layer: none since issue 12 item 3 (renderers in hemtools.text,
#: write_atomic in hemtools.io)
KNOWN_CORE_TO_COMMANDS: set[str] = set()
#: import cycles still present (each as a sorted tuple of its modules): none since adapters moved into losses/
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The hemtools module a dotted name refers to (the longest known prefix), None outside hemtools."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in known:
            return cand
        parts.pop()
    return None


def imports_of(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The hemtools modules ``mod`` imports anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    package = mod if is_pkg else mod.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                r = _resolve(a.name, known)
                if r:
                    out.add(r)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:  # ``from pkg import submodule`` names a module; ``from mod import name`` does not
                r = _resolve(f"{target}.{a.name}", known)
                if r and r == f"{target}.{a.name}":
                    out.add(r)
                else:
                    r = _resolve(target, known)
                    if r:
                        out.add(r)
    out.discard(mod)
    return out


@lru_cache(maxsize=1)
def graph() -> dict[str, set[str]]:
    """module -> the hemtools modules it imports (read once per session; do not mutate)."""
    known = modules()
    return {m: imports_of(m, p, known) for m, p in known.items()}


def cycles(g: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted tuple."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[tuple[str, ...]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return sorted(out)


def _is_cli(m: str) -> bool:
    return m == "hemtools.commands" or m.startswith("hemtools.commands.") or m in ("hemtools.cli", "hemtools.__main__")


def core_to_commands(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """core module -> the CLI modules it imports (hemtools.commands.*, hemtools.cli)."""
    return {m: {t for t in ts if _is_cli(t)} for m, ts in g.items() if not _is_cli(m) and any(_is_cli(t) for t in ts)}


# ----------------------------------------------------------------------------------------------------- tests


def test_the_reader_resolves_relative_and_lazy_imports():
    g = graph()
    assert "hemtools.losses.registry" in g["hemtools.losses.phipsi"]  # from .registry import …
    assert "hemtools.formula" in g["hemtools.losses.phipsi"]  # from ..formula import …
    assert "hemtools.sphere" in g["hemtools.symbolic.stationarity"]  # from .. import sphere
    assert "hemtools.checks" in g["hemtools.grids"]
    assert "hemtools.io" in g["hemtools.plots"]  # a lazy import inside a function counts
    assert "hemtools.checks.verdict" in g["hemtools.checks"]  # from .verdict import …


def test_symbolic_depends_only_on_losses_formula_configurations_sphere():
    # results and errors are leaves (the shared vocabulary: verdict words, jsonable, result tags)
    allowed = ("hemtools.symbolic", "hemtools.losses", "hemtools.formula", "hemtools.configurations",
               "hemtools.sphere", "hemtools.errors", "hemtools.results")
    g = graph()
    bad = {m: sorted(t for t in ts if not any(t == a or t.startswith(a + ".") for a in allowed))
           for m, ts in g.items() if m.startswith("hemtools.symbolic")}
    assert not {m: b for m, b in bad.items() if b}, bad
    assert any(m.startswith("hemtools.symbolic.") for m in g), "symbolic is a package"


def test_the_formula_compiler_and_the_loss_spec_are_leaves():
    assert graph()["hemtools.results"] == set()
    assert graph()["hemtools.formula"] <= {"hemtools.errors"}
    assert graph()["hemtools.losses.spec"] <= {"hemtools.errors"}


def _module_level_imports(path: Path) -> set[str]:
    """Top-level packages imported when the module is imported (not the lazy imports inside functions)."""
    out = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_loss_modules_and_the_formula_compiler_do_not_import_sympy_at_import_time():
    """A loss declares its symbolic template as a string; sympy is imported only when a formula is compiled
    or ``symbolic`` parses the template (``hemtools --help`` and the registry stay light)."""
    mods = {m: p for m, p in modules().items() if m.startswith("hemtools.losses") or m == "hemtools.formula"}
    assert "hemtools.losses.spec" in mods
    heavy = {m: "sympy" for m, p in mods.items() if "sympy" in _module_level_imports(p)}
    assert not heavy, heavy


def test_no_core_module_imports_the_cli_layer_beyond_the_known_ones():
    found = core_to_commands(graph())
    assert set(found) <= KNOWN_CORE_TO_COMMANDS, found


def test_no_import_cycle_beyond_the_known_ones():
    found = set(cycles(graph()))
    assert found <= KNOWN_CYCLES, found


def test_cycle_finder_on_a_toy_graph():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


#: modules the CLI imports for ``--help`` (hemtools.commands.*): standard library and these only at import time
LIGHT = ("hemtools.errors", "hemtools.results", "hemtools.validators", "hemtools.io", "hemtools.text",
         "hemtools.progress")


def test_the_shell_modules_are_light():
    """results, validators, io, text and progress import only the standard library (and each other) when
    imported: the commands import them for ``--help``."""
    heavy = {}
    for m, p in modules().items():
        if m in LIGHT:
            third_party = _module_level_imports(p) - set(sys.stdlib_module_names) - {"hemtools", ""}
            if third_party:
                heavy[m] = sorted(third_party)
    assert not heavy, heavy
    g = graph()
    assert all(g[m] <= set(LIGHT) for m in LIGHT), {m: sorted(g[m] - set(LIGHT)) for m in LIGHT}


def test_checks_is_layered():
    """certificates and claim know nothing of the verdict or the report; the verdict rules read checks
    and claim only; energies (minimising energies) does not import checks."""
    g = graph()
    assert not (g["hemtools.checks.certificates"] | g["hemtools.checks.claim"]) & {
        "hemtools.checks", "hemtools.checks.verdict", "hemtools.checks.report", "hemtools.checks.beyond_simplex"}
    assert {t for t in g["hemtools.checks.verdict"] if t.startswith("hemtools.checks")} == {
        "hemtools.checks.certificates", "hemtools.checks.claim"}
    assert not any(t.startswith("hemtools.checks") for t in g["hemtools.energies"])


def test_one_writer_one_reader_one_renderer():
    """write_atomic, read_results and the verify renderer each live in one core module."""
    sources = {m: p.read_text(encoding="utf-8") for m, p in modules().items()}
    for definition, home in (("def write_atomic(", "hemtools.io"), ("def _jsonable(", None), ("def _fmt(", None),
                             ("def render_verify(", "hemtools.text"), ("def require_int(", "hemtools.validators")):
        # symbolic keeps its own sympy-aware _jsonable until it calls results.jsonable(obj, leaf=...) (issue 12)
        where = sorted(m for m, src in sources.items() if definition in src and not m.startswith("hemtools.symbolic"))
        assert where == ([home] if home else []), (definition, where)


if __name__ == "__main__":
    g = graph()
    print(f"{len(g)} modules under hemtools/, {sum(len(v) for v in g.values())} import edges (lazy ones included)")
    cyc = cycles(g)
    print(f"cycles: {len(cyc)}")
    for c in cyc:
        print("  " + " <-> ".join(c))
    cc = core_to_commands(g)
    print(f"core -> CLI layer (hemtools.commands / hemtools.cli): {len(cc)}")
    for m, ts in sorted(cc.items()):
        print(f"  {m} -> {', '.join(sorted(ts))}")
    if "--edges" in sys.argv[1:]:
        print("edges (module -> the hemtools modules it imports):")
        for m, ts in sorted(g.items()):
            print(f"  {m} -> {', '.join(sorted(t.removeprefix('hemtools.') for t in ts)) or '-'}")
    sym = {m: sorted(t for t in ts if not t.startswith("hemtools.symbolic")) for m, ts in g.items()
           if m.startswith("hemtools.symbolic")}
    print("hemtools.symbolic imports: " + ", ".join(sorted({t for ts in sym.values() for t in ts})))


def test_notebooks_use_the_public_library_not_the_cli_layer():
    """The notebooks are user code: they call hemtools' public modules, never hemtools.commands."""
    import glob
    import json

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in sorted(glob.glob(os.path.join(root, "notebooks", "*.ipynb"))):
        with open(path, encoding="utf-8") as fh:
            cells = json.load(fh)["cells"]
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "hemtools.commands" not in code, path
