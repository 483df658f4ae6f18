"""One forecast of one question, from the risk state as it stands: every member, the aggregate,
the spread and the flags, as a record payload.

Pure: the time is an argument, and everything read comes from the projections, so a forecast
made live and one made in a backtest or a replay at the same point are the same forecast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sitroom.domain.risk import members as m
from sitroom.domain.risk.ensemble import (
    DEFAULT_METHOD,
    DISAGREEMENT,
    aggregate,
    disagreement,
    spread,
)
from sitroom.domain.risk.evidence import Found
from sitroom.domain.risk.questions import COUNT, Question
from sitroom.domain.risk.state import RiskState
from sitroom.domain.timeutil import MS_PER_DAY, human_age

PAST_WINDOWS = 12  # the event-count member's history, in windows of the question's length
NEARBY_MS = m.NEARBY_DAYS * MS_PER_DAY
EVIDENCE_KEPT = 200  # ids a member keeps as evidence: the newest of those it read


def forecast(
    q: Question,
    state: RiskState,
    channels: Mapping[str, Any] | None,
    now_ms: int,
    *,
    method: str = DEFAULT_METHOD,
    threshold: float = DISAGREEMENT,
    triggered_by: Sequence[str] = (),
    near: Region | None = None,
) -> dict[str, Any]:
    """``near``: the question's region, when the caller has already queried it."""
    members = (
        count_members(q, state, now_ms, near)
        if q.shape == COUNT
        else binary_members(q, state, channels, now_ms, near)
    )
    members += analyst_members(q, state)
    limit = q.disagreement if q.disagreement is not None else threshold
    split = disagreement(members, limit)
    before = state.forecasts.get(q.id)
    flags = []
    if split:
        flags.append("disagreement")
    if len(members) == 1:
        flags.append("single member")
    base = next((x for x in members if x.kind == "base_rate"), None)
    if base is not None and base.detail["of"] < 5 and not any(x.kind == "analyst" for x in members):
        flags.append("thin data")
    return {
        "question": q.id,
        "shape": q.shape,
        "members": [x.as_payload() for x in members],
        "aggregate": aggregate(members, method),
        "spread": spread(members),
        "disagreement": split,
        "was_disagreeing": bool(before and before.get("disagreement")),
        "flags": flags,
        "triggered_by": list(triggered_by)[:EVIDENCE_KEPT],
        "changes": changes(before, members, triggered_by),
        "newest_evidence_ms": state.newest_ms(members),
    }


def changes(
    before: Mapping[str, Any] | None, members: Sequence[m.Member], triggers: Sequence[str]
) -> list[dict[str, Any]]:
    """Each member whose probability moved since the last forecast, with the triggering
    records that are part of its evidence: which event moved it."""
    old = {x["name"]: x["p"] for x in (before or {}).get("members", [])}
    fired = set(triggers)
    out = []
    for x in members:
        was = old.get(x.name)
        if was is not None and abs(was - x.p) < 1e-9:
            continue
        out.append(
            {
                "member": x.name,
                "from": was,
                "to": x.p,
                "moved_by": [i for i in x.evidence if i in fired],
            }
        )
    return out


@dataclass(frozen=True)
class Region:
    """What a question's members read of the conflict events near it, from one region query
    over the union of their windows: the question's own window so far, its past windows
    (count questions only) and the last :data:`~sitroom.domain.risk.members.NEARBY_DAYS`."""

    inside: Found
    history: Found
    recent: Found
    past_windows: int  # whole past windows of the question's length in ``history``
    base_ms: int  # where the past windows end: the window's start, or now if it has begun

    def counts(self, length_ms: int) -> npt.NDArray[np.int64]:
        """The count of each past window, oldest first."""
        k = (self.base_ms - 1 - self.history.valid_from) // length_ms
        n = self.past_windows
        out: npt.NDArray[np.int64] = np.bincount(k, minlength=n)[:n][::-1]
        return out


def region(q: Question, state: RiskState, now_ms: int) -> Region:
    known = now_ms + 1  # events valid at or before now
    recent_from = known - NEARBY_MS
    if not q.places:
        empty = state.events.near((), q.radius_m, known, known)
        return Region(empty, empty, empty, 0, known)
    if q.shape != COUNT:
        recent = state.events.near(q.places, q.radius_m, recent_from, known)
        recent = recent.of_quads(q.quad_classes)
        none = recent.where(np.zeros(len(recent), bool))
        return Region(none, none, recent, 0, known)
    assert q.window_from_ms is not None and q.deadline_ms is not None
    start, end = q.window_from_ms, q.deadline_ms
    length = end - start
    # Past windows end where the question's window starts, or now if it has not started.
    base = min(known, start)
    first = state.events.first_ms
    n = 0 if first is None else int(min(PAST_WINDOWS, max(0, (base - first) // length)))
    lo = min(base - n * length, recent_from)
    found = state.events.near(q.places, q.radius_m, lo, known).of_quads(q.quad_classes)
    return Region(
        inside=found.during(start, min(known, end)),
        history=found.during(base - n * length, base),
        recent=found.during(recent_from, known),
        past_windows=n,
        base_ms=base,
    )


def count_members(
    q: Question, state: RiskState, now_ms: int, near: Region | None = None
) -> list[m.Member]:
    assert q.window_from_ms is not None and q.deadline_ms is not None and q.threshold is not None
    near = near or region(q, state, now_ms)
    start, end, T = q.window_from_ms, q.deadline_ms, q.threshold
    length = end - start
    where = f"within {q.radius_text} of {q.places[0].name}"
    so_far = len(near.inside)
    left_ms = max(0, end - max(now_ms + 1, start))
    bins = near.counts(length)
    if q.reference is not None:
        ref = q.reference
        base_rate = m.base_rate(ref.hits, ref.of, q.prior, ref.name)
    else:
        hits = int((bins >= T).sum())
        reference = f"the past windows of {human_age(length)} {where}"
        base_rate = m.base_rate(hits, len(bins), q.prior, reference)
    counted = m.event_count(
        bins.tolist(),
        fraction_left=left_ms / length,
        so_far=so_far,
        threshold=T,
        evidence=[
            *near.inside.newest_ids(EVIDENCE_KEPT),
            *near.history.newest_ids(EVIDENCE_KEPT),
        ],
        region=where,
    )
    nearby = m.nearby_count(
        m.conflicts(near.recent, q.radius_m),
        span_ms=NEARBY_MS,
        length_ms=length,
        left_ms=left_ms,
        so_far=so_far,
        threshold=T,
        radius=q.radius_text,
        evidence=near.recent.newest_ids(EVIDENCE_KEPT),
    )
    return [base_rate, counted, nearby]


def binary_members(
    q: Question,
    state: RiskState,
    channels: Mapping[str, Any] | None,
    now_ms: int,
    near: Region | None = None,
) -> list[m.Member]:
    ref = q.reference
    base = (
        m.base_rate(ref.hits, ref.of, q.prior, ref.name)
        if ref is not None
        else m.base_rate(0, 0, q.prior, "no reference class named")
    )
    out = [base]
    if q.places:
        recent = (near or region(q, state, now_ms)).recent
        found = m.conflicts(recent, q.radius_m)
        evidence = recent.newest_ids(EVIDENCE_KEPT)
        out.append(m.nearby_meeting(found, base.p, q.radius_text, evidence))
    watched = watched_channels(q, state, channels)
    if watched and channels is not None:
        out.append(m.channel_health(base.p, *channel_states(channels, watched)))
    return out


def watched_channels(
    q: Question, state: RiskState, channels: Mapping[str, Any] | None
) -> list[str]:
    """The question's channels, or those to the counterparts that are its track's parties."""
    if q.channels or channels is None:
        return list(q.channels)
    parties = set(state.parties.get(q.track or "", ()))
    return sorted(c for c, v in channels["channels"].items() if v.get("counterpart") in parties)


def channel_states(
    channels: Mapping[str, Any], watched: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    states = []
    for c in watched:
        s = channels["states"].get(c, {})
        decl = channels["channels"].get(c, {})
        states.append(
            {
                "channel": c,
                "label": decl.get("name") or c,
                "liveness": (s.get("liveness") or {}).get("new"),
                "breaker": (s.get("breaker") or {}).get("new"),
                "records": [v["record"] for v in s.values()],
            }
        )
    overdue = [
        msg["message"]
        for msg in channels["messages"].values()
        if msg.get("overdue_alerted")
        and msg.get("replied_ms") is None
        and msg["channel"] in watched
    ]
    return states, overdue


def analyst_members(q: Question, state: RiskState) -> list[m.Member]:
    return [
        m.analyst(name, j["p"], j["rationale"], state.analyst_weight(name), j)
        for name, j in sorted(state.judgments.get(q.id, {}).items())
    ]
