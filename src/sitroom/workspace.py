"""A workspace on disk, as the commands not yet moved onto the Room open it (transitional:
sitroom.room is the composition root).

"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sitroom.adapters.clock import SystemClock
from sitroom.adapters.keystore import KEYS_DIR, KeyStore, new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.access import Access, access_for, view_for
from sitroom.application.audit import Checkpointer
from sitroom.application.engine import Engine
from sitroom.application.ports import Clock, Unlock
from sitroom.application.principals import rotate, writer_of
from sitroom.application.sealing import Keyring
from sitroom.domain.secure.identity import SITE, Secret, identity_record
from sitroom.errors import SecureError, WorkspaceError
from sitroom.room import (
    LOG_FILE,
    default_detectors,
    default_projections,
    default_reactors,
    key_policy,
    scratch_engine,
    settle,
)
from sitroom.settings import CONFIG_FILE, Settings

__all__ = ["LOG_FILE", "Workspace", "key_policy", "scratch_engine", "settle"]


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

        return Keyring(lambda: writer.states["secure"], site, first_epoch=first_epoch)

    def close(self) -> None:
        # A command's appends may leave a growing state's snapshot far behind (a bulk ingest);
        # one snapshot now spares every later command that tail.
        writer_of(self.engine).checkpoint()
        self.log.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
