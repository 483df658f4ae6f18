"""One typed, frozen settings object, built once at start-up from the workspace's
``sitroom.toml`` and ``SITROOM_*`` environment variables (the environment wins)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from sitroom.errors import WorkspaceError

CONFIG_FILE = "sitroom.toml"
HOME_ENV = "SITROOM_HOME"
SITE_KEY_FILE_ENV = "SITROOM_SITE_KEY_FILE"


def home() -> Path:
    """Where sitroom keeps what is a person's or an operator's, not a workspace's: cached
    logins, and the key files that open sites' keys (``$SITROOM_HOME``, else ~/.sitroom)."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".sitroom")


def key_files(workspace: Path) -> Path:
    """The folder outside ``workspace`` where the key files of its site and intermediaries are
    made (one per workspace): whoever can read the workspace cannot open its site's key."""
    import hashlib

    where = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return home() / "keyfiles" / f"{workspace.resolve().name}-{where}"


@dataclass(frozen=True)
class Settings:
    site: str = "local"
    """This workspace's site id: the origin stamped on every record it writes."""
    durability: str = "full"
    """'full' survives power loss (fsync on every commit); 'normal' survives process crashes."""
    log_url: str = ""
    """A PostgreSQL URL (postgresql://USER@HOST:PORT/DB) whose database holds the log instead
    of the workspace's sitroom.db, for a team on one server (``sitroom init --postgres URL``;
    keep a password in ~/.pgpass or PGPASSWORD, not here). Empty: the SQLite log."""
    nats_url: str = ""
    """The NATS server this site reaches its peers through (nats://HOST:PORT), for `sitroom
    sites sync`. Empty: this site replicates with nobody."""
    nats_creds: str = ""
    """The file holding this site's NATS user and password (`sitroom sites nats-config`
    writes one per site); relative to the workspace."""
    nats_ca: str = ""
    """The CA certificate the NATS servers' certificates are checked against (TLS); relative
    to the workspace. Empty: connect without TLS (a loopback lab only)."""
    snapshot_every: int = 10_000
    """Projection snapshots every this many records: bounds the work of an as-of rebuild."""
    checkpoint_every: int = 10_000
    """Sign the audit chain's head every this many records (and after each `sitroom verify`)."""
    overdue_grace: float = 1.0
    """A source is overdue after its cadence times (1 + grace) without anything new."""
    poll_interval_s: float = 900.0
    """How often `ingest --follow` polls a live feed (GDELT publishes every 15 minutes)."""
    risk_disagreement: float = 0.40
    """Flag a forecast whose members differ by more than this (0.40: forty points)."""
    risk_aggregate: str = "median"
    """The headline aggregate of a forecast: median, mean or extremised (log-odds)."""
    key_aead: str = "aes-256-gcm"
    """The AEAD of new track epochs: aes-256-gcm or chacha20-poly1305."""
    key_cryptoperiod_days: float = 30.0
    """How long a track epoch key may be used (NIST SP 800-57 allows up to two years)."""
    key_warn_days: float = 7.0
    """Alert this long before a key expires or, at its recent rate, wears out."""
    key_usage_warn: float = 0.8
    """... or once it has sealed this share of its message limit."""
    key_usage_limit: int = 0
    """A message limit per key of your own, below the AEAD's (0: the AEAD's, RFC 9001 6.6)."""
    key_wear_action: str = "rotate"
    """A message that would pass its key's limit or cryptoperiod: 'rotate' the track's key
    first (where this site may issue epochs), or 'refuse' it."""
    http_max_body_bytes: int = 1_048_576
    """A desk or relay refuses a request body larger than this (413), unread."""
    http_read_timeout_s: float = 10.0
    """... and drops a connection that sends nothing for this long (a bad Content-Length)."""
    http_max_connections: int = 64
    """... and answers 503 beyond this many connections at once (one thread each)."""
    session_hours: float = 12.0
    """How long a login lasts (``sitroom login``, a server session) before the passphrase is
    asked for again."""
    desk_tls: bool = True
    """Desks serve HTTPS (a certificate made from the site's own key) and send only to https
    URLs, pinning the far end's certificate to its imported card. False: plain HTTP both ways
    (a lab, a loopback test); requests are signed all the same."""
    desk_clock_skew_s: float = 300.0
    """A desk refuses a signed request made further than this from its own clock (s), and
    remembers the signatures it took for as long, to refuse them a second time."""
    ingest_max_bytes: int = 4 * 1024**3
    """The most bytes one input may hold (a file, a download, an archive member once
    decompressed): past it, it is refused at the limit, unread. Well above GDELT 1.0's largest
    daily file (a few hundred MB) and a full ACLED export; a zip bomb stops here."""
    serve_listen: str = "127.0.0.1:8660"
    """Where `sitroom serve` listens, HOST:PORT (port 0 picks a free one)."""
    stream_queue_max: int = 1000
    """Events the server holds for one stream client that reads too slowly: past it, the
    client is told it was dropped and disconnected (it resumes with Last-Event-ID)."""
    serve_upload_max_bytes: int = 256 * 1024**2
    """The largest file `sitroom serve` takes in one request (``POST /ingest/FORMAT``): 413
    past it, the rest unread."""
    login_attempts_per_minute: int = 5
    """Failed logins the server allows per user name in a minute, before it answers 429."""

    @classmethod
    def load(cls, workspace: Path, environ: dict[str, str] | None = None) -> Settings:
        environ = dict(os.environ) if environ is None else environ
        values: dict[str, Any] = {}
        path = workspace / CONFIG_FILE
        if path.exists():
            try:
                values.update(tomllib.loads(path.read_text()).get("sitroom", {}))
            except tomllib.TOMLDecodeError as e:
                raise WorkspaceError(f"{path} is not valid TOML: {e}") from None
        known = {f.name: f for f in fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise WorkspaceError(f"{path}: unknown settings {sorted(unknown)}")
        for name in known:
            env = environ.get(f"SITROOM_{name.upper()}")
            if env is not None:
                values[name] = env
        settings = cls()
        try:
            settings = replace(
                settings, **{k: _typed(getattr(settings, k), k, v) for k, v in values.items()}
            )
        except ValueError as e:
            raise WorkspaceError(f"bad setting: {e}") from None
        if settings.durability not in ("full", "normal"):
            raise WorkspaceError(
                f"durability must be 'full' or 'normal', not {settings.durability!r}"
            )
        if settings.risk_aggregate not in ("median", "mean", "extremised"):
            raise WorkspaceError(
                "risk_aggregate must be median, mean or extremised, "
                f"not {settings.risk_aggregate!r}"
            )
        if settings.log_url and not settings.log_url.startswith(("postgresql://", "postgres://")):
            raise WorkspaceError(
                f"log_url is a PostgreSQL URL (postgresql://USER@HOST/DB), not {settings.log_url!r}"
            )
        if settings.checkpoint_every < 1:
            raise WorkspaceError("checkpoint_every is a number of records, at least 1")
        if not 0 < settings.risk_disagreement < 1:
            raise WorkspaceError("risk_disagreement is a fraction, such as 0.4")
        if settings.key_aead not in ("aes-256-gcm", "chacha20-poly1305"):
            raise WorkspaceError(
                f"key_aead must be aes-256-gcm or chacha20-poly1305, not {settings.key_aead!r}"
            )
        if not 0 < settings.key_usage_warn <= 1 or settings.key_cryptoperiod_days <= 0:
            raise WorkspaceError("key_usage_warn is a fraction; key_cryptoperiod_days positive")
        if settings.key_usage_limit < 0 or settings.key_warn_days < 0:
            raise WorkspaceError("key_usage_limit and key_warn_days cannot be negative")
        if settings.key_wear_action not in ("rotate", "refuse"):
            raise WorkspaceError(
                f"key_wear_action must be rotate or refuse, not {settings.key_wear_action!r}"
            )
        if min(settings.http_max_body_bytes, settings.http_max_connections) < 1 or not (
            settings.http_read_timeout_s > 0
        ):
            raise WorkspaceError("the http_ limits are positive")
        if not 1 <= settings.desk_clock_skew_s <= 86_400:
            raise WorkspaceError("desk_clock_skew_s is a number of seconds, 1 to 86400 (a day)")
        if settings.ingest_max_bytes < 1:
            raise WorkspaceError("ingest_max_bytes is a number of bytes, at least 1")
        host, _, port = settings.serve_listen.rpartition(":")
        if not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise WorkspaceError(f"serve_listen is HOST:PORT, not {settings.serve_listen!r}")
        if min(settings.stream_queue_max, settings.login_attempts_per_minute) < 1:
            raise WorkspaceError("stream_queue_max and login_attempts_per_minute are at least 1")
        if settings.serve_upload_max_bytes < 1:
            raise WorkspaceError("serve_upload_max_bytes is at least 1")
        return settings

    def to_toml(self) -> str:
        lines = ["[sitroom]"]
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool):
                lines.append(f"{f.name} = {'true' if v else 'false'}")
            else:
                lines.append(f"{f.name} = {v!r}" if not isinstance(v, str) else f'{f.name} = "{v}"')
        return "\n".join(lines) + "\n"


_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _typed(default: Any, name: str, value: Any) -> Any:
    """``value`` (from TOML or the environment) as the type of the setting's default: a
    switch is true or false (TOML's, or true/false, 1/0, yes/no in the environment), never
    Python's truth of a string, for which "false" is true."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        found = _BOOLS.get(str(value).strip().lower())
        if found is None:
            raise ValueError(f"{name} is true or false, not {value!r}")
        return found
    return type(default)(value)
