"""Replay an exported log into a fresh workspace, on a virtual clock, so that every detector
fires when it would have: the clock is set to each record's original recorded time, and between
records it stops at every moment a clock-driven detector was due."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

from sitroom.application.results import Progress, Result
from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain.kinds import ALERT, AUDIT_CHECKPOINT, IDENTITY
from sitroom.domain.records import Record
from sitroom.domain.timeutil import iso
from sitroom.errors import WorkspaceError


class SettableClock(Protocol):
    def now_ms(self) -> int: ...

    def set(self, now_ms: int) -> None: ...


@dataclass(frozen=True, kw_only=True)
class ReplayedAlert(Result):
    id: str
    at: str | None  # when it was raised on the virtual clock (a due time, for a clock alert)
    severity: str
    title: str
    detector: str


@dataclass(frozen=True, kw_only=True)
class Replayed(Result):
    """What a replay appended, the alerts it raised, and how they compare with the original
    log's: reproduced, missing (raised then, not now) and new."""

    records: int
    alerts_raised: tuple[ReplayedAlert, ...]
    original_alerts: int
    reproduced: int
    missing: tuple[str, ...]
    new: tuple[str, ...]


def record_from_export(row: Mapping[str, Any]) -> Record:
    keep = {
        k: row[k]
        for k in (
            "id",
            "kind",
            "kind_version",
            "source",
            "payload",
            "valid_from",
            "valid_to",
            "confidence",
            "compartment",
            "recorded_time",
            "origin",
        )
    }
    return Record(**keep)


def replay(
    session: Session,
    clock: SettableClock,
    rows: Iterable[Mapping[str, Any]],
    *,
    speed: float = 0.0,
    sleep: Callable[[float], None] | None = None,
    on_alert: Callable[[ReplayedAlert], None] | None = None,
    progress: Progress | None = None,
) -> Replayed:
    """Append ``rows`` (as written by export) in their original order. Alert records are not
    copied: the detectors raise them again, and the report compares both sets. ``speed`` > 0
    waits (virtual gap / speed) seconds between appends; 0 replays as fast as possible."""
    # A fresh workspace holds nothing but its own site's identity, published at init.
    if session.last_seq() > session.count(kinds=[IDENTITY]):
        raise WorkspaceError("replay needs a fresh workspace: this one already holds records")
    appended = 0
    read = 0
    original: list[str] = []
    alerts: list[ReplayedAlert] = []
    last_wall: int | None = None

    def raised(found: list[Record]) -> None:
        for a in found:
            p = a.payload
            item = ReplayedAlert(
                id=a.id,
                at=(p.get("detail") or {}).get("due_at") or iso(a.valid_from),
                severity=p["severity"],
                title=p["title"],
                detector=p["detector"],
            )
            alerts.append(item)
            if on_alert:
                on_alert(item)

    def advance(to_wall: int) -> None:
        nonlocal last_wall
        # Stop at each due moment before ``to_wall``, as a live workspace ticking would.
        while True:
            due = session.next_due(clock.now_ms())
            if due is None or due >= to_wall:
                break
            _wait(due, last_wall, speed, sleep)
            clock.set(due)
            last_wall = due
            raised(session.tick().alerts)
        _wait(to_wall, last_wall, speed, sleep)
        clock.set(to_wall)
        last_wall = to_wall

    rows_by_time = groupby(rows, key=lambda r: hlc.wall_ms(int(r["recorded_time"])))
    for wall, group in rows_by_time:
        batch = []
        for row in group:
            read += 1
            if row["kind"] == ALERT:  # raised again by the detectors, not copied
                original.append(str(row["id"]))
            elif row["kind"] == AUDIT_CHECKPOINT:
                # The original site's signatures over its own chain: this log has another
                # chain, which its own checkpointer signs.
                continue
            else:
                batch.append(_fresh(record_from_export(row)))
        # Alert rows still mark moments of the original timeline: the clock passes them too.
        advance(wall)
        if batch:
            outcome = session.append(batch)
            appended += outcome.appended
            raised(outcome.alerts)
        raised(session.tick().alerts)
        if progress:
            progress(read, None)
    ids = {a.id for a in alerts}
    return Replayed(
        records=appended,
        alerts_raised=tuple(alerts),
        original_alerts=len(original),
        reproduced=len(ids & set(original)),
        missing=tuple(sorted(set(original) - ids)),
        new=tuple(sorted(ids - set(original))),
    )


def _fresh(r: Record) -> Record:
    """The record as new to this workspace: its own clock stamps it again."""
    return Record(
        id=r.id,
        kind=r.kind,
        kind_version=r.kind_version,
        source=r.source,
        payload=r.payload,
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        confidence=r.confidence,
        compartment=r.compartment,
        origin=r.origin,
    )


def _wait(
    to_wall: int, last_wall: int | None, speed: float, sleep: Callable[[float], None] | None
) -> None:
    if speed > 0 and sleep is not None and last_wall is not None and to_wall > last_wall:
        sleep((to_wall - last_wall) / 1000 / speed)
