"""Forecast scores against scoringrules, properscoring and hand-written formulas."""

import math

import numpy as np
import properscoring as ps
import pytest
import scoringrules as sr
from scipy import stats

from sitroom.domain.risk.scoring import (
    brier,
    crps_negbinom,
    crps_pmf,
    log_score,
    nb_pmf,
    reliability,
    sharpness,
    support_for,
)


def binary_sample(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.001, 0.999, size=n)
    p[:5] = [0.0, 1.0, 0.5, 0.2, 0.8]
    y = (rng.uniform(size=n) < p).astype(np.int64)
    y[:2] = [0, 1]  # certain and right: scores 0
    return p, y


def random_pmfs(seed: int, n: int = 200, k: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.5, size=(n, k)) * (rng.uniform(size=(n, k)) < 0.6)
    w[:, 0] += 1e-3  # no empty row
    return w / w.sum(axis=1, keepdims=True)


def crps_direct(pmf: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sum_k (F(k) - 1{y <= k})² over the integers, exact for integer-valued forecasts."""
    k_max = max(pmf.shape[1], int(y.max()) + 1)
    padded = np.pad(pmf, ((0, 0), (0, k_max - pmf.shape[1])))
    cdf = np.cumsum(padded, axis=1)
    step = (y[:, None] <= np.arange(k_max)[None, :]).astype(float)
    return np.sum((cdf - step) ** 2, axis=1)


def test_brier_agrees_with_scoringrules_properscoring_and_the_formula() -> None:
    p, y = binary_sample(1)
    got = brier(p, y)
    assert got.shape == p.shape
    np.testing.assert_allclose(got, (p - y) ** 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, sr.brier_score(y, p), rtol=0, atol=1e-9)
    np.testing.assert_allclose(got, ps.brier_score(y, p), rtol=0, atol=1e-9)
    assert brier([0.2], [1])[0] == pytest.approx(0.64)


def test_log_score_agrees_with_scoringrules_scipy_and_the_formula() -> None:
    p, y = binary_sample(2)
    got = log_score(p, y)
    np.testing.assert_allclose(got, -np.log(np.where(y == 1, p, 1 - p)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, sr.log_score(y, p), rtol=0, atol=1e-9)
    # properscoring has no log score; scipy's Bernoulli log-pmf is the second implementation.
    np.testing.assert_allclose(got, -stats.bernoulli.logpmf(y, p), rtol=0, atol=1e-9)
    assert log_score([0.25], [1])[0] == pytest.approx(math.log(4))
    assert log_score([0.25], [0])[0] == pytest.approx(-math.log(0.75))


def test_log_score_of_a_confident_miss_is_infinite_without_warning() -> None:
    assert np.all(np.isinf(log_score([0.0, 1.0], [1, 0])))


@pytest.mark.parametrize(("p", "y"), [([1.2], [1]), ([-0.1], [0]), ([0.5], [2]), ([math.nan], [1])])
def test_binary_scores_refuse_invalid_input(p: list[float], y: list[int]) -> None:
    with pytest.raises(ValueError):
        brier(p, y)


@pytest.mark.parametrize(
    ("mean", "dispersion", "y"),
    [
        (3.7, 2.5, 0),
        (3.7, 2.5, 4),
        (3.7, 2.5, 60),  # far in the tail, beyond the support
        (0.3, 0.5, 0),
        (0.3, 0.5, 9),
        (25.0, 10.0, 25),
        (120.0, 1.5, 3),
        (8.0, 200.0, 17),
    ],
)
def test_crps_pmf_of_a_negative_binomial_matches_the_closed_form(
    mean: float, dispersion: float, y: int
) -> None:
    k = support_for([mean], dispersion)
    pmf = nb_pmf([mean], dispersion, k)
    n, prob = dispersion, dispersion / (dispersion + mean)
    expected = sr.crps_negbinom(y, n, prob)
    assert crps_pmf(pmf, np.array([y]))[0] == pytest.approx(expected, abs=1e-9)
    assert crps_negbinom([y], n, prob)[0] == pytest.approx(expected, abs=1e-12)
    # scoringrules' (n, p) is scipy's: the exact CRPS of scipy's pmf is the same number.
    assert crps_direct(pmf, np.array([y]))[0] == pytest.approx(expected, abs=1e-9)
    assert stats.nbinom.mean(n, prob) == pytest.approx(mean)


def test_crps_pmf_agrees_with_properscoring_and_the_direct_formula() -> None:
    pmf = random_pmfs(3)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 40, size=pmf.shape[0])  # some beyond K-1 = 24
    y[:3] = [0, 24, 39]
    support = np.arange(pmf.shape[1], dtype=float)
    got = crps_pmf(pmf, y)
    assert got.shape == (pmf.shape[0],)
    expected = ps.crps_ensemble(y.astype(float), np.broadcast_to(support, pmf.shape), weights=pmf)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got, crps_direct(pmf, y), rtol=0, atol=1e-9)


@pytest.mark.parametrize(("x", "y"), [(0, 0), (0, 7), (5, 0), (5, 5), (5, 12), (9, 3)])
def test_crps_of_a_point_mass_is_the_absolute_error(x: int, y: int) -> None:
    pmf = np.zeros(10)
    pmf[x] = 1.0
    got = crps_pmf(pmf, y)
    assert got.shape == (1,)
    assert got[0] == pytest.approx(abs(x - y), abs=1e-12)


def test_crps_pmf_refuses_a_pmf_that_does_not_sum_to_one() -> None:
    with pytest.raises(ValueError):
        crps_pmf(np.array([[0.5, 0.4]]), [1])
    with pytest.raises(ValueError):
        crps_pmf(np.array([[1.5, -0.5]]), [1])


@pytest.mark.parametrize("dispersion", [0.4, 3.0, 50.0, None, math.inf])
def test_nb_pmf_rows_sum_to_one_and_keep_the_mean(dispersion: float | None) -> None:
    means = np.array([0.0, 0.2, 1.0, 4.5, 30.0, 250.0])
    k = support_for(means, dispersion)
    pmf = nb_pmf(means, dispersion, k)
    assert pmf.shape == (len(means), k)
    assert np.all(pmf >= 0)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pmf @ np.arange(k), means, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pmf[0], np.eye(k)[0], atol=1e-15)  # mean 0: all mass on 0
    variance = pmf[3] @ np.arange(k) ** 2 - means[3] ** 2
    if dispersion is None or math.isinf(dispersion):
        assert variance == pytest.approx(means[3], rel=1e-9)
    else:
        assert variance == pytest.approx(means[3] + means[3] ** 2 / dispersion, rel=1e-9)


def test_nb_pmf_tends_to_the_poisson() -> None:
    means = np.array([0.5, 3.0, 12.0])
    k = support_for(means, None)
    poisson = stats.poisson.pmf(np.arange(k)[None, :], means[:, None])
    np.testing.assert_allclose(nb_pmf(means, None, k)[:, :-1], poisson[:, :-1], atol=1e-15)
    np.testing.assert_allclose(nb_pmf(means, math.inf, k), nb_pmf(means, None, k), atol=0)
    np.testing.assert_allclose(nb_pmf(means, 1e9, k), nb_pmf(means, None, k), atol=1e-7)


def test_nb_pmf_folds_the_tail_into_the_last_cell() -> None:
    pmf = nb_pmf(2.0, 1.0, 3)
    n, prob = 1.0, 1.0 / 3.0
    np.testing.assert_allclose(
        pmf[0],
        [stats.nbinom.pmf(0, n, prob), stats.nbinom.pmf(1, n, prob), stats.nbinom.sf(1, n, prob)],
    )


def test_support_for_leaves_less_than_eps_beyond() -> None:
    for dispersion in (0.5, 5.0, None):
        for eps in (1e-6, 1e-12):
            k = support_for([0.1, 7.0, 40.0], dispersion, eps=eps)
            dist = (
                stats.poisson(40.0)
                if dispersion is None
                else stats.nbinom(dispersion, dispersion / (dispersion + 40.0))
            )
            assert dist.sf(k - 1) <= eps  # mass beyond K-1
            assert dist.sf(k - 2) > eps  # K is the smallest such size
            tail = nb_pmf([0.1, 7.0, 40.0], dispersion, k + 1)[:, -1]
            assert np.all(tail <= eps)


def test_reliability_on_a_hand_example() -> None:
    p = [0.05, 0.05, 0.15, 0.55, 0.95, 0.95, 0.95, 0.95, 1.0]
    y = [0, 1, 0, 1, 1, 1, 1, 0, 1]
    r = reliability(p, y, bins=10)
    assert r.n == 9
    np.testing.assert_allclose(r.lo, np.arange(10) / 10)
    np.testing.assert_allclose(r.hi, np.arange(1, 11) / 10)
    assert r.count.tolist() == [2, 1, 0, 0, 0, 1, 0, 0, 0, 5]
    np.testing.assert_allclose(r.observed[[0, 1, 5, 9]], [0.5, 0.0, 1.0, 0.8])
    np.testing.assert_allclose(r.mean_forecast[[0, 9]], [0.05, 0.96])
    assert np.all(np.isnan(r.observed[[2, 3, 4, 6, 7, 8]]))
    assert np.all(np.isnan(r.low[2:5])) and np.all(np.isnan(r.high[2:5]))
    # Wilson interval for 4 of 5: (0.3755, 0.9638).
    assert r.low[9] == pytest.approx(0.37553, abs=1e-4)
    assert r.high[9] == pytest.approx(0.96378, abs=1e-4)
    assert np.all(r.low[r.count > 0] <= r.observed[r.count > 0])
    d = r.as_dict()
    assert d["count"][9] == 5 and d["observed"][2] is None and d["low"][2] is None
    assert isinstance(d["reliability"], float)


def test_one_goes_into_the_last_bin_and_edges_to_the_upper_bin() -> None:
    r = reliability([1.0, 0.0, 0.3, 0.7], [1, 0, 0, 1], bins=10)
    assert r.count.tolist() == [1, 0, 0, 1, 0, 0, 0, 1, 0, 1]
    assert reliability([1.0], [1], bins=1).count.tolist() == [1]


def test_murphy_decomposition_is_exact_when_bins_hold_equal_forecasts() -> None:
    rng = np.random.default_rng(5)
    levels = np.array([0.05, 0.25, 0.45, 0.65, 0.85, 0.95])
    p = rng.choice(levels, size=300)
    y = (rng.uniform(size=300) < np.clip(p + 0.1, 0, 1)).astype(int)
    r = reliability(p, y, bins=10)
    total = r.reliability_term - r.resolution_term + r.uncertainty_term
    assert total == pytest.approx(float(np.mean(brier(p, y))), abs=1e-12)
    assert r.reliability_term > 0 and r.resolution_term > 0
    assert r.uncertainty_term == pytest.approx(np.mean(y) * (1 - np.mean(y)))


def test_reliability_arrays_are_read_only() -> None:
    r = reliability([0.1, 0.9], [0, 1])
    with pytest.raises(ValueError):
        r.count[0] = 3


def test_sharpness_extremes() -> None:
    assert sharpness(np.full(10, 0.5)) == {"sharpness": 0.0, "std": 0.0, "outside_20_80": 0.0}
    s = sharpness([0.0, 1.0, 1.0, 0.0])
    assert s["sharpness"] == 1.0 and s["outside_20_80"] == 1.0 and s["std"] == pytest.approx(0.5)
    assert sharpness([0.1, 0.5, 0.85, 0.2])["outside_20_80"] == pytest.approx(0.5)


# heavy libraries --------------------------------------------------------------------------
LOADED = """
import sys
import sitroom.room
from sitroom.settings import Settings
sitroom.room.default_projections()
sitroom.room.default_detectors(Settings())
sitroom.room.default_reactors(Settings())
import sitroom.domain.risk.scoring as scoring
import sitroom.application.risk
heavy = {"scipy", "scoringrules", "matplotlib"}
print(sorted({m.split(".")[0] for m in sys.modules} & heavy))
scoring.brier([0.3], [1])
print(sorted({m.split(".")[0] for m in sys.modules} & heavy))
"""


def test_a_room_loads_scipy_and_scoringrules_only_when_it_scores() -> None:
    """Every room builds the risk projection, detector and forecaster: they must not import
    SciPy, scoringrules or matplotlib (half a second and more on every command)."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    before, after = r.stdout.splitlines()
    assert before == "[]"
    assert "scoringrules" in after  # the check sees a library once something scores


def test_count_calibration_is_flat_and_covers_when_the_forecast_is_the_truth() -> None:
    """PIT histograms and interval coverage for count forecasts (the backtest had none): a
    forecast that is the distribution the counts come from is flat and covers as it says;
    an overconfident one (a point mass at the mean) is a U and covers too little."""
    from sitroom.domain.risk.scoring import count_calibration, nb_pmf

    rng = np.random.default_rng(3)
    y = rng.poisson(4.0, 4000)
    right = np.repeat(nb_pmf([4.0], None, 40), len(y), axis=0)
    pit, c50, c90 = count_calibration(right, y)
    assert max(pit) - min(pit) < 0.03 and abs(sum(pit) - 1) < 1e-9
    assert c50 >= 0.5 and c90 >= 0.9  # discrete central intervals hold at least their share
    narrow = np.zeros((len(y), 40))
    narrow[:, 4] = 1.0  # certain of 4
    pit_n, _, n90 = count_calibration(narrow, y)
    assert pit_n[0] + pit_n[-1] > 0.5 and n90 < 0.3  # a U; it covers far too little
