"""Every port the application needs, in one module: what an adapter must be to plug in.

    LogStore     the append-only record log         SqliteLog, PostgresLog, MemoryLog
    SnapshotSeal what makes a snapshot trustworthy    application/snapshots.SignedSnapshots
    RecordSeal   compartments' records, sealed at rest application/at_rest.SealedRecords
    AuditedLog   a log whose segments are chained   SqliteLog, PostgresLog
    HeadKeeper   the last signed head, off the log   adapters/heads.HeadFile
    Clock        physical time                       SystemClock, ManualClock
    Connector    a source format: inputs to records  adapters/connectors.py
    Wire         the transport between desks         HttpWire
    KeyStore     private keys, encrypted at rest     adapters/keystore.KeyStore
    SenderChains a sender's chain keys, between seals   adapters/chainfile.ChainFiles, MemoryChains
    ReaderStates a reader's inbox keys and chains      readerfile.ReaderFiles, MemoryReaders
    Solver       schedules for a scheduling problem  adapters/cpsat.CpSatSolver

Each has a contract suite in :mod:`sitroom.testing` that an implementation proves itself with
(``LogContract``, ``ConnectorContract``, ``WireContract``, ``KeyStoreContract``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar, Unpack, runtime_checkable

from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure import merkle
from sitroom.domain.secure.audit import LogHead, SignedHead, StoredSegment
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.ratchet import ChainState
from sitroom.domain.secure.reader import ReaderState
from sitroom.domain.secure.snapshots import OpenedState, Unverified
from sitroom.errors import UserInputError

if TYPE_CHECKING:
    from sitroom.domain.schedule import Options, Problem, Solution


@dataclass(frozen=True)
class AppendResult:
    appended: RecordBatch  # the records that were new, with their seq
    duplicates: int  # records whose id the log already held (or repeated in the batch)


# The new records of an append, numbered and stamped -> one record more, stored right after
# them in the same transaction (an author's signature over them: domain/secure/authorship.py).
Attest = Callable[[RecordBatch], Record]


@dataclass(frozen=True)
class Snapshot:
    seq: int  # the snapshot holds the fold of every record with seq <= this
    data: bytes
    private: bool = False  # it holds a compartment's opened records (stored encrypted)


class ReadFilters(TypedDict, total=False):
    """What a read can select; every filter left out selects everything."""

    after_seq: int  # records after this log position (default 0)
    upto_seq: int | None  # ... up to and including this one
    kinds: Sequence[str] | None
    sources: Sequence[str] | None
    ids: Sequence[str] | None
    valid_overlaps: tuple[int | None, int | None] | None  # valid time meets [since, until)


class Clock(Protocol):
    """Physical time, injected. The system clock lives at the edge (adapters.clock)."""

    def now_ms(self) -> int: ...


class ManualClock:
    """A clock that moves only when told: for tests, simulations and replays. It reads no
    time, so the application (the channel simulator) may use it as well as the edges."""

    def __init__(self, now_ms: int) -> None:
        self.t = now_ms

    def now_ms(self) -> int:
        return self.t

    def set(self, now_ms: int) -> None:
        self.t = now_ms

    def advance(self, ms: int) -> None:
        self.t += ms


class LogStore(Protocol):
    """An append-only, idempotent record log.

    ``append`` is atomic: after a crash a batch is wholly present or wholly absent. Records are
    deduplicated by id. ``seq`` is dense and increasing; ``recorded_time`` is non-decreasing in
    ``seq`` (the engine's clock stamps it so, and the log moves on a batch stamped behind what
    another writer stored), so "as of recorded time T" is a prefix of the log. ``read_only``
    says why the log cannot be written (a read-only mount, a full disk), or is None.
    """

    read_only: str | None

    def append(self, batch: RecordBatch, attest: Attest | None = None) -> AppendResult:
        """Append what is new in ``batch``; ``attest``, given the new records as numbered and
        stamped, makes one more record, stored right after them in the same transaction
        (an author's signature over them)."""
        ...

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]:
        """The records that match every filter given, in log order, in pages."""
        ...

    def count(self, **filters: Unpack[ReadFilters]) -> int: ...

    def last_seq(self) -> int: ...

    def last_recorded_time(self) -> int: ...

    def seq_as_of(self, recorded_time: int) -> int:
        """The largest seq whose recorded_time <= ``recorded_time`` (0 if none)."""
        ...

    def save_snapshots(self, snapshots: Sequence[tuple[str, int, int, bytes]]) -> None:
        """Store (projection, version, seq, data) snapshots; they are a cache, never the truth."""
        ...

    def load_snapshot(self, projection: str, version: int, max_seq: int) -> Snapshot | None:
        """The newest snapshot at or before ``max_seq``."""
        ...

    def segment_head(self, seq: int) -> bytes | None:
        """The log's chain head after the stored segment that holds record ``seq`` (None: no
        record ``seq``). A segment never changes once stored, so neither does its head: what
        binds a snapshot to the log it was folded from."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


class SnapshotSeal(Protocol):
    """What a snapshot is stored as, and whether a stored one may be used: the engine folds
    from a snapshot only if ``open`` gives its state back (a cache, never the truth)."""

    @property
    def signs(self) -> bool:
        """Whether this process can seal snapshots (False: it saves none)."""
        ...

    def seal(
        self, projection: str, version: int, seq: int, data: bytes, *, private: bool = False
    ) -> bytes | None:
        """``data``, the state after record ``seq``, as it is to be stored (None: it could not
        be sealed after all, and is not saved); ``private``: it holds a compartment's opened
        records, and is stored encrypted."""
        ...

    def open(
        self, projection: str, version: int, seq: int, blob: bytes
    ) -> OpenedState | Unverified:
        """The state a stored snapshot holds, or why it may not be used."""
        ...


@dataclass(frozen=True)
class Readable:
    """Records as a process may read them: sealed payloads opened, and those it holds no key
    for left out. ``opened``: the kinds of the records it opened (a state folded from them
    holds a compartment's text, so its snapshot is sealed too)."""

    batch: RecordBatch
    opened: frozenset[str] = frozenset()


class RecordSeal(Protocol):
    """What a record is stored as, and what a stored one reads as, in this process."""

    def seal(self, batch: RecordBatch) -> RecordBatch:
        """``batch`` as it is to be stored (records of a track with a key, sealed under it)."""
        ...

    def open(self, batch: RecordBatch) -> Readable:
        """Stored records as this process reads them."""
        ...


class AuditScan(Protocol):
    """One consistent read of a log's raw segments and id index."""

    def totals(self) -> tuple[int, int]:
        """(segments, records)."""
        ...

    def segments(self, kind: str | None = None) -> Iterator[StoredSegment]: ...

    def decode(self, seg: StoredSegment) -> RecordBatch:
        """The segment's records; LogError if its bytes no longer decode."""
        ...

    def id_count(self) -> int: ...

    def id_at(self, seq: int) -> str | None: ...

    def seq_of(self, rid: str) -> int | None: ...

    def tree(self) -> tuple[LogHead, merkle.Tree]:
        """The heads and the Merkle tree as stored, in this read."""
        ...

    def holding(self, seq: int) -> tuple[int, StoredSegment] | None:
        """The segment holding record ``seq``, and its place among the segments."""
        ...

    def misplaced_id(self, first_seq: int, ids: Sequence[str]) -> int | None: ...


class AuditedLog(Protocol):
    """A log whose stored segments are chained (domain.secure.audit)."""

    def tree_head(self) -> LogHead:
        """The log's heads now, as stored: the chain's and the Merkle tree's."""
        ...

    def stored_tree(self) -> tuple[LogHead, merkle.Tree]:
        """... and the tree itself, for proofs (one read)."""
        ...

    def head_at(self, seq: int) -> bytes | None:
        """The stored chain head after record ``seq`` (None: no segment ends there)."""
        ...

    def audit_scan(self) -> AbstractContextManager[AuditScan]: ...

    def read(
        self, *, page_size: int = 50_000, **filters: Unpack[ReadFilters]
    ) -> Iterator[RecordBatch]: ...


class HeadKeeper(Protocol):
    """Where the audit chain's last signed head is kept outside the log, so that a log which
    is lost, emptied, cut short or replaced cannot take the evidence with it. Today a file
    beside the log; later the heads other sites witness (issue 20)."""

    where: str  # what to call it in a message: a file's name, a witness

    def last(self) -> SignedHead | None:
        """The newest head kept (None: none yet); SecureError if what is kept is unreadable."""
        ...

    def keep(self, head: SignedHead) -> None:
        """Keep ``head`` as the newest (the caller checks it extends the one kept)."""
        ...


# sources ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """A connector's unit of work: records for some input rows, appended atomically."""

    records: RecordBatch
    rows: int  # input rows (lines) this chunk covers, accepted and quarantined


@dataclass(frozen=True)
class Feed:
    """One input a connector opened: a file, an archive member, a fetched URL."""

    label: str  # what a person recognises: the file name or URL
    rows: int | None  # input rows, for progress (None: not known before reading)
    declarations: Sequence[Record]  # the source's declaration: who publishes, how often
    chunks: Callable[[], Iterable[Chunk]]  # its records, a chunk at a time


class Connector(Protocol):
    """A source format (GDELT, UCDP, ACLED, RSS, STIX...): what a spec names, as feeds."""

    name: str

    def open(self, spec: str, now_ms: int) -> Iterable[Feed]:
        """The inputs ``spec`` (a path or a URL) names. SourceError when it cannot be read."""
        ...


# channels ---------------------------------------------------------------------------------
class WireError(Exception):
    """The wire could not carry a call: refused, timed out, or an error from the far end."""


@dataclass(frozen=True)
class Peer:
    """Who is at a desk's address, as this site's log knows them: the site a request there is
    for (None: no imported site's card matches the channel's counterpart), and the identity
    whose certificate the address must present — the site itself, or the intermediary its
    channel runs through (None: no card to pin)."""

    site: str | None
    pin: Identity | None


# Who is at an address (a URL's scheme and host), or None if no channel goes there.
Peers = Callable[[str], Peer | None]


class Wire(Protocol):
    """The transport between sites, as a desk uses it."""

    def deliver(self, url: str, envelope: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Hand an envelope to the far end; its answer is the ack."""
        ...

    def ping(self, url: str, timeout_s: float) -> None: ...

    def heard(self, url: str, timeout_s: float) -> int | None:
        """How long ago (ms) the far end of ``url`` last heard its counterpart; None: never."""
        ...

    def close(self) -> None: ...


# keys -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unlock:
    """How to open a key: a passphrase, or the path of a key file (exactly one)."""

    passphrase: str | None = None
    key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.passphrase is None) == (self.key_file is None):
            raise UserInputError("give a passphrase or a key file, not both or neither")


# A passphrase: given, or asked for (a person's name -> theirs) only once it is needed.
Passphrase = str | Callable[[str], str]


@dataclass(frozen=True, kw_only=True)
class Token:
    """A token that lets ``user`` act without their passphrase until ``expires_ms``: a
    ``session`` (``sitroom login``, a server's login) or an ``api`` token for scripts."""

    id: str
    user: str
    role: str  # the role of the user's key (a person's)
    kind: str
    name: str
    created_ms: int
    expires_ms: int


class TokenStore(Protocol):
    """Tokens, each keeping its holder's key wrapped under the token itself."""

    def issue(self, secret: Secret, token: Token) -> str:
        """Keep ``token``; the bearer string, shown once."""
        ...

    def open(self, bearer: str, now_ms: int) -> tuple[Token, Secret]:
        """The token and its holder's keys; AuthError if not valid now."""
        ...

    def revoke(self, token_id: str) -> Token | None: ...

    def tokens(self) -> list[Token]: ...


class KeyStore(Protocol):
    """Private keys of the identities a room holds, each encrypted at rest."""

    def exists(self, name: str) -> bool: ...

    def names(self) -> list[str]: ...

    def save(self, secret: Secret, how: Unlock) -> Path:
        """Encrypt ``secret`` under ``how``; where it was written."""
        ...

    def replace(self, secret: Secret, how: Unlock) -> Path:
        """Encrypt ``secret``, a new key for an identity this store holds, under ``how`` in
        place of the old key, which is gone from the store after; where it was written."""
        ...

    def public(self, name: str) -> Identity: ...

    def stored_key_file(self, name: str) -> Path | None:
        """The key file a key was protected with (None: a passphrase)."""
        ...

    def default_key_file(self, name: str) -> Path: ...

    def unlock(self, name: str, how: Unlock) -> Secret:
        """The private keys; SecureError when ``how`` does not open them."""
        ...


# A sender's chain as stored (None: none) -> the next message's key and the chain after it.
ChainStep = Callable[[ChainState | None], tuple[bytes, ChainState]]


class SenderChains(Protocol):
    """Where a sender keeps its chain in each epoch between messages (domain/secure/ratchet):
    only the number of messages sealed and the chain key after the last, per track and epoch
    — never the epoch secret, never an earlier chain key — readable with the sender's own
    private key only."""

    def get(self, me: Secret, track: str, epoch: int) -> ChainState | None:
        """``me``'s chain in this epoch of ``track`` (None: none kept)."""
        ...

    def advance(
        self, me: Secret, track: str, epoch: int, step: ChainStep
    ) -> tuple[bytes, ChainState]:
        """``step`` the chain as stored, and store the chain it returns before returning it
        with the key (a crash skips a number, never reuses a key), alone (no other process steps the
        same chain meanwhile). A track's older epochs are dropped: they seal nothing more."""
        ...


_T = TypeVar("_T")


class ReaderStates(Protocol):
    """Where a member keeps its inbox private keys and what it derived from the epochs it
    opened with them (domain/secure/reader.py), readable with its own private key only."""

    def get(self, me: Secret) -> ReaderState:
        """``me``'s state (empty: none kept)."""
        ...

    def change(self, me: Secret, change: Callable[[ReaderState], tuple[_T, ReaderState]]) -> _T:
        """Apply ``change`` to the state as stored and store what it returns, alone (no other
        process changes it meanwhile), before returning; nothing is stored if it raises."""
        ...


@runtime_checkable
class KeepsReaders(Protocol):
    """A sender-chains store that keeps members' reader states beside it (the same folder's
    parent, under the same key): how a room's ``Keys`` finds its ``ReaderStates``."""

    def readers(self) -> ReaderStates: ...


# endpoints --------------------------------------------------------------------------------
class Endpoint(Protocol):
    """Something served over the network (a desk, a relay): where it listens, and its stop."""

    @property
    def url(self) -> str: ...

    def shutdown(self) -> None: ...


# scheduling -------------------------------------------------------------------------------
class Solver(Protocol):
    """Solves a scheduling problem (``domain/schedule``): the best schedule it finds within the
    options' limits, or — when none exists — the constraints that conflict, in words."""

    def solve(
        self,
        problem: Problem,
        options: Options | None = None,
        *,
        previous: Mapping[str, int] | None = None,
        not_before: Mapping[str, int] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> Solution:
        """``previous``: starts (slots) to keep where they still fit; ``not_before``: the
        earliest slot of meetings held back (a slip); ``progress``: told (done, total) as the
        search goes."""
        ...
