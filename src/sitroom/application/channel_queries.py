"""What the channels look like at a moment: for `sitroom channels` and `sitroom channel status`.
Both answer as of any recorded time, from the log alone."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain.channels import ledger
from sitroom.domain.kinds import CHANNEL_KINDS
from sitroom.domain.provenance import Answer
from sitroom.domain.timeutil import human_age, iso
from sitroom.errors import UserInputError


def channels(engine: Engine, as_of_ms: int | None = None) -> Answer[list[dict[str, Any]]]:
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many([ledger.CHANNELS], at.seq)[ledger.CHANNELS]
    rows = [_channel_row(state, c, at.wall) for c in state["channels"].values()]
    rows.sort(key=lambda r: r["id"])
    return Answer(rows, _provenance(engine, at, None, CHANNEL_KINDS))


def status(
    engine: Engine, target: str | None = None, as_of_ms: int | None = None
) -> Answer[dict[str, Any]]:
    """Every message not yet settled (or one message, or one channel's), with its overdue
    reply if any, and the channels themselves."""
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many([ledger.CHANNELS], at.seq)[ledger.CHANNELS]
    msgs = state["messages"]
    if target is not None and target not in msgs and target not in state["channels"]:
        raise UserInputError(
            f"no channel or message {target!r} (see `sitroom channels`)"
            if state["channels"]
            else "no channels yet (declare one with `sitroom channel add`)"
        )
    if target in msgs:
        chosen = [msgs[target]]
    else:
        chosen = [
            m
            for m in msgs.values()
            if (target is None or target in m["channels"])
            and (m["status"] == "pending" or (m.get("await_reply") and not m.get("replied_ms")))
        ]
    rows = [_message_row(state, m, at.wall) for m in sorted(chosen, key=lambda m: m["sent_ms"])]
    chans = [
        _channel_row(state, c, at.wall)
        for cid, c in sorted(state["channels"].items())
        if target is None or target == cid or any(cid in m["channels"] for m in chosen)
    ]
    value = {
        "channels": chans,
        "messages": rows,
        "received": len(state["received"]),
    }
    return Answer(value, _provenance(engine, at, None, CHANNEL_KINDS))


def _channel_row(state: Mapping[str, Any], c: Mapping[str, Any], now: int) -> dict[str, Any]:
    cid = c["id"]
    states = state["states"].get(cid, {})
    counts = Counter(m["status"] for m in state["messages"].values() if cid in m["channels"])
    h = ledger.habits(state, c["counterpart"], cid)
    learned = h.quantile_ms()
    return {
        "id": cid,
        "name": c.get("name") or cid,
        "counterpart": c["counterpart"],
        "via": c.get("via"),
        "fallback": c.get("fallback"),
        "url": c.get("url"),
        "breaker": states.get("breaker", {}).get("new", "closed"),
        "breaker_reason": states.get("breaker", {}).get("reason"),
        "liveness": states.get("liveness", {}).get("new", "unknown"),
        "liveness_reason": states.get("liveness", {}).get("reason"),
        "pending": counts.get("pending", 0),
        "acked": counts.get("acked", 0),
        "dropped": counts.get("dropped", 0),
        "replies_seen": len(h.replies),
        "reply_bound": _working(h.bound_ms()) + ("" if learned is not None else " (default)"),
        "working_week": h.week.describe(),
    }


def _message_row(state: Mapping[str, Any], m: Mapping[str, Any], now: int) -> dict[str, Any]:
    late = (
        ledger.overdue(state, m, now)
        if m.get("await_reply") and not m.get("replied_ms") and m["status"] != "dropped"
        else None
    )
    return {
        "message": m["message"],
        "channel": m["channel"],
        "path": m["channels"],
        "counterpart": m["counterpart"],
        "priority": m["priority"],
        "status": m["status"],
        "attempts": m["attempts"],
        "sent_at": iso(m["sent_ms"]),
        "acked_at": iso(m.get("acked_ms")),
        "reply_by": iso(m.get("reply_by_ms")),
        "awaits_reply": bool(m.get("await_reply")) and not m.get("replied_ms"),
        "replied_at": iso(m.get("replied_ms")),
        "age": human_age(max(0, now - m["sent_ms"])),
        "overdue": None if late is None else late.explanation,
        "evidence": m["evidence"],
    }


def _working(ms: int) -> str:
    return f"{ms / 3_600_000:.1f} working h"
