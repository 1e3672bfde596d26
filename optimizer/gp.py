"""Gaussian-process regression: MAP hyperparameters and the posterior.

Notation
--------
X: training features (n, d); y: standardised training targets (n,).
θ: hyperparameters in log space, [log ℓ (d), log s², log σ²_noise] (d + 2,).
K: the training covariance k(X, X) + σ²_noise I (n, n); L its lower Cholesky factor.
alpha: K⁻¹ y (n,).
cov_fx_fX: k(x, X) (m, n) for query points x (m, d).
Algorithms follow Rasmussen & Williams, "Gaussian Processes for Machine Learning" (2006):
Alg. 2.1 for the posterior and the log marginal likelihood, Eq. 5.9 for its gradient.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from kubetune.optimizer.encoding import BoolArray, FloatArray
from kubetune.optimizer.kernel import (
    matern52,
    matern52_grad_r2,
    scaled_squared_distance,
    squared_differences,
)
from kubetune.optimizer.prior import MIN_NOISE_VAR, fit_start, log_prior

# Jitter added to K's diagonal, relative to its mean diagonal, when Cholesky fails.
_JITTERS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4)
# Box on θ (log space) for L-BFGS-B: keeps the fit away from degenerate kernels.
_LOG_LENGTHSCALE_BOUNDS = (math.log(5e-3), math.log(1e3))
# A categorical's lengthscale stays below e^½: two different values of it correlate at most
# 0.76 (the kernel at Hamming distance 1). Unbounded, the fit could declare the values
# interchangeable (ℓ ≈ 4.4, correlation 0.96) when they only shift the objective; EI then
# never tries another value with its own best numeric settings. Measured with
# hack/bench_optimizer.py (mixed problem, 6 seeds): 87/73 → 90/100 at 30/60 evaluations.
_CAT_LOG_LENGTHSCALE_BOUNDS = (math.log(5e-3), 0.5)
_LOG_SIGNAL_VAR_BOUNDS = (math.log(1e-2), math.log(1e2))
_LOG_NOISE_VAR_BOUNDS = (math.log(MIN_NOISE_VAR), math.log(2.0))
POSTERIOR_BLOCK = 256
"""Points per block of a posterior: each (m, n) array of the kernel and the solve takes
m × n × 8 bytes, a handful of them at once, so the ~2,500 candidates of an acquisition at
1,000 observations would hold about 100 MB per suggestion at its peak; blocks of 256, 12
MB. The operator runs several suggestions at once, in a memory limit (QA106)."""


def robust_cholesky(K: FloatArray) -> FloatArray:
    """Lower Cholesky factor of the symmetric K (n, n), adding diagonal jitter if needed.

    Raises ``numpy.linalg.LinAlgError`` naming the knob (the noise floor) when even the
    largest jitter fails, which only happens for non-finite or badly scaled inputs.
    """
    return _jittered_cholesky(K)[0]


def _jittered_cholesky(K: FloatArray) -> tuple[FloatArray, float]:
    """:func:`robust_cholesky`'s factor and the jitter it needed (0: none)."""
    scale = float(np.mean(np.diag(K))) if K.size else 1.0
    for jitter in _JITTERS:
        try:
            L: FloatArray = scipy.linalg.cholesky(
                K + jitter * scale * np.eye(len(K)), lower=True, check_finite=False
            )
            return L, jitter
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError(
        "GP covariance is not positive definite even with jitter "
        f"{_JITTERS[-1]:g}×diag; check the inputs are finite or raise MIN_NOISE_VAR."
    )


@dataclass(frozen=True)
class KernelParams:
    """Natural-scale hyperparameters: ℓ (d,), s², σ²_noise."""

    lengthscales: FloatArray
    signal_var: float
    noise_var: float

    @staticmethod
    def from_theta(theta: FloatArray) -> KernelParams:
        return KernelParams(np.exp(theta[:-2]), float(np.exp(theta[-2])), float(np.exp(theta[-1])))

    def to_theta(self) -> FloatArray:
        return np.concatenate(
            [np.log(self.lengthscales), [math.log(self.signal_var), math.log(self.noise_var)]]
        )


def log_marginal_likelihood(
    theta: FloatArray, D: FloatArray, y: FloatArray
) -> tuple[float, FloatArray]:
    """log p(y | X, θ) and its gradient w.r.t. θ (d + 2,), with D = squared_differences(X, X).

    R&W Alg. 2.1:  log p = -½ yᵀα - Σ log diag L - (n/2) log 2π.
    R&W Eq. 5.9:   ∂log p/∂θ_j = ½ tr((ααᵀ - K⁻¹) ∂K/∂θ_j), where
      ∂K/∂log ℓ_k = -2 dk/d(r2) ⊙ D_k / ℓ_k²,  ∂K/∂log s² = K - σ²_noise I,
      ∂K/∂log σ²_noise = σ²_noise I.
    """
    n = len(y)
    params = KernelParams.from_theta(theta)
    inverse_squared_lengthscales = params.lengthscales**-2  # (d,)
    r2 = D @ inverse_squared_lengthscales  # (n, n)
    cov_fX_fX = matern52(r2, params.signal_var)
    L = robust_cholesky(cov_fX_fX + params.noise_var * np.eye(n))
    alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
    value = (
        -0.5 * float(y @ alpha)
        - float(np.sum(np.log(np.diag(L))))
        - 0.5 * n * math.log(2 * math.pi)
    )
    K_inv = scipy.linalg.cho_solve((L, True), np.eye(n), check_finite=False)
    W = np.outer(alpha, alpha) - K_inv  # (n, n)
    dk_dr2 = matern52_grad_r2(r2, params.signal_var)
    grad_log_lengthscales = -np.tensordot(W * dk_dr2, D, axes=([0, 1], [0, 1]))  # (d,)
    grad_log_lengthscales *= inverse_squared_lengthscales
    grad = np.concatenate(
        [
            grad_log_lengthscales,
            [0.5 * float(np.sum(W * cov_fX_fX)), 0.5 * params.noise_var * float(np.trace(W))],
        ]
    )
    return value, grad


def fit_kernel_params(
    X: FloatArray,
    y: FloatArray,
    is_categorical: BoolArray,
    *,
    n_restarts: int = 2,
    max_iterations: int = 200,
) -> tuple[KernelParams, float]:
    """MAP hyperparameters for (X (n, d), y (n,)) and their log posterior (up to a constant).

    Multi-start L-BFGS-B in log space from deterministic starts: the priors' modes
    (:func:`fit_start`), then lengthscales e^1.5 times longer (the smooth, nearly linear
    basin), then e times shorter.
    A start that fails numerically is skipped; if all fail, the first start is returned.
    Tried and not kept (issue 12, 9 synthetic development problems, seeds 0-3, paired at
    30 / 60 evaluations): the first start alone, -0.4 ± 2.5 / +0.5 ± 2.1 points; a first
    start at noise variance 1 (Optuna's), -0.6 ± 3.0 / -1.9 ± 4.0.
    """
    d = X.shape[1]
    D = squared_differences(X, X, is_categorical)  # (n, n, d), fixed during the fit

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        lml, grad_lml = log_marginal_likelihood(theta, D, y)
        lp, grad_lp = log_prior(theta, is_categorical)
        return -(lml + lp), -(grad_lml + grad_lp)

    bounds = [_CAT_LOG_LENGTHSCALE_BOUNDS if c else _LOG_LENGTHSCALE_BOUNDS for c in is_categorical]
    bounds += [_LOG_SIGNAL_VAR_BOUNDS, _LOG_NOISE_VAR_BOUNDS]
    first_start = np.clip(fit_start(d, is_categorical), *np.array(bounds).T)
    starts = [first_start]
    for shift in (1.5, -1.0)[: max(0, n_restarts - 1)]:
        start = first_start.copy()
        start[:d] = np.clip(start[:d] + shift, *np.array(bounds[:d]).T)
        starts.append(start)

    import scipy.optimize  # noqa: PLC0415 (on first use: see kubetune.optimizer)

    best_theta, best_loss = first_start, math.inf
    for start in starts:
        try:
            result = scipy.optimize.minimize(
                loss,
                start,
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iterations},
            )
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            continue
        if np.isfinite(result.fun) and result.fun < best_loss:
            best_theta, best_loss = result.x, float(result.fun)
    if not math.isfinite(best_loss):
        warnings.warn("GP hyperparameter fit failed; using the first start.", stacklevel=2)
        best_loss = loss(best_theta)[0]
    return KernelParams.from_theta(best_theta), -best_loss


class GPRegressor:
    """A GP posterior given fixed hyperparameters (zero prior mean, standardised y).

    ``noise`` (n,) overrides the observation noise variance per point (default: every point
    has ``params.noise_var``); fantasies of f itself are conditioned on with none.
    ``y`` may be (n, k): k target vectors at the same points (fantasies, see
    :meth:`condition_on`) share K, its factor and so the posterior variance; the posterior
    mean then has a column per target.
    """

    def __init__(
        self,
        X: FloatArray,
        y: FloatArray,
        is_categorical: BoolArray,
        params: KernelParams,
        noise: FloatArray | None = None,
        *,
        factor: FloatArray | None = None,
    ) -> None:
        """``factor``: K's Cholesky factor, computed without jitter, where the caller has it
        (see :meth:`condition_on`); otherwise it is computed here."""
        self.X, self.y, self.is_categorical, self.params = X, y, is_categorical, params
        self.noise = np.full(len(X), params.noise_var) if noise is None else noise  # (n,)
        if factor is None:
            factor, self._jitter = _jittered_cholesky(self.kernel(X, X) + np.diag(self.noise))
        else:
            self._jitter = 0.0
        self.L = factor  # (n, n)
        self.alpha = scipy.linalg.cho_solve((self.L, True), y, check_finite=False)  # (n[, k])

    def kernel(self, XA: FloatArray, XB: FloatArray) -> FloatArray:
        """k(XA, XB) (a, b)."""
        r2 = scaled_squared_distance(XA, XB, self.is_categorical, self.params.lengthscales)
        return matern52(r2, self.params.signal_var)

    def posterior(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Posterior mean and variance of f at x (m, d): (m[, k]), (m,); variance clipped at 0.
        Computed `POSTERIOR_BLOCK` points at a time (see there)."""
        if len(x) <= POSTERIOR_BLOCK:
            return self._posterior(x)
        blocks = [
            self._posterior(x[i : i + POSTERIOR_BLOCK]) for i in range(0, len(x), POSTERIOR_BLOCK)
        ]
        return np.concatenate([m for m, _ in blocks]), np.concatenate([v for _, v in blocks])

    def _posterior(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        cov_fx_fX = self.kernel(x, self.X)  # (m, n)
        mean = cov_fx_fX @ self.alpha
        V = scipy.linalg.solve_triangular(self.L, cov_fx_fX.T, lower=True, check_finite=False)
        var = self.params.signal_var - np.sum(V * V, axis=0)
        return mean, np.maximum(var, 0.0)

    def posterior_covariance(self, x: FloatArray) -> FloatArray:
        """Posterior covariance of f at x (m, d): (m, m), symmetrised (R&W Eq. 2.24)."""
        V = scipy.linalg.solve_triangular(
            self.L, self.kernel(x, self.X).T, lower=True, check_finite=False
        )  # (n, m)
        cov: FloatArray = self.kernel(x, x) - V.T @ V
        return 0.5 * (cov + cov.T)

    def posterior_with_gradient(
        self, x: FloatArray
    ) -> tuple[FloatArray, float, FloatArray, FloatArray]:
        """Mean ([k]), variance and their gradients (d[, k]), (d,) w.r.t. x (d,) at one point.

        Gradients are zero along categorical features (they are not optimised by gradient).
          dk(x, X_i)/dx_k = dk/d(r2) · 2 (x_k - X_ik) / ℓ_k²
          dμ/dx = Jᵀα,  dσ²/dx = -2 Jᵀ K⁻¹k(X, x),  with J = dk(x, X)/dx (n, d).
        """
        x2 = x[None, :]
        r2 = scaled_squared_distance(x2, self.X, self.is_categorical, self.params.lengthscales)[0]
        cov_fx_fX = matern52(r2, self.params.signal_var)  # (n,)
        scaled_diff = (x2 - self.X) / self.params.lengthscales**2  # (n, d)
        scaled_diff[:, self.is_categorical] = 0.0
        J = 2.0 * matern52_grad_r2(r2, self.params.signal_var)[:, None] * scaled_diff  # (n, d)
        # K⁻¹k as two triangular solves: half the time of cho_solve (LAPACK potrs) for one
        # right-hand side (0.3 ms against 0.6 ms at n = 1000, one thread), and this runs at
        # every step of every L-BFGS-B refinement of the acquisition.
        V = scipy.linalg.solve_triangular(self.L, cov_fx_fX, lower=True, check_finite=False)
        K_inv_k = scipy.linalg.solve_triangular(
            self.L, V, lower=True, trans="T", check_finite=False
        )
        mean: FloatArray = cov_fx_fX @ self.alpha
        var = float(self.params.signal_var - cov_fx_fX @ K_inv_k)
        return mean, max(var, 0.0), J.T @ self.alpha, -2.0 * (J.T @ K_inv_k)

    def condition_on(self, x: FloatArray, f: FloatArray) -> GPRegressor:
        """This GP (one y) with extra noise-free (fantasy) values of f at x (p, d): f (p,), or
        (k, p) for k fantasies at the same points, giving one GP with y (n + p, k).

        Only the new rows of K's factor are computed (O(n² p), not O(n³)):
          L' = [[L, 0], [B, C]],  B = k(x, X) L⁻ᵀ,  C = chol(k(x, x) + noise - B Bᵀ),
        the factor a fresh :class:`GPRegressor` would compute. Where that one would need
        jitter (this GP did, or C fails without), it is refactored from scratch instead, so
        the jitter is exactly a fresh GP's.
        """
        if len(x) == 0 and f.ndim == 1:
            return self
        noise = np.full(len(x), MIN_NOISE_VAR)
        if f.ndim == 1:
            y = np.concatenate([self.y, f])
        else:
            y = np.concatenate([np.repeat(self.y[:, None], len(f), axis=1), f.T])  # (n + p, k)
        return GPRegressor(
            np.vstack([self.X, x]),
            y,
            self.is_categorical,
            self.params,
            np.concatenate([self.noise, noise]),
            factor=self._extended_factor(x, noise) if self._jitter == 0 else None,
        )

    def _extended_factor(self, x: FloatArray, noise: FloatArray) -> FloatArray | None:
        """The factor of K with the points x (p, d) (noise (p,)) appended, from L; None
        where the new block is not positive definite without jitter."""
        n, p = len(self.X), len(x)
        if p == 0:
            return self.L
        B = scipy.linalg.solve_triangular(
            self.L, self.kernel(self.X, x), lower=True, check_finite=False
        ).T  # (p, n)
        try:
            C = scipy.linalg.cholesky(
                self.kernel(x, x) + np.diag(noise) - B @ B.T, lower=True, check_finite=False
            )
        except np.linalg.LinAlgError:
            return None
        L = np.zeros((n + p, n + p), order="F")  # as LAPACK returns factors
        L[:n, :n], L[n:, :n], L[n:, n:] = self.L, B, C
        return L
