"""Aggregation that never hides disagreement, and coherence between linked questions.

Every forecast carries every member, three aggregates and the spread:

- **median** (weighted) — the default. A few members, some of them sharing data, one of them
  possibly far off: the median is the aggregate one member cannot drag, and it never reports a
  probability no member holds between them.
- **mean** (weighted) of the probabilities — a linear opinion pool.
- **extremised log-odds mean** (Satopää et al., 2014): the weighted mean of the members'
  log-odds, multiplied by ``EXTREMISE`` (1.5). It corrects the under-confidence of averaging
  independent, informed forecasters; our members are not independent (the channel and nearby
  members start from the base rate), which is why it is shown but not the default.

When the members' range exceeds the threshold (40 points by default), the forecast is flagged:
the members split where the sorted probabilities have their widest gap, and each side is named
with what drives it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sitroom.domain.risk.members import Member, clip, expit, logit

EXTREMISE = 1.5
DEFAULT_METHOD = "median"
METHODS = ("median", "mean", "extremised")
DISAGREEMENT = 0.40
# Linked probabilities may miss coherence by this much before it is flagged (members round).
COHERENCE_SLACK = 0.02


def weighted_median(p: np.ndarray, w: np.ndarray) -> float:
    """The smallest p at which the cumulative weight reaches half; the midpoint of the two
    middle values when the weight splits exactly in two (the usual median for equal weights)."""
    order = np.argsort(p, kind="stable")
    p, w = p[order], w[order]
    cum = np.cumsum(w) / w.sum()
    i = int(np.searchsorted(cum, 0.5 - 1e-12))
    if math.isclose(cum[i], 0.5, abs_tol=1e-12) and i + 1 < len(p):
        return float((p[i] + p[i + 1]) / 2)
    return float(p[i])


def aggregate(members: Sequence[Member], method: str = DEFAULT_METHOD) -> dict[str, Any]:
    p = np.array([m.p for m in members], dtype=np.float64)
    w = np.array([m.weight for m in members], dtype=np.float64)
    values = {
        "median": weighted_median(p, w),
        "mean": float(w @ p / w.sum()),
        "extremised": expit(EXTREMISE * float(w @ np.array([logit(x) for x in p]) / w.sum())),
    }
    return {
        "method": method,
        "p": clip(values[method]),
        **{k: round(v, 6) for k, v in values.items()},
        "extremise": EXTREMISE,
    }


def spread(members: Sequence[Member]) -> dict[str, Any]:
    p = np.array([m.p for m in members], dtype=np.float64)
    lo, hi = int(p.argmin()), int(p.argmax())
    return {
        "min": float(p[lo]),
        "max": float(p[hi]),
        "range": float(p[hi] - p[lo]),
        "lowest": members[lo].name,
        "highest": members[hi].name,
        "sd": float(p.std()),
    }


def disagreement(members: Sequence[Member], threshold: float) -> dict[str, Any] | None:
    """The two sides when the members' range exceeds ``threshold`` (strictly), else None."""
    if len(members) < 2:
        return None
    ordered = sorted(members, key=lambda m: m.p)
    if ordered[-1].p - ordered[0].p <= threshold:
        return None
    gaps = [b.p - a.p for a, b in itertools.pairwise(ordered)]
    cut = int(np.argmax(gaps)) + 1
    low, high = ordered[:cut], ordered[cut:]

    def side(ms: Sequence[Member]) -> list[dict[str, Any]]:
        return [{"member": m.name, "p": m.p, "drivers": m.drivers} for m in ms]

    return {
        "threshold": threshold,
        "range": ordered[-1].p - ordered[0].p,
        "high": side(high[::-1]),
        "low": side(low),
        "summary": (f"{_names(high)} at {_pcts(high)} against {_names(low)} at {_pcts(low)}"),
    }


def _names(ms: Sequence[Member]) -> str:
    return " and ".join(m.name for m in ms)


def _pcts(ms: Sequence[Member]) -> str:
    return "/".join(f"{100 * m.p:.0f}%" for m in ms)


def incoherence(
    p_x_given_a: float, p_a: float, p_x: float, slack: float = COHERENCE_SLACK
) -> dict[str, Any] | None:
    """P(X) must lie within [P(X|A)P(A), P(X|A)P(A) + 1 - P(A)] (the joint cannot exceed the
    marginal; the rest of X's probability lives outside A). None when it does."""
    lo = p_x_given_a * p_a
    hi = lo + 1 - p_a
    if lo - slack <= p_x <= hi + slack:
        return None
    return {"bounds": [round(lo, 4), round(hi, 4)], "p": p_x}


def monotone(thresholds: Mapping[str, tuple[int, float]]) -> list[tuple[str, str]]:
    """Pairs (a, b) of count questions on the same region and window where a's threshold is
    lower but its probability is lower too: P(N >= 10) cannot exceed P(N >= 5)."""
    items = sorted(thresholds.items(), key=lambda kv: kv[1][0])
    return [
        (a, b)
        for i, (a, (ta, pa)) in enumerate(items)
        for b, (tb, pb) in items[i + 1 :]
        if tb > ta and pb > pa + COHERENCE_SLACK
    ]
