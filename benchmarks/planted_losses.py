"""Planted wrong losses for negative controls at scale (benchmarks/scale.py --set control).

``kcl_wrong_sign``: KCL with the sign of the uniformity term flipped.  The aligned simplex is still a
critical point (by symmetry) but a saddle: moving the points together lowers the loss, so the claim
"the minimiser is the aligned simplex" is false and verify must not confirm it.
"""

import torch


def kcl_wrong_sign(U, V, t=2.0, gamma=16.0):
    M = U.shape[-2]
    align = torch.exp(-t * (2 - 2 * (U * V).sum(-1))).mean(-1)
    K = torch.exp(-t * (2 - 2 * U @ U.transpose(-1, -2)))
    return -align - gamma / (M * (M - 1)) * (K.sum((-2, -1)) - torch.diagonal(K, dim1=-2, dim2=-1).sum(-1))


kcl_wrong_sign.hemtools_batched = True
