"""A room: the composition root. It opens a workspace on disk — a directory holding
``sitroom.toml``, the SQLite log, the key files and the last signed head (outside the log) —
picks the adapters, builds the one engine with every projection, detector and reactor, and
hands a session to each capability's service::

    room = sitroom.open("room", user="dana")
    room.world.events(near=beirut, radius=Radius.parse("500mi"))
    room.tracks.check()
    room.close()

Services are built on first use, so a command pays only for the libraries its capability needs
(the scheduler's OR-Tools, the risk models' SciPy, STIX...).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sitroom.adapters.clock import ManualClock, SystemClock
from sitroom.adapters.heads import HeadFile
from sitroom.adapters.keystore import KEYS_DIR, KeyStore, new_secret
from sitroom.adapters.log_memory import MemoryLog
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.adapters.outputs import HEAD_FILE as HEAD_FILE
from sitroom.adapters.outputs import LOG_FILE as LOG_FILE
from sitroom.adapters.outputs import TOKENS_FILE, refuse_own, write_private
from sitroom.application.at_rest import RecordKeySource, SealedRecords, held_by
from sitroom.application.audit import Checkpointer, keep_head
from sitroom.application.engine import Engine
from sitroom.application.ports import Clock, Unlock
from sitroom.application.session import Session
from sitroom.application.snapshots import SignedSnapshots
from sitroom.domain.kinds import KEY_EPOCH
from sitroom.domain.projection import Detector, Projection, Reactor
from sitroom.domain.secure.audit import SignedHead
from sitroom.domain.secure.identity import SITE, Identity, Secret, identity_record
from sitroom.domain.secure.ledger import SECURE
from sitroom.domain.secure.wear import Policy
from sitroom.domain.timeutil import MS_PER_DAY
from sitroom.domain.wording import plural
from sitroom.errors import (
    AuthError,
    NoWorkspace,
    SecureError,
    SitroomError,
    UserInputError,
    WorkspaceError,
)
from sitroom.settings import CONFIG_FILE, SITE_KEY_FILE_ENV, Settings, key_files

if TYPE_CHECKING:
    import threading

    from sitroom.adapters.channel_http import Limits
    from sitroom.adapters.log_postgres import PostgresLog
    from sitroom.application.agreements import Agreements
    from sitroom.application.audit import Audit, Report
    from sitroom.application.auth import Auth, Proof
    from sitroom.application.channels import Channels
    from sitroom.application.desk import Desk
    from sitroom.application.ingest import Ingest
    from sitroom.application.keys import Keys
    from sitroom.application.netsim import Trace
    from sitroom.application.netsim_report import SimReport
    from sitroom.application.ports import Endpoint, Peers, Wire
    from sitroom.application.proofs import Proofs
    from sitroom.application.replay import Replayed, ReplayedAlert
    from sitroom.application.report import Reports
    from sitroom.application.results import Progress
    from sitroom.application.risk import Risk
    from sitroom.application.site_key import SiteKey
    from sitroom.application.sites import Sites
    from sitroom.application.tracks import Tracks
    from sitroom.application.users import Users
    from sitroom.application.witness import Witnessing
    from sitroom.application.world import World
    from sitroom.domain.risk.scoring import Reliability


def default_projections() -> list[Projection[Any]]:
    from sitroom.domain.actors import ActorsProjection
    from sitroom.domain.arrivals import ArrivalsProjection
    from sitroom.domain.channels.ledger import ChannelsProjection
    from sitroom.domain.claims import ClaimsProjection
    from sitroom.domain.map_cells import MapProjection
    from sitroom.domain.redline_watch import RedLinesProjection
    from sitroom.domain.risk.state import RiskProjection
    from sitroom.domain.secure.agreements_ledger import AgreementsProjection
    from sitroom.domain.secure.ledger import SecureProjection
    from sitroom.domain.sources import SourcesProjection
    from sitroom.domain.stale import DependenciesProjection
    from sitroom.domain.summary import SummaryProjection
    from sitroom.domain.tracks import TracksProjection

    return [
        SummaryProjection(),
        SourcesProjection(),
        ClaimsProjection(),
        DependenciesProjection(),
        RedLinesProjection(),
        ActorsProjection(),
        TracksProjection(),
        ChannelsProjection(),
        RiskProjection(),
        SecureProjection(),
        AgreementsProjection(),
        MapProjection(),
        ArrivalsProjection(),
    ]


def default_detectors(settings: Settings) -> list[Detector]:
    from sitroom.domain.channels.ledger import ChannelDetector
    from sitroom.domain.redline_watch import RedLineDetector
    from sitroom.domain.risk.detector import RiskDetector
    from sitroom.domain.secure.watch import KeyDetector
    from sitroom.domain.sources import OverdueSourceDetector
    from sitroom.domain.stale import StaleReadDetector
    from sitroom.domain.tracks import TracksDetector

    return [
        OverdueSourceDetector(grace=settings.overdue_grace),
        RedLineDetector(),
        TracksDetector(),
        ChannelDetector(),
        RiskDetector(),
        KeyDetector(key_policy(settings)),
        StaleReadDetector(),
    ]


def default_reactors(settings: Settings) -> list[Reactor]:
    from sitroom.domain.risk.ledger import Forecaster

    return [Forecaster(method=settings.risk_aggregate, disagreement=settings.risk_disagreement)]


def key_policy(settings: Settings) -> Policy:
    return Policy(
        cryptoperiod_ms=round(settings.key_cryptoperiod_days * MS_PER_DAY),
        warn_ms=round(settings.key_warn_days * MS_PER_DAY),
        usage_warn=settings.key_usage_warn,
        usage_limit=settings.key_usage_limit,
        on_wear=settings.key_wear_action,
    )


def scratch_engine(now_ms: int = 0, *, site: str = "scratch") -> Engine:
    """An engine over an in-memory log, with every projection and detector: for simulations
    and what-ifs that must not touch a workspace."""
    settings = Settings(site=site)
    return Engine(
        MemoryLog(),
        ManualClock(now_ms),
        site=site,
        projections=default_projections(),
        detectors=default_detectors(settings),
        reactors=default_reactors(settings),
    )


def settle() -> None:
    """For a process that keeps a room open (a desk, a followed feed, the service): collect
    once, then freeze what survived, so no full collection walks the loaded libraries and
    projections in the middle of an append. Such a collection costs 40–100 ms (over ~100k
    objects) and was the whole of the re-forecast p99 above p95."""
    gc.collect()
    gc.freeze()


def _stix_bundle(*args: Any) -> tuple[bytes, int]:
    """The STIX adapter's bundle writer, imported (with the stix2 library) when first used."""
    from sitroom.adapters.stix import bundle_json

    return bundle_json(*args)


def _reliability_plot(
    curves: Mapping[str, Reliability], path: Path, title: str, *, workspace: Path
) -> Path:
    """The plotting adapter's reliability diagram, imported (with matplotlib) when first
    drawn, into a folder the user named: not the workspace's, nor over its own files."""
    from sitroom.adapters.plots import reliability_diagram

    refuse_own(path.parent, workspace)
    return reliability_diagram(curves, path, title=title, workspace=workspace)


def is_room(path: Path | str) -> bool:
    """Whether ``path`` holds a sitroom workspace: its SQLite log, or settings that name a
    PostgreSQL log."""
    path = Path(path)
    if (path / LOG_FILE).exists():
        return True
    return (path / CONFIG_FILE).exists() and bool(Settings.load(path).log_url)


def open_log(path: Path, settings: Settings, *, create: bool = False) -> SqliteLog | PostgresLog:
    """The workspace's log: in the PostgreSQL database its settings name (psycopg imported
    only then), else its SQLite file."""
    if settings.log_url:
        _postgres()  # one line if psycopg is missing
        from sitroom.adapters.log_postgres import PostgresLog

        return PostgresLog(settings.log_url, durability=settings.durability, create=create)
    return SqliteLog(path / LOG_FILE, durability=settings.durability, create=create)


def _postgres() -> None:
    """Import the PostgreSQL log's adapter (psycopg with it) when a workspace names one: a
    line saying what to install, if it cannot be."""
    try:
        import sitroom.adapters.log_postgres  # noqa: F401
    except ImportError as e:
        raise WorkspaceError(
            f"a PostgreSQL log needs psycopg ({e.name} is missing): pip install 'sitroom[postgres]'"
        ) from None


def _where(path: Path, settings: Settings) -> str:
    """The log, as a message names it: its file, or its URL without a password."""
    if settings.log_url:
        _postgres()
        from sitroom.adapters.log_postgres import shown

        return shown(settings.log_url)
    return str(path / LOG_FILE)


def _refuse_emptied(path: Path, log: SqliteLog | PostgresLog, where: str) -> None:
    """WorkspaceError if a PostgreSQL log is empty while the head kept outside it says the
    workspace held records (a file log is checked before it is opened: _refuse_lost_log)."""
    if log.last_seq() or not (path / HEAD_FILE).exists():
        return
    try:
        kept = HeadFile(path / HEAD_FILE).last()
    except SecureError:
        kept = None
    if kept is not None and kept.seq:
        raise WorkspaceError(
            f"the log {where} is empty, but this workspace had at least "
            f"{plural(kept.seq, 'record')} (its last signed head, in {HEAD_FILE}, is at seq "
            f"{kept.seq:,}); restore the database from a backup, or move {HEAD_FILE} away to "
            "start a new, empty log"
        )


def _log_gone(path: Path) -> str | None:
    """'missing' or 'empty' if the log file in ``path`` is (None: it holds something)."""
    try:
        return "empty" if (path / LOG_FILE).stat().st_size == 0 else None
    except FileNotFoundError:
        return "missing"
    except OSError:
        return None  # unreadable for another reason: the log's own open says why


def _refuse_lost_log(path: Path) -> None:
    """WorkspaceError if the log is missing or empty while the head kept outside it says the
    workspace held records: opening (or init) would start a new, empty log over the loss."""
    if (path / CONFIG_FILE).exists() and Settings.load(path).log_url:
        return  # not a file: checked once open (_refuse_emptied)
    how = _log_gone(path)
    if how is None or not (path / HEAD_FILE).exists():
        return
    try:
        kept = HeadFile(path / HEAD_FILE).last()
    except SecureError:
        had = f"records ({HEAD_FILE} says so, though it cannot be read)"
    else:
        if kept is None:
            return
        signed = f"its last signed head, in {HEAD_FILE}, is at seq {kept.seq:,}"
        had = f"at least {plural(kept.seq, 'record')} ({signed})"
    raise WorkspaceError(
        f"the log {path / LOG_FILE} is {how}, but this workspace had {had}; restore the log "
        f"from a backup, or move {HEAD_FILE} away to start a new, empty log"
    )


def site_key_file(keystore: KeyStore, site: str) -> Path | None:
    """The key file that opens ``site``'s key: ``$SITROOM_SITE_KEY_FILE`` if set (the key file
    on other media, another machine's path), else where it was made (None: a passphrase)."""
    stored = keystore.stored_key_file(site)
    given = os.environ.get(SITE_KEY_FILE_ENV)
    return Path(given) if stored is not None and given else stored


def site_secret(keystore: KeyStore, site: str) -> Secret:
    """``site``'s private keys, unlocked with its key file: what signs checkpoints, snapshots
    and epoch keys. SecureError where the key file is not this process's to read."""
    key_file = site_key_file(keystore, site)
    if key_file is None:
        raise WorkspaceError(
            f"site {site}'s key is protected by a passphrase; sites use a key file"
        )
    if not os.access(key_file, os.R_OK):
        raise SecureError(
            f"site {site}'s key file {key_file} is not here or not this process's to read: "
            "acts that need the site's key (checkpoints, track keys, desks, opening a track "
            f"for others) run where it is (the server, the operator); {SITE_KEY_FILE_ENV} "
            "says where it is"
        )
    return keystore.unlock(site, Unlock(key_file=key_file))


def can_sign(keystore: KeyStore, site: str) -> bool:
    """Whether this process could unlock ``site``'s key (without unlocking it): the key is
    protected by a key file this process may read — the operator's process, the server's.
    No key yet, a damaged key file, or an analyst's process: False."""
    try:
        key_file = site_key_file(keystore, site)
    except SecureError:
        return False
    return key_file is not None and os.access(key_file, os.R_OK)


def snapshot_seal(log: SqliteLog | PostgresLog, keystore: KeyStore, site: str) -> SignedSnapshots:
    """Snapshots signed by the site and bound to this log: a process that cannot read the
    site's key file saves none (the operator's processes and the server do), and every process
    uses only those that verify against the site's public card."""
    return SignedSnapshots(
        log.segment_head,
        lambda: keystore.public(site),
        lambda: site_secret(keystore, site),
        lambda: can_sign(keystore, site),
    )


class KeyHolders:
    """The keys a room's process opens sealed records with (application/at_rest.py): the
    site's, if this process may read its key file (unlocked when a sealed record is first
    met) — its current key and those it replaced, kept to open the epochs sealed to them —
    and the person it acts for once they proved who they are."""

    def __init__(self, keystore: KeyStore, site: str) -> None:
        self._keystore = keystore
        self._site = site
        self._site_keys: list[Secret] = []
        self._tried = False
        # The record keys of the person this process acts for, once proven: their keyring's,
        # which also opens epochs sealed to their inbox keys (their reader state keeps those).
        self.people: list[RecordKeySource] = []

    def __call__(self) -> list[RecordKeySource]:
        if not self._tried and can_sign(self._keystore, self._site):
            self._tried = True
            # A damaged key file: the acts that need the key say why.
            with suppress(SitroomError):
                self._site_keys = [site_secret(self._keystore, self._site), *self._kept()]
        return [*(held_by(k) for k in self._site_keys), *self.people]

    def _kept(self) -> list[Secret]:
        from sitroom.application.site_key import archived, as_site

        key_file = site_key_file(self._keystore, self._site)
        assert key_file is not None  # can_sign
        out = []
        for name in archived(self._keystore, self._site):
            with suppress(SitroomError):  # one kept key damaged: the others still open
                kept = self._keystore.unlock(name, Unlock(key_file=key_file))
                out.append(as_site(kept, self._site))
        return out

    def anchor(self) -> Identity | None:
        return self._keystore.public(self._site) if self._keystore.exists(self._site) else None

    def forget(self) -> None:
        """The site's key was replaced: open with the new key and the kept ones from now."""
        self._tried, self._site_keys = False, []


def record_seal(
    log: SqliteLog | PostgresLog, keystore: KeyStore, site: str
) -> tuple[SealedRecords, KeyHolders]:
    """Compartment records sealed at rest under their track's key, with the keys that open
    them here (a person's, once proven, is added to the holders)."""

    def epochs(after: int) -> Iterator[tuple[int, Mapping[str, Any]]]:
        for page in log.read(kinds=[KEY_EPOCH], after_seq=after):
            for r in page.rows():
                yield int(r.seq or 0), r.payload

    holders = KeyHolders(keystore, site)
    return SealedRecords(epochs, site=site, anchor=holders.anchor, holders=holders), holders


def _auth(path: Path, settings: Settings, clock: Clock) -> Auth:
    from sitroom.adapters.tokens import TokenFile
    from sitroom.application.auth import Auth

    return Auth(
        KeyStore(path / KEYS_DIR, key_files(path)),
        TokenFile(path / KEYS_DIR / TOKENS_FILE),
        clock,
        session_hours=settings.session_hours,
    )


def init(
    path: Path | str,
    *,
    site: str | None = None,
    clock: Clock | None = None,
    postgres: str | None = None,
) -> Room:
    """Create a room in ``path`` (made if missing): its settings, its log and this site's
    keys. WorkspaceError if it holds one already. ``postgres``: a URL whose database holds
    the log (a new one: a database already holding a sitroom log with records is refused),
    instead of the workspace's SQLite file."""
    path = Path(path)
    if is_room(path):
        raise WorkspaceError(f"{path} already holds a sitroom workspace")
    _refuse_lost_log(path)
    if postgres is not None:
        _refuse_taken(path, postgres)
    try:
        # A folder made here is its owner's only; one given is left as its owner set it.
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise WorkspaceError(f"cannot create workspace {path}: {e.strerror}") from None
    config = path / CONFIG_FILE
    if not config.exists():
        settings = Settings(site=site or f"site-{secrets.token_hex(4)}", log_url=postgres or "")
        write_private(config, settings.to_toml().encode())
    room = Room._open(path, clock, create=True, user=None, as_site=True)
    if room._init_site_keys():
        room._keep_first_head()
    room._attach_checkpointer()
    return room


def _refuse_taken(path: Path, url: str) -> None:
    """UserInputError if ``url`` is no PostgreSQL URL, or ``path`` already has settings (a
    workspace's log is chosen when it is made); WorkspaceError if the server cannot be reached
    or its database holds another workspace's records."""
    _postgres()
    from sitroom.adapters.log_postgres import is_url, records_at, shown

    if not is_url(url):
        raise UserInputError(f"--postgres takes a URL, postgresql://USER@HOST:PORT/DB, not {url!r}")
    if (path / CONFIG_FILE).exists():
        raise UserInputError(
            f"{path / CONFIG_FILE} exists already: set log_url in it instead of --postgres"
        )
    held = records_at(url)
    if held:
        raise WorkspaceError(
            f"{shown(url)} already holds a sitroom log ({plural(held, 'record')}): give each "
            "workspace a database of its own"
        )


def open(
    path: Path | str,
    *,
    user: str | None = None,
    proof: Proof | None = None,
    as_site: bool = False,
    clock: Clock | None = None,
    served_ok: bool = False,
) -> Room:
    """Open the room in ``path`` as ``user`` (their view, their rights), who proves it with
    ``proof`` — their passphrase or a token — once the room has users; or ``as_site``, the
    site itself, for desks and followed feeds. NoWorkspace if there is none; AuthError if the
    proof is missing or wrong; WorkspaceError if its log is missing or empty but the
    workspace had records, or if `sitroom serve` serves it (it is then the one writer:
    ``served_ok`` is for that server alone, which holds the lock)."""
    path = Path(path)
    _refuse_lost_log(path)
    if not is_room(path):
        raise NoWorkspace(str(path.resolve()))
    if not served_ok:
        refuse_served(path)
    return Room._open(path, clock, create=False, user=user, as_site=as_site, proof=proof)


MIN_SPEED, MAX_SPEED = 0.001, 1_000_000.0
WRITER_META = "writer"  # the log's meta row where its elected writer says where it listens
LOCAL_USER = "local"  # who submits to the desk of a room without users


def replay(
    path: Path | str,
    logfile: Path | str,
    *,
    speed: float = 0.0,
    on_alert: Callable[[ReplayedAlert], None] | None = None,
    progress: Progress | None = None,
) -> Replayed:
    """Replay an exported log into the fresh room in ``path`` (created if missing) on a
    virtual clock: every detector fires when it would have, and the result compares the alerts
    raised with the original's. ``speed`` > 0 is times real time; 0 is as fast as it goes."""
    import time

    from sitroom.adapters.jsonl import count_rows, read_export
    from sitroom.application.replay import replay as run

    # NaN fails too; a speed near 0 would sleep longer than time.sleep can count.
    if not (speed == 0 or MIN_SPEED <= speed <= MAX_SPEED):
        raise UserInputError(
            f"the speed is 0 (as fast as possible) or {MIN_SPEED} to {MAX_SPEED:,.0f} times "
            "real time"
        )
    logfile = Path(logfile)
    rows = read_export(logfile)
    total = count_rows(logfile)
    clock = ManualClock(0)
    room = open(path, as_site=True, clock=clock) if is_room(path) else init(path, clock=clock)

    def step(done: int, _: int | None) -> None:
        if progress:
            progress(done, total)

    with room:
        return run(
            room.session,
            clock,
            rows,
            speed=speed,
            sleep=time.sleep,
            on_alert=on_alert,
            progress=step,
        )


def verify(
    path: Path | str,
    *,
    deep: bool = False,
    checkpoint: bool = True,
    progress: Progress | None = None,
    witnessed: Sequence[bytes | str | Mapping[str, Any]] = (),
    witnesses: Sequence[bytes | str | Mapping[str, Any]] = (),
) -> Report:
    """Verify the audit chain of the room in ``path`` without opening it — the log alone:
    opening a room folds the log into projections, and a tampered record may not even decode.
    Every stored segment is checked against the chain, every checkpoint against the site's
    public card (from the keystore, outside the log); ``deep`` also decodes every segment and
    checks its records and ids; the log must still hold the head kept outside it (a log that
    is missing, empty, unreadable, cut short or replaced fails). An intact head is then signed
    (``checkpoint``).

    ``witnessed``: heads of this site co-signed by witnesses (`sitroom witness show -o`), and
    ``witnesses``: the witnesses' public cards, exchanged out of band: the log must extend
    each head, and each co-signed head it records itself by a witness given."""
    from sitroom.application.audit import lost
    from sitroom.application.audit import verify as walk
    from sitroom.application.witness import pinned

    path = Path(path)
    settings = Settings.load(path)
    kept = HeadFile(path / HEAD_FILE)
    where = _where(path, settings)
    gone = None if settings.log_url else _log_gone(path)
    if gone is not None and (found := lost(kept, site=settings.site, log=where, how=gone)):
        return found
    if not is_room(path):
        raise NoWorkspace(str(path.resolve()))
    heads, cards = pinned(witnessed, witnesses, site=settings.site)
    keys = KeyStore(path / KEYS_DIR)
    anchor = keys.public(settings.site) if keys.exists(settings.site) else None
    try:
        log = open_log(path, settings)
    except WorkspaceError as e:  # not a log at all: lost, if the workspace had one
        if settings.log_url and not getattr(e, "no_log", False):
            raise  # a server that cannot be reached has lost nothing
        if found := lost(kept, site=settings.site, log=where, how="no log sitroom can read"):
            return found
        raise
    try:
        report = walk(
            log,
            anchor,
            site=settings.site,
            kept=kept,
            deep=deep,
            progress=progress,
            witnessed=heads,
            witnesses=cards,
        )
    finally:
        log.close()
    if not (checkpoint and report.ok and report.seq):
        return report
    if log.read_only:
        return dataclasses.replace(
            report, notes=(*report.notes, f"no checkpoint signed: {log.read_only}")
        )
    from sitroom.adapters.served import served_by

    server = served_by(path)
    if server is not None:  # the server is the one writer: it signs (POST /verify)
        note = f"no checkpoint signed: {server.says(path)}, which signs one on POST /verify"
        return dataclasses.replace(report, notes=(*report.notes, note))
    with open(path, as_site=True) as room:
        return room.audit.sign(report)


def refuse_served(path: Path) -> None:
    """WorkspaceError if a live `sitroom serve` holds the room in ``path``: it is the room's
    one writer and its only key holder, so other processes go through it."""
    from sitroom.adapters.served import served_by

    server = served_by(path)
    if server is not None:
        raise WorkspaceError(f"{server.says(path)}: use the server, or stop it first")


# channels, outside a room -----------------------------------------------------------------
def _http_wire(
    me: Secret | None, peers: Peers | None, *, tls_only: bool, clock: Callable[[], int]
) -> Wire:
    """The HTTP adapter's wire (httpx, imported when a desk first sends): signing as ``me``,
    pinning https addresses to the cards ``peers`` names."""
    from sitroom.adapters.channel_http import HttpWire

    return HttpWire(me=me, peers=peers, tls_only=tls_only, clock=clock)


def _ask_witness(
    url: str, witness: Identity, request: Mapping[str, Any], me: Secret, settings: Settings
) -> Mapping[str, Any]:
    """A witness's desk asked to co-sign, over the site link: signed as this site for the
    witness, its certificate pinned to the witness's card."""
    from sitroom.adapters.channel_http import HttpWire
    from sitroom.application.ports import Peer

    wire = HttpWire(me=me, peers=lambda _: Peer(witness.name, witness), tls_only=settings.desk_tls)
    try:
        return wire.witness(url, request, settings.http_read_timeout_s)
    finally:
        wire.close()


def _post_json(
    url: str, body: Mapping[str, Any], timeout_s: float, token: str | None, pin: Identity | None
) -> tuple[int, dict[str, Any]]:
    from sitroom.adapters.channel_http import post_json

    return post_json(url, body, timeout_s, token=token, pin=pin)


def _limits(settings: Settings) -> Limits:
    from sitroom.adapters.channel_http import Limits

    return Limits(
        settings.http_max_body_bytes, settings.http_read_timeout_s, settings.http_max_connections
    )


def _serve_desk(
    desk: Desk,
    host: str,
    port: int,
    settings: Settings,
    secret: Secret | None,
    authenticate: Callable[[str | None], str],
) -> Endpoint:
    """A desk served over HTTPS with a certificate made from the site's key (or plain HTTP
    where ``desk_tls`` is off)."""
    from sitroom.adapters.channel_http import serve_desk
    from sitroom.adapters.site_tls import server_context

    tls = None
    if settings.desk_tls:
        if secret is None:
            raise WorkspaceError("a desk serves https with the site's key, and this room has none")
        tls = server_context(secret)
    return serve_desk(desk, host, port, _limits(settings), authenticate=authenticate, tls=tls)


def _read_trace(path: Path) -> Trace:
    """A channel trace, read by the YAML adapter."""
    from sitroom.adapters.trace import load_trace

    return load_trace(path)


def _scratch_session(clock: ManualClock) -> Session:
    """The site's session of a scratch room on ``clock``: an in-memory log, every projection
    and detector, for a simulation that must not touch a workspace."""
    engine = scratch_engine(clock.now_ms(), site="simulation")
    engine.clock = clock
    return Session.site(engine)


def simulate_channels(trace: Path | str, *, progress: Progress | None = None) -> SimReport:
    """Play a channel trace (YAML) in a scratch room: no workspace is read or written. To
    record it into a room, ``room.channels.simulate(trace, record=True)``."""
    from sitroom.application.channels import simulate_scratch

    return simulate_scratch(_read_trace(Path(trace)), _scratch_session, progress=progress)


def relay(
    to: str,
    *,
    listen: str = "127.0.0.1:8651",
    stop: threading.Event,
    ready: Callable[[str], None] | None = None,
    key: Path | str | None = None,
    key_file: Path | str | None = None,
    to_card: Path | str | None = None,
    to_fingerprint: str | None = None,
) -> None:
    """Run an intermediary (or a link's terminal) until ``stop`` is set: it passes messages
    — with their senders' signatures, unchanged — and pings on to ``to``, and vouches for the
    far end when asked. It records nothing, so it needs no room. ``ready`` is told its URL
    once it listens.

    With ``key`` (an intermediary's key, ``keys/NAME.key``, made by `sitroom keys init NAME
    --role intermediary`) and its ``key_file``, it serves https with a certificate made from
    that key, for desks to pin to the intermediary's card. An https ``to`` is pinned to the
    card ``to_card``, whose fingerprint must be ``to_fingerprint`` (read out by its owner)."""
    from sitroom.adapters.channel_http import RelayKeys, run_relay
    from sitroom.adapters.site_tls import server_context
    from sitroom.application.channels import parse_listen
    from sitroom.application.keys import pinned_card

    host, port = parse_listen(listen)
    tls = None
    if key is not None:
        if key_file is None:
            raise UserInputError("a relay's key opens with its key file: give --key-file")
        store, name = key_at(key)
        tls = server_context(store.unlock(name, Unlock(key_file=Path(key_file))))
    far_end = None
    if to_card is not None:
        far_end = pinned_card(_read_bytes(Path(to_card)), to_fingerprint)
    elif to.startswith("https://"):
        raise UserInputError(
            f"{to} is https: give its card and fingerprint (--to-card FILE --to-fingerprint FP) "
            "to pin its certificate to"
        )
    run_relay(to, host, port, stop=stop, ready=ready, keys=RelayKeys(tls, far_end))


def key_at(path: Path | str) -> tuple[KeyStore, str]:
    """A key file where it lies — ``keys/NAME.key`` in a workspace, or a copy of it on a party's
    own machine — as the keystore of its folder and the name it opens as."""
    key = Path(path)
    if key.suffix != ".key":
        raise UserInputError(f"{key} is not a key file (NAME.key, as `sitroom keys init` makes)")
    if not key.is_file():
        raise UserInputError(f"no such key file: {key}")
    return KeyStore(key.parent), key.stem


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise UserInputError(f"cannot read {path}: {e.strerror or e}") from None


class Room:
    """One workspace, opened: its settings, its session, and a service per capability."""

    def __init__(
        self,
        path: Path,
        settings: Settings,
        log: SqliteLog | PostgresLog,
        engine: Engine,
        session: Session,
        keystore: KeyStore,
    ) -> None:
        self.path = path
        self.settings = settings
        self.session = session
        self._log = log
        self._engine = engine
        self._keystore = keystore
        self._heads = HeadFile(path / HEAD_FILE)
        self._borrowed = False  # a view of another Room's log (as_user): not closed here
        self._desk_signers: dict[str, Secret] = {}  # users' keys, from their desk tokens
        self._holders: KeyHolders | None = None  # the keys sealed records open with

    @classmethod
    def _open(
        cls,
        path: Path,
        clock: Clock | None,
        *,
        create: bool,
        user: str | None,
        as_site: bool,
        proof: Proof | None = None,
    ) -> Room:
        settings = Settings.load(path)
        log = open_log(path, settings, create=create)
        try:
            _refuse_emptied(path, log, _where(path, settings))
        except BaseException:
            log.close()
            raise
        keystore = KeyStore(path / KEYS_DIR, key_files(path))
        records, holders = record_seal(log, keystore, settings.site)
        try:
            engine = Engine(
                log,
                clock or SystemClock(),
                site=settings.site,
                projections=default_projections(),
                detectors=default_detectors(settings),
                reactors=default_reactors(settings),
                snapshot_every=settings.snapshot_every,
                seal=snapshot_seal(log, keystore, settings.site),
                records=records,
            )
            if as_site:
                session = Session.site(engine)
            else:
                session = Session.of(engine, user)  # a user of this room, as they claim?
                if user is not None and engine.states[SECURE]["users"]:
                    signer = _auth(path, settings, engine.clock).prove(user, proof)
                    session = Session.of(engine, user, signer)
        except BaseException:
            log.close()
            raise
        room = cls(path, settings, log, engine, session, keystore)
        room._holders = holders
        if session.signer is not None:
            holders.people.append(room.keys.keyring(session.signer).record_key_of)
        room._attach_checkpointer()
        return room

    @property
    def site(self) -> str:
        return self.settings.site

    @property
    def user(self) -> str | None:
        return self.session.user

    @property
    def engine(self) -> Engine:
        """The room's one engine, for tools that measure or drive it (benchmarks, the
        simulator). Commands and services go through :attr:`session`: it scopes what a user
        sees and checks what they write, which the engine does not."""
        return self._engine

    @property
    def has_users(self) -> bool:
        """Whether the room has users (then acting as one needs proof); else it is
        single-user, and whoever opens it acts as it."""
        return bool(self.session.state(SECURE)["users"])

    def as_user(self, user: str, signer: Secret) -> Room:
        """The same room as ``user``, proven by ``signer`` (their key, from a token or a
        passphrase): one engine and log, their session. For a server, which holds the room
        once and acts for each request's user; closing it closes nothing."""
        view = Room(
            self.path,
            self.settings,
            self._log,
            self._engine,
            self._session_of(user, signer),
            self._keystore,
        )
        view._borrowed = True
        return view

    def acting_as(self, user: str) -> Room:
        """The same room as ``user``, in a room without users (where nobody proves who they
        are): one engine and log, their session. AuthError once the room has users."""
        if self.has_users:
            raise AuthError(f"this room has users: {user} proves who they are", reason="no-proof")
        view = Room(
            self.path,
            self.settings,
            self._log,
            self._engine,
            Session.of(self._engine, user),
            self._keystore,
        )
        view._borrowed = True
        return view

    def _session_of(self, user: str, signer: Secret) -> Session:
        return Session.of(self._engine, user, signer)

    @cached_property
    def auth(self) -> Auth:
        """Proof of who acts: passphrases, logins and tokens."""
        return _auth(self.path, self.settings, self._engine.clock)

    # capabilities -------------------------------------------------------------------------
    @cached_property
    def world(self) -> World:
        from sitroom.application.world import World

        return World(
            self.session, overdue_grace=self.settings.overdue_grace, stix_bundle=_stix_bundle
        )

    @cached_property
    def ingest(self) -> Ingest:
        from sitroom.adapters.connectors import connectors, samples
        from sitroom.adapters.reports import read_report
        from sitroom.application.ingest import Ingest

        return Ingest(
            self.session,
            connectors(max_bytes=self.settings.ingest_max_bytes),
            read_report=read_report,
            samples=samples,
            poll_interval_ms=round(self.settings.poll_interval_s * 1000),
        )

    @cached_property
    def risk(self) -> Risk:
        from sitroom.application.risk import Risk

        return Risk(
            self.session,
            plot=lambda curves, path, title: _reliability_plot(
                curves, path, title, workspace=self.path
            ),
        )

    @cached_property
    def keys(self) -> Keys:
        from sitroom.adapters.chainfile import RATCHET_DIR, ChainFiles
        from sitroom.adapters.tokens import TokenFile
        from sitroom.application.keys import Keys

        return Keys(
            self.session,
            self._keystore,
            site=self.settings.site,
            site_secret=self._site_secret,
            new_secret=new_secret,
            policy=key_policy(self.settings),
            aead=self.settings.key_aead,
            chains=ChainFiles(key_files(self.path) / RATCHET_DIR),
            tokens=TokenFile(self.path / KEYS_DIR / TOKENS_FILE),
        )

    @cached_property
    def site_key(self) -> SiteKey:
        """The site's own key: replaced with a key transition."""
        from sitroom.application.site_key import SiteKey

        return SiteKey(
            self.session,
            self._keystore,
            self.keys,
            site=self.settings.site,
            site_secret=self._site_secret,
            new_secret=new_secret,
            stored_tree=self._log.stored_tree,
            keep=self._keep_head,
            forget=self._forget_site_key,
        )

    def _forget_site_key(self) -> None:
        """The site's key was replaced: whatever unlocked the old one unlocks the new one when
        next needed, and snapshots signed by the old one (a cache) are dropped."""
        for reactor in self._engine.reactors:
            if isinstance(reactor, Checkpointer):
                reactor.forget()
        if isinstance(self._engine.seal, SignedSnapshots):
            self._engine.seal.forget()
        if self._holders is not None:
            self._holders.forget()
        self._log.drop_snapshots()

    @cached_property
    def sites(self) -> Sites:
        """This site's peers: what it sends them and takes from them (sitroom sites)."""
        from sitroom.adapters.sitesfile import SITES_FILE, PositionsFile
        from sitroom.application.keys import identity
        from sitroom.application.sites import Sites

        return Sites(
            self.session,
            site_secret=self._site_secret,
            identity_of=lambda name: identity(self.session, name),
            positions=PositionsFile(self.path / SITES_FILE),
            projections=default_projections(),
            observe=self._engine.observe,
        )

    @cached_property
    def users(self) -> Users:
        from sitroom.application.users import Users

        return Users(self.session, self.keys)

    @cached_property
    def agreements(self) -> Agreements:
        from sitroom.application.agreements import Agreements

        return Agreements(self.session, open_keys=self.keys.unlock)

    @cached_property
    def audit(self) -> Audit:
        from sitroom.application.audit import Audit

        return Audit(self.session, site_secret=self._site_secret, keep=self._keep_head)

    @cached_property
    def witness(self) -> Witnessing:
        from sitroom.application.witness import Witnessing

        def ask(url: str, witness: Identity, request: Mapping[str, Any]) -> Mapping[str, Any]:
            return _ask_witness(url, witness, request, self._site_secret(), self.settings)

        return Witnessing(
            self.session,
            site=self.settings.site,
            site_secret=self._site_secret,
            stored_tree=self._log.stored_tree,
            ask=ask,
        )

    @cached_property
    def proofs(self) -> Proofs:
        from sitroom.application.proofs import Proofs

        return Proofs(self.session, self._log, self._site_secret)

    @cached_property
    def channels(self) -> Channels:
        return self.channels_over(None)

    def channels_over(self, far_end: Callable[[], Wire] | None) -> Channels:
        """The room's channels, over ``far_end``'s wire instead of HTTP (None: HTTP): an
        in-process far end, for a demo or a drill that must reach no network."""
        from sitroom.application.channels import Channels

        engine = self._engine

        @contextmanager
        def on_clock(clock: Clock) -> Iterator[None]:
            saved, engine.clock = engine.clock, clock
            try:
                yield
            finally:
                engine.clock = saved

        settings = self.settings

        def site_secret() -> Secret | None:
            return self._site_secret() if self.keys.has_keys(self.site) else None

        def wire() -> Wire:
            from sitroom.application.desk import peers_of

            if far_end is not None:
                return far_end()

            peers = peers_of(self.session)
            clock = engine.clock.now_ms
            return _http_wire(site_secret(), peers, tls_only=settings.desk_tls, clock=clock)

        def post(
            url: str, body: Mapping[str, Any], timeout_s: float, token: str | None
        ) -> tuple[int, dict[str, Any]]:
            mine = self._keystore.public(self.site) if self.keys.has_keys(self.site) else None
            return _post_json(url, body, timeout_s, token, mine)

        return Channels(
            self.session,
            wire=wire,
            post=post,
            serve=lambda desk, host, port: _serve_desk(
                desk, host, port, settings, site_secret(), self._authenticate
            ),
            read_trace=_read_trace,
            site_secret=site_secret,
            user_secret=lambda name, passphrase: self.keys.unlock(name, passphrase),
            keyring=lambda secret: self.keys.keyring(secret),
            on_clock=on_clock,
            scratch=_scratch_session,
            settle=settle,
            as_user=self._desk_session,
            skew_ms=round(settings.desk_clock_skew_s * 1000),
            witnessing=lambda request: self.witness.cosign(request).statement,
        )

    def _authenticate(self, authorization: str | None) -> str:
        """Who a request to this room's desk is from, by the token in its ``Authorization``
        header (a room without users: anyone local is its one user, "local"). The key the
        token opens is kept for the user's session (:meth:`_desk_session`), so that what
        they submit is signed by them; every request is authenticated again."""
        if not self._engine.states[SECURE]["users"]:
            return LOCAL_USER
        if authorization is None:
            raise AuthError("a token is needed: Authorization: Bearer TOKEN", reason="no-token")
        try:
            secret = self.auth.authenticate(authorization)
        except AuthError as e:
            raise AuthError(str(e), reason="bad-token") from None
        self._desk_signers[secret.name] = secret
        return secret.name

    def _desk_session(self, user: str) -> Session:
        return Session.of(self._engine, user, self._desk_signers.get(user))

    @cached_property
    def tracks(self) -> Tracks:
        from sitroom.adapters.cpsat import CpSatSolver
        from sitroom.adapters.ical import read_calendar, write_calendars
        from sitroom.adapters.trackfile import read_track_file
        from sitroom.application.tracks import Tracks

        return Tracks(
            self.session,
            solver=CpSatSolver(),
            read_track_file=lambda path, now: read_track_file(path, now_ms=now),
            read_calendar=read_calendar,
            write_calendars=lambda folder, meetings, people, stamp: write_calendars(
                folder, meetings, people, stamp, workspace=self.path
            ),
        )

    @cached_property
    def reports(self) -> Reports:
        """After-action reports: what this user's session shows of a window of the log."""
        from sitroom.application.report import Reports

        return Reports(self.session, room=self.path.resolve().name)

    # keys the room holds ------------------------------------------------------------------
    def _init_site_keys(self) -> bool:
        """Give this site its identity (a key file protects it, so desks start unattended) and
        publish it. False if it had one already."""
        name = self.settings.site
        if self._keystore.exists(name):
            return False
        secret = new_secret(name, SITE)
        self._keystore.save(secret, Unlock(key_file=self._keystore.default_key_file(name)))
        self._engine.append([identity_record(secret, self._engine.clock.now_ms())])
        return True

    def _site_secret(self) -> Secret:
        return site_secret(self._keystore, self.settings.site)

    def _attach_checkpointer(self) -> None:
        """Sign the audit chain's head every ``checkpoint_every`` records, once this site has
        a key protected by a key file (unlocked only when a checkpoint is due). A damaged key
        file leaves the log chained but unsigned: `sitroom verify` says so."""
        if any(isinstance(r, Checkpointer) for r in self._engine.reactors):
            return
        if not can_sign(self._keystore, self.settings.site):
            return  # not the operator's process: the site's key file is not for it to read
        self._engine.reactors.append(
            Checkpointer(
                self._log.tree_head,
                self._site_secret,
                every=self.settings.checkpoint_every,
                keep=self._keep_head,
            )
        )

    def _keep_head(self, signed: SignedHead) -> bool:
        """Keep a signed head outside the log (head.json), if it extends the one kept."""
        return keep_head(self._heads, signed, self._log.head_at)

    def _keep_first_head(self) -> None:
        """A new workspace's first head (its identity record), signed and kept outside the log
        — no checkpoint record — so that even a small log, which reaches no checkpoint for a
        while, cannot be lost or swapped unseen."""
        self._keep_head(self._log.tree_head().sign(self._site_secret()))

    # one of several servers on a PostgreSQL log (service/roles.py) --------------------------
    def follow(self, why: str) -> None:
        """Append nothing from now on (NotWriter, saying ``why``): another process is the
        log's elected writer. A tick finds the log read-only and raises nothing."""
        self._shared_log().follow(why)

    def lead(self) -> bool:
        """Append again, this process elected the writer, and let the clock-driven work raise
        what fell due while no writer ran. False (and nothing changes): the log cannot be
        written at all (a read-only standby)."""
        log = self._shared_log()
        log.lead()
        if log.read_only:
            return False
        self.session.tick()
        return True

    def catch_up(self) -> None:
        """Fold what other processes appended since this one last looked."""
        self._engine.catch_up()

    def writer_said(self) -> str | None:
        """What the log's elected writer said of itself (``say_writer``)."""
        return self._log.get_meta(WRITER_META)

    def say_writer(self, said: str) -> None:
        self._log.set_meta(WRITER_META, said)

    def _shared_log(self) -> PostgresLog:
        from sitroom.adapters.log_postgres import PostgresLog

        if not isinstance(self._log, PostgresLog):
            raise WorkspaceError("only a PostgreSQL log is served by several processes")
        return self._log

    # closing ------------------------------------------------------------------------------
    @property
    def notes(self) -> list[str]:
        """What a person should know about the states this room read: a snapshot that did not
        verify, and so was rebuilt from the log (each said once); records sealed at rest that
        this process could not open."""
        seal = self._engine.records
        if not isinstance(seal, SealedRecords):
            return list(self._engine.notes)
        unopened = [
            f"track {track}: {plural(len(seqs), 'record')} sealed to keys this process does "
            "not hold, left out"
            for track, seqs in sorted(seal.hidden.items())
        ]
        return [*self._engine.notes, *seal.notes, *unopened]

    @property
    def unsaved(self) -> str | None:
        """Why the snapshots taken at the last checkpoint were not saved (a full disk): they
        are a cache, so nothing is lost, but the next opening folds a longer tail."""
        return self._log.unsaved

    def close(self) -> None:
        """Checkpoint (a bulk ingest may leave a growing state's snapshot far behind: one
        snapshot now spares every later opening that tail) and close the log."""
        if self._borrowed:
            return
        try:
            self._engine.checkpoint()
        finally:
            self._log.close()

    def __enter__(self) -> Room:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
