"""One line of words per record, for the after-action report: what a record says, in the
terms a person reviewing the crisis uses ("us-iran → postponed", "FLASH geneva-1 sent on
direct to Tehran"). Pure: it reads a record's kind and payload and nothing else.

Sealed message bodies are never quoted (a channel message's ``body`` on a track's channel is an
envelope's JSON text): the report says that a message went, not what it said.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sitroom.domain.timeutil import human_age

Payload = Mapping[str, Any]


def _pct(p: Any) -> str:
    return f"{float(p):.0%}" if isinstance(p, int | float) else "?"


def _get(p: Payload, *path: str) -> Any:
    value: Any = p
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _alert(p: Payload) -> str:
    return f"[{p.get('severity', '?')}] {p.get('title', '')}"


def _track(p: Payload) -> str:
    return f"track {p.get('id')} ({p.get('name')}) declared, status {p.get('status')}"


def _status(p: Payload) -> str:
    return f"{p.get('track')} → {p.get('status')}"


def _resource(p: Payload) -> str:
    return f"{p.get('type')} {p.get('name')} (capacity {p.get('capacity')})"


def _holding(p: Payload) -> str:
    return f"{p.get('track')} holds {p.get('resource')} ×{p.get('amount', 1)}"


def _meeting(p: Payload) -> str:
    return f"meeting {p.get('id')} of {p.get('track')}: {p.get('title')}"


def _withdrawn(p: Payload) -> str:
    return f"{p.get('what')} {p.get('id')} withdrawn by {p.get('by')}: {p.get('reason')}"


def _schedule(p: Payload) -> str:
    return f"schedule solved ({p.get('status')}): {len(p.get('meetings') or {})} meetings placed"


def _proposed(p: Payload) -> str:
    proposal = p.get("proposal") or {}
    parties = ", ".join(str(x.get("name")) for x in proposal.get("parties") or ())
    return (
        f"agreement {proposal.get('agreement')} ({proposal.get('title')}) proposed by "
        f"{proposal.get('proposer')}; parties {parties}"
    )


def _signed(p: Payload) -> str:
    return f"agreement {p.get('agreement')} signed by {p.get('party')}"


def _withdrew(p: Payload) -> str:
    s = p.get("statement") or {}
    return f"agreement {s.get('agreement')}: {s.get('party')} withdrew ({s.get('reason')})"


def _agreed(p: Payload) -> str:
    parties = ", ".join(str(s.get("party")) for s in p.get("signatures") or ())
    return f"agreement {p.get('agreement')} agreed: signed by {parties}"


def _send(p: Payload) -> str:
    reply = " (a reply awaited)" if p.get("await_reply") else ""
    return (
        f"{p.get('priority')} {p.get('message')} sent on {p.get('channel')} to "
        f"{p.get('counterpart')}{reply}"
    )


def _ack(p: Payload) -> str:
    latency = p.get("latency_ms")
    after = f" after {human_age(int(latency))}" if isinstance(latency, int | float) else ""
    how = " (recorded by hand)" if p.get("manual") else ""
    return f"{p.get('message')} acknowledged on {p.get('channel')}{after}{how}"


def _failover(p: Payload) -> str:
    return f"{p.get('message')} moved from {p.get('from')} to {p.get('to')}: {p.get('reason')}"


def _state(p: Payload) -> str:
    return (
        f"{p.get('channel')} {p.get('aspect')} {p.get('old')} → {p.get('new')}: {p.get('reason')}"
    )


def _retry(p: Payload) -> str:
    return f"{p.get('message')} sent again on {p.get('channel')}: {p.get('reason')}"


def _drop(p: Payload) -> str:
    return (
        f"{p.get('priority')} {p.get('message')} dropped on {p.get('channel')}: {p.get('reason')}"
    )


def _reply(p: Payload) -> str:
    return f"reply to {p.get('message')} recorded"


def _receive(p: Payload) -> str:
    return f"{p.get('priority')} {p.get('message')} received on {p.get('channel')}"


def _channel(p: Payload) -> str:
    via = f" via {p.get('via')}" if p.get("via") else ""
    return f"channel {p.get('id')} to {p.get('counterpart')}{via} declared"


def _question(p: Payload) -> str:
    return f"question {p.get('id')}: {p.get('text')}"


def _judgment(p: Payload) -> str:
    return f"{p.get('by')} judged {p.get('question')} at {_pct(p.get('p'))}"


def _forecast(p: Payload) -> str:
    low, high = _get(p, "spread", "min"), _get(p, "spread", "max")
    flag = "; members disagree" if p.get("disagreement") else ""
    return (
        f"{p.get('question')}: {_pct(_get(p, 'aggregate', 'p'))} "
        f"(range {_pct(low)}–{_pct(high)}){flag}"
    )


def _resolved(p: Payload) -> str:
    return f"{p.get('question')} resolved {p.get('outcome')} by {p.get('by')}: {p.get('reason')}"


def _redline(p: Payload) -> str:
    return f"red line {p.get('name')}: {_get(p, 'rule', 'text')}"


def _grant(p: Payload) -> str:
    return f"{p.get('principal')} cleared for {p.get('compartment')} by {p.get('by')}"


def _revoke(p: Payload) -> str:
    return f"{p.get('principal')} no longer cleared for {p.get('compartment')} ({p.get('by')})"


def _epoch(p: Payload) -> str:
    return f"{p.get('track')} key epoch {p.get('epoch')}: {p.get('reason')}"


def _key_revoked(p: Payload) -> str:
    return f"{p.get('name')}'s key {p.get('fingerprint')} replaced: {p.get('reason')}"


def _denied(p: Payload) -> str:
    return f"{p.get('user')} refused: {p.get('action')} ({p.get('reason')})"


def _rejected(p: Payload) -> str:
    return f"message {p.get('message')} refused ({p.get('reason')}): {p.get('why')}"


def _user(p: Payload) -> str:
    return f"user {p.get('name')} added as {p.get('role')} by {p.get('by')}"


def _claim(p: Payload) -> str:
    return f"{p.get('origin')}: {p.get('subject')} {p.get('property')} = {p.get('value')}"


def _news(p: Payload) -> str:
    return f"{_get(p, 'feed', 'title')}: {p.get('title')}"


def _ucdp(p: Payload) -> str:
    deaths = _get(p, "fatalities", "best")
    return f"{_get(p, 'conflict', 'name')} at {_get(p, 'location', 'where')}: {deaths} killed"


def _acled(p: Payload) -> str:
    return (
        f"{p.get('event_type')} at {_get(p, 'location', 'name')}: "
        f"{p.get('fatalities')} killed ({_get(p, 'actor1', 'name')})"
    )


def _gdelt(p: Payload) -> str:
    a1, a2 = _get(p, "actor1", "name"), _get(p, "actor2", "name")
    what = _get(p, "event", "description") or f"CAMEO {_get(p, 'event', 'code')}"
    where = _get(p, "action_geo", "name")
    return f"{a1 or '?'} → {a2 or '?'}: {what}" + (f" at {where}" if where else "")


def _report(p: Payload) -> str:
    return f"analyst report {p.get('title')} by {p.get('author')}"


WORDS: dict[str, Callable[[Payload], str]] = {
    "alert": _alert,
    "track": _track,
    "track.status": _status,
    "resource": _resource,
    "holding": _holding,
    "meeting": _meeting,
    "tracks.withdrawn": _withdrawn,
    "schedule": _schedule,
    "agreement.proposed": _proposed,
    "agreement.signed": _signed,
    "agreement.withdrawn": _withdrew,
    "agreement.agreed": _agreed,
    "channel": _channel,
    "channel.send": _send,
    "channel.ack": _ack,
    "channel.failover": _failover,
    "channel.state": _state,
    "channel.retry": _retry,
    "channel.drop": _drop,
    "channel.reply": _reply,
    "channel.receive": _receive,
    "question": _question,
    "judgment": _judgment,
    "forecast": _forecast,
    "question.resolved": _resolved,
    "redline": _redline,
    "user": _user,
    "user.grant": _grant,
    "user.revoke": _revoke,
    "key.epoch": _epoch,
    "key.revoked": _key_revoked,
    "access.denied": _denied,
    "secure.rejected": _rejected,
    "claim": _claim,
    "news.report": _news,
    "ucdp.event": _ucdp,
    "acled.event": _acled,
    "gdelt.event": _gdelt,
    "analyst.report": _report,
}

MAX_WORDS = 400  # a pasted paragraph is cut: the record itself is one `sitroom` command away


def words(kind: str, payload: Payload) -> str:
    """What a record of ``kind`` says, in one line (its kind alone when it is not one the
    report describes, or its payload is not what its kind's schema says)."""
    say = WORDS.get(kind)
    if say is None or not isinstance(payload, Mapping):
        return kind
    try:
        text = say(payload)
    except (AttributeError, TypeError, ValueError):  # a payload of another shape: an old import
        return kind
    text = " ".join(text.split())
    return text if len(text) <= MAX_WORDS else text[: MAX_WORDS - 1] + "…"
