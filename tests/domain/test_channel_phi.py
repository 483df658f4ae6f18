"""The phi-accrual detector and the intermediary as an indirect probe."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.channels import (
    PhiConfig,
    PhiDetector,
    Silence,
    classify_silence,
    heard_recently,
    phi_of,
)
from sitroom.errors import UserInputError

T0 = 1_790_000_000_000


def beat(times: list[int], config: PhiConfig | None = None) -> PhiDetector:
    d = PhiDetector(config or PhiConfig())
    for t in times:
        d = d.heartbeat(t)
    return d


def slack(d: PhiDetector) -> int:
    """How long after the last heartbeat the peer will be suspected."""
    due, last = d.suspect_at_ms(), d.last_ms
    assert due is not None and last is not None
    return due - last


def jittery_trace(seed: int, n: int = 2000) -> list[int]:
    """Heartbeats every second, sent on time but delayed on the way by gamma-distributed
    latency, with now and then a hiccup of up to half a second."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        delay = rng.gammavariate(4.0, 15.0)  # mean 60 ms, sd 30 ms
        if rng.random() < 0.01:
            delay += rng.uniform(100, 500)
        out.append(T0 + k * 1000 + round(delay))
    return sorted(out)


def test_phi_rises_past_the_threshold_soon_after_a_regular_peer_stops() -> None:
    d = beat([T0 + k * 1000 for k in range(60)])
    last = T0 + 59 * 1000
    assert d.phi(last + 1000) < 1.0
    assert d.phi(last + 2000) > 8.0
    due = d.suspect_at_ms()
    assert due is not None and last + 1000 < due <= last + 2000
    assert d.phi(due) >= 8.0 > d.phi(due - 1)
    assert d.available(due - 1) and not d.available(due)


def test_phi_keeps_rising_and_stays_finite_however_long_the_silence() -> None:
    d = beat([T0 + k * 1000 for k in range(60)])
    last = T0 + 59 * 1000
    values = [d.phi(last + s * 1000) for s in (2, 5, 60, 3600, 86_400)]
    assert values == sorted(values)
    assert all(math.isfinite(v) for v in values)
    assert values[-1] > 1e6


@pytest.mark.parametrize("seed", range(5))
def test_jittery_but_alive_heartbeats_stay_below_the_threshold(seed: int) -> None:
    """Phi is highest just before each heartbeat lands; it never reaches 8 on a live trace."""
    times = jittery_trace(seed)
    d = beat(times[:2])
    worst = 0.0
    for t in times[2:]:
        worst = max(worst, d.phi(t - 1))
        d = d.heartbeat(t)
    assert worst < 8.0
    # ...and the same detector still flags the peer within two intervals once it stops.
    due = d.suspect_at_ms()
    assert due is not None and due - times[-1] <= 2000


def test_a_noisy_peer_gets_more_slack_than_a_regular_one() -> None:
    regular = beat([T0 + k * 1000 for k in range(100)])
    rng = random.Random(1)
    noisy = beat(sorted(T0 + k * 1000 + rng.randrange(0, 600) for k in range(100)))
    assert slack(noisy) > slack(regular) + 500


def test_the_window_is_bounded_and_its_statistics_exact() -> None:
    rng = random.Random(3)
    times = [T0]
    for _ in range(300):
        times.append(times[-1] + rng.randrange(800, 1300))
    d = beat(times, PhiConfig(window=50, min_std_ms=1))
    gaps = [b - a for a, b in itertools.pairwise(times)][-50:]
    assert d.intervals == tuple(gaps)
    assert d.mean_ms == pytest.approx(statistics.fmean(gaps))
    assert d.std_ms == pytest.approx(statistics.pstdev(gaps))


def test_duplicate_or_overtaken_heartbeats_change_nothing() -> None:
    d = beat([T0, T0 + 1000, T0 + 2000])
    assert d.heartbeat(T0 + 2000) == d
    assert d.heartbeat(T0 + 1500) == d


def test_before_any_heartbeat_there_is_nothing_to_suspect() -> None:
    d = PhiDetector()
    assert d.phi(T0) == 0.0
    assert d.suspect_at_ms() is None


def test_threshold_is_configurable() -> None:
    times = [T0 + k * 1000 for k in range(60)]
    strict, lax = beat(times, PhiConfig(threshold=3)), beat(times, PhiConfig(threshold=12))
    assert slack(strict) < slack(lax)


def test_phi_matches_the_normal_tail_and_is_continuous_where_the_formula_switches() -> None:
    """phi = -log10(P(Z > y)); at one standard deviation that is -log10(0.158655...)."""
    assert phi_of(1100, 1000, 100) == pytest.approx(-math.log10(0.15865525393145707))
    switch = 25.0 * math.sqrt(2.0)  # where the exact erfc hands over to its expansion
    below, above = phi_of(switch - 1e-9, 0, 1), phi_of(switch + 1e-9, 0, 1)
    assert above == pytest.approx(below, rel=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.floats(-30, 200), st.floats(0.001, 50))
def test_phi_never_falls_as_silence_grows(y: float, step: float) -> None:
    assert phi_of(y + step, 0.0, 1.0) >= phi_of(y, 0.0, 1.0)


def test_intermediary_hearing_the_peer_points_at_the_path() -> None:
    v = classify_silence(11.24, True, peer="Tehran", intermediary="Muscat")
    assert v.silence is Silence.SUSPECT_PATH
    assert v.explanation == (
        "the direct path to Tehran is silent (phi 11.2, at or above 8), but Muscat heard "
        "Tehran recently: the path is suspect, not Tehran"
    )


def test_intermediary_silent_too_points_at_the_peer() -> None:
    v = classify_silence(11.24, False, peer="Tehran", intermediary="Muscat")
    assert v.silence is Silence.SUSPECT_PEER
    assert v.explanation.endswith(
        "and Muscat has not heard Tehran either: Tehran itself is suspect"
    )
    assert classify_silence(11.24, None).silence is Silence.SUSPECT_PEER


def test_a_live_direct_path_needs_no_intermediary() -> None:
    assert classify_silence(2.0, False).silence is Silence.ALIVE
    assert classify_silence(9.0, True, threshold=10).silence is Silence.ALIVE


def test_heard_recently() -> None:
    assert heard_recently(T0 - 5000, T0, within_ms=10_000)
    assert not heard_recently(T0 - 50_000, T0, within_ms=10_000)
    assert not heard_recently(None, T0, within_ms=10_000)


def test_config_is_checked() -> None:
    with pytest.raises(UserInputError):
        PhiConfig(window=1)
