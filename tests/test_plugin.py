"""The pytest plugin, run as a user would run it: pytester suites with user losses, marker grids, options."""

import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

# A correct user loss (Gaussian KCL of SPEC §1, unbatched, written independently of hemtools.losses.kcl)
# and a broken one: the uniformity term enters with the wrong sign, so collapsing all points is rewarded
# and the aligned simplex is not the minimiser.
LOSSES = textwrap.dedent('''
    import torch

    def _kcl(U, V, t, gamma, sign):
        M = U.shape[0]
        align = torch.exp(-t * ((U - V) ** 2).sum(-1)).mean()
        G = U @ U.T
        off = ~torch.eye(M, dtype=torch.bool)
        energy = torch.exp(-t * (2 - 2 * G))[off].sum() * gamma / (M * (M - 1))
        return sign * energy - align

    def good_kcl(U, V, t=2.0, gamma=16.0):
        return _kcl(U, V, t, gamma, +1.0)

    def broken_kcl(U, V, t=2.0, gamma=16.0):
        return _kcl(U, V, t, gamma, -1.0)

    def raises(U, V):
        raise RuntimeError("boom inside the user's loss")
''')


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(mylosses=LOSSES)
    return pytester


def test_correct_loss_passes_broken_loss_fails_with_certificate_table(suite):
    suite.makepyfile(test_user=textwrap.dedent('''
        def test_good(hem_verify):
            report = hem_verify("mylosses.py:good_kcl", M=4, d=3, restarts=4)
            assert report.verdict == "confirmed"

        def test_broken(hem_verify):
            hem_verify("mylosses.py:broken_kcl", M=4, d=3, restarts=4)
    '''))
    result = suite.runpytest("-q")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    # the failure is the certificate table of `hemtools verify`, not a Python traceback into the plugin
    result.stdout.fnmatch_lines([
        "*hemtools: mylosses.py:broken_kcl M=4 d=3: expected confirmed, got refuted*",
        "*verdict    REFUTED*",
        "*check*status*measured*tolerance*",
        "*value_vs_target*fail*",
        "*reproduce: hemtools verify --loss mylosses.py:broken_kcl --M 4 --d 3 --claim simplex --restarts 4 --seed 0*",
    ])
    assert "pytest_plugin.py" not in out


def test_marker_parametrises_over_the_grid_and_passes_defaults(suite):
    suite.makepyfile(test_grid=textwrap.dedent('''
        import pytest

        @pytest.mark.hemtools(loss="kcl", M=[3, 4], d=[3], restarts=2, gamma=8.0)
        def test_product(hem_verify):
            r = hem_verify()
            assert (r.loss, r.d, r.restarts, r.params["gamma"]) == ("kcl", 3, 2, 8.0)

        @pytest.mark.hemtools(grid=[(2, 2), (3, 5)])
        def test_explicit_grid_with_arguments(M, d, hem_verify):
            r = hem_verify("dhel", restarts=2)
            assert (r.M, r.d) == (M, d)
    '''))
    result = suite.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_product?M3-d3? PASSED*", "*test_product?M4-d3? PASSED*",
                                 "*test_explicit_grid_with_arguments?M2-d2? PASSED*",
                                 "*test_explicit_grid_with_arguments?M3-d5? PASSED*"])


def test_command_line_options_set_the_defaults(suite):
    suite.makepyfile(test_opts=textwrap.dedent('''
        import pytest

        def test_cli_defaults(hem_verify):
            r = hem_verify("kcl", M=3, d=3)
            assert (r.seed, r.restarts, r.dtype, r.device) == (7, 3, "float64", "cpu")

        def test_call_wins(hem_verify):
            assert hem_verify("kcl", M=3, d=3, restarts=2, seed=1).restarts == 2

        @pytest.mark.hemtools(restarts=4)
        def test_marker_beats_command_line(hem_verify):
            assert hem_verify("kcl", M=3, d=3).restarts == 4
    '''))
    result = suite.runpytest("-q", "--hemtools-seed", "7", "--hemtools-restarts", "3",
                             "--hemtools-dtype", "float64", "--hemtools-device", "cpu")
    result.assert_outcomes(passed=3)


def test_dtype_option_reaches_verify(suite):
    suite.makepyfile(test_dtype=textwrap.dedent('''
        def test_float32(hem_verify):
            r = hem_verify("kcl", M=3, d=3, restarts=2, expect=None)  # float32 verdicts are exploration only
            assert r.dtype == "float32"
    '''))
    suite.runpytest("-q", "--hemtools-dtype", "float32").assert_outcomes(passed=1)


def test_expect_and_errors_are_readable(suite):
    suite.makepyfile(test_misc=textwrap.dedent('''
        import pytest

        def test_expected_refutation(hem_verify):
            # 5 points cannot form a regular simplex in R^2: the claim is refuted, as expected here
            hem_verify("kcl", M=5, d=2, restarts=2, expect="refuted", hessian=False)

        def test_unknown_loss(hem_verify):
            hem_verify("kcll", M=3, d=3)

        def test_user_code_raises(hem_verify):
            hem_verify("mylosses.py:raises", M=3, d=3, restarts=2)

        @pytest.mark.hemtools(M=[1], d=[3])
        def test_bad_marker(hem_verify):
            pass
    '''))
    result = suite.runpytest("-q")
    result.assert_outcomes(passed=1, failed=2, errors=1)
    out = result.stdout.str()
    assert "hem_verify: loss: unknown loss 'kcll'; did you mean kcl" in out
    # an error inside user code shows the user's traceback, ending in the user's frame
    result.stdout.fnmatch_lines(["*error in user code mylosses.py:raises: RuntimeError: boom inside the user's loss*",
                                 "Traceback*", "*mylosses.py*in raises*"])
    assert "@pytest.mark.hemtools(M=...) expects integers >= 2, got [1]" in out
    assert "During handling of the above exception" not in out


def test_bad_command_line_option_is_a_usage_error(suite):
    suite.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = suite.runpytest("-q", "--hemtools-restarts", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hemtools-restarts: expected an integer >= 1, got 0*"])


def test_plugin_module_does_not_import_torch():
    """Loaded into every pytest session of every project that installs hemtools: it must stay light."""
    code = (
        "import sys, hemtools.pytest_plugin; "
        "print(sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_existing_fixture_name_still_works(hemtools_verify):
    report = hemtools_verify("kcl", 3, 3, restarts=2)
    assert report.verdict == "confirmed" and report.restarts == 2


# --------------------------------------------------------------------------------------------------------
# the copy-paste example of the README: run from README.md once it is there, else from this identical copy

README_EXAMPLE = {
    "mylosses.py": '''# mylosses.py
import torch


def my_kcl(U, V, t=2.0, gamma=16.0):
    """Gaussian kernel contrastive loss of one batch: U, V are (M, d) with unit rows."""
    M = U.shape[0]
    align = torch.exp(-t * ((U - V) ** 2).sum(-1)).mean()
    off = ~torch.eye(M, dtype=torch.bool)
    energy = torch.exp(-t * (2 - 2 * U @ U.T))[off].sum() * gamma / (M * (M - 1))
    return energy - align
''',
    "test_my_loss.py": """# test_my_loss.py
import pytest


def test_minimiser_is_the_aligned_simplex(hem_verify):
    hem_verify("mylosses:my_kcl", M=4, d=3)          # fails with the certificate table if not confirmed


@pytest.mark.hemtools(loss="mylosses:my_kcl", M=[3, 4], d=[3, 5], gamma=8.0)
def test_on_a_grid(hem_verify):                      # four tests: [M3-d3] [M3-d5] [M4-d3] [M4-d5]
    report = hem_verify()
    assert report.params["gamma"] == 8.0


def test_same_values_and_gradients_as_the_reference():
    from hemtools.compare import compare

    report = compare("mylosses:my_kcl", "kcl", [3, 5], [3, 8])
    assert report.verdict == "match", report.summary()
""",
}


def readme_example() -> dict:
    import pathlib
    import re

    readme = pathlib.Path(__file__).resolve().parents[1] / "README.md"
    text = readme.read_text() if readme.is_file() else ""
    found = {
        name: m.group(1)
        for name in README_EXAMPLE
        for m in [re.search(rf"<!-- plugin-example:{re.escape(name)} -->\s*```python\n(.*?)```", text, re.S)]
        if m
    }
    return found if len(found) == len(README_EXAMPLE) else README_EXAMPLE


def test_readme_plugin_example_runs_as_written(pytester):
    files = readme_example()
    for name, code in files.items():
        pytester.makepyfile(**{name[:-3]: code})
    result = pytester.runpytest("-q", "--hemtools-restarts", "4")
    result.assert_outcomes(passed=6)
