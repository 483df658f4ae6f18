"""A room: the composition root. It opens a workspace on disk — a directory holding
``sitroom.toml``, the SQLite log and the key files — picks the adapters, builds the one engine
with every projection, detector and reactor, and hands a session to each capability's service::

    room = sitroom.open("room", user="dana")
    room.world.events(near=beirut, radius=Radius.parse("500mi"))
    room.tracks.check()
    room.close()

Services are built on first use, so a command pays only for the libraries its capability needs
(the scheduler's OR-Tools, the risk models' SciPy, STIX...).
"""

from __future__ import annotations

import gc
import secrets
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sitroom.adapters.clock import ManualClock, SystemClock
from sitroom.adapters.keystore import KEYS_DIR, KeyStore, new_secret
from sitroom.adapters.log_memory import MemoryLog
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import Checkpointer
from sitroom.application.engine import Engine
from sitroom.application.ports import Clock, Unlock
from sitroom.application.session import Session
from sitroom.domain.projection import Detector, Projection, Reactor
from sitroom.domain.secure.identity import SITE, Secret, identity_record
from sitroom.domain.secure.wear import Policy
from sitroom.domain.timeutil import MS_PER_DAY
from sitroom.errors import NoWorkspace, SecureError, UserInputError, WorkspaceError
from sitroom.settings import CONFIG_FILE, Settings

if TYPE_CHECKING:
    from sitroom.application.ingest import Ingest
    from sitroom.application.replay import Replayed, ReplayedAlert
    from sitroom.application.results import Progress
    from sitroom.application.world import World

LOG_FILE = "sitroom.db"


def default_projections() -> list[Projection[Any]]:
    from sitroom.domain.actors import ActorsProjection
    from sitroom.domain.channels.ledger import ChannelsProjection
    from sitroom.domain.claims import ClaimsProjection
    from sitroom.domain.redline_watch import RedLinesProjection
    from sitroom.domain.risk.state import RiskProjection
    from sitroom.domain.secure.agreements_ledger import AgreementsProjection
    from sitroom.domain.secure.ledger import SecureProjection
    from sitroom.domain.sources import SourcesProjection
    from sitroom.domain.summary import SummaryProjection
    from sitroom.domain.tracks import TracksProjection

    return [
        SummaryProjection(),
        SourcesProjection(),
        ClaimsProjection(),
        RedLinesProjection(),
        ActorsProjection(),
        TracksProjection(),
        ChannelsProjection(),
        RiskProjection(),
        SecureProjection(),
        AgreementsProjection(),
    ]


def default_detectors(settings: Settings) -> list[Detector]:
    from sitroom.domain.channels.ledger import ChannelDetector
    from sitroom.domain.redline_watch import RedLineDetector
    from sitroom.domain.risk.detector import RiskDetector
    from sitroom.domain.secure.watch import KeyDetector
    from sitroom.domain.sources import OverdueSourceDetector
    from sitroom.domain.tracks import DeadlockDetector

    return [
        OverdueSourceDetector(grace=settings.overdue_grace),
        RedLineDetector(),
        DeadlockDetector(),
        ChannelDetector(),
        RiskDetector(),
        KeyDetector(key_policy(settings)),
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


def is_room(path: Path | str) -> bool:

    """Whether ``path`` holds a sitroom workspace."""
    return (Path(path) / LOG_FILE).exists()



def init(path: Path | str, *, site: str | None = None, clock: Clock | None = None) -> Room:
    """Create a room in ``path`` (made if missing): its settings, its log and this site's
    keys. WorkspaceError if it holds one already."""
    path = Path(path)
    if is_room(path):
        raise WorkspaceError(f"{path} already holds a sitroom workspace")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkspaceError(f"cannot create workspace {path}: {e.strerror}") from None
    config = path / CONFIG_FILE
    if not config.exists():
        config.write_text(Settings(site=site or f"site-{secrets.token_hex(4)}").to_toml())
    room = Room._open(path, clock, create=True, user=None, as_site=True)
    room._init_site_keys()
    room._attach_checkpointer()
    return room


def open(
    path: Path | str,
    *,
    user: str | None = None,
    as_site: bool = False,
    clock: Clock | None = None,
) -> Room:
    """Open the room in ``path`` as ``user`` (their view, their rights), or ``as_site`` —
    the site itself, for desks and followed feeds. NoWorkspace if there is none."""
    path = Path(path)
    if not is_room(path):
        raise NoWorkspace(str(path.resolve()))
    return Room._open(path, clock, create=False, user=user, as_site=as_site)


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

    if speed < 0:
        raise UserInputError("the speed is 0 (as fast as possible) or more")
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


class Room:
    """One workspace, opened: its settings, its session, and a service per capability."""

    def __init__(
        self, path: Path, settings: Settings, log: SqliteLog, engine: Engine, session: Session
    ) -> None:
        self.path = path
        self.settings = settings
        self.session = session
        self._log = log
        self._engine = engine
        self._keystore = KeyStore(path / KEYS_DIR)

    @classmethod
    def _open(
        cls, path: Path, clock: Clock | None, *, create: bool, user: str | None, as_site: bool
    ) -> Room:
        settings = Settings.load(path)
        log = SqliteLog(path / LOG_FILE, durability=settings.durability, create=create)
        try:
            engine = Engine(
                log,
                clock or SystemClock(),
                site=settings.site,
                projections=default_projections(),
                detectors=default_detectors(settings),
                reactors=default_reactors(settings),
                snapshot_every=settings.snapshot_every,
            )
            session = Session.site(engine) if as_site else Session.of(engine, user)
        except BaseException:
            log.close()
            raise
        room = cls(path, settings, log, engine, session)
        room._attach_checkpointer()
        return room

    @property
    def site(self) -> str:
        return self.settings.site

    @property
    def user(self) -> str | None:
        return self.session.user

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
            connectors(),
            read_report=read_report,
            samples=samples,
            poll_interval_ms=round(self.settings.poll_interval_s * 1000),
        )

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
        """This site's private keys, unlocked with its key file: what signs checkpoints and
        epoch keys."""
        name = self.settings.site
        key_file = self._keystore.stored_key_file(name)
        if key_file is None:
            raise WorkspaceError(
                f"site {name}'s key is protected by a passphrase; sites use a key file"
            )
        return self._keystore.unlock(name, Unlock(key_file=key_file))

    def _attach_checkpointer(self) -> None:
        """Sign the audit chain's head every ``checkpoint_every`` records, once this site has
        a key protected by a key file (unlocked only when a checkpoint is due). A damaged key
        file leaves the log chained but unsigned: `sitroom verify` says so."""
        if any(isinstance(r, Checkpointer) for r in self._engine.reactors):
            return
        try:
            if self._keystore.stored_key_file(self.settings.site) is None:
                return
        except SecureError:  # no key yet, or a damaged key file
            return
        self._engine.reactors.append(
            Checkpointer(
                self._log.chain_head, self._site_secret, every=self.settings.checkpoint_every
            )
        )

    # closing ------------------------------------------------------------------------------
    def close(self) -> None:
        """Checkpoint (a bulk ingest may leave a growing state's snapshot far behind: one
        snapshot now spares every later opening that tail) and close the log."""
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
