"""Every numeric proof script (proofs_numeric/c*.py) runs on the harness with --quick and ends as expected.
(One script, SUBPROCESS, runs as a command in a fresh interpreter; the others run their ``__main__`` block in this
process, which saves a python + torch + sympy start per script: 87 s -> 51 s of CPU for this file.)

One parametrised test over the scripts found on disk, so that a new script is tested without editing this
file.  A script's expected status is PASS unless listed in EXPECTED with the reason (a real FAIL is a
result, and must stay visible, not be silenced).  The harness itself is tested through its ``main``.
"""

import glob
import json
import os
import runpy
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROOFS = os.path.join(ROOT, "proofs_numeric")
SCRIPTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(PROOFS, "c[0-9]*_*.py")))
EXPECTED: dict[str, str] = {}  # script -> status other than PASS (with the reason in the script's output)
EXIT = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")


def test_every_claim_has_a_script():
    claims = {s.split("_")[0] for s in SCRIPTS}
    assert claims == {f"c{i}" for i in range(1, 12)}, sorted(claims)


SUBPROCESS = "c7_deep_linear_pca.py"  # run as a user runs it (a fresh interpreter); the others run in-process


def _run_in_process(script: str, argv: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """``python proofs_numeric/SCRIPT ARGV`` in this process: the script's ``__main__`` block (its
    ``sys.exit(main(...))``) with the script's folder on sys.path, as the interpreter would put it.  Saves a
    fresh interpreter with its torch import per script; SUBPROCESS keeps the real command line tested."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                "NUMEXPR_NUM_THREADS", "MPLBACKEND"):  # the harness pins these: restored after the test
        monkeypatch.setenv(var, ENV.get(var, "1"))
    monkeypatch.setattr(sys, "argv", [os.path.join(PROOFS, script), *argv])
    monkeypatch.syspath_prepend(PROOFS)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(os.path.join(PROOFS, script), run_name="__main__")
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.mark.parametrize("script", SCRIPTS)
def test_proof_script_quick(script, tmp_path, monkeypatch, capsys):
    js = tmp_path / "result.json"
    argv = ["--quick", "--json", str(js)]
    if script == SUBPROCESS:
        p = subprocess.run([sys.executable, os.path.join(PROOFS, script), *argv],
                           capture_output=True, text=True, timeout=600, env=ENV, check=False)
        code, stdout, stderr = p.returncode, p.stdout, p.stderr
    else:
        code, stdout, stderr = _run_in_process(script, argv, monkeypatch, capsys)
    out = stdout[-3000:] + stderr[-3000:]
    r = json.loads(js.read_text())
    want = EXPECTED.get(script, "PASS")
    assert r["status"] == want, out
    assert code == EXIT[want], out
    assert stdout.splitlines()[-1].startswith(want + ": " + r["claim"]), out
    assert r["mode"] == "quick" and r["checks"] and r["setting"], r
    if script == "c3_energies.py":  # the energy baseline recognises the known configurations by name
        assert "cross_polytope" in stdout and "icosahedron" in stdout, out


def _harness():
    sys.path.insert(0, PROOFS)
    try:
        import _harness
    finally:
        sys.path.remove(PROOFS)
    return _harness


@pytest.mark.parametrize("outcomes, status, code", [
    ([True, True], "PASS", 0), ([True, False, None], "FAIL", 1), ([True, None], "INCONCLUSIVE", 3),
    ([], "INCONCLUSIVE", 3)])
def test_harness_status_rule(outcomes, status, code, tmp_path, capsys):
    h = _harness()

    def run(proof, args):
        proof.set(n=len(outcomes))
        for i, ok in enumerate(outcomes):
            proof.check(ok, f"check {i}")

    js = tmp_path / "r.json"
    assert h.main(run, claim="CX", statement="test", argv=["--quick", "--json", str(js)]) == code
    r = json.loads(js.read_text())
    assert r["status"] == status and r["mode"] == "quick" and r["setting"]["n"] == len(outcomes)
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{status}: CX test")


def test_harness_error_in_script_is_exit_4(tmp_path, capsys):
    h = _harness()

    def run(proof, args):
        proof.check(True, "fine")
        raise RuntimeError("boom")

    assert h.main(run, claim="CX", statement="test", argv=["--json", str(tmp_path / "r.json")]) == 4
    cap = capsys.readouterr()
    assert "boom" in cap.err and cap.out.splitlines()[-1].startswith("ERROR: CX")
    assert json.loads((tmp_path / "r.json").read_text())["mode"] == "full"


def _run_all():
    sys.path.insert(0, PROOFS)
    try:
        import run_all
    finally:
        sys.path.remove(PROOFS)
    return run_all


def test_run_all_orders_by_claim_and_reads_results(tmp_path, capsys):
    ra = _run_all()
    names = [os.path.basename(p) for p in ra.scripts()]
    assert names == sorted(SCRIPTS, key=lambda s: int(s[1:].split("_")[0]))
    assert [os.path.basename(p) for p in ra.scripts("c10,c2")] == ["c2_conditions.py", "c10_clip_gmm.py"]
    js = tmp_path / "r.json"
    js.write_text(json.dumps({"claim": "C7", "statement": "s", "status": "FAIL",
                              "counts": {"PASS": 3, "FAIL": 1, "INCONCLUSIVE": 0}}))
    r = ra.row("c7_x", 1, str(js), 2.0)
    assert r["status"] == "FAIL" and r["checks"] == "3/4"
    crashed = ra.row("c8_y", 4, str(tmp_path / "missing.json"), 1.0)
    assert crashed["status"] == "ERROR" and crashed["claim"] == "C8"
    ra.print_table([r, crashed], "--quick", 3.0, 2)
    out = capsys.readouterr().out
    assert "| C7 | c7_x.py | FAIL | 3/4 |" in out and "1 FAIL, 0 INCONCLUSIVE, 1 ERROR" in out


def test_run_all_bad_arguments_exit_2(capsys):
    ra = _run_all()
    assert ra.main(["--only", "c99"]) == 2
    assert ra.main(["--jobs", "0"]) == 2
    assert "--only" in capsys.readouterr().err
