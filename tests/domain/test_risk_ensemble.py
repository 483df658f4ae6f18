"""Aggregation, disagreement and coherence; and the members' arithmetic."""

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from sitroom.domain.risk import members as m
from sitroom.domain.risk.ensemble import (
    aggregate,
    disagreement,
    incoherence,
    monotone,
    spread,
    weighted_median,
)
from sitroom.domain.risk.evidence import Found


def member(name: str, p: float, weight: float = 1.0) -> m.Member:
    return m.Member(name=name, kind="analyst", p=p, drivers=f"{name}'s reasons", weight=weight)


def test_members_at_90_and_30_disagree_and_both_sides_are_named() -> None:
    split = disagreement([member("hawk", 0.9), member("dove", 0.3)], 0.40)
    assert split is not None
    assert [s["member"] for s in split["high"]] == ["hawk"]
    assert [s["member"] for s in split["low"]] == ["dove"]
    assert split["high"][0]["drivers"] == "hawk's reasons"
    assert split["summary"] == "hawk at 90% against dove at 30%"


def test_members_at_60_and_70_do_not_disagree() -> None:
    assert disagreement([member("a", 0.6), member("b", 0.7)], 0.40) is None


def test_the_threshold_is_strict_and_configurable() -> None:
    pair = [member("a", 0.25), member("b", 0.75)]
    assert disagreement(pair, 0.50) is None
    assert disagreement(pair, 0.49) is not None


def test_sides_split_at_the_widest_gap() -> None:
    ms = [member("a", 0.1), member("b", 0.15), member("c", 0.8), member("d", 0.85)]
    split = disagreement(ms, 0.4)
    assert split is not None
    assert {s["member"] for s in split["low"]} == {"a", "b"}
    assert {s["member"] for s in split["high"]} == {"c", "d"}


def test_aggregates_and_spread() -> None:
    ms = [member("a", 0.2), member("b", 0.5), member("c", 0.9)]
    agg = aggregate(ms)
    assert agg["method"] == "median" and agg["p"] == pytest.approx(0.5)
    assert agg["mean"] == pytest.approx((0.2 + 0.5 + 0.9) / 3)
    lo = np.mean([math.log(p / (1 - p)) for p in (0.2, 0.5, 0.9)])
    assert agg["extremised"] == pytest.approx(1 / (1 + math.exp(-1.5 * lo)), abs=1e-6)
    s = spread(ms)
    assert (s["min"], s["max"], s["lowest"], s["highest"]) == (0.2, 0.9, "a", "c")
    assert aggregate(ms, "mean")["p"] == pytest.approx(agg["mean"], abs=1e-6)


def test_weighted_median_follows_the_weight() -> None:
    p = np.array([0.1, 0.5, 0.9])
    assert weighted_median(p, np.array([1.0, 1.0, 1.0])) == 0.5
    assert weighted_median(p, np.array([1.0, 1.0, 5.0])) == 0.9
    assert weighted_median(np.array([0.2, 0.4]), np.array([1.0, 1.0])) == pytest.approx(0.3)


def test_coherence_bounds_of_a_conditional() -> None:
    # P(X|A) = 0.8, P(A) = 0.5: P(X) must lie within [0.4, 0.9].
    assert incoherence(0.8, 0.5, 0.6) is None
    bad = incoherence(0.8, 0.5, 0.2)
    assert bad is not None and bad["bounds"] == [0.4, 0.9]
    assert incoherence(0.8, 0.5, 0.95) is not None


def test_a_higher_threshold_cannot_be_likelier() -> None:
    assert monotone({"five": (5, 0.6), "ten": (10, 0.3)}) == []
    assert monotone({"five": (5, 0.3), "ten": (10, 0.6)}) == [("five", "ten")]


def test_base_rate_is_the_beta_binomial_posterior_mean() -> None:
    b = m.base_rate(3, 7, (1.0, 1.0), "US–Iran rounds")
    assert b.p == pytest.approx(4 / 9)
    assert b.detail["posterior"] == [4.0, 5.0]
    assert "3 of 7 in US–Iran rounds" in b.drivers
    alone = m.base_rate(0, 0, (0.5, 0.5), "nothing")
    assert alone.p == 0.5 and "prior alone" in alone.drivers


def test_event_count_tail_matches_scipy() -> None:
    c = m.event_count(
        [4, 6, 5, 7, 3, 5], fraction_left=1.0, so_far=0, threshold=8, evidence=[], region="r"
    )
    d = c.dist
    assert d is not None
    n = d["dispersion"]
    expected = stats.nbinom.sf(7, n, n / (n + d["mean"]))
    assert c.p == pytest.approx(expected, rel=1e-9)
    # Events already in the window count towards the threshold.
    half = m.event_count(
        [4, 6, 5], fraction_left=0.5, so_far=6, threshold=8, evidence=[], region="r"
    )
    hd = half.dist
    assert hd is not None and hd["offset"] == 6
    assert half.p == pytest.approx(m.nb_tail(2, hd["mean"], hd["dispersion"]), rel=1e-9)


def test_bursty_history_gets_a_fatter_tail() -> None:
    steady = m.event_count(
        [5] * 12, fraction_left=1.0, so_far=0, threshold=15, evidence=[], region="r"
    )
    bursty = m.event_count(
        [0, 0, 0, 20, 0, 0, 0, 20, 0, 0, 0, 20],
        fraction_left=1.0,
        so_far=0,
        threshold=15,
        evidence=[],
        region="r",
    )
    assert bursty.p > steady.p


def test_nearby_meeting_lists_each_conflict_with_its_contribution() -> None:
    found = [
        {
            "conflict": "A",
            "events": 5,
            "fatalities": 10,
            "nearest_m": 50e3,
            "near": "Beirut",
            "severity": 6.0,
            "last_ms": 1,
            "ids": ["a1"],
        },
        {
            "conflict": "B",
            "events": 1,
            "fatalities": 0,
            "nearest_m": 700e3,
            "near": "Beirut",
            "severity": 0.2,
            "last_ms": 2,
            "ids": ["b1"],
        },
    ]
    n = m.nearby_meeting(found, 0.6, "500mi", ["b1", "a1"])
    assert n.p < 0.6
    listed = n.detail["conflicts"]
    assert [c["conflict"] for c in listed] == ["A", "B"]
    assert listed[0]["contribution"] < listed[1]["contribution"] < 0
    assert n.evidence == ("b1", "a1")
    none = m.nearby_meeting([], 0.6, "500mi", [])
    assert none.p == pytest.approx(0.6)


def test_a_silent_counterpart_lowers_the_odds_more_than_a_suspect_path() -> None:
    peer = m.channel_health(
        0.6, [{"label": "direct", "liveness": "suspect_peer", "breaker": None}], []
    )
    path = m.channel_health(
        0.6, [{"label": "direct", "liveness": "suspect_path", "breaker": None}], []
    )
    fine = m.channel_health(
        0.6, [{"label": "direct", "liveness": "alive", "breaker": "closed"}], []
    )
    assert peer.p < path.p < fine.p == pytest.approx(0.6)
    assert "direct suspect peer" in peer.drivers


def test_analyst_weight_rewards_a_good_record_and_shrinks_a_short_one() -> None:
    """Each entry: the analyst's Brier against the models' on the same question (1: as good)."""
    assert m.analyst_weight([]) == 1.0
    good, bad = m.analyst_weight([0.3] * 10), m.analyst_weight([2.0] * 10)
    assert good > 1.0 > bad
    # One question counts a quarter against the prior of three: (1/0.3 + 3) / 4, not 1/0.3.
    assert m.analyst_weight([0.3]) == pytest.approx((1 / 0.3 + 3) / 4)
    assert m.analyst_weight([0.01] * 100) == 5.0 and m.analyst_weight([50.0] * 100) == 0.2
    assert m.analyst_weight([1.0] * 10) == pytest.approx(1.0)  # as good as the models


def test_conflicts_group_events_as_a_frame_group_by_would() -> None:
    rng = np.random.default_rng(7)
    n = 400
    frame = pl.DataFrame(
        {
            "id": [f"e{i}" for i in range(n)],
            "valid_from": rng.integers(0, 50, n),  # many ties: the later-added is newer
            "lat": np.zeros(n),
            "lon": np.zeros(n),
            "quad_class": rng.integers(3, 5, n),
            "fatalities": rng.integers(0, 30, n),
            "source": ["s"] * n,
            "conflict": rng.choice(["Syria", "Yemen", "Iraq", "Gaza"], n),
            "dist_m": rng.uniform(0, 900e3, n),
            "near": rng.choice(["Beirut", "Damascus"], n),
        }
    )
    radius = 800e3
    got = m.conflicts(Found.from_frame(frame), radius)
    newest_first = frame.with_row_index("row").sort(["valid_from", "row"], descending=[True, True])
    want = (
        newest_first.group_by("conflict", maintain_order=True)
        .agg(
            pl.len().alias("events"),
            pl.col("fatalities").sum(),
            pl.col("dist_m").min().alias("nearest_m"),
            pl.col("near").first(),
            ((1 - pl.col("dist_m") / radius).clip(0, 1) * (1 + pl.col("fatalities").log1p()))
            .sum()
            .alias("severity"),
            pl.col("valid_from").max().alias("last_ms"),
            pl.col("id").head(m.LISTED_IDS).alias("ids"),
        )
        .sort(["severity", "conflict"], descending=[True, False])
    )
    assert [g["conflict"] for g in got] == want["conflict"].to_list()
    for g, w in zip(got, want.to_dicts(), strict=True):
        assert g["severity"] == pytest.approx(w["severity"], rel=1e-12)
        assert {k: g[k] for k in w if k != "severity"} == {
            k: v for k, v in w.items() if k != "severity"
        }
    assert Found.from_frame(frame).newest_ids(3) == newest_first["id"].head(3).to_list()


def test_a_quiet_month_is_not_certainty_that_nothing_happens() -> None:
    """The nearby member for a count was a plug-in Poisson: no event in 30 days put it at the
    0.1% floor, where events then came 6% of the time (log skill -52% in the backtest)."""
    from sitroom.domain.risk.members import nearby_count

    day = 86_400_000

    def p(events: int) -> float:
        conflict = {"conflict": "c", "events": events, "fatalities": 0, "nearest_m": 1.0,
                    "near": "x", "severity": 1.0, "last_ms": 0, "ids": []}  # fmt: skip
        found = [conflict] if events else []
        member = nearby_count(found, span_ms=30 * day, length_ms=90 * day, left_ms=90 * day,
                              so_far=0, threshold=1, radius="500mi", evidence=[])  # fmt: skip
        return member.p

    quiet, busy = p(0), p(30)
    assert 0.05 < quiet < 0.5  # uncertain, not the floor
    assert busy > 0.99 and p(3) < busy  # more recent events, more expected
