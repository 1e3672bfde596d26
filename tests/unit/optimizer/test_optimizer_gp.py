"""The GP's mathematics: analytic gradients against finite differences, posterior PSD,
stable log EI."""

from __future__ import annotations

import math

import numpy as np
import pytest
from kubetune.optimizer.acquisition import (
    FantasyLogEI,
    LogEI,
    log_expected_improvement,
    log_expected_improvement_with_gradient,
    log_h,
    log_noise_factor,
)
from kubetune.optimizer.gp import (
    GPRegressor,
    KernelParams,
    fit_kernel_params,
    log_marginal_likelihood,
)
from kubetune.optimizer.kernel import matern52, matern52_grad_r2, squared_differences
from kubetune.optimizer.prior import MIN_NOISE_VAR, log_prior
from scipy.stats import norm

IS_CATEGORICAL = np.array([False, False, True])


def _data(n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.random((n, 2)), rng.integers(0, 3, n)]).astype(float)
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * X[:, 2]
    return X, (y - y.mean()) / y.std()


def _central_difference(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(len(x))])


def test_matern_derivative_matches_finite_differences() -> None:
    r2 = np.array([0.0, 1e-4, 0.3, 2.0, 10.0])
    numeric = (matern52(r2 + 1e-7, 1.7) - matern52(np.maximum(r2 - 1e-7, 0), 1.7)) / (
        r2 + 1e-7 - np.maximum(r2 - 1e-7, 0)
    )
    np.testing.assert_allclose(matern52_grad_r2(r2, 1.7), numeric, rtol=1e-4)
    assert matern52(np.array([0.0]), 1.7)[0] == pytest.approx(1.7)


@pytest.mark.parametrize(
    "theta",
    [
        np.log([0.3, 0.8, 1.5, 1.2, 1e-3]),
        np.log([2.0, 0.1, 0.5, 0.5, 0.2]),
        np.log([0.05, 5.0, 10.0, 3.0, 1e-6]),
    ],
)
def test_log_marginal_likelihood_gradient_matches_finite_differences(theta: np.ndarray) -> None:
    X, y = _data()
    D = squared_differences(X, X, IS_CATEGORICAL)
    _, grad = log_marginal_likelihood(theta, D, y)
    numeric = _central_difference(lambda t: log_marginal_likelihood(t, D, y)[0], theta)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("is_categorical", [None, np.array([False, True, False])])
def test_log_prior_gradient_matches_finite_differences(is_categorical: np.ndarray | None) -> None:
    theta = np.array([0.1, -1.0, 2.0, 0.3, -5.0])
    np.testing.assert_allclose(
        log_prior(theta, is_categorical)[1],
        _central_difference(lambda t: log_prior(t, is_categorical)[0], theta),
        rtol=1e-6,
    )


def test_fit_improves_on_the_prior_and_interpolates() -> None:
    X, y = _data(30)
    params, log_posterior = fit_kernel_params(X, y, IS_CATEGORICAL)
    D = squared_differences(X, X, IS_CATEGORICAL)
    prior_theta = KernelParams(np.full(3, 4.0), 1.0, math.exp(-4)).to_theta()
    at_prior = log_marginal_likelihood(prior_theta, D, y)[0] + log_prior(prior_theta)[0]
    assert log_posterior > at_prior
    mean, _ = GPRegressor(X, y, IS_CATEGORICAL, params).posterior(X)
    assert np.max(np.abs(mean - y)) < 0.1


def test_values_of_a_categorical_never_become_interchangeable() -> None:
    """The categorical only shifts the objective a little: unbounded, the fit makes its
    values 0.99 correlated (ℓ ≈ 10), and EI would never try another value on its own."""
    X, _ = _data(30)
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 + 0.05 * X[:, 2]
    params, _ = fit_kernel_params(X, (y - y.mean()) / y.std(), IS_CATEGORICAL)
    correlation = matern52(np.array([1.0 / params.lengthscales[2] ** 2]), 1.0)[0]
    assert correlation <= 0.77


def test_posterior_covariance_is_symmetric_psd_and_matches_the_variance() -> None:
    X, y = _data()
    gp = GPRegressor(X, y, IS_CATEGORICAL, KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-4))
    x = np.vstack([_data(20, seed=1)[0], X[:3]])  # includes training points: variance ≈ 0
    cov = gp.posterior_covariance(x)
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > -1e-9
    np.testing.assert_allclose(np.diag(cov), gp.posterior(x)[1], atol=1e-10)


def test_posterior_gradient_matches_finite_differences() -> None:
    X, y = _data()
    gp = GPRegressor(X, y, IS_CATEGORICAL, KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-4))
    x = np.array([0.37, 0.61, 1.0])
    _, _, dmean, dvar = gp.posterior_with_gradient(x)
    mean_fd = _central_difference(lambda v: gp.posterior(v[None, :])[0][0], x)
    var_fd = _central_difference(lambda v: gp.posterior(v[None, :])[1][0], x)
    np.testing.assert_allclose(dmean[:2], mean_fd[:2], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dvar[:2], var_fd[:2], rtol=1e-5, atol=1e-8)
    assert dmean[2] == 0.0 and dvar[2] == 0.0  # categoricals are not moved by gradient


def test_log_h_matches_the_direct_formula_where_representable() -> None:
    z = np.linspace(-25.0, 8.0, 661)
    direct = np.log(norm.pdf(z) + z * norm.cdf(z))
    representable = np.isfinite(direct) & (z > -20)  # beyond, 1 + zΦ/φ loses every digit
    np.testing.assert_allclose(log_h(z)[representable], direct[representable], rtol=1e-6)


def test_log_h_is_finite_decreasing_and_asymptotic_far_in_the_tail() -> None:
    z = -np.logspace(0, 12, 200)[::-1]  # -1e12 .. -1
    values = log_h(z)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) > 0)  # monotone: h is increasing
    asymptote = -0.5 * z**2 - 0.5 * math.log(2 * math.pi) - 2 * np.log(-z)
    # The next term of the expansion is log(1 - 3/z²): negligible beyond |z| = 10³.
    np.testing.assert_allclose(values[z < -1e3], asymptote[z < -1e3], rtol=1e-10, atol=1e-5)


def test_log_ei_gradient_matches_finite_differences() -> None:
    for mean, var in [(0.3, 0.04), (-0.5, 0.2), (12.0, 0.01)]:
        _, d_dmean, d_dvar = log_expected_improvement_with_gradient(mean, var, best=0.0)
        f = lambda m, v: float(log_expected_improvement(np.array([m]), np.array([v]), 0.0)[0])  # noqa: E731
        assert d_dmean == pytest.approx(
            (f(mean + 1e-6, var) - f(mean - 1e-6, var)) / 2e-6, rel=1e-4
        )
        assert d_dvar == pytest.approx((f(mean, var + 1e-7) - f(mean, var - 1e-7)) / 2e-7, rel=1e-4)


def test_augmented_log_ei_gradient_matches_finite_differences() -> None:
    X, y = _data()
    gp = GPRegressor(X, y, IS_CATEGORICAL, KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 0.3))
    acquisition = LogEI(gp, float(np.min(y)), noise_var=0.3)
    for x in (X[0] + np.array([0.01, -0.02, 0.0]), np.array([0.37, 0.61, 1.0])):
        value, gradient = acquisition.with_gradient(x)
        assert value == pytest.approx(acquisition(x[None, :])[0], rel=1e-10)
        fd = _central_difference(lambda v: acquisition(v[None, :])[0], x)
        np.testing.assert_allclose(gradient[:2], fd[:2], rtol=1e-4, atol=1e-8)


def _repeated_incumbent_gp(repeats: int, noise_var: float) -> GPRegressor:
    """A 1-d GP: ``repeats`` measurements of -1 at x = 0.5 amid a grid of 0s (worst = 0)."""
    X = np.vstack([np.full((repeats, 1), 0.5), np.linspace(0.0, 1.0, 11)[:, None]])
    y = np.concatenate([np.full(repeats, -1.0), np.zeros(11)])
    y[repeats + 5] = -1.0  # the grid's 0.5
    return GPRegressor(X, y, np.zeros(1, bool), KernelParams(np.array([0.1]), 1.0, noise_var))


def test_augmented_ei_stops_paying_for_a_point_measured_over_and_over() -> None:
    """On a noisy fit, each repeat at the incumbent pins f down a little more: plain EI
    keeps proposing (next to) it, augmented EI discounts it by how far below the noise the
    posterior already is, and looks further away."""
    noise_var, at, grid = 0.3, np.array([[0.5]]), np.linspace(0.0, 1.0, 201)[:, None]
    discount = {}
    for repeats in (1, 20):
        gp = _repeated_incumbent_gp(repeats, noise_var)
        best = float(gp.posterior(at)[0][0])
        plain, augmented = LogEI(gp, best), LogEI(gp, best, noise_var)
        discount[repeats] = augmented(at)[0] - plain(at)[0]
    # 2 measurements (one repeat and the grid's) against 21: about -1.9 against -3.7.
    assert discount[20] < discount[1] - 1.5 and discount[20] < -3.0
    from_incumbent = [abs(grid[np.argmax(a(grid))][0] - 0.5) for a in (plain, augmented)]
    assert from_incumbent[1] > from_incumbent[0]
    np.testing.assert_array_equal(log_noise_factor(np.array([0.0, 0.1, 5.0]), 0.0), 0.0)


_PENDING = np.array([[0.2, 0.8, 1.0], [0.7, 0.1, 0.0]])
_DRAWS = np.array([[-0.5, 0.3], [0.4, -1.2], [0.0, 0.0]])  # (k, p) fantasies at _PENDING


def _fantasy_acquisition() -> tuple[FantasyLogEI, list[LogEI]]:
    """The fantasy acquisition and, for reference, one LogEI per fantasy on a GP built
    from scratch on the observations plus that fantasy (the definition)."""
    X, y = _data()
    params = KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-4)
    gp = GPRegressor(X, y, IS_CATEGORICAL, params)
    bests = np.minimum(-1.0, _DRAWS.min(axis=1))
    noise = np.concatenate([np.full(len(X), 1e-4), np.full(len(_PENDING), MIN_NOISE_VAR)])
    members = [
        LogEI(
            GPRegressor(
                np.vstack([X, _PENDING]), np.concatenate([y, f]), IS_CATEGORICAL, params, noise
            ),
            b,
        )
        for f, b in zip(_DRAWS, bests, strict=True)
    ]
    return FantasyLogEI(gp.condition_on(_PENDING, _DRAWS), bests), members


def test_fantasy_log_ei_is_the_log_mean_of_the_members_ei_and_its_gradient_matches() -> None:
    acquisition, members = _fantasy_acquisition()
    x = np.array([[0.37, 0.61, 1.0], [0.9, 0.9, 2.0]])
    member_ei = np.exp([m(x) for m in members])
    np.testing.assert_allclose(acquisition(x), np.log(member_ei.mean(axis=0)), rtol=1e-10)
    value, gradient = acquisition.with_gradient(x[0])
    assert value == pytest.approx(acquisition(x[:1])[0], rel=1e-10)
    parts = [m.with_gradient(x[0]) for m in members]
    weights = np.exp([v for v, _ in parts])
    np.testing.assert_allclose(
        gradient, weights @ np.array([g for _, g in parts]) / weights.sum(), rtol=1e-9, atol=1e-12
    )
    fd = _central_difference(lambda v: acquisition(v[None, :])[0], x[0])
    np.testing.assert_allclose(gradient[:2], fd[:2], rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("n", [12, 150])
def test_conditioning_on_fantasies_updates_the_factor_to_a_fresh_gps(n: int) -> None:
    """k fantasies at the same points share one block-updated factor: the posterior mean
    (per fantasy), variance and their gradients equal a GP built afresh per fantasy."""
    X, y = _data(n)
    params = KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-3)
    gp = GPRegressor(X, y, IS_CATEGORICAL, params)
    pending = _data(5, seed=2)[0]
    draws = np.random.default_rng(3).standard_normal((4, len(pending)))
    conditioned = gp.condition_on(pending, draws)
    x = _data(40, seed=4)[0]
    mean, var = conditioned.posterior(x)
    assert mean.shape == (40, 4) and var.shape == (40,)
    for j, f in enumerate(draws):
        fresh = gp.condition_on(pending, f)  # one fantasy
        reference = GPRegressor(
            np.vstack([X, pending]), np.concatenate([y, f]), IS_CATEGORICAL, params, fresh.noise
        )
        np.testing.assert_allclose(conditioned.L, reference.L, rtol=0, atol=1e-9)
        ref_mean, ref_var = reference.posterior(x)
        np.testing.assert_allclose(mean[:, j], ref_mean, rtol=0, atol=1e-9)
        np.testing.assert_allclose(var, ref_var, rtol=0, atol=1e-9)
        m, v, dm, dv = conditioned.posterior_with_gradient(x[0])
        ref_m, ref_v, ref_dm, ref_dv = reference.posterior_with_gradient(x[0])
        assert m[j] == pytest.approx(float(ref_m), abs=1e-9) and v == pytest.approx(ref_v, abs=1e-9)
        np.testing.assert_allclose(dm[:, j], ref_dm, rtol=0, atol=1e-9)
        np.testing.assert_allclose(dv, ref_dv, rtol=0, atol=1e-9)


def test_conditioning_a_gp_that_needed_jitter_refactors_it_as_a_fresh_gp_would() -> None:
    """Jitter is relative to the whole matrix's diagonal: reusing a jittered factor would
    change the mathematics, so the conditioned GP is factored afresh, identically."""
    X, y = _data(20)
    X = np.vstack([X, X[:5]])  # exact repeats without noise: K is singular
    y = np.concatenate([y, y[:5]])
    params = KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-4)
    gp = GPRegressor(X, y, IS_CATEGORICAL, params, np.zeros(len(X)))
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(gp.kernel(X, X))
    pending = _data(3, seed=2)[0]
    f = np.array([0.1, -0.2, 0.3])
    conditioned = gp.condition_on(pending, f)
    fresh = GPRegressor(
        np.vstack([X, pending]), np.concatenate([y, f]), IS_CATEGORICAL, params, conditioned.noise
    )
    np.testing.assert_array_equal(conditioned.L, fresh.L)
    np.testing.assert_array_equal(conditioned.alpha, fresh.alpha)


def test_conditioning_on_a_fantasy_of_f_pins_the_posterior_there() -> None:
    X, y = _data()
    gp = GPRegressor(X, y, IS_CATEGORICAL, KernelParams(np.array([0.3, 0.5, 1.0]), 1.2, 1e-2))
    x = np.array([[0.2, 0.8, 1.0]])
    mean, var = gp.condition_on(x, np.array([0.7])).posterior(x)
    assert mean[0] == pytest.approx(0.7, abs=1e-4) and var[0] < 1e-5  # noise-free, unlike y


def test_lengthscale_prior_peaks_at_one_whatever_the_dimension_with_heavy_tails() -> None:
    """Optuna's prior on a numeric lengthscale: its mode is ℓ = 1 in 2 and in 20 dimensions,
    ℓ and 1/ℓ cost the same, and a lengthscale 10 times off costs about 10 nats."""
    for d in (2, 20):
        theta = np.concatenate([np.zeros(d), [0.0, -4.0]])
        assert np.allclose(log_prior(theta)[1][:d], 0.0)
    at = {s: log_prior(np.array([s, 0.0, -4.0]))[0] for s in (0.0, np.log(10), -np.log(10))}
    assert at[np.log(10)] == pytest.approx(at[-np.log(10)])
    assert 9.0 < at[0.0] - at[np.log(10)] < 11.0
