"""The ensemble's members: each turns what the log holds into a probability, and says why.

- **base rate**: a Beta–binomial over a reference class the user names (or, for a count
  question, the region's own past windows), with the prior explicit and the data behind it
  counted. The member for questions with little data.
- **event count**: a negative binomial for the number of conflict events in the question's
  window, from the region's past windows as known at the forecast time. Its mean is the
  Poisson–Gamma posterior (a Gamma prior on the rate, recent windows weighted more); its
  dispersion is the smaller of that posterior's and the windows' own overdispersion, so a
  region whose violence comes in bursts gets the fat tail it has shown.
- **nearby conflicts**: every conflict with an event within the radius in the last weeks, each
  listed with what it adds. For a meeting it lowers the odds from the base rate by the
  conflicts' severity (nearer, deadlier, more events: worse); for a count it projects the
  conflicts' recent events over the rest of the window, through the event count's Gamma prior
  on the rate (a negative binomial, so a quiet month is not certainty).
- **channel health**: a silent counterpart, a suspect path or an open breaker on the track's
  channels lowers the odds that a meeting happens.
- **analysts**: each analyst's latest probability, weighted by their record on resolved
  questions.

Every member's probability is kept within [0.001, 0.999]: no model here can justify certainty,
and a log score must stay finite. The coefficients below are judgments, named so they can be
read and changed, and the backtest (``sitroom backtest``) scores them against climatology.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sitroom.domain.risk.evidence import Found

P_MIN, P_MAX = 0.001, 0.999
RATE_PRIOR = (0.5, 1.0)  # Gamma(shape, rate) on events per window: half an event, one window
HALF_LIFE_WINDOWS = 4.0  # a window's weight halves every this many windows back
NEARBY_DAYS = 30  # "concurrent": an event within the radius in this many days
NEARBY_LOG_ODDS = 0.5  # log-odds a meeting loses per unit of log(1 + severity)
LISTED_IDS = 10  # ids shown per conflict in a forecast's detail
# Log-odds a meeting loses for each state of a channel it depends on.
CHANNEL_PENALTY = {
    ("liveness", "suspect_peer"): 1.2,  # the counterpart is silent, the intermediary agrees
    ("liveness", "suspect_path"): 0.4,  # the path is down, the counterpart was heard via others
    ("breaker", "open"): 0.8,
    ("breaker", "half_open"): 0.3,
}
OVERDUE_PENALTY = 0.5  # per reply overdue against the counterpart's habits (at most three)


@dataclass(frozen=True)
class Member:
    name: str
    kind: str  # base_rate | event_count | nearby | channels | analyst
    p: float
    drivers: str  # one sentence: what drives this probability
    weight: float = 1.0
    evidence: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    # For count questions, the predictive distribution of the window's count: offset (events
    # already in the window) plus a negative binomial (dispersion None: Poisson).
    dist: Mapping[str, Any] | None = None

    def as_payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "p": self.p,
            "weight": self.weight,
            "drivers": self.drivers,
            "evidence": list(self.evidence),
            "detail": dict(self.detail),
            "dist": dict(self.dist) if self.dist else None,
        }


def clip(p: float) -> float:
    return float(min(P_MAX, max(P_MIN, p)))


def logit(p: float) -> float:
    p = clip(p)
    return math.log(p / (1 - p))


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def pct(p: float) -> str:
    return f"{100 * p:.0f}%"


# -- base rate ------------------------------------------------------------------------------


def base_rate(hits: int, of: int, prior: tuple[float, float], reference: str) -> Member:
    a, b = prior
    post = (a + hits, b + of - hits)
    p = post[0] / (post[0] + post[1])
    backing = f"{hits} of {of} in {reference}" if of else f"no cases: the prior alone ({reference})"
    return Member(
        name="base rate",
        kind="base_rate",
        p=clip(p),
        drivers=f"{backing}; prior Beta({a:g}, {b:g}) → posterior Beta({post[0]:g}, {post[1]:g})",
        detail={
            "reference": reference,
            "hits": hits,
            "of": of,
            "prior": [a, b],
            "prior_mean": a / (a + b),
            "posterior": list(post),
            "posterior_sd": math.sqrt(post[0] * post[1] / ((a + b + of) ** 2 * (a + b + of + 1))),
        },
    )


# -- event count ----------------------------------------------------------------------------


def nb_tail(threshold: int, mean: float, dispersion: float | None) -> float:
    """P(X >= threshold) for X negative binomial (Poisson when dispersion is None)."""
    if threshold <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    from scipy import special  # imported here: a room that never forecasts a count never pays

    # The tails as regularised incomplete gamma and beta functions (the identities behind
    # scipy.stats' sf), without the argument checking that costs fifty times the arithmetic.
    if dispersion is None:
        return float(special.gammainc(threshold, mean))  # P(Poisson(mean) >= threshold)
    return float(special.betainc(threshold, dispersion, mean / (dispersion + mean)))


def event_count(
    bins: Sequence[int],
    *,
    fraction_left: float,
    so_far: int,
    threshold: int,
    evidence: Sequence[str],
    region: str,
) -> Member:
    """``bins``: events in each past window of the question's length, oldest first, as known;
    ``fraction_left``: how much of the question's window is still to come (1 before it opens);
    ``so_far``: matching events already in the window."""
    c = np.asarray(bins, dtype=np.float64)
    w = 0.5 ** (np.arange(len(c))[::-1] / HALF_LIFE_WINDOWS)
    shape = RATE_PRIOR[0] + float(w @ c)
    rate = RATE_PRIOR[1] + float(w.sum())
    mean = fraction_left * shape / rate
    dispersion: float | None = shape if mean > 0 else None
    overdispersed = None
    if len(c) >= 3 and w.sum() > 0:
        m = float(w @ c / w.sum())
        v = float(w @ (c - m) ** 2 / w.sum())
        if m > 0 and v > m:
            overdispersed = m * m / (v - m) * max(fraction_left, 1e-9)
            dispersion = min(dispersion or math.inf, overdispersed)
    p = 1.0 if so_far >= threshold else nb_tail(threshold - so_far, mean, dispersion)
    family = "Poisson" if dispersion is None else f"negative binomial (size {dispersion:.2g})"
    return Member(
        name="event count",
        kind="event_count",
        p=clip(p),
        drivers=(
            f"{so_far} events so far; {mean:.1f} more expected ({family}) from "
            f"{int(c.sum())} events in the {len(c)} past windows {region}"
        ),
        evidence=tuple(evidence),
        detail={
            "bins": [int(x) for x in c],
            "weights": [round(float(x), 4) for x in w],
            "so_far": so_far,
            "fraction_left": round(fraction_left, 6),
            "posterior_rate": [shape, rate],
            "overdispersion_size": overdispersed,
        },
        dist={"offset": so_far, "mean": mean, "dispersion": dispersion},
    )


# -- nearby conflicts -----------------------------------------------------------------------


def conflicts(recent: Found, radius_m: float) -> list[dict[str, Any]]:
    """The concurrent conflicts in ``recent``, gravest first: events, fatalities, nearest
    distance, the place nearest the newest event, the newest ids, and a severity that weighs
    each event by nearness (1 at the venue, 0 at the radius) and by its deaths."""
    if not len(recent):
        return []
    severity = np.clip(1 - recent.dist_m / radius_m, 0, 1) * (1 + np.log1p(recent.fatalities))
    # By conflict, newest first within each (the later-added first among equal times).
    order = np.lexsort((-recent.rows, -recent.valid_from, recent.conflict))
    code = recent.conflict[order]
    breaks = np.flatnonzero(code[1:] != code[:-1]) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(order)]))
    heads = order[starts]
    # The newest ids of every conflict in one gather, then cut per conflict: a gather per
    # conflict cost more than the grouping (forecasts list dozens of conflicts).
    shown = np.minimum(ends - starts, LISTED_IDS)
    cut = np.cumsum(shown)
    picked = np.repeat(starts - (cut - shown), shown) + np.arange(int(cut[-1]))
    ids = recent.all_ids[recent.rows[order[picked]]].tolist()
    groups = [
        {
            "conflict": recent.labels[c],
            "events": e - s,
            "fatalities": f,
            "nearest_m": d,
            "near": recent.places[near],
            "severity": v,
            "last_ms": t,
            "ids": ids[i - k : i],
        }
        for s, e, i, k, c, f, d, v, t, near in zip(
            starts.tolist(),
            ends.tolist(),
            cut.tolist(),
            shown.tolist(),
            code[starts].tolist(),
            np.add.reduceat(recent.fatalities[order], starts).tolist(),
            np.minimum.reduceat(recent.dist_m[order], starts).tolist(),
            np.add.reduceat(severity[order], starts).tolist(),
            recent.valid_from[heads].tolist(),
            recent.nearest[heads].tolist(),
            strict=True,
        )
    ]
    return sorted(groups, key=lambda g: (-g["severity"], g["conflict"]))


def nearby_meeting(
    found: list[dict[str, Any]], anchor: float, radius: str, evidence: Sequence[str]
) -> Member:
    """A meeting's odds, lowered from ``anchor`` by each concurrent conflict."""
    cuts = [NEARBY_LOG_ODDS * math.log1p(g["severity"]) for g in found]
    odds = logit(anchor) - sum(cuts)
    p = expit(odds)
    listed = []
    for g, cut in zip(found, cuts, strict=True):
        without = expit(odds + cut)
        listed.append(_listed(g, contribution=p - without, log_odds=-cut))
    return Member(
        name="nearby conflicts",
        kind="nearby",
        p=clip(p),
        drivers=_nearby_drivers(found, listed, radius, f"from the base rate's {pct(anchor)}"),
        evidence=tuple(evidence),
        detail={"anchor": anchor, "days": NEARBY_DAYS, "conflicts": listed},
    )


def nearby_count(
    found: list[dict[str, Any]],
    *,
    span_ms: int,
    length_ms: int,
    left_ms: int,
    so_far: int,
    threshold: int,
    radius: str,
    evidence: Sequence[str],
    prior: tuple[float, float] = RATE_PRIOR,
) -> Member:
    """A window's count from the concurrent conflicts' events of the last ``span_ms``: they
    update ``prior``, a Gamma on the rate per window of ``length_ms`` (the event-count
    member's prior: half an event in one window), and the negative binomial predictive runs
    over the ``left_ms`` still to come. So a quiet month is not read as certainty that nothing
    happens. (The plug-in Poisson it replaces put 92% of its forecasts at the floor while
    events came in 6% of those windows: log skill -52% in the backtest, now +7%. Starting from
    the event count's posterior instead scored worse: +4%.)"""
    events = sum(g["events"] for g in found)
    shape, rate = prior[0] + events, prior[1] + span_ms / length_ms
    fraction = left_ms / length_ms
    mean = fraction * shape / rate

    def tail(without: int) -> float:
        if so_far >= threshold:
            return 1.0
        n = shape - without
        return nb_tail(threshold - so_far, fraction * n / rate, n)

    p = tail(0)
    listed = [
        _listed(g, contribution=p - tail(g["events"]), expected=fraction * g["events"] / rate)
        for g in found
    ]
    return Member(
        name="nearby conflicts",
        kind="nearby",
        p=clip(p),
        drivers=_nearby_drivers(found, listed, radius, f"{mean:.1f} more events expected"),
        evidence=tuple(evidence),
        detail={
            "days": NEARBY_DAYS,
            "conflicts": listed,
            "so_far": so_far,
            "posterior_rate": [shape, rate],
        },
        dist={"offset": so_far, "mean": mean, "dispersion": shape},
    )


def _listed(g: Mapping[str, Any], **extra: float) -> dict[str, Any]:
    out = {
        "conflict": g["conflict"],
        "events": g["events"],
        "fatalities": g["fatalities"],
        "nearest_km": round(g["nearest_m"] / 1000, 1),
        "near": g["near"],
        "severity": round(g["severity"], 3),
        "last_ms": g["last_ms"],
        "ids": g["ids"],  # the newest few, to show
    }
    for k, v in extra.items():  # a loop, not a merged comprehension: dozens per forecast
        out[k] = round(v, 6)
    return out


def _nearby_drivers(
    found: list[dict[str, Any]], listed: list[dict[str, Any]], radius: str, then: str
) -> str:
    if not found:
        return f"no conflict event within {radius} in the last {NEARBY_DAYS} days; {then}"
    top = ", ".join(
        f"{x['conflict']} ({x['events']} events, nearest {x['nearest_km']:.0f} km, "
        f"{100 * x['contribution']:+.0f} pts)"
        for x in listed[:3]
    )
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return f"{len(found)} conflicts within {radius}: {top}{more}; {then}"


# -- channel health -------------------------------------------------------------------------


def channel_health(
    anchor: float, states: Sequence[Mapping[str, Any]], overdue: Sequence[str]
) -> Member:
    """``states``: per channel {"channel", "label", "liveness", "breaker", "records"};
    ``overdue``: ids of the messages whose reply is overdue."""
    cuts, said, evidence = [], [], []
    for s in states:
        for aspect in ("liveness", "breaker"):
            cut = CHANNEL_PENALTY.get((aspect, s.get(aspect) or ""))
            if cut:
                cuts.append(cut)
                said.append(f"{s['label']} {s[aspect].replace('_', ' ')}")
        evidence += list(s.get("records") or ())
    if overdue:
        cuts.append(OVERDUE_PENALTY * min(len(overdue), 3))
        said.append(f"{len(overdue)} replies overdue")
    p = expit(logit(anchor) - sum(cuts))
    names = ", ".join(s["label"] for s in states)
    drivers = (
        f"{'; '.join(said)}: {pct(anchor)} → {pct(p)}"
        if said
        else f"{names}: healthy; the base rate's {pct(anchor)} stands"
    )
    return Member(
        name="channel health",
        kind="channels",
        p=clip(p),
        drivers=drivers,
        evidence=tuple(evidence),
        detail={"anchor": anchor, "channels": [dict(s) for s in states], "overdue": list(overdue)},
    )


# -- analysts -------------------------------------------------------------------------------


def analyst(
    name: str, p: float, rationale: str, weight: float, record: Mapping[str, Any]
) -> Member:
    return Member(
        name=f"analyst {name}",
        kind="analyst",
        p=clip(p),
        weight=weight,
        drivers=rationale or "(no rationale given)",
        evidence=(record["id"],),
        detail={"by": name, "judged_ms": record["at_ms"], "track_record": dict(record)},
    )


def analyst_weight(relative: Sequence[float]) -> float:
    """Weight from an analyst's record on resolved questions, each their Brier against the
    models' on the same question (1: as good as the models): the inverse of its mean, shrunk
    towards 1 while the record is short (three questions count as much as the prior), within
    [0.2, 5]."""
    if not relative:
        return 1.0
    raw = 1.0 / max(float(np.mean(relative)), 0.01)
    n = len(relative)
    return float(min(5.0, max(0.2, (n * raw + 3 * 1.0) / (n + 3))))
