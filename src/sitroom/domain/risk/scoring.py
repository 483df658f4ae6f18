"""Scores for forecasts: Brier and log scores of probabilities, CRPS of count distributions,
reliability (calibration) tables and sharpness.

The scores are computed with ``scoringrules``, the forecast-verification community's library, so
sitroom's numbers are the ones a verification scientist would get, and the tests check them
against a second implementation (``properscoring``) and against hand-written formulas.

A count forecast is a probability mass function on 0..K-1. Its CRPS is the exact CRPS of that
discrete distribution, not an estimate from samples:

    CRPS(F, y) = E|X - y| - ½ E|X - X'| = sum_k (F(k) - 1{y <= k})²,   X, X' ~ F independent,

the sum running over the integers (exact because F is a step function with unit steps). It is
computed as ``scoringrules.crps_ensemble`` with the support 0..K-1 as members and the pmf as
their weights, with the quantile-decomposition estimator ("qd"): for a weighted ensemble it
equals the formula above exactly, in O(K) per forecast ("nrg" and "int" do too; "nrg" needs
O(K²); "fair" and "pwm" subtract a finite-ensemble correction and are not the CRPS of F).

scoringrules and SciPy take half a second to import: they are imported by the functions that
use them, so a room that opens, forecasts or lists questions never loads them.

Pure functions: no I/O, no clock. Invalid inputs (a probability outside [0, 1], an outcome that
is not 0/1, a pmf that does not sum to 1) raise ValueError: they are bugs, not user input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_Z95 = 1.959963984540054  # standard normal 0.975 quantile: Wilson 95% interval
_PMF_TOLERANCE = 1e-6


def _probabilities(p: npt.ArrayLike, y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    pa, ya = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.any(~((pa >= 0.0) & (pa <= 1.0))):
        raise ValueError("probability forecasts must lie in [0, 1]")
    if np.any((ya != 0.0) & (ya != 1.0)):
        raise ValueError("binary outcomes must be 0 or 1")
    pa, ya = np.broadcast_arrays(pa, ya)
    return pa, ya


def brier(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Per-item Brier score (p - y)² of probabilities ``p`` for binary outcomes ``y``."""
    import scoringrules as sr

    pa, ya = _probabilities(p, y)
    return np.asarray(sr.brier_score(ya, pa, backend="numpy"), dtype=np.float64)


def log_score(p: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Per-item negative log likelihood: -log p if y = 1, -log(1 - p) if y = 0 (natural log).

    A forecast of certainty that turns out wrong (p = 0 and y = 1, or p = 1 and y = 0) scores +inf.
    """
    import scoringrules as sr

    pa, ya = _probabilities(p, y)
    with np.errstate(divide="ignore"):
        return np.asarray(sr.log_score(ya, pa, backend="numpy"), dtype=np.float64)


def crps_pmf(pmf: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Exact CRPS of count forecasts given as pmfs, one per row, for observed counts ``y``.

    ``pmf`` has shape (n, K): row i gives P(X = k) for k = 0..K-1, and sums to 1 (within 1e-6;
    the rows are renormalised). The support is truncated at K-1: the last cell may carry the
    tail mass "K-1 or more", which is then scored as if it sat on K-1, so callers choose K (see
    ``support_for``) so that the mass beyond is negligible. ``y`` (shape (n,) or a scalar,
    broadcast to every row) may exceed K-1. A 1-D pmf is one forecast: the result has shape (1,).
    The result always has shape (n,).
    """
    import scoringrules as sr

    w = np.asarray(pmf, dtype=np.float64)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] == 0:
        raise ValueError(f"pmf must be a (n, K) array, not shape {np.shape(pmf)}")
    if np.any(~(w >= 0.0)) or np.any(np.abs(w.sum(axis=1) - 1.0) > _PMF_TOLERANCE):
        raise ValueError("every pmf row must be non-negative and sum to 1")
    obs = np.broadcast_to(np.asarray(y, dtype=np.float64), (w.shape[0],))
    support = np.broadcast_to(np.arange(w.shape[1], dtype=np.float64), w.shape)
    out = sr.crps_ensemble(
        obs, support, ens_w=w, estimator="qd", sorted_ensemble=True, backend="numpy"
    )
    return np.asarray(out, dtype=np.float64).reshape(w.shape[0])


def crps_negbinom(y: npt.ArrayLike, n: npt.ArrayLike, p: npt.ArrayLike) -> FloatArray:
    """Closed-form CRPS of a negative binomial forecast (``scoringrules.crps_negbinom``).

    The parametrisation is scipy's ``nbinom(n, p)`` (n successes, success probability p, mean
    n(1-p)/p, variance n(1-p)/p²); scoringrules uses the same one (checked in the tests against
    the exact CRPS of scipy's pmf).
    """
    import scoringrules as sr

    return np.asarray(sr.crps_negbinom(y, n, p, backend="numpy"), dtype=np.float64)


def _size(dispersion: float | None) -> float | None:
    """The negative binomial size, or None for the Poisson limit (dispersion None or inf)."""
    if dispersion is None or math.isinf(dispersion):
        return None
    if not dispersion > 0:
        raise ValueError(f"dispersion must be positive, not {dispersion}")
    return float(dispersion)


def _nb_params(mean: FloatArray, dispersion: float) -> tuple[FloatArray, FloatArray]:
    """scipy's (n, p) for the given means: p = n / (n + mean), so the mean is n(1-p)/p."""
    return np.full_like(mean, dispersion), dispersion / (dispersion + mean)


def _means(mean: npt.ArrayLike) -> FloatArray:
    m = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    if m.ndim != 1 or np.any(~(m >= 0.0)) or np.any(np.isinf(m)):
        raise ValueError("means must be a 1-D array of finite non-negative numbers")
    return m


def nb_pmf(mean: npt.ArrayLike, dispersion: float | None, k: int) -> FloatArray:
    """Negative binomial pmfs with the given means on 0..k-1, tail mass folded into cell k-1.

    ``dispersion`` is the size n (variance = mean + mean²/n); None or inf gives Poisson(mean).
    Returns shape (len(mean), k); a scalar mean gives one row.
    """
    from scipy import stats

    if k < 1:
        raise ValueError(f"the support needs at least one cell, not {k}")
    m = _means(mean)
    cells = np.arange(k - 1, dtype=np.float64)[None, :]
    n = _size(dispersion)
    if n is None:
        body, tail = stats.poisson.pmf(cells, m[:, None]), stats.poisson.sf(k - 2, m)
    else:
        size, prob = _nb_params(m, n)
        body = stats.nbinom.pmf(cells, size[:, None], prob[:, None])
        tail = stats.nbinom.sf(k - 2, size, prob)
    return np.concatenate([body, tail[:, None]], axis=1).astype(np.float64)


def support_for(means: npt.ArrayLike, dispersion: float | None, eps: float = 1e-12) -> int:
    """A support size K such that every forecast's mass beyond K-1 is at most ``eps``."""
    from scipy import stats

    m = _means(means)
    if m.size == 0:
        return 1
    n = _size(dispersion)
    # The distribution's methods with parameters, not a frozen distribution: freezing costs ten
    # times the call, and a backtest asks thousands of times.
    dist: Any = stats.poisson if n is None else stats.nbinom
    params = (m,) if n is None else _nb_params(m, n)
    k = int(np.max(dist.isf(eps, *params))) + 1
    while np.any(dist.sf(k - 1, *params) > eps):  # guard against isf rounding
        k += 1
    return max(k, 1)


@dataclass(frozen=True, eq=False)
class Reliability:
    """A reliability table: forecasts binned on [0, 1] in equal-width bins, per bin the count,
    the mean forecast, the observed frequency of y = 1 and its Wilson 95% interval (low, high).
    Empty bins have NaN means and intervals.

    The Murphy decomposition Brier = REL - RES + UNC is exact when every forecast in a bin
    equals the bin's mean forecast; with forecasts binned from a continuum it is approximate
    (the within-bin variance of the forecasts is left out)."""

    lo: FloatArray
    hi: FloatArray
    count: npt.NDArray[np.int64]
    mean_forecast: FloatArray
    observed: FloatArray
    low: FloatArray
    high: FloatArray
    n: int

    @property
    def base_rate(self) -> float:
        """Overall frequency of y = 1 (NaN when there are no forecasts)."""
        if self.n == 0:
            return math.nan
        return float(np.nansum(self.count * self.observed) / self.n)

    @property
    def reliability_term(self) -> float:
        """REL = Σ n_k (f_k - o_k)² / n: how far observed frequencies are from the forecasts."""
        return self._weighted(np.square(self.mean_forecast - self.observed))

    @property
    def resolution_term(self) -> float:
        """RES = Σ n_k (o_k - o)² / n: how far bins' frequencies are from the base rate."""
        return self._weighted(np.square(self.observed - self.base_rate))

    @property
    def uncertainty_term(self) -> float:
        """UNC = o (1 - o): the Brier score of always forecasting the base rate."""
        return self.base_rate * (1.0 - self.base_rate)

    def _weighted(self, values: FloatArray) -> float:
        if self.n == 0:
            return math.nan
        return float(np.sum(np.where(self.count > 0, values, 0.0) * self.count) / self.n)

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and numbers for JSON; NaN becomes None."""

        def clean(values: npt.NDArray[Any]) -> list[float | int | None]:
            return [None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()]

        def scalar(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {
            "n": self.n,
            **{
                name: clean(getattr(self, name))
                for name in ("lo", "hi", "count", "mean_forecast", "observed", "low", "high")
            },
            "reliability": scalar(self.reliability_term),
            "resolution": scalar(self.resolution_term),
            "uncertainty": scalar(self.uncertainty_term),
        }


_A = TypeVar("_A", bound=npt.NDArray[Any])


def _frozen(a: _A) -> _A:
    a.setflags(write=False)
    return a


def reliability(p: npt.ArrayLike, y: npt.ArrayLike, bins: int = 10) -> Reliability:
    """Reliability table of probability forecasts ``p`` for binary outcomes ``y``.

    Bin k holds lo_k <= p < hi_k with lo_k = k/bins; p = 1.0 goes to the last bin.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    pa, ya = _probabilities(p, y)
    pa, ya = pa.ravel(), ya.ravel()
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    index = np.clip(np.searchsorted(edges, pa, side="right") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.int64)
    hits = np.bincount(index, weights=ya, minlength=bins)
    sums = np.bincount(index, weights=pa, minlength=bins)
    nonempty = count > 0
    safe = np.where(nonempty, count, 1)
    o = hits / safe
    z2 = _Z95 * _Z95  # Wilson score interval: centre ± half
    denom = 1.0 + z2 / safe
    centre = (o + z2 / (2.0 * safe)) / denom
    half = _Z95 / denom * np.sqrt(o * (1.0 - o) / safe + z2 / (4.0 * safe * safe))
    mean_forecast = np.where(nonempty, sums / safe, np.nan)
    observed = np.where(nonempty, o, np.nan)
    # The interval holds the observed share: in floats, its bound at an observed 0 or 1 can
    # land 1e-16 inside it (and a plot's error bar would be negative).
    low = np.where(nonempty, np.minimum(np.maximum(centre - half, 0.0), o), np.nan)
    high = np.where(nonempty, np.maximum(np.minimum(centre + half, 1.0), o), np.nan)
    return Reliability(
        lo=_frozen(edges[:-1].copy()),
        hi=_frozen(edges[1:].copy()),
        count=_frozen(count),
        mean_forecast=_frozen(mean_forecast),
        observed=_frozen(observed),
        low=_frozen(low),
        high=_frozen(high),
        n=int(pa.size),
    )


def sharpness(p: npt.ArrayLike) -> dict[str, float]:
    """How far forecasts stray from 0.5: "sharpness" = mean |p - 0.5| × 2 (0 when every
    forecast is 0.5, 1 when every one is 0 or 1), "std" = standard deviation of p, and
    "outside_20_80" = share of forecasts below 0.2 or above 0.8."""
    pa = np.asarray(p, dtype=np.float64).ravel()
    if pa.size == 0:
        raise ValueError("sharpness needs at least one forecast")
    if np.any(~((pa >= 0.0) & (pa <= 1.0))):
        raise ValueError("probability forecasts must lie in [0, 1]")
    return {
        "sharpness": float(np.mean(np.abs(pa - 0.5)) * 2.0),
        "std": float(np.std(pa)),
        "outside_20_80": float(np.mean((pa < 0.2) | (pa > 0.8))),
    }


def count_calibration(
    pmfs: npt.ArrayLike, y: npt.ArrayLike, *, bins: int = 10, seed: int = 0
) -> tuple[tuple[float, ...], float, float]:
    """How well count forecasts (one pmf over 0..k-1 per row) are calibrated against the
    counts ``y``: the randomised PIT's histogram (``bins`` shares: flat when calibrated; a U
    is overconfident, a hump underconfident; Czado, Gneiting and Held 2009), and how often the
    count fell in each forecast's central 50% and 90% intervals (0.5 and 0.9 when right).
    Seeded: the same forecasts give the same histogram."""
    P = np.asarray(pmfs, dtype=np.float64)
    obs = np.minimum(np.asarray(y, dtype=np.int64), P.shape[1] - 1)
    cdf = np.cumsum(P, axis=1)
    rows = np.arange(len(obs))
    upper = cdf[rows, obs]
    lower = np.where(obs > 0, cdf[rows, np.maximum(obs - 1, 0)], 0.0)
    u = lower + np.random.default_rng(seed).uniform(size=len(obs)) * (upper - lower)
    hist = np.histogram(np.clip(u, 0.0, 1.0), bins=bins, range=(0.0, 1.0))[0] / max(len(obs), 1)

    def inside(alpha: float) -> float:
        lo = (cdf < (1 - alpha) / 2).sum(axis=1)  # the smallest count with F >= (1-a)/2
        hi = (cdf < (1 + alpha) / 2).sum(axis=1)
        return float(((lo <= obs) & (obs <= hi)).mean()) if len(obs) else float("nan")

    return tuple(float(x) for x in hist), inside(0.5), inside(0.9)
