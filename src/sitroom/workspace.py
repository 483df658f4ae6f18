"""A workspace on disk: a directory holding ``sitroom.toml`` and the SQLite log.

This is the composition root: it picks the adapters (SQLite log, clock) and the projections and
detectors, and hands them to the engine. The CLI and, later, the API open workspaces through it.
"""

from __future__ import annotations

import gc
import secrets
from dataclasses import dataclass
from pathlib import Path

from sitroom.adapters.clock import ManualClock, SystemClock
from sitroom.adapters.keystore import KEYS_DIR, KeyStore, Unlock, new_secret
from sitroom.adapters.log_memory import MemoryLog
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.access import Access, access_for, view_for
from sitroom.application.audit import Checkpointer
from sitroom.application.engine import Engine
from sitroom.application.ports import Clock
from sitroom.application.principals import rotate, writer_of
from sitroom.application.sealing import Keyring
from sitroom.domain.actors import ActorsProjection
from sitroom.domain.channels.ledger import ChannelDetector, ChannelsProjection
from sitroom.domain.claims import ClaimsProjection
from sitroom.domain.projection import Detector, Projection, Reactor
from sitroom.domain.redline_watch import RedLineDetector, RedLinesProjection
from sitroom.domain.risk.detector import RiskDetector
from sitroom.domain.risk.ledger import Forecaster
from sitroom.domain.risk.state import RiskProjection
from sitroom.domain.secure.agreements_ledger import AgreementsProjection
from sitroom.domain.secure.identity import SITE, Secret, identity_record
from sitroom.domain.secure.ledger import SecureProjection
from sitroom.domain.secure.watch import KeyDetector
from sitroom.domain.secure.wear import Policy
from sitroom.domain.sources import OverdueSourceDetector, SourcesProjection
from sitroom.domain.summary import SummaryProjection
from sitroom.domain.timeutil import MS_PER_DAY
from sitroom.domain.tracks import DeadlockDetector, TracksProjection
from sitroom.errors import SecureError, WorkspaceError
from sitroom.settings import CONFIG_FILE, Settings

LOG_FILE = "sitroom.db"


def settle() -> None:
    """For a process that keeps a workspace open (a desk, a followed feed, the service):
    collect once, then freeze what survived, so no full collection walks the loaded libraries
    and projections in the middle of an append. Such a collection costs 40–100 ms here (over
    ~100k objects) and was the whole of the re-forecast p99 above p95. Objects made later are
    collected as usual."""
    gc.collect()
    gc.freeze()


def default_projections() -> list[Projection]:
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
    return [
        OverdueSourceDetector(grace=settings.overdue_grace),
        RedLineDetector(),
        DeadlockDetector(),
        ChannelDetector(),
        RiskDetector(),
        KeyDetector(key_policy(settings)),
    ]


def key_policy(settings: Settings) -> Policy:
    return Policy(
        cryptoperiod_ms=round(settings.key_cryptoperiod_days * MS_PER_DAY),
        warn_ms=round(settings.key_warn_days * MS_PER_DAY),
        usage_warn=settings.key_usage_warn,
        usage_limit=settings.key_usage_limit,
    )


def default_reactors(settings: Settings) -> list[Reactor]:
    return [Forecaster(method=settings.risk_aggregate, disagreement=settings.risk_disagreement)]


def scratch_engine(now_ms: int = 0, *, site: str = "scratch") -> Engine:
    """An engine over an in-memory log, with every projection and detector: for simulations
    and what-ifs that must not touch a workspace."""
    return Engine(
        MemoryLog(),
        ManualClock(now_ms),
        site=site,
        projections=default_projections(),
        detectors=default_detectors(Settings(site=site)),
        reactors=default_reactors(Settings(site=site)),
    )


@dataclass
class Workspace:
    path: Path
    settings: Settings
    log: SqliteLog
    engine: Engine

    @classmethod
    def init(cls, path: Path, *, clock: Clock | None = None, site: str | None = None) -> Workspace:
        path = Path(path)
        if (path / LOG_FILE).exists():
            raise WorkspaceError(f"{path} already holds a sitroom workspace")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise WorkspaceError(f"cannot create workspace {path}: {e.strerror}") from None
        config = path / CONFIG_FILE
        if not config.exists():
            config.write_text(Settings(site=site or f"site-{secrets.token_hex(4)}").to_toml())
        ws = cls._open(path, clock, create=True)
        ws.init_site_keys()
        ws.attach_checkpointer()
        return ws

    @classmethod
    def open(cls, path: Path, *, clock: Clock | None = None) -> Workspace:
        path = Path(path)
        if not (path / LOG_FILE).exists():
            raise WorkspaceError(
                f"no sitroom workspace in {path.resolve()} (create one with `sitroom init`, "
                "or pass --workspace DIR)"
            )
        return cls._open(path, clock, create=False)

    @classmethod
    def _open(cls, path: Path, clock: Clock | None, *, create: bool) -> Workspace:
        settings = Settings.load(path)
        log = SqliteLog(path / LOG_FILE, durability=settings.durability, create=create)
        engine = Engine(
            log,
            clock or SystemClock(),
            site=settings.site,
            projections=default_projections(),
            detectors=default_detectors(settings),
            reactors=default_reactors(settings),
            snapshot_every=settings.snapshot_every,
        )
        ws = cls(path, settings, log, engine)
        ws.attach_checkpointer()
        return ws

    def act_as(self, user: str | None) -> Access:
        """From now on, read as ``user`` sees the workspace (their compartments only) and write
        as them (their role and clearances checked). A workspace without users is unaffected."""
        access = access_for(self.engine, user)
        self.engine = view_for(self.engine, access)
        return access

    # keys ---------------------------------------------------------------------------------
    @property
    def keystore(self) -> KeyStore:
        return KeyStore(self.path / KEYS_DIR)

    def init_site_keys(self) -> bool:
        """Give this site its identity (a key file protects it, so desks start unattended) and
        publish it. False if it had one already."""
        name = self.settings.site
        if self.keystore.exists(name):
            return False
        secret = new_secret(name, SITE)
        self.keystore.save(secret, Unlock(key_file=self.keystore.default_key_file(name)))
        self.engine.append([identity_record(secret, self.engine.clock.now_ms())])
        return True

    def site_secret(self) -> Secret:
        """This site's private keys, unlocked with its key file: what signs checkpoints and
        epoch keys."""
        name = self.settings.site
        key_file = self.keystore.stored_key_file(name)
        if key_file is None:
            raise WorkspaceError(
                f"site {name}'s key is protected by a passphrase; sites use a key file"
            )
        return self.keystore.unlock(name, Unlock(key_file=key_file))

    def attach_checkpointer(self) -> None:
        """Sign the audit chain's head every ``checkpoint_every`` records, once this site has
        a key protected by a key file (it is unlocked only when a checkpoint is due). A
        damaged key file leaves the log chained but unsigned: `sitroom verify` says so, and
        `sitroom keys` names the damage, rather than every command failing."""
        if any(isinstance(r, Checkpointer) for r in self.engine.reactors):
            return
        try:
            if self.keystore.stored_key_file(self.settings.site) is None:
                return
        except SecureError:  # no key yet, or a damaged key file
            return
        self.engine.reactors.append(
            Checkpointer(
                self.log.chain_head, self.site_secret, every=self.settings.checkpoint_every
            )
        )

    def keyring(self) -> Keyring:
        """This site's keyring: it seals and opens track messages as the site, and starts a
        track's first epoch when a message needs one."""
        site = self.site_secret()
        writer = writer_of(self.engine)

        def first_epoch(track: str) -> None:
            rotate(
                writer,
                track,
                issuer=site,
                policy=key_policy(self.settings),
                aead=self.settings.key_aead,
                reason="first message",
            )

        return Keyring(writer, site, first_epoch=first_epoch)

    def close(self) -> None:
        # A command's appends may leave a growing state's snapshot far behind (a bulk ingest);
        # one snapshot now spares every later command that tail.
        writer_of(self.engine).checkpoint()
        self.log.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
