"""C6 (SPEC §2): α-CL (Tian 2022).  ∇L = −∇E_α with α held fixed; the listed losses are α-CL instances.

    python proofs_numeric/c6_alpha_cl.py [--quick | --full] [--json PATH]

With SPEC's definitions (d_i² = ‖u_i − v_i‖², d_ij² = ‖u_i − v_j‖², L = Σ_i φ(Σ_{j≠i} ψ(d_i² − d_ij²)),
α_ij = φ'(ξ_i) ψ'(d_i² − d_ij²), E_α = Σ_i Σ_{j≠i} α_ij (d_ij² − d_i²), no factor ½):

  1. sympy, M = 3, d = 2 (and M = 3, d = 3 without --quick): every component of ∇L + ∇E_α simplifies to 0 for
     arbitrary differentiable φ, ψ (undefined functions) and symbolic weights c1, c2 (the same-view
     extension); and for the concrete φ, ψ of InfoNCE and DCL, where ∇L − ∇E_α is shown to be nonzero, so the
     sign is −, as SPEC states;
  2. autograd, random Gaussian (not unit) points up to M = 32: ‖∇L + ∇E_α‖/‖∇L‖ <= 1e-12 for InfoNCE-type
     and generic φ, ψ (formulas and the plain-sum path);
  3. registered instances: infonce, simclr, dcl, dhel, phipsi (default and a custom φ/ψ) and alphacl equal
     scale·L_{φ,ψ} on the sphere and their Riemannian gradient equals −scale·grad E_α (α stopped); kcl and the
     two-view losses are reported as not being instances, with the reason;
  4. E_α = ½ tr C_α for the contrastive covariance.

Runs on proofs_numeric/_harness.py (exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE).
"""

from __future__ import annotations

import sys

from _harness import main


def run(proof, args) -> None:
    import sympy as sp
    import torch

    from hemtools import symbolic as S
    from hemtools.losses import alphacl as A

    report = proof.check

    X = S.X_
    print("1. symbolic (sympy)")
    for d in ((2,) if args.quick else (2, 3)):
        f = S.alpha_cl_symbolic(M=3, d=d)
        report(f.status == "proved", f"{f.statement} ({f.detail})")
    for label, phi, psi, c1, c2 in (("infonce, τ = 1/2", sp.log(1 + X), sp.exp(X), 1, 0),
                                    ("dcl, τ = 1/5", sp.log(X), sp.exp(sp.Rational(5, 2) * X), 1, 1)):
        f = S.alpha_cl_symbolic(phi, psi, c1, c2)
        report(f.status == "proved" and "the sign is −" in f.detail, f"{label}: {f.status}; {f.detail}")

    print("2. autograd at random points (α detached)")
    cases = ((4, 3), (8, 5), (16, 8)) if args.quick else ((4, 3), (8, 5), (16, 8), (32, 16), (32, 3))
    for phi, psi, c1, c2, tau in (("log(1+x)", "exp(x/tau)", 1.0, 0.0, 0.4), ("log(x)", "exp(x/tau)", 1.0, 1.0, 1.0),
                                  ("x", "sigmoid(3*x)", 1.0, 0.5, 1.0), ("sqrt(1+x)", "x**2", 0.0, 1.0, 1.0),
                                  ("x**2", "softplus(x)", 1.0, 0.0, 1.0)):
        f = S.alpha_cl_numeric(phi, psi, c1, c2, tau, cases=cases)
        report(f.status == "passed", f"φ = {phi}, ψ = {psi}, c = ({c1:g}, {c2:g}): {f.detail}")

    print("3. registered losses as α-CL instances (value and Riemannian gradient, unit vectors)")
    for name, params in (("infonce", {}), ("infonce", {"tau": 0.05}), ("simclr", {}), ("dcl", {"tau": 0.2}),
                         ("dhel", {}), ("phipsi", {}), ("phipsi", {"phi": "x**2", "psi": "log(1+x)", "c2": 1.0}),
                         ("alphacl", {}), ("alphacl", {"phi": "x", "psi": "softplus(x)", "c2": 0.5})):
        f = S.alpha_cl_instance_check(name, params)
        report(f.status == "passed", f"{name} {params or ''}: {f.statement} — {f.detail}")
    for name in ("kcl", "kcl_sym", "nt_xent", "dhel_sym"):
        f = S.alpha_cl_instance_check(name, {})
        report(f.status == "n/a", f"{name}: not an instance — {f.detail}")

    print("4. contrastive covariance")
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for M, n in ((4, 3), (8, 6), (16, 10)):
        U = torch.randn(M, n, generator=g, dtype=torch.float64)
        V = U + 0.3 * torch.randn(M, n, generator=g, dtype=torch.float64)
        alpha = A.alpha_weights(U, V, c2=1.0)
        E = float(A.alpha_energy(U, V, alpha))
        C = A.contrastive_covariance(U, V, alpha)
        worst = max(worst, abs(E - 0.5 * float(torch.trace(C))) / max(1.0, abs(E)))
    report(worst <= 1e-12, f"E_α = ½ tr C_α: largest relative difference {worst:.1e} (M up to 16)")


if __name__ == "__main__":
    sys.exit(main(run, claim="C6", statement="α-CL: ∇L = −∇E_α with α stopped; the listed losses are α-CL instances",
                  doc=__doc__))
