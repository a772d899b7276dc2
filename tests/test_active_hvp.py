"""The trust region's CG with autograd models (user losses): products for the running restarts only
(SecondOrderModel.select, rebuilt on halving) and its stop in the round-off (issue 13)."""

import torch

from hemtools import optim, sphere


def _kcl_wrong_sign(x, M=6, t=2.0, gamma=16.0):
    # the planted negative control of benchmarks/planted_losses.py, on stacked points [U; V]
    U, V = x[..., :M, :], x[..., M:, :]
    align = torch.exp(-t * (2 - 2 * (U * V).sum(-1))).mean(-1)
    K = torch.exp(-t * (2 - 2 * U @ U.transpose(-1, -2)))
    return -align - gamma / (M * (M - 1)) * (K.sum((-2, -1)) - torch.diagonal(K, dim1=-2, dim2=-1).sum(-1))


def _batch(B=8, N=12, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = sphere.random_points(B, N, d, generator=g)
    v = sphere.project(x, torch.randn(x.shape, generator=g, dtype=x.dtype))
    return x, v


def test_select_gives_the_rows_of_the_whole_batch_product():
    x, v = _batch()
    m = sphere.second_order_model(_kcl_wrong_sign, x)
    idx = torch.tensor([1, 4, 6])
    sub = m.select(idx)
    assert torch.equal(sub.x, x[idx]) and torch.allclose(sub.rgrad, m.rgrad[idx], rtol=0, atol=1e-15)
    assert torch.allclose(sub.hvp(v[idx]), m.hvp(v)[idx], rtol=0, atol=1e-15)


def test_active_hvp_rebuilds_an_autograd_model_only_on_halving():
    x, v = _batch()
    m = sphere.second_order_model(_kcl_wrong_sign, x)
    built = []
    select = m.select
    m.select = lambda idx: built.append(idx.numel()) or select(idx)  # count the rebuilds
    full = m.hvp(v)
    sub = None
    for n_act in (8, 7, 5, 4, 3, 2, 1):  # the running restarts shrink as in one CG call
        act = torch.arange(8) < n_act
        out, sub = optim._active_hvp(m, v, act, sub)
        assert torch.allclose(out[act], full[act], rtol=0, atol=1e-15)
        assert bool((out[~act] == 0).all())
    # the whole batch while more than half run, then 4 rows (at 4 of 8), then 2, then 1
    assert built == [4, 2, 1]


def test_cg_stops_on_a_residual_it_cannot_reduce():
    """A gradient at the round-off floor whose products along a nearly flat direction are round-off (not
    symmetric: as along the rotation orbit of the planted KCL at M = 256, d = 512): CG stops after ``stall``
    iterations without progress, and the step is not a resolved Newton step; without the rule it ran to
    max_inner."""

    class RoundOff:
        def __init__(self, x):
            self.x = x

        def hvp(self, v):
            out = v.clone()
            a, b = v[..., 1].clone(), v[..., 2].clone()
            out[..., 1] = 1e-3 * a - 1e-2 * b
            out[..., 2] = 1e-2 * a + 1e-3 * b
            return out

    x = torch.zeros(1, 4, 6, dtype=torch.float64)
    x[..., 0] = 1
    g = torch.zeros_like(x)
    g[..., 3], g[..., 1] = 1e-14, 2e-14
    one, yes = torch.tensor([1.0], dtype=torch.float64), torch.tensor([True])
    kw = dict(floor=torch.tensor([1e-14], dtype=torch.float64), accurate=yes)
    _, _, hit, n, resolved = optim._truncated_cg(RoundOff(x), g, one, yes, 500, **kw)
    assert n == 10 and not bool(resolved[0]) and not bool(hit[0])
    assert optim._truncated_cg(RoundOff(x), g, one, yes, 500, stall=10**9, **kw)[3] == 500
    # far above the floor the rule does not act: CG runs on (here to max_inner, unresolved)
    g2 = 1e6 * g
    _, _, _, n2, resolved2 = optim._truncated_cg(RoundOff(x), g2, one, yes, 50, **kw)
    assert n2 == 50 and not bool(resolved2[0])
    # a residual the Hessian can reduce is resolved as before (one product: here H = I on coordinate 3)
    g3 = torch.zeros_like(x)
    g3[..., 3] = 1e-3
    _, _, _, n3, resolved3 = optim._truncated_cg(RoundOff(x), g3, one, yes, 500, **kw)
    assert bool(resolved3[0]) and n3 == 1
