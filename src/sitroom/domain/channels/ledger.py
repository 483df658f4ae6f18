"""What the log knows of the channels, and the alerts it raises from them.

``ChannelsProjection`` folds the channel records into one state: the declared channels, every
message with its attempts, channels, ack and reply, the outcomes the breakers learn from, the
last breaker and liveness change of each channel, each counterpart's replies, and the messages
received here. ``ChannelDetector`` alerts on a failover (the escalation path in words), a
breaker that opens, a channel that falls silent, an urgent message dropped, and, on the clock,
a reply overdue against the counterpart's own habits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from sitroom.domain.channels.breaker import Outcome
from sitroom.domain.channels.courier import Link
from sitroom.domain.channels.habits import Overdue, ReplyHabits
from sitroom.domain.channels.priority import Priority
from sitroom.domain.kinds import (
    ALERT,
    CHANNEL,
    CHANNEL_ACK,
    CHANNEL_DROP,
    CHANNEL_FAILOVER,
    CHANNEL_KINDS,
    CHANNEL_RECEIVE,
    CHANNEL_REPLY,
    CHANNEL_RETRY,
    CHANNEL_SEND,
    CHANNEL_STATE,
)
from sitroom.domain.projection import AlertDraft, Sees, joint, keep
from sitroom.domain.records import RecordBatch
from sitroom.domain.timeutil import iso

CHANNELS = "channels"
OUTCOMES_KEPT = 100  # per channel: enough for the breaker, whose evidence halves every week
REPLIES_KEPT = 50  # per counterpart: the habits' window


class ChannelsProjection:
    name = CHANNELS
    version = 1
    kinds: tuple[str, ...] | None = (*CHANNEL_KINDS, ALERT)

    def initial(self) -> dict[str, Any]:
        return {
            "channels": {},
            "messages": {},
            "outcomes": {},
            "states": {},
            "replies": {},
            "received": {},
        }

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        msgs = state["messages"]
        for r in batch.rows():
            p = r.payload
            if r.kind == CHANNEL:
                state["channels"][p["id"]] = {**p, "record": r.id}
            elif r.kind == CHANNEL_SEND:
                msgs[p["message"]] = {
                    **p,
                    "record": r.id,
                    "status": "pending",
                    "attempts": 1,
                    "channels": [p["channel"]],
                    "evidence": [r.id],
                }
            elif r.kind in (CHANNEL_RETRY, CHANNEL_FAILOVER):
                m = msgs.get(p["message"])
                after = p.get("after")
                if after:
                    _outcome(state, p["from"] if "from" in p else p["channel"], after, r.valid_from)
                if m is None:
                    continue
                m["attempts"] = max(m["attempts"], p["attempt"])
                m["evidence"].append(r.id)
                if r.kind == CHANNEL_FAILOVER:
                    m["channels"].append(p["to"])
            elif r.kind == CHANNEL_ACK:
                _outcome(state, p["channel"], Outcome.SUCCESS.value, r.valid_from)
                m = msgs.get(p["message"])
                if m is not None:
                    m.update(status="acked", acked_ms=r.valid_from, ack_channel=p["channel"])
                    m["evidence"].append(r.id)
            elif r.kind == CHANNEL_DROP:
                m = msgs.get(p["message"])
                if m is not None:
                    m.update(status="dropped", dropped_reason=p["reason"])
                    m["evidence"].append(r.id)
            elif r.kind == CHANNEL_REPLY:
                m = msgs.get(p["message"])
                if m is None or m.get("replied_ms") is not None:
                    continue
                m.update(replied_ms=r.valid_from, reply_record=r.id)
                kept = state["replies"].setdefault(m["counterpart"], [])
                kept.append([m["sent_ms"], r.valid_from, m["channel"]])
                del kept[:-REPLIES_KEPT]
            elif r.kind == CHANNEL_STATE:
                state["states"].setdefault(p["channel"], {})[p["aspect"]] = {
                    **p,
                    "at_ms": r.valid_from,
                    "record": r.id,
                }
                if p.get("reset"):  # closed by hand: the breaker is rebuilt from nothing
                    state["outcomes"][p["channel"]] = []
            elif r.kind == CHANNEL_RECEIVE:
                state["received"].setdefault(p["message"], {**p, "record": r.id})
            elif r.kind == ALERT and p.get("detector") == CHANNELS:
                m = msgs.get((p.get("detail") or {}).get("message", ""))
                if m is not None and p["key"].startswith("overdue:"):
                    m["overdue_alerted"] = True
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """A channel serving a track is in the track's compartment, and so is everything
        sent, received, learnt or decided on it."""
        shown = {c for c, link in state["channels"].items() if sees(link.get("track") or "")}

        def on_shown(_: str, m: Mapping[str, Any]) -> bool:
            return m.get("channel") in shown

        return {
            "channels": keep(state["channels"], lambda c, _: c in shown),
            "messages": keep(state["messages"], on_shown),
            "outcomes": keep(state["outcomes"], lambda c, _: c in shown),
            "states": keep(state["states"], lambda c, _: c in shown),
            "replies": {
                who: kept
                for who, replies in state["replies"].items()
                if (kept := [r for r in replies if r[2] in shown])
            },
            "received": keep(state["received"], on_shown),
        }

    def encode(self, state: Any) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _outcome(state: dict[str, Any], channel: str, outcome: str, at: int | None) -> None:
    kept = state["outcomes"].setdefault(channel, [])
    kept.append([outcome, at or 0])
    del kept[:-OUTCOMES_KEPT]


# -- reading the state ----------------------------------------------------------------------


def links(state: Mapping[str, Any]) -> list[Link]:
    return [Link.from_payload(c) for c in state["channels"].values()]


def _failovers(state: Mapping[str, Any], batch: RecordBatch) -> list[AlertDraft]:
    """One alert per failover episode and priority, not per message: the FLASH messages a
    channel's open breaker or silence sends to its redundant channel are one event, and its
    IMMEDIATE ones another (a storm sent hundreds of alerts). A failover for missed acks on a
    channel still in service stays one alert per message."""
    groups: dict[str, list[Any]] = {}
    for r in batch.rows():
        p = r.payload
        cause = _out_of_service(state, p["from"])
        key = (
            f"failover:{p['from']}:{p['to']}:{p['priority']}:{cause}"
            if cause
            else f"failover:{p['message']}:{p['attempt']}"
        )
        groups.setdefault(key, []).append(r)
    drafts = []
    for key, rs in groups.items():
        p = rs[0].payload
        first = state["messages"].get(p["message"], {})
        route = f"from {label(state, p['from'])} to {label(state, p['to'])}"
        title = (
            f"{p['priority']} message {p['message']} escalated {route}: {p['reason']}"
            if len(rs) == 1
            else f"{len(rs)} messages escalated {route} (first {p['priority']} {p['message']}): "
            f"{p['reason']}"
        )
        drafts.append(
            AlertDraft(
                detector=CHANNELS,
                key=key,
                title=title,
                severity="warning",
                evidence=[e for e in (first.get("record"), *(r.id for r in rs[:20])) if e],
                triggered_by=[r.id for r in rs[:20]],
                detail={
                    **p,
                    "escalation": " → ".join(p["path"]),
                    "messages": [r.payload["message"] for r in rs[:50]],
                    "count": len(rs),
                },
                compartment=_tracks_of(state, p["from"], p["to"]),
            )
        )
    return drafts


def _tracks_of(state: Mapping[str, Any], *channels: str) -> str:
    """The compartment of what happened on these channels: a channel serving a track is in
    the track's (``restrict``), and a failover from one track's channel to another's in
    both."""
    links = state["channels"]
    return joint(str((links.get(c) or {}).get("track") or "") for c in channels)


def _out_of_service(state: Mapping[str, Any], channel: str) -> str | None:
    """The record of the state change that took ``channel`` out of service (its breaker
    open, or its liveness not alive), or None while it is in service."""
    states = state["states"].get(channel, {})
    breaker, liveness = states.get("breaker", {}), states.get("liveness", {})
    if breaker.get("new") == "open":
        return str(breaker["record"])
    if liveness.get("new") not in (None, "alive"):
        return str(liveness["record"])
    return None


def outcomes(state: Mapping[str, Any]) -> Iterator[tuple[str, Outcome, int]]:
    """Every recorded outcome, per channel, oldest first: what the breakers are rebuilt from."""
    for channel, kept in state["outcomes"].items():
        for outcome, at in kept:
            yield channel, Outcome(outcome), at


def habits(state: Mapping[str, Any], counterpart: str, channel: str) -> ReplyHabits:
    """A counterpart's reply habits, in the working week of the channel a message went on."""
    c = state["channels"].get(channel)
    week = Link.from_payload(c).week if c else Link(channel, counterpart).week
    h = ReplyHabits(counterpart, week)
    for sent, replied, _ in state["replies"].get(counterpart, []):
        h = h.observe(sent, replied)
    return h


def awaiting(state: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Messages that wait for a reply: sent, not dropped, asked to be answered, not answered."""
    for m in state["messages"].values():
        if (
            m.get("await_reply")
            and m.get("replied_ms") is None
            and m["status"] != "dropped"
            and m.get("counterpart")
        ):
            yield m


def overdue(state: Mapping[str, Any], m: Mapping[str, Any], now_ms: int) -> Overdue | None:
    h = habits(state, m["counterpart"], m["channel"])
    return h.overdue(m["sent_ms"], now_ms, m.get("reply_by_ms"))


def label(state: Mapping[str, Any], channel: str) -> str:
    c = state["channels"].get(channel)
    return (c.get("name") or channel) if c else channel


# -- alerts ---------------------------------------------------------------------------------


def _worse(p: Mapping[str, Any]) -> bool:
    """A breaker that opens, or a channel that falls silent or whose peer becomes suspect; not
    a silent channel whose intermediary now vouches for the peer (that is better news)."""
    if p["aspect"] == "breaker":
        return bool(p["new"] == "open")
    return bool(p["new"] == "suspect_peer" or (p["new"] == "suspect_path" and p["old"] == "alive"))


class ChannelDetector:
    """Failovers, opened breakers, silent channels and dropped urgent messages as they are
    recorded; overdue replies as the clock passes their counterpart's bound."""

    name = CHANNELS
    reads: tuple[str, ...] = (CHANNELS,)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        state = views[CHANNELS]
        drafts = _failovers(state, batch.of_kinds([CHANNEL_FAILOVER]))
        for r in batch.of_kinds([CHANNEL_STATE, CHANNEL_DROP]).rows():
            p = r.payload
            if r.kind == CHANNEL_STATE and _worse(p):
                what = "breaker opened" if p["aspect"] == "breaker" else "falls silent"
                drafts.append(
                    AlertDraft(
                        detector=CHANNELS,
                        key=f"{p['aspect']}:{r.id}",
                        title=f"{label(state, p['channel'])} {what}: {p['reason']}",
                        severity="critical" if p["new"] == "suspect_peer" else "warning",
                        evidence=[r.id],
                        triggered_by=[r.id],
                        detail=dict(p),
                        compartment=_tracks_of(state, p["channel"]),
                    )
                )
            elif r.kind == CHANNEL_DROP and Priority[p["priority"]] > Priority.ROUTINE:
                drafts.append(
                    AlertDraft(
                        detector=CHANNELS,
                        key=f"drop:{p['message']}",
                        title=f"{p['priority']} message {p['message']} dropped: {p['reason']}",
                        severity="critical",
                        evidence=[r.id],
                        triggered_by=[r.id],
                        detail=dict(p),
                        compartment=_tracks_of(state, p["channel"]),
                    )
                )
        return drafts

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        state = views[CHANNELS]
        drafts = []
        for m in awaiting(state):
            if m.get("overdue_alerted"):
                continue
            late = overdue(state, m, now_ms)
            if late is None:
                continue
            drafts.append(
                AlertDraft(
                    detector=CHANNELS,
                    key=f"overdue:{m['message']}",
                    title=f"Reply overdue from {late.counterpart} to {m['message']}: "
                    f"{late.explanation}",
                    severity="warning",
                    evidence=[m["record"]],
                    detail={
                        "message": m["message"],
                        "counterpart": late.counterpart,
                        "reason": late.reason.value,
                        "sent_at": iso(m["sent_ms"]),
                        "elapsed_working_ms": late.elapsed_working_ms,
                        "bound_ms": late.bound_ms,
                        "explanation": late.explanation,
                    },
                    compartment=_tracks_of(state, m["channel"]),
                )
            )
        return drafts

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        state = views[CHANNELS]
        dues = []
        for m in awaiting(state):
            if m.get("overdue_alerted"):
                continue
            h = habits(state, m["counterpart"], m["channel"])
            dues.append(max(now_ms + 1, h.due_ms(m["sent_ms"], m.get("reply_by_ms"))))
        return min(dues, default=None)
