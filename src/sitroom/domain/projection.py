"""Projections: pure folds over the log, and the detectors and reactors that read them.

A projection turns the records of a batch into a new state: ``apply(state, batch) -> state``.
A batch is a run of consecutive records in log order, so folding batch by batch is the same fold
as record by record, only vectorised. The engine owns every state it passes in and never uses it
again, so ``apply`` may update it in place and return it (a linear fold): still a function of
(state, records), without copying a large state for each record.

States encode to bytes for snapshots; snapshots are a cache from which "as of T" is rebuilt
without replaying from the first record. A state that grows with the log (every conflict event
the forecaster indexes) says how many rows its snapshot writes (``held``, see
:func:`snapshot_rows`), so that it is snapshotted less often as it grows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sitroom.domain.records import Record, RecordBatch

S = TypeVar("S")
Sees = Callable[[str], bool]  # whether a reader may see a compartment

# A finding about several compartments (a deadlock between two tracks, a person both hold) is
# in their *joint* compartment, "a+b": seen only by whoever is cleared for each of them.
JOINT = "+"


def joint(compartments: Iterable[str]) -> str:
    """The compartment of what concerns all of ``compartments`` ("" among them: the general
    one, which everyone sees, adds nothing)."""
    return JOINT.join(sorted({c for c in compartments if c}))


class Projection(Protocol[S]):
    """A fold of the log into a state of type ``S``.

    ``restrict(state, sees)`` is the state as someone who sees only some compartments may read
    it: the entries that came from records of other compartments left out, counts made of
    theirs alone. It never changes ``state`` (the engine's live state): it copies what it
    filters. A projection that folds general records only (compartment "") need not define it.
    """

    name: str
    version: int
    kinds: tuple[str, ...] | None  # the kinds it folds; None for every record

    def initial(self) -> S: ...

    def apply(self, state: S, batch: RecordBatch) -> S: ...

    def encode(self, state: S) -> bytes: ...

    def decode(self, data: bytes) -> S: ...


def restricted(projection: Projection[S], state: S, sees: Sees) -> S:
    """``state`` as a reader who ``sees`` some compartments only may read it."""
    restrict = getattr(projection, "restrict", None)
    return state if restrict is None else restrict(state, sees)


def keep(entries: Mapping[str, Any], visible: Callable[[str, Any], bool]) -> dict[str, Any]:
    """A copy of ``entries`` with those ``visible(key, entry)`` says no to left out."""
    return {k: v for k, v in entries.items() if visible(k, v)}


def snapshot_rows(projection: Projection[Any], state: Any) -> int:
    """How many rows a snapshot of ``state`` writes: ``projection.held(state)`` for a projection
    whose state grows with the log, 0 for the many whose state stays small (they need not
    define ``held``). Snapshotting such a state at a fixed interval would cost time quadratic
    in the log's length; the engine waits instead until it has folded as many records as the
    snapshot holds rows, which keeps the snapshots' cost linear."""
    held = getattr(projection, "held", None)
    return int(held(state)) if held is not None else 0


@dataclass(frozen=True)
class AlertDraft:
    """What a detector found. ``key`` identifies the finding, so raising it again is a no-op."""

    detector: str
    key: str
    title: str
    severity: str  # info | warning | critical
    evidence: Sequence[str]  # ids of the records that show it
    triggered_by: Sequence[str] = ()  # ids of the records whose arrival raised it
    detail: Mapping[str, Any] = field(default_factory=dict)
    compartment: str = ""


class Detector(Protocol):
    """Reads projection states and reports findings. It never reads the clock: ``now_ms`` is
    passed in, on every append (``on_records``) and on every clock tick (``on_tick``)."""

    name: str
    reads: tuple[str, ...]  # the projections it needs

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]: ...

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]: ...

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        """The next moment after ``now_ms`` at which ``on_tick`` could find something (None if
        nothing is pending): what a scheduler or a replay needs to tick at the right times."""
        ...


class Reactor(Protocol):
    """Reads projection states and derives new records from what was just appended (a
    forecast re-made because an event landed near its venue, a question resolved because its
    window closed). The engine appends what a reactor returns through the same append path, in
    the same call, before the detectors look: so a detector sees the derived records, and a
    replay shows them where they were made. Reactors do not react to derived records (one
    round), which keeps an append bounded."""

    name: str
    reads: tuple[str, ...]

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[Record]: ...

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[Record]: ...

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None: ...
