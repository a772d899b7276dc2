"""Memory budget of the solve (hemtools.memory): restarts solved in groups, same starts, said in the notes."""

import pytest
import torch

from hemtools import memory, optim
from hemtools.checks import verify
from hemtools.cli import main
from hemtools.errors import ArgumentError
from hemtools.losses import get_loss
from hemtools.optim import solve


def test_parse_memory():
    assert memory.parse_memory("4G") == 4 * 2 ** 30
    assert memory.parse_memory("512M") == 512 * 2 ** 20
    assert memory.parse_memory("1.5GiB") == int(1.5 * 2 ** 30)
    assert memory.parse_memory(2 ** 21) == 2 ** 21
    assert memory.parse_memory(None) is None
    for bad in ("12x", "-1G", "", True, "0.5K"):
        with pytest.raises(ArgumentError):
            memory.parse_memory(bad)


def test_restart_groups_follow_the_budget():
    per = memory.bytes_per_restart(1024, 128)
    assert per >= 8 * 1024 ** 2 * optim.MEMORY_MATRICES
    assert memory.restart_groups(8, 1024, 128, 100 * per) == (8, None)
    group, note = memory.restart_groups(8, 1024, 128, 3 * per)
    assert group == 3 and "groups of 3" in note
    group, note = memory.restart_groups(2, 4096, 128, 2 ** 30)
    assert group == 1 and "one restart alone exceeds the budget" in note


def test_grouped_solve_equals_the_batched_solve(monkeypatch):
    # a per-restart estimate of ~29 MB for M = 6 (12 points): a 64M budget fits two at a time
    monkeypatch.setattr(optim, "MEMORY_MATRICES", 20_000)
    spec = get_loss("kcl")
    whole = solve(spec, 6, 4, restarts=4, seed=3)
    grouped, note = memory.solve_bounded(spec, 6, 4, restarts=4, seed=3, max_memory="64M")
    assert "groups of 2" in note and grouped.extras["restart_groups"] == [2, 2]
    assert grouped.restarts == 4 and len(grouped.stop_reasons) == 4
    assert torch.allclose(grouped.values, whole.values, rtol=0, atol=1e-12)
    assert grouped.history_values.shape[1] == 4


def test_verify_says_when_restarts_were_grouped(monkeypatch):
    monkeypatch.setattr(optim, "MEMORY_MATRICES", 20_000)
    r = verify("kcl", 6, 4, restarts=4, max_memory="64M")
    assert r.verdict == "confirmed"
    assert any(n.startswith("memory: 4 restarts") for n in r.notes)
    assert main(["verify", "--loss", "kcl", "--M", "4", "--d", "3", "--max-memory", "lots"]) == 2


def test_candidates_polish_is_grouped_within_the_budget(monkeypatch):
    """The polish of the configurations satisfying the claim keeps the memory budget too (issue 13)."""
    from hemtools import candidates, sphere

    monkeypatch.setattr(optim, "MEMORY_MATRICES", 20_000)
    spec = get_loss("kcl")
    g = torch.Generator().manual_seed(1)
    starts = [(f"start {i}", sphere.normalize(torch.randn(6, 4, generator=g, dtype=torch.float64)))
              for i in range(3)]
    kw = dict(dtype="float64", device="cpu", tol=1e-12, config_tol=1e-6)
    whole = candidates.polish(spec, {}, 6, 4, starts, **kw)
    notes = []
    grouped = candidates.polish(spec, {}, 6, 4, starts, max_memory="64M", notes=notes, **kw)
    assert len(notes) == 1 and "groups of 2" in notes[0]
    assert [c.value for c in grouped] == pytest.approx([c.value for c in whole], abs=1e-12)


def test_heap_is_trimmed_only_when_the_resident_size_has_grown_by_the_slack(monkeypatch):
    from hemtools import heap

    assert heap.release() in (True, False)  # the real call: glibc's malloc_trim or nothing, never an error
    calls, rss, clock = [], [1000], [100.0]
    monkeypatch.setattr(heap, "release", lambda: calls.append(rss[0]) or True)
    monkeypatch.setattr(heap, "resident_bytes", lambda: rss[0])
    monkeypatch.setattr(heap.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(heap, "_STATE", {"checked": 0.0, "base": None, "settle_until": 0.0})
    monkeypatch.setattr(heap, "SLACK", 500)

    def at(t, size):
        clock[0], rss[0] = t, size
        heap.release_now_and_then()

    at(100, 1000)
    at(101, 1300)  # while settling (2 s) the working set is the largest size read: 1300
    at(103, 1700)
    at(103.1, 2000)  # read at most every 0.25 s: not even looked at
    assert calls == []
    at(104, 1801)  # 1801 > 1300 + 500: trimmed, and the working set measured again
    assert calls == [1801]
    at(105, 1400)
    at(108, 1899)  # within the slack of the new working set (1400)
    assert calls == [1801]


def test_a_group_of_given_starts_is_checked_as_that_many_restarts(monkeypatch):
    """solve(x0=...) checks the memory of x0's batch, not of the default 8 restarts: a group of one restart
    that fits must not be refused because 8 would not (verify --M 4096 --d 128 --restarts 2 was, exit 2)."""
    monkeypatch.setattr(optim, "MEMORY_MATRICES", 20_000)  # ~29 MB per restart of 12 points
    monkeypatch.setattr(optim, "available_memory", lambda: 100 * 2 ** 20)  # 3 fit, 8 do not
    x0 = torch.nn.functional.normalize(
        torch.randn(2, 12, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64), dim=-1)
    assert solve("kcl", 6, 4, x0=x0).restarts == 2
    with pytest.raises(ArgumentError, match="8 restarts"):
        solve("kcl", 6, 4)


def test_restart_groups_share_a_time_budget_equally(monkeypatch):
    """Under a time budget every group gets an equal share of what is left (not the first group all of it)."""
    from hemtools.optim import deadline, time_budget

    monkeypatch.setattr(optim, "MEMORY_MATRICES", 20_000)
    seen, real = [], optim.solve

    def spy(*a, **k):
        seen.append(deadline())
        return real(*a, **k)

    monkeypatch.setattr(optim, "solve", spy)
    import time

    t0 = time.perf_counter()
    with time_budget(300.0):
        r, note = memory.solve_bounded(get_loss("kcl"), 6, 4, restarts=4, seed=3, max_memory="64M")
    assert "groups of 2" in note and r.restarts == 4 and len(seen) == 2
    assert 140 < seen[0] - t0 < 151 and seen[1] - t0 > 290  # half of it, then what is left
