"""Acknowledging an alert: a person says they have seen it and have it in hand. The
acknowledgement is a record (``alert.ack``) in the alert's compartment, signed by whoever acts
like every record a user writes; one per person and alert — its id says both, so a second
acknowledgement finds the first and records nothing. An alert the person may not see is
answered as one that does not exist, and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sitroom.application.results import Result
from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain.kinds import ALERT, ALERT_ACK
from sitroom.domain.records import Record
from sitroom.domain.timeutil import iso
from sitroom.errors import NotFound, UserInputError


@dataclass(frozen=True, kw_only=True)
class Acknowledgement(Result):
    """Who acknowledged an alert, and when."""

    by: str
    at: str | None
    record: str


@dataclass(frozen=True, kw_only=True)
class Acknowledged(Result):
    alert: str
    title: str
    by: str
    at: str | None
    new: bool  # False: they had acknowledged it already, and nothing was recorded now
    record: str


def ack_id(alert: str, by: str) -> str:
    return f"{ALERT_ACK}:{by}:{alert}"


def acknowledgements(s: Session, *, upto_seq: int) -> dict[str, tuple[Acknowledgement, ...]]:
    """Each alert's acknowledgements this user may see, up to a log position, oldest first."""
    out: dict[str, list[Acknowledgement]] = {}
    for r in s.records(upto_seq=upto_seq, kinds=[ALERT_ACK]):
        out.setdefault(r.payload["alert"], []).append(_acknowledgement(r))
    return {alert: tuple(acks) for alert, acks in out.items()}


def acknowledge(s: Session, alert: str) -> Acknowledged:
    """Record that the session's user (the site, in a room without users) has seen ``alert``."""
    if not alert.strip():
        raise UserInputError("name the alert to acknowledge by its id (sitroom alerts --json)")
    by = s.user or s.site_id
    found = _one(s.records(ids=[alert], kinds=[ALERT]))
    if found is None:
        raise NotFound("alert", alert)  # hidden or unknown alike
    title = str(found.payload.get("title") or alert)
    rid = ack_id(alert, by)
    before = _one(s.records(ids=[rid], kinds=[ALERT_ACK]))
    if before is not None:
        return Acknowledged(alert=alert, title=title, by=by, at=_at(before), new=False, record=rid)
    now = s.now_ms()
    record = ALERT_ACK.record(
        {"alert": alert, "by": by},
        id=rid,
        source=f"user:{by}",
        valid_from=now,
        compartment=found.compartment,
    )
    out = s.append([record], action=f"acknowledge {alert}")
    rows = [r for r in out.records.rows() if r.id == rid]
    return Acknowledged(
        alert=alert,
        title=title,
        by=by,
        at=_at(rows[0]) if rows else iso(now),
        new=bool(rows),
        record=rid,
    )


def _one(rows: Sequence[Record]) -> Record | None:
    return rows[-1] if rows else None


def _at(r: Record) -> str | None:
    return iso(hlc.wall_ms(r.recorded_time)) if r.recorded_time else iso(r.valid_from)


def _acknowledgement(r: Record) -> Acknowledgement:
    return Acknowledgement(by=str(r.payload["by"]), at=_at(r), record=r.id)
