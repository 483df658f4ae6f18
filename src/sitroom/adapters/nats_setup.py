"""The NATS side that sites replicate through: subjects, streams, users and their permissions.

One account, ``SITROOM``, with JetStream. Site X publishes what it sends peer Y on
``sitroom.rec.X.Y``; stream ``SR_X`` keeps everything X sends; Y reads X's records through
the durable pull consumer ``Y`` on ``SR_X``, filtered to ``sitroom.rec.X.Y``. Only the
``operator`` user creates streams and consumers (:func:`provision`): a site that could create a
stream could make one capturing ``sitroom.rec.>`` and read every site's traffic.

Each site's user may publish its own records, pull and ack from the consumers named after it,
read those consumers' and its own stream's state, and receive on its own inbox prefix
(``_INBOX_X``), so no site sees another's replies. Nothing else: no direct or message get, no
stream or consumer management. The permissions name each peer's stream (``SR_GENEVA``...)
rather than ``SR_*``: NATS wildcards are whole tokens, so ``SR_*`` would be a literal stream
name matching nothing.

nats-py is imported by :func:`provision` only: the rest serves a command that writes the
server's configuration, which needs no client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sitroom.domain import sites
from sitroom.domain.sites import SITE_NAME
from sitroom.errors import SecureError, UserInputError

if TYPE_CHECKING:
    from nats.js import JetStreamContext

ACCOUNT = "SITROOM"
OPERATOR = "operator"
# What a password may hold: token_urlsafe's alphabet. Nothing to quote in the configuration,
# and never a leading "$2a$", which nats-server would take for a bcrypt hash.
PASSWORD = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
CREDENTIALS_FORMAT = "sitroom-nats-credentials/1"

DUPLICATE_WINDOW = 120.0  # seconds: a record re-sent within this is stored once (Nats-Msg-Id)
ACK_WAIT = 30.0  # seconds before an unacked record is delivered again
MAX_ACK_PENDING = 10_000  # a reader catching up after days apart pulls in large batches


def check_site(site: str) -> str:
    """``site``, if it can name a site (and so a user, a stream and a consumer)."""
    sites.check_site(site)
    if site == OPERATOR:
        raise UserInputError(f"site name {OPERATOR!r} is the NATS administrator's user")
    return site


def stream_name(site: str) -> str:
    """The stream of the records ``site`` sends: ``SR_`` and its name upper-cased."""
    return "SR_" + check_site(site).upper().replace("-", "_")


def subject(origin: str, dest: str) -> str:
    """The subject ``origin`` publishes on what it sends ``dest``."""
    return f"sitroom.rec.{check_site(origin)}.{check_site(dest)}"


def inbox_prefix(site: str) -> str:
    """The inbox prefix ``site``'s client connects with: the only subjects it may receive on."""
    return f"_INBOX_{check_site(site)}"


@dataclass(frozen=True)
class SiteCredentials:
    """A site's NATS user (named as the site) and its password."""

    site: str
    user: str
    password: str = field(repr=False)


def new_credentials(sites: Iterable[str]) -> dict[str, SiteCredentials]:
    """A user with a fresh random password for each of ``sites``."""
    return {
        s: SiteCredentials(s, s, secrets.token_urlsafe(24))
        for s in sorted(set(map(check_site, sites)))
    }


def save_credentials(path: Path, creds: Mapping[str, SiteCredentials]) -> None:
    """Writes ``creds`` to ``path``, readable by its owner only (0600 before a byte is in it),
    replacing any file there at once: a reader sees the old file or the new, never half."""
    body = {
        "format": CREDENTIALS_FORMAT,
        "sites": {s: {"user": c.user, "password": c.password} for s, c in sorted(creds.items())},
    }
    part = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=2)
            out.write("\n")
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def load_credentials(path: Path) -> dict[str, SiteCredentials]:
    """The credentials saved at ``path``, each field checked; a :class:`SecureError` naming the
    file and what is wrong with it otherwise."""

    def bad(what: str) -> SecureError:
        return SecureError(f"NATS credentials file {path} {what}")

    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise SecureError(
            f"NATS credentials file {path} cannot be read ({e.strerror or e})"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise bad("is not JSON (damaged or cut short)") from None
    if not isinstance(body, dict) or body.get("format") != CREDENTIALS_FORMAT:
        raise bad(
            f"is not a sitroom NATS credentials file (its format is not {CREDENTIALS_FORMAT})"
        )
    sites = body.get("sites")
    if not isinstance(sites, dict):
        raise bad("has no sites")
    creds = {}
    for site, entry in sites.items():
        if not isinstance(site, str) or not SITE_NAME.match(site) or site == OPERATOR:
            raise bad(f"names a site {site!r} that cannot be a site's name")
        if not isinstance(entry, dict) or entry.get("user") != site:
            raise bad(f"gives site {site!r} no user or a user not named as the site")
        password = entry.get("password")
        if not isinstance(password, str) or not PASSWORD.match(password):
            raise bad(f"gives site {site!r} no password or one that is not 16+ url-safe letters")
        creds[site] = SiteCredentials(site, site, password)
    return creds


def site_permissions(site: str, peers: Iterable[str]) -> dict[str, list[str]]:
    """What ``site``'s user may publish and subscribe to (everything else is denied), given the
    ``peers`` whose streams it may read through the consumers named after it."""
    own = stream_name(site)
    peer_set = set(peers) - {site}
    others = [stream_name(p) for p in sorted(peer_set)]
    publish = [
        f"sitroom.rec.{site}.*",
        *(f"$JS.API.CONSUMER.MSG.NEXT.{s}.{site}" for s in others),
        *(f"$JS.ACK.{s}.{site}.>" for s in others),
        *(f"$JS.API.CONSUMER.INFO.{s}.{site}" for s in others),
        # the last bundle on its own subject of each peer's stream (its headers say how many
        # records that peer has sent it in all: the lag `sitroom sites` shows); sealed to it
        *(f"$JS.API.DIRECT.GET.{stream_name(p)}.{subject(p, site)}" for p in sorted(peer_set)),
        f"$JS.API.STREAM.INFO.{own}",  # its own stream's last sequence: how far peers lag
        "$JS.API.INFO",
    ]
    return {"publish": publish, "subscribe": [f"{inbox_prefix(site)}.>"]}


def account_config(creds: Mapping[str, SiteCredentials], operator_password: str) -> str:
    """The ``accounts`` block of a nats-server configuration: the ``SITROOM`` account with
    JetStream, the operator (all subjects) and one user per site with its permissions."""
    if not PASSWORD.match(operator_password):
        raise UserInputError("the NATS operator's password is not 16+ url-safe letters")
    users = [f"      {{user: {_q(OPERATOR)}, password: {_q(operator_password)}}}"]
    for site, c in sorted(creds.items()):
        if c.user != check_site(site) or not PASSWORD.match(c.password):
            raise UserInputError(f"the NATS credentials of site {site!r} are not a site's")
        perms = site_permissions(site, creds)
        users.append(
            f"      {{user: {_q(c.user)}, password: {_q(c.password)}, permissions: {{\n"
            f"        publish: {{allow: {_list(perms['publish'])}}}\n"
            f"        subscribe: {{allow: {_list(perms['subscribe'])}}}\n"
            "      }}"
        )
    return (
        f"accounts {{\n  {ACCOUNT}: {{\n    jetstream: enabled\n    users: [\n"
        + "\n".join(users)
        + "\n    ]\n  }\n}\n"
    )


def _q(text: str) -> str:
    """A double-quoted configuration string. Quoted, ``$JS...`` is a subject, not a variable;
    what reaches here is a checked name, password or subject, but quotes and backslashes are
    escaped all the same."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` changed: streams and ``stream/consumer`` names created, and the
    consumers removed because their pair is no longer allowed."""

    created: list[str]
    removed: list[str]


async def provision(
    js: JetStreamContext,
    sites: Iterable[str],
    pairs: Iterable[tuple[str, str]],
    replicas: int,
) -> Provisioned:
    """Makes the account's streams and consumers what ``sites`` and ``pairs`` (origin, reader)
    say, through the operator's connection ``js``: a stream per site, a consumer per pair. Run
    again, it changes only what differs: a new pair gets its consumer, a changed setting is
    updated, and a consumer on a site's stream whose pair is gone is removed — else the reader
    could go on pulling the records it is no longer cleared for."""
    from nats.js import api
    from nats.js.errors import NotFoundError

    names = sorted(set(map(check_site, sites)))
    wanted: dict[str, set[str]] = {s: set() for s in names}
    for origin, reader in pairs:
        if origin not in wanted or reader not in wanted:
            raise UserInputError(f"pair {origin}->{reader} names a site not among {names}")
        if origin == reader:
            raise UserInputError(f"pair {origin}->{reader} sends a site its own records")
        wanted[origin].add(reader)
    if replicas < 1:
        raise UserInputError(f"replicas must be at least 1, not {replicas}")
    created, removed = [], []
    for origin, readers in wanted.items():
        stream = api.StreamConfig(
            name=stream_name(origin),
            subjects=[f"sitroom.rec.{origin}.*"],
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW,
            allow_direct=True,
        )
        try:
            await js.stream_info(stream_name(origin))
        except NotFoundError:
            await js.add_stream(stream)
            created.append(stream_name(origin))
        else:
            await js.update_stream(stream)  # the same settings: the server changes nothing
        existing = {c.name for c in await js.consumers_info(stream_name(origin))}
        for reader in sorted(readers):
            await js.add_consumer(stream_name(origin), _consumer(origin, reader))
            if reader not in existing:
                created.append(f"{stream_name(origin)}/{reader}")
        for gone in sorted(existing - readers):
            await js.delete_consumer(stream_name(origin), gone)
            removed.append(f"{stream_name(origin)}/{gone}")
    return Provisioned(created, removed)


def _consumer(origin: str, reader: str) -> Any:
    from nats.js import api

    # A name as well as a durable name: nats-py then uses the server's current request
    # (CONSUMER.CREATE.<stream>.<name>.<filter>, create or update), not the legacy
    # DURABLE.CREATE kept for servers before 2.9.
    return api.ConsumerConfig(
        name=reader,
        durable_name=reader,
        filter_subject=subject(origin, reader),
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_wait=ACK_WAIT,
        max_ack_pending=MAX_ACK_PENDING,
    )
