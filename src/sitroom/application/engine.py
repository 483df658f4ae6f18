"""The engine: the one append path, live projections with snapshots, detectors and alerts.

    commands ─> Engine.append ─> LogStore.append (atomic, idempotent)
                        └─> fold into live projections ─> reactors ─> derived records (appended)
                                                      └─> detectors ─> alerts (appended too)

Every record gets its recorded time here, from a hybrid logical clock fed by the injected physical
clock, and this site's origin. Alerts are records: a replay shows when each was raised and why.
For every alert the engine measures the time from the commit of the records that triggered it to
the commit of the alert.

Snapshots go through a :class:`~sitroom.application.ports.SnapshotSeal`: a room's are signed
and bound to the log (application/snapshots.py), and one that does not open is not folded
from — the engine takes an older one that does, or folds from the first record, and says so
once in :attr:`Engine.notes`.

Records go through a :class:`~sitroom.application.ports.RecordSeal` on their way in and out: a
room's compartment records are stored sealed under their track's key (application/at_rest.py)
and read opened, as far as this process's keys go. A projection that folded any opened record
is *private*: its snapshots are stored encrypted, for processes that hold the site's key.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.application.at_rest import CLEAR
from sitroom.application.ports import (
    AppendResult,
    Attest,
    Clock,
    LogStore,
    Readable,
    ReadFilters,
    RecordSeal,
    Snapshot,
    SnapshotSeal,
)
from sitroom.application.snapshots import UNSEALED
from sitroom.domain.hlc import Hlc
from sitroom.domain.kinds import ALERT, upcast
from sitroom.domain.projection import AlertDraft, Detector, Projection, Reactor, snapshot_rows
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure.snapshots import Unverified
from sitroom.errors import SitroomError

SITROOM_SOURCE = "sitroom"


@dataclass(frozen=True)
class AppendOutcome:
    records: RecordBatch  # what was new, with seq and recorded_time
    duplicates: int  # records the log already held
    alerts: list[Record] = field(default_factory=list)
    derived: list[Record] = field(default_factory=list)  # what reactors made of them

    @property
    def appended(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Ticked:
    """What letting time pass made: records the reactors derived (a question resolved at its
    deadline), then the alerts raised. Two lists, so no caller takes the one for the other."""

    derived: list[Record] = field(default_factory=list)
    alerts: list[Record] = field(default_factory=list)


@dataclass
class Metrics:
    """Latency from the commit of a triggering append to the commit of its alert, in ms."""

    alert_latency_ms: list[float] = field(default_factory=list)


class _States(MutableMapping[str, Any]):
    """The live state of every projection, by name; each is restored when first read."""

    def __init__(self, names: Sequence[str], load: Callable[[Sequence[str]], dict[str, Any]]):
        self._names = list(names)
        self._load = load
        self._loaded: dict[str, Any] = {}

    def unloaded(self) -> list[str]:
        return [n for n in self._names if n not in self._loaded]

    def load(self, names: Sequence[str]) -> None:
        self._loaded.update(self._load(names))

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._names:
                raise KeyError(name)
            self.load([name])
        return self._loaded[name]

    def __setitem__(self, name: str, state: Any) -> None:
        self._loaded[name] = state

    def __delitem__(self, name: str) -> None:
        raise TypeError("a projection's state cannot be removed")

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Engine:
    def __init__(
        self,
        log: LogStore,
        clock: Clock,
        *,
        site: str,
        projections: Sequence[Projection[Any]],
        detectors: Sequence[Detector] = (),
        reactors: Sequence[Reactor] = (),
        snapshot_every: int = 10_000,
        seal: SnapshotSeal = UNSEALED,
        records: RecordSeal = CLEAR,
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise SitroomError(f"projection names must be unique: {names}")
        readers: list[Detector | Reactor] = [*detectors, *reactors]
        for d in readers:
            missing = set(d.reads) - set(names)
            if missing:
                raise SitroomError(f"{d.name} reads unknown projections {sorted(missing)}")
        self.log = log
        self.clock = clock
        self.site = site
        self.projections = {p.name: p for p in projections}
        self.detectors = list(detectors)
        self.reactors = list(reactors)
        self.snapshot_every = snapshot_every
        self.seal = seal
        self.records = records
        self.metrics = Metrics()
        # What a person should know about this engine's states: a snapshot not used because it
        # does not verify, said once per projection (_refused).
        self.notes: list[str] = []
        self._refused: set[str] = set()
        self._stale: set[str] = set()  # live states whose newest snapshot was refused
        self._private: set[str] = set()  # live states that folded opened records
        self._hlc = Hlc(log.last_recorded_time())
        self._folded = log.last_seq()  # the log position the live states stand at
        # A state is restored when first read, so a command pays only for the projections it
        # reads (`sitroom alerts` does not decode the risk index). _snapped: each loaded
        # projection's newest snapshot (position, rows): the next is due from it.
        self._snapped: dict[str, tuple[int, int]] = {}
        self.states = _States(names, self._load)

    # reading ------------------------------------------------------------------------------
    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        """The log's records that match every filter, in pages, each record at the current
        version of its kind (older ones upcast as they leave the log, which keeps them as
        written)."""
        for page in self._pages(page_size=page_size, **filters):
            yield page.batch

    def _pages(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[Readable]:
        """:meth:`read`'s pages, each with the kinds of the sealed records opened in it."""
        for page in self.log.read(page_size=page_size, **filters):
            readable = self.records.open(page)
            yield Readable(upcast(readable.batch), readable.opened)

    # the append path ----------------------------------------------------------------------
    def append(
        self, batch: RecordBatch | Iterable[Record], attest: Attest | None = None
    ) -> AppendOutcome:
        """Append ``batch``, fold it, let reactors and detectors react. ``attest`` signs the
        new records in the same transaction (a user's append: domain/secure/authorship.py)."""
        if not isinstance(batch, RecordBatch):
            batch = RecordBatch.from_records(batch)
        now = self.clock.now_ms()
        result = self._append(batch, now, attest)
        committed = time.perf_counter_ns()
        alerts: list[Record] = []
        derived = RecordBatch.empty()
        if len(result.appended):
            made = [
                r for re in self.reactors for r in re.on_records(self.states, result.appended, now)
            ]
            derived = self._derive(made, now)
            # Detectors see the derived records as a batch of their own: a bulk batch keeps its
            # typed payloads rather than being re-encoded to join a few forecasts.
            drafts = [
                d
                for seen in (result.appended, derived)
                if len(seen)
                for det in self.detectors
                for d in det.on_records(self.states, seen, now)
            ]
            alerts = self._raise(drafts, now, committed)
        return AppendOutcome(result.appended, result.duplicates, alerts, list(derived.rows()))

    def tick(self, now_ms: int | None = None) -> Ticked:
        """Let clock-driven reactors and detectors look at the time (a question whose window
        closed, an overdue source, an expiring key)."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        self.catch_up()
        if self.log.read_only:
            # An archive on read-only media, a full disk: what a tick finds could not be
            # recorded, and an alert that is not a record would vanish from every replay.
            return Ticked()
        made = [r for re in self.reactors for r in re.on_tick(self.states, now)]
        # Most ticks make nothing, and build no batch: a command such as `sitroom alerts` ticks
        # once, and Arrow's first batch imports pandas (0.2 s) when it is installed.
        derived = self._derive(made, now) if made else None
        drafts = (
            [d for det in self.detectors for d in det.on_records(self.states, derived, now)]
            if derived is not None and len(derived)
            else []
        )
        drafts += [d for det in self.detectors for d in det.on_tick(self.states, now)]
        return Ticked(list(derived.rows()) if derived else [], self._raise(drafts, now, None))

    def next_due(self, now_ms: int) -> int | None:
        """When a clock-driven reactor or detector next wants a tick (None: none is waiting)."""
        clocked: list[Detector | Reactor] = [*self.reactors, *self.detectors]
        dues = [d.next_due(self.states, now_ms) for d in clocked]
        return min((d for d in dues if d is not None), default=None)

    def _derive(self, records: list[Record], now: int) -> RecordBatch:
        if not records:
            return RecordBatch.empty()
        # Parsed once: the folds, the detectors and the caller all read these as rows, and a
        # forecast's payload is tens of KB of JSON.
        return self._append(RecordBatch.from_records(records).parsed(), now).appended

    def observe(self, remote: int) -> None:
        """A record stamped ``remote`` by another site's clock is about to be appended: this
        clock moves past it, so whatever this site records after it is stamped after it."""
        self._hlc, _ = self._hlc.observe(remote, self.clock.now_ms())

    def detector(self, name: str) -> Detector | None:
        return next((d for d in self.detectors if d.name == name), None)

    def _append(self, batch: RecordBatch, now: int, attest: Attest | None = None) -> AppendResult:
        n = len(batch)
        before = self._hlc
        # One stamp more for a signature, which the log stores a tick after the batch.
        self._hlc, first = self._hlc.tick(now, max(n + (attest is not None), 1))
        stamped = batch.with_column("recorded_time", np.arange(first, first + n, dtype=np.int64))
        origin = stamped.column("origin")
        if origin.null_count:
            stamped = stamped.with_column("origin", pa.compute.fill_null(origin, self.site))
        stored = self.log.append(self.records.seal(stamped), attest)
        readable = self.records.open(stored.appended)
        result = AppendResult(readable.batch, stored.duplicates)
        if not len(result.appended):
            # Nothing was new (a source declared again): no stamp was issued, so the clock
            # takes them back, and a replay, which never sees these duplicates, stamps alike.
            self._hlc = before
        else:
            # The log moves a batch on past another writer's records when that writer's clock
            # ran ahead (logbase.prepare_append): the clock goes on from what was stored.
            last = stored.appended.column("recorded_time")[-1].as_py()
            self._hlc = Hlc(max(self._hlc.last, last))
        self._fold(result.appended, readable.opened)
        return result

    def _raise(self, drafts: list[AlertDraft], now: int, trigger_ns: int | None) -> list[Record]:
        if not drafts:
            return []
        started = time.perf_counter_ns()
        records = [
            ALERT.record(
                id=f"alert:{d.detector}:{d.key}",
                source=SITROOM_SOURCE,
                valid_from=now,
                valid_to=now,
                compartment=d.compartment,
                payload={
                    "detector": d.detector,
                    "key": d.key,
                    "severity": d.severity,
                    "title": d.title,
                    "evidence": list(d.evidence),
                    "triggered_by": list(d.triggered_by),
                    "detail": dict(d.detail),
                    "detect_ms": round((started - (trigger_ns or started)) / 1e6, 3),
                },
            )
            for d in drafts
        ]
        result = self._append(RecordBatch.from_records(records).parsed(), now)
        done = time.perf_counter_ns()
        if trigger_ns is not None and len(result.appended):
            self.metrics.alert_latency_ms.extend([(done - trigger_ns) / 1e6] * len(result.appended))
        return list(result.appended.rows())

    # projections --------------------------------------------------------------------------
    def _fold(self, batch: RecordBatch, opened: frozenset[str]) -> None:
        """Fold newly appended records into every live projection, snapshotting at multiples of
        ``snapshot_every``: each projection once it has folded ``snapshot_every`` records since
        its last snapshot, or as many records as that snapshot holds rows if that is more
        (:func:`~sitroom.domain.projection.snapshot_rows`). So an as-of rebuild folds fewer than
        twice ``snapshot_every`` records for a small state (a checkpoint between two multiples
        moves the next snapshot on by one), and for a growing one no more records than the
        snapshot it starts from holds rows, while the rows written to snapshots stay linear in
        the log's length (each snapshot at most doubles the last)."""

        if not len(batch):
            return
        self._catch_up(batch.column("seq")[0].as_py() - 1)
        self._fold_run(batch, opened)

    def catch_up(self) -> None:
        """Fold what other processes appended since this engine last looked (a CLI command
        beside a running desk or follower): each tick does, so a long-running room sees them."""
        self._catch_up(self.log.last_seq())

    def _catch_up(self, upto_seq: int) -> None:
        """Fold what the log holds up to ``upto_seq`` that this engine has not: records another
        writer appended (a CLI command beside a running desk) or, for a view, those it may not
        see (it reads none of them). So the live states always stand at one log position, and
        their snapshots are exact."""
        if upto_seq > self._folded:
            for missed in self._pages(after_seq=self._folded, upto_seq=upto_seq):
                self._fold_run(missed.batch, missed.opened)
            self._folded = upto_seq

    def _fold_run(self, batch: RecordBatch, opened: frozenset[str]) -> None:
        if not len(batch):
            return
        batch = upcast(batch)
        self._private.update(self._holding(opened))
        self.states.load(self.states.unloaded())  # in one read of the tail, not one each
        seqs = batch.column("seq").to_numpy()
        ends = np.flatnonzero(seqs % self.snapshot_every == 0) + 1
        bounds = sorted({0, *ends.tolist(), len(seqs)})
        snapshots = []
        for lo, hi in itertools.pairwise(bounds):
            if hi <= lo:
                continue
            part = batch.slice(lo, hi - lo)
            # The kinds present, once: most projections read none of a bulk part or all of it.
            present = set(pc.unique(part.column("kind")).to_pylist())
            for name, p in self.projections.items():
                if p.kinds is None or present <= set(p.kinds):
                    mine = part
                elif present.isdisjoint(p.kinds):
                    mine = part.slice(0, 0)
                else:
                    mine = part.of_kinds(p.kinds)
                self.states[name] = p.apply(self.states[name], mine)
            end = int(seqs[hi - 1])
            if end % self.snapshot_every or not self.seal.signs:
                continue
            for name in self.projections:
                at, rows = self._snapped[name]
                if end >= at + max(self.snapshot_every, rows):
                    snapshots.append(self._snapshot(name, end))
        self._folded = int(seqs[-1])
        self.log.save_snapshots([s for s in snapshots if s is not None])

    def _load(self, names: Sequence[str]) -> dict[str, Any]:
        """The states of ``names`` at the position the live ones stand at, reading the log's
        tail once for all of them."""
        if not names:
            return {}
        states, snapped = self._restore(names, self._folded, live=True)
        self._snapped.update(snapped)
        return states

    def _snapshot(self, name: str, seq: int) -> tuple[str, int, int, bytes] | None:
        """The live state of ``name`` as the snapshot at ``seq``, noted as its newest (None: it
        could not be sealed, and is not saved)."""
        p, state = self.projections[name], self.states[name]
        self._snapped[name] = (seq, snapshot_rows(p, state))
        self._stale.discard(name)
        private = name in self._private
        sealed = self.seal.seal(name, p.version, seq, p.encode(state), private=private)
        return None if sealed is None else (name, p.version, seq, sealed)

    def checkpoint(self) -> int:
        """Snapshot every projection this engine has read (so loaded) that stands more than a
        tenth of ``snapshot_every`` records past its newest snapshot, so that the next process
        to open the log folds a short tail: every command pays for opening, and a log of a few
        thousand records would otherwise be folded whole each time. Meant for the end of a
        command, not for every append: it writes each state whole. A state whose newest snapshot
        was not used (it did not verify) is snapshotted however near it stands, so the next
        process finds one it can use. Returns how many snapshots it wrote (none where this
        process cannot seal them)."""
        self.catch_up()
        if not self.seal.signs:
            return 0
        end = self._folded
        least = max(1, self.snapshot_every // 10)
        snapshots = [
            self._snapshot(name, end)
            for name, (at, _) in list(self._snapped.items())
            if end - at > least or name in self._stale
        ]
        saved = [s for s in snapshots if s is not None]
        self.log.save_snapshots(saved)
        return len(saved)

    def rebuild(self, name: str, upto_seq: int) -> Any:
        """The state of projection ``name`` after record ``upto_seq``: from the newest snapshot at
        or before it, folding only the records since."""
        return self.rebuild_many([name], upto_seq)[name]

    def rebuild_many(self, names: Sequence[str], upto_seq: int) -> dict[str, Any]:
        """Several projections as of ``upto_seq``, reading the log's tail once for all of those
        whose snapshots sit at the same position (most are taken together)."""
        return self._restore(names, upto_seq)[0]

    def _restore(
        self, names: Sequence[str], upto_seq: int, *, live: bool = False
    ) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
        """The states as of ``upto_seq`` (``live``: the live states, being restored), and the
        snapshot each started from: its position (0: none) and rows."""
        start: dict[str, int] = {}
        rows: dict[str, int] = {}
        states: dict[str, Any] = {}
        for name in names:
            p = self.projections[name]
            snap = self._trusted(p, upto_seq, live=live)
            if live and snap is not None and snap.private:
                self._private.add(name)
            states[name] = p.decode(snap.data) if snap else p.initial()
            start[name] = snap.seq if snap else 0
            rows[name] = snapshot_rows(p, states[name])
        for after in sorted(set(start.values())):
            group = [self.projections[n] for n in names if start[n] == after]
            kinds = (
                None
                if any(p.kinds is None for p in group)
                else sorted({k for p in group for k in p.kinds or ()})
            )
            for page in self._pages(after_seq=after, upto_seq=upto_seq, kinds=kinds):
                batch = page.batch
                if live:
                    self._private.update(self._holding(page.opened, group))
                for p in group:
                    part = batch if p.kinds is None else batch.of_kinds(p.kinds)
                    states[p.name] = p.apply(states[p.name], part)
        return states, {n: (start[n], rows[n]) for n in names}

    def _trusted(self, p: Projection[Any], upto_seq: int, *, live: bool) -> Snapshot | None:
        """The newest snapshot of ``p`` at or before ``upto_seq`` that the seal opens, with the
        state it holds (None: fold from the first record). One that does not open is passed
        over for an older one, and said once; one written before snapshots were sealed, and
        every older one, is simply not used."""
        below, found = upto_seq, None
        refused: tuple[int, str] | None = None
        while (snap := self.log.load_snapshot(p.name, p.version, below)) is not None:
            opened = self.seal.open(p.name, p.version, snap.seq, snap.data)
            if not isinstance(opened, Unverified):
                found = Snapshot(snap.seq, opened.data, opened.private)
                break
            if live:
                self._stale.add(p.name)
            if opened.unsigned:
                break
            refused = refused or (snap.seq, opened.reason)
            below = snap.seq - 1
        if refused is not None and p.name not in self._refused:
            self._refused.add(p.name)
            source = "the log" if found is None else f"the snapshot at seq {found.seq}"
            self.notes.append(
                f"the snapshot of `{p.name}` at seq {refused[0]} does not verify "
                f"({refused[1]}): rebuilt from {source}"
            )
        return found

    def _holding(
        self, opened: frozenset[str], among: Iterable[Projection[Any]] | None = None
    ) -> list[str]:
        """The projections (of ``among``) that fold any of the ``opened`` kinds."""
        if not opened:
            return []
        ps = self.projections.values() if among is None else among
        return [p.name for p in ps if p.kinds is None or not opened.isdisjoint(p.kinds)]

    def view_many(self, names: Sequence[str], as_of_seq: int | None = None) -> dict[str, Any]:
        last = self.log.last_seq()
        if as_of_seq is None or as_of_seq >= last:
            self._catch_up(last)
            return {n: self.states[n] for n in names}
        return self.rebuild_many(names, as_of_seq)
