"""Access by role and compartment: every read a user makes sees only what they are cleared for.

A workspace with no users is single-user: everything is visible and nothing is checked. Once
its first user exists (always an admin), every person acts as a user, and what they read comes
from a :class:`CompartmentView`: the same engine — the same projections and the same query
functions — over the log *restricted* to the records whose compartment is general ("") or one
the user is cleared for. Nothing of another compartment reaches their projections, so no
answer, count or summary can include it, whatever the command. Writes go through the full
engine (its reactors and detectors see everything), after the user's role and clearance are
checked; a refusal is recorded as an ``access.denied`` record, then raised.

Roles: ``viewer`` reads; ``analyst`` reads and writes in the compartments they are cleared
for; ``admin`` also manages users, clearances and keys. An admin is *not* cleared for every
compartment by being one: they grant themselves a clearance like anyone, and the grant is on
the record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Unpack

import pyarrow as pa
import pyarrow.compute as pc

from sitroom.application.engine import AppendOutcome, Engine
from sitroom.application.ports import AppendResult, LogStore, ReadFilters, Snapshot
from sitroom.application.session import (
    ADMIN,
    ANALYST,
    EVERYTHING,
    ROLES,
    VIEWER,
    WRITERS,
    Access,
    Session,
    check_role,
    denial,
)
from sitroom.domain.records import Record, RecordBatch
from sitroom.errors import AccessDenied


def access_for(engine: Engine, user: str | None) -> Access:
    """The access of ``user`` in this workspace (single-user workspaces: everything)."""
    return Session.of(engine, user).access


def _visible(batch: RecordBatch, access: Access) -> RecordBatch:
    if access.everything or not len(batch):
        return batch
    allowed = pa.array(["", *sorted(access.compartments)], pa.string())
    return batch.filter(pc.is_in(batch.column("compartment"), allowed))


class ClearedLog:
    """A log restricted to what one access may see. Reads and counts are filtered; snapshots
    are kept apart per clearance set (a snapshot of everything must never seed a view)."""

    def __init__(self, inner: LogStore, access: Access) -> None:
        self.inner = inner
        self.access = access

    def append(self, batch: RecordBatch) -> AppendResult:
        raise AccessDenied("a compartment view is read-only; writes go through the workspace")

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        for page in self.inner.read(page_size=page_size, **filters):
            seen = _visible(page, self.access)
            if len(seen):
                yield seen

    def count(self, **filters: Unpack[ReadFilters]) -> int:
        return sum(len(b) for b in self.read(**filters))

    def last_seq(self) -> int:
        return self.inner.last_seq()

    def last_recorded_time(self) -> int:
        return self.inner.last_recorded_time()

    def seq_as_of(self, recorded_time: int) -> int:
        return self.inner.seq_as_of(recorded_time)

    def _name(self, projection: str) -> str:
        digest = hashlib.sha256("\n".join(sorted(self.access.compartments)).encode())
        return f"{projection}@{digest.hexdigest()[:16]}"

    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        self.inner.save_snapshots([(self._name(p), v, s, d) for p, v, s, d in snapshots])

    def load_snapshot(self, projection: str, version: int, max_seq: int) -> Snapshot | None:
        return self.inner.load_snapshot(self._name(projection), version, max_seq)

    def get_meta(self, key: str) -> str | None:
        return self.inner.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        raise AccessDenied("a compartment view is read-only")

    def close(self) -> None:
        """The workspace closes the log it shares."""


class CompartmentView(Engine):
    """The engine as one user sees it: projections folded from what they are cleared for,
    appends checked and then made by the full engine (``writer``)."""

    def __init__(self, writer: Engine, access: Access) -> None:
        self.writer = writer
        self.access = access
        super().__init__(
            ClearedLog(writer.log, access),
            writer.clock,
            site=writer.site,
            projections=list(writer.projections.values()),
            snapshot_every=writer.snapshot_every,
        )
        # Keep what building the view folded, so that the next command by a user of the
        # same clearances starts from it.
        self.checkpoint()

    def check_write(self, records: Iterable[Record] | RecordBatch, action: str) -> None:
        """Refuse (and record the refusal) what this user may not write."""
        batch = records if isinstance(records, RecordBatch) else RecordBatch.from_records(records)
        a = self.access
        if a.role not in WRITERS:
            self.deny(action, f"{a.user} is a {a.role}: viewers do not write", "")
        hidden = sorted(set(batch.column("compartment").to_pylist()) - {"", *a.compartments})
        if hidden and not a.everything:
            self.deny(action, f"{a.user} is not cleared for {', '.join(hidden)}", hidden[0])

    def deny(self, action: str, reason: str, compartment: str) -> None:
        now = self.clock.now_ms()
        self.writer.append([denial(self.access.user, action, reason, compartment, now)])
        raise AccessDenied(f"{reason}; refused and recorded")

    def require(self, role: str, action: str) -> None:
        if self.access.role != role and not self.access.everything:
            self.deny(action, f"{self.access.user} is a {self.access.role}, not an {role}", "")

    def append(self, batch: RecordBatch | Iterable[Record]) -> AppendOutcome:
        batch = batch if isinstance(batch, RecordBatch) else RecordBatch.from_records(batch)
        kinds = sorted(set(batch.column("kind").to_pylist()))
        self.check_write(batch, "append " + ", ".join(kinds))
        out = self.writer.append(batch)
        derived = RecordBatch.from_records(out.derived) if out.derived else RecordBatch.empty()
        alerts = RecordBatch.from_records(out.alerts) if out.alerts else RecordBatch.empty()
        for part in (out.records, derived, alerts):
            self._fold(_visible(part, self.access))
        return AppendOutcome(
            _visible(out.records, self.access),
            out.duplicates,
            [r for r in out.alerts if self.access.sees(r.compartment)],
            [r for r in out.derived if self.access.sees(r.compartment)],
        )

    def tick(self, now_ms: int | None = None) -> list[Record]:
        made = self.writer.tick(now_ms)
        if made:
            self._fold(_visible(RecordBatch.from_records(made), self.access))
        return [r for r in made if self.access.sees(r.compartment)]

    def next_due(self, now_ms: int) -> int | None:
        return self.writer.next_due(now_ms)


def view_for(writer: Engine, access: Access) -> Engine:
    """The engine ``access`` reads through: the writer itself when it sees everything."""
    return writer if access.everything else CompartmentView(writer, access)


__all__ = [
    "ADMIN",
    "ANALYST",
    "EVERYTHING",
    "ROLES",
    "VIEWER",
    "WRITERS",
    "Access",
    "check_role",
    "denial",
]
