"""The Matérn-5/2 kernel with automatic relevance determination (ARD).

Notation (shared with :mod:`kubetune.optimizer.gp`)
---------------------------------------------------
d: number of features; n, m: numbers of points.
D: squared per-feature differences, (n, m, d): (x_k - x'_k)² for numeric features and
    [x_k ≠ x'_k] (Hamming) for categorical ones, so categoricals get their own kernel term.
lengthscales ℓ: (d,); inverse_squared_lengthscales = 1 / ℓ².
r2: scaled squared distance Σ_k D_k / ℓ_k², (n, m).
z: √(5 r2).
signal_var s²: kernel value at distance 0.

    k(r2) = s² (1 + z + z²/3) exp(-z)               (Rasmussen & Williams, Eq. 4.17)
    dk/d(r2) = -(5/6) s² (1 + z) exp(-z)             (finite at r2 = 0, unlike dk/dr)
"""

from __future__ import annotations

import numpy as np
from kubetune.optimizer.encoding import BoolArray, FloatArray
from scipy.spatial.distance import cdist


def squared_differences(XA: FloatArray, XB: FloatArray, is_categorical: BoolArray) -> FloatArray:
    """Per-feature squared differences D (a, b, d) between XA (a, d) and XB (b, d)."""
    diff = XA[:, None, :] - XB[None, :, :]  # (a, b, d)
    D = diff * diff
    if is_categorical.any():
        D[..., is_categorical] = (D[..., is_categorical] > 0).astype(float)
    return D


def scaled_squared_distance(
    XA: FloatArray, XB: FloatArray, is_categorical: BoolArray, lengthscales: FloatArray
) -> FloatArray:
    """r2 (a, b) = Σ_k D_k / ℓ_k², without materialising the (a, b, d) tensor."""
    numeric = ~is_categorical
    if numeric.any():
        scale = lengthscales[numeric]
        r2: FloatArray = cdist(XA[:, numeric] / scale, XB[:, numeric] / scale, "sqeuclidean")
    else:
        r2 = np.zeros((len(XA), len(XB)))
    for k in np.flatnonzero(is_categorical):
        r2 += (XA[:, k, None] != XB[None, :, k]) / lengthscales[k] ** 2
    return r2


def matern52(r2: FloatArray, signal_var: float) -> FloatArray:
    """k(r2) elementwise, same shape as r2."""
    z = np.sqrt(5.0 * r2)
    return signal_var * (1.0 + z + z * z / 3.0) * np.exp(-z)


def matern52_grad_r2(r2: FloatArray, signal_var: float) -> FloatArray:
    """dk/d(r2) elementwise, same shape as r2."""
    z = np.sqrt(5.0 * r2)
    return -(5.0 / 6.0) * signal_var * (1.0 + z) * np.exp(-z)
