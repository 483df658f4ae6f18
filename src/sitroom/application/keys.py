"""Keys as a room holds them: identities (a person's, an intermediary's, the site's own), the
per-track epoch keys sealed to whoever is cleared for a track, how each key wears, and the
cards and epoch bundles that move between sites.

Every change of who is cleared for a track re-keys it (:mod:`sitroom.application.users`): a
new epoch, sealed to the track's members after the change and nobody else, so a newcomer cannot
read the epochs before they joined and someone removed reads nothing sealed after they left.
The site that issues an epoch is always one of its members (its desk seals and opens the
track's messages).

Private keys never leave the keystore but unlocked, for the act that needs them: passphrases
are arguments (given, or a callable asked only once the act is allowed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.ports import (
    KeepsReaders,
    KeyStore,
    Passphrase,
    ReaderStates,
    SenderChains,
    TokenStore,
    Unlock,
)
from sitroom.application.results import INTERNAL, Answer, Result
from sitroom.application.sealing import Keyring
from sitroom.application.session import Session
from sitroom.domain.kinds import (
    ALERT,
    IDENTITY,
    KEY_EPOCH,
    KEY_REVOKED,
    SECURE_KINDS,
    IdentityPayload,
)
from sitroom.domain.records import Record
from sitroom.domain.secure import inbox
from sitroom.domain.secure.codec import json_object, unb64
from sitroom.domain.secure.epochs import SECRET_BYTES, check_epoch_signature, epoch_record
from sitroom.domain.secure.identity import (
    PERSON,
    SITE,
    Identity,
    Secret,
    identity_from_record,
    identity_record,
)
from sitroom.domain.secure.ledger import SECURE, cleared, current_identity
from sitroom.domain.secure.ratchet import Chains
from sitroom.domain.secure.transition import FORMAT as KEY_TRANSITION_FORMAT
from sitroom.domain.secure.watch import KEYS, current_keys
from sitroom.domain.secure.wear import LIMITS, KeyWear, Policy
from sitroom.domain.timeutil import iso
from sitroom.errors import AlreadyExists, NotFound, SecureError, UserInputError

RandomBytes = Callable[[int], bytes]
NewSecret = Callable[[str, str], Secret]  # (name, role) -> fresh key pairs
# A party's name -> their private keys, unlocked.
Unlocker = Callable[[str], Secret]

EPOCHS_FORMAT = "sitroom-epochs/1"
NOT_FORWARD_SECRET = "not forward-secret (identity key)"
TRACKS = "tracks"


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class KeysMade(Result):
    """An identity's keys: made now (``created``), or found already there."""

    name: str
    role: str
    fingerprint: str
    key: str | None  # the key file written (None: they existed already)
    protected_by: str  # "key file" or "passphrase"
    created: bool


@dataclass(frozen=True, kw_only=True)
class KeysReplaced(Result):
    """An identity's key replaced: the new one published, the old one revoked, and the tracks
    it was a member of re-keyed without it."""

    name: str
    role: str
    fingerprint: str  # the new key's
    revoked: str  # the old key's fingerprint
    key: str | None  # the key file written (None: written already by a run that stopped)
    key_file: str | None  # the key file that opens it now (None: a passphrase does)
    epochs: tuple[EpochIssued, ...]
    tokens_revoked: int  # tokens that wrapped the old key, ended


@dataclass(frozen=True, kw_only=True)
class EpochIssued(Result):
    """A new epoch of a track's key, sealed to its members."""

    track: str
    epoch: int
    members: tuple[str, ...]
    expires: str
    reason: str
    # Members whose copy is sealed to their identity key: not forward-secret (the issuing
    # site's own copy among them: its archive).
    identity_copies: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # members with few inbox keys left


@dataclass(frozen=True, kw_only=True)
class InboxPublished(Result):
    """One-time inbox keys published for an identity, their private halves kept."""

    name: str
    fingerprint: str
    ids: tuple[int, ...]
    unused: int  # its inbox keys an epoch may take now, these included
    expires: str
    kept_in: str  # where the private halves are


@dataclass(frozen=True, kw_only=True)
class IdentityRow(Result):
    name: str
    role: str
    fingerprint: str
    since: str
    key_changes: int
    inbox_keys: int = 0  # one-time inbox keys an epoch may still be sealed to


@dataclass(frozen=True, kw_only=True)
class KeyUse(Result):
    """One sender's key in a track's current epoch: its use against its limit, and its end."""

    sender: str
    sealed: int
    failed_decryptions: int
    limit: int | None
    used: float | None  # the share of the limit used
    rate_per_day: float
    expires: str
    wears_out: str | None  # at the recent rate
    rotate_by: str


@dataclass(frozen=True, kw_only=True)
class TrackKeys(Result):
    track: str
    epoch: int
    aead: str
    limits: str  # where the AEAD's limits come from
    members: tuple[str, ...]
    created: str
    expires: str
    reason: str
    epochs: int
    keys: tuple[KeyUse, ...]
    rotate_by: str
    # Each member's copy of the current epoch: "inbox key N" or "not forward-secret
    # (identity key)".
    sealed_to: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class KeyStatus(Answer):
    """Every identity, each track key the reader may see, messages refused, key alerts."""

    identities: tuple[IdentityRow, ...]
    tracks: tuple[TrackKeys, ...]
    rejected: dict[str, int]
    key_alerts: int


@dataclass(frozen=True, kw_only=True)
class Exported(Result):
    """A card or an epoch bundle, written as ``data`` (JSON) for another site to import."""

    what: str  # "card" or "epochs"
    name: str  # the identity, or the track
    fingerprint: str | None  # a card's
    epochs: int  # an epoch bundle's
    data: bytes = field(metadata=INTERNAL, repr=False)


@dataclass(frozen=True, kw_only=True)
class ImportedIdentity(Result):
    name: str
    role: str
    fingerprint: str


@dataclass(frozen=True, kw_only=True)
class ImportedEpoch(Result):
    track: str
    epoch: int
    issuer: str


@dataclass(frozen=True, kw_only=True)
class Imported(Result):
    """What an import recorded: another party's identity, or a track's epochs."""

    identity: ImportedIdentity | None
    epochs: tuple[ImportedEpoch, ...]


# helpers the other services share ---------------------------------------------------------
def identity(session: Session, name: str) -> Identity | None:
    """A published identity, trusted as the log holds it (its self-signature checked)."""
    found = current_identity(session.state(SECURE), name)
    return None if found is None else identity_from_record(found)


def pinned_card(
    payload: bytes | Mapping[str, Any], fingerprint: str | None, *, to: str = "trust"
) -> Identity:
    """The identity a card publishes, once it signs itself and its fingerprint is the one its
    owner read out (SecureError otherwise; UserInputError without a fingerprint). ``to``: what
    the card is read for ("trust", "import"), as the refusal says it."""
    ident = identity_from_record(json_object(payload, "a card"))
    if fingerprint is None:
        raise UserInputError(
            f"compare {ident.name}'s fingerprint with its owner out of band, then give it "
            f"to {to} the card: {ident.fingerprint}"
        )
    if fingerprint.replace(" ", "").lower() != ident.fingerprint.replace(" ", ""):
        raise SecureError(
            f"{ident.name}'s fingerprint is {ident.fingerprint}, not {fingerprint}: not {to}ed"
        )
    return ident


def ask(passphrase: Passphrase | None, name: str) -> str:
    if passphrase is None:
        raise UserInputError(f"{name}'s keys need a passphrase")
    return passphrase(name) if callable(passphrase) else passphrase


def open_key(store: KeyStore, name: str, passphrase: Passphrase | None) -> Secret:
    """``name``'s private keys in ``store``: with the key file that protects them, or else the
    passphrase (asked for only now). A room's keys and a party's own key file open the same."""
    key_file = store.stored_key_file(name)
    if key_file is not None:
        return store.unlock(name, Unlock(key_file=key_file))
    return store.unlock(name, Unlock(passphrase=ask(passphrase, name)))


def _use(w: KeyWear) -> KeyUse:
    d = w.as_dict()
    return KeyUse(
        sender=w.sender,
        sealed=w.sealed,
        failed_decryptions=w.failed,
        limit=w.limit,
        used=d["used"],
        rate_per_day=d["rate_per_day"],
        expires=d["expires"],
        wears_out=d["wears_out"],
        rotate_by=d["rotate_by"],
    )


def _dump(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"


# the service ------------------------------------------------------------------------------
class Keys:
    """Identities and track keys: make, rotate, read, export, import, unlock."""

    def __init__(
        self,
        session: Session,
        keystore: KeyStore,
        *,
        site: str,
        site_secret: Callable[[], Secret],
        new_secret: NewSecret,
        policy: Policy,
        aead: str,
        chains: SenderChains,
        random_bytes: RandomBytes = os.urandom,
        tokens: TokenStore | None = None,
        readers: ReaderStates | None = None,
    ) -> None:
        if readers is None and isinstance(chains, KeepsReaders):
            readers = chains.readers()
        self._readers = readers
        self._s = session
        self._tokens = tokens
        self._store = keystore
        self._site = site
        self._site_secret = site_secret
        self._new_secret = new_secret
        self._policy = policy
        self._aead = aead
        self._random = random_bytes
        self._chains = chains
        self._walks = Chains()  # every keyring's walks along senders' chains, shared

    # making keys --------------------------------------------------------------------------
    def init(
        self,
        name: str | None = None,
        *,
        role: str = PERSON,
        key_file: Path | None = None,
        passphrase: Passphrase | None = None,
    ) -> KeysMade:
        """Make an identity's keys (Ed25519 signing, X25519 key agreement), encrypted at rest
        — a person's under a passphrase, anyone's under a key file — and publish the public
        half. Without a name: this site's own keys, if it has none (under a key file, so
        desks start unattended)."""
        if name is None:
            return self._site_keys()
        admin = self._s.administer(f"create keys for {name}")
        if self._store.exists(name) and identity(admin, name) is not None:
            raise AlreadyExists("identity", name, detail=": it has keys here")
        return self.create(admin, name, role, key_file=key_file, passphrase=passphrase)

    def key_file_of(self, name: str) -> Path | None:
        """Where the key file that opens ``name``'s key was made (None: a passphrase does)."""
        return self._store.stored_key_file(name)

    def _site_keys(self) -> KeysMade:
        name = self._site
        if not self._store.exists(name) or identity(self._s, name) is None:
            admin = self._s.administer("create the site's keys")
            return self.create(admin, name, SITE)
        ident = self._store.public(name)
        return KeysMade(
            name=name,
            role=ident.role,
            fingerprint=ident.fingerprint,
            key=None,
            protected_by="passphrase" if self._store.stored_key_file(name) is None else "key file",
            created=False,
        )

    def create(
        self,
        admin: Session,
        name: str,
        role: str,
        *,
        key_file: Path | None = None,
        passphrase: Passphrase | None = None,
    ) -> KeysMade:
        """Make and publish ``name``'s keys in an admin act (``admin`` is its session).

        The keys are saved, then published: keys this room holds that the log never published
        (a run killed between the two) are published now, opened as they were saved, rather
        than left where nothing could use them or make them again."""
        path = None
        if self._store.exists(name):
            secret = self.unlock(name, passphrase)
        else:
            secret = self._new_secret(name, role)
            if key_file is not None or role != PERSON:
                how = Unlock(key_file=key_file or self._store.default_key_file(name))
            else:
                how = Unlock(passphrase=ask(passphrase, name))
            path = self._store.save(secret, how)
        admin.append([identity_record(secret, admin.now_ms())])
        return KeysMade(
            name=name,
            role=secret.role,
            fingerprint=secret.identity.fingerprint,
            key=None if path is None else str(path),
            protected_by="passphrase" if self._store.stored_key_file(name) is None else "key file",
            created=True,
        )

    def has_keys(self, name: str) -> bool:
        """Whether this room holds ``name``'s private keys."""
        return self._store.exists(name)

    def unlock(self, name: str, passphrase: Passphrase | None = None) -> Secret:
        """``name``'s private keys, opened with the key file that protects them, or else the
        passphrase (asked for only now)."""
        if not self._store.exists(name):
            raise SecureError(f"this room holds no private keys for {name!r}")
        return open_key(self._store, name, passphrase)

    def replace(
        self,
        name: str,
        *,
        passphrase: Passphrase | None = None,
        key_file: Path | None = None,
        reason: str = "replaced",
    ) -> KeysReplaced:
        """Replace ``name``'s key, as when it is compromised: a new key pair, protected as the
        old one was (a new passphrase for a person, a new key file otherwise); in one append,
        its identity published, the old key revoked and every track whose current epoch was
        sealed to the old key re-keyed without it; the tokens that wrapped the old key ended.
        An admin replaces anyone's; a user, proven, their own (signed with the new key)."""
        s = self._s
        own = s.user == name and s.signer is not None
        admin = None if own else s.administer(f"replace the keys of {name}")
        if name == self._site:
            raise UserInputError(
                f"{name} is this site: its key is replaced with a key transition "
                "(room.site_key.replace, `sitroom keys replace` from the CLI)"
            )
        old = identity(admin or s, name)
        if old is None:
            known = sorted((admin or s).state(SECURE)["identities"])
            raise NotFound("identity", name, known=known)
        if not self._store.exists(name):
            raise SecureError(
                f"this room holds no private keys for {name!r}: a key is replaced where it is "
                "held, and its new card imported"
            )
        path = None
        if self._store.public(name) != old:  # replaced, but a stopped run never published it
            secret = self.unlock(name, passphrase)
        else:
            secret = self._new_secret(name, old.role)
            path = self._store.replace(
                secret, self._protect_like(name, secret, key_file, passphrase)
            )
        act = s.replacing_own_key(secret) if admin is None else admin
        ended = [t.id for t in (self._tokens.tokens() if self._tokens else []) if t.user == name]
        records, epochs = self._replacing(act, old, secret, reason, ended)
        act.append(records, action=f"replace the keys of {name}")
        if admin is None:
            s.adopt_key(secret)  # what they write next in this session is signed by the new key
        for token in ended:
            assert self._tokens is not None
            self._tokens.revoke(token)
        opened_by = self._store.stored_key_file(name)
        return KeysReplaced(
            name=name,
            role=secret.role,
            fingerprint=secret.identity.fingerprint,
            revoked=old.fingerprint,
            key=None if path is None else str(path),
            key_file=None if opened_by is None else str(opened_by),
            epochs=tuple(epochs),
            tokens_revoked=len(ended),
        )

    def _protect_like(
        self, name: str, new: Secret, key_file: Path | None, passphrase: Passphrase | None
    ) -> Unlock:
        """How a new key of ``name``'s is protected: as the old one was, with a new secret — a
        passphrase asked for, or a key file made new (whoever took the key may hold the old)."""
        old_file = self._store.stored_key_file(name)
        if old_file is None and key_file is None:
            given = ask(passphrase, name)
            try:
                self._store.unlock(name, Unlock(passphrase=given))
            except SecureError:
                return Unlock(passphrase=given)
            raise UserInputError(
                f"that passphrase opens {name}'s old key: whoever took the key may know it too; "
                "choose a new one"
            )
        if key_file is not None and key_file.exists():
            raise UserInputError(f"{key_file} exists: a replaced key gets a key file made new")
        short = new.identity.fingerprint.replace(" ", "")[:8]
        where = (
            old_file.parent if old_file is not None else self._store.default_key_file(name).parent
        )
        return Unlock(key_file=key_file or where / f"{name}-{short}.keyfile")

    def _replacing(
        self, act: Session, old: Identity, new: Secret, reason: str, tokens: list[str]
    ) -> tuple[list[Record], list[EpochIssued]]:
        """What a key replacement appends: the new identity, the old key's revocation, and a
        new epoch of each track whose current epoch was sealed to the old key."""
        now = act.now_ms()
        name, fingerprint = old.name, new.identity.fingerprint
        revoked = KEY_REVOKED.record(
            {
                "name": name,
                "fingerprint": old.fingerprint,
                "replaced_by": fingerprint,
                "reason": reason,
                "by": self._s.user,
                "tokens": tokens,
            },
            id=f"{KEY_REVOKED}:{name}:{old.fingerprint.replace(' ', '')[:16]}",
            source=SITROOM_SOURCE,
            valid_from=now,
        )
        records = [identity_record(new, now), revoked]
        epochs = []
        state, tracks = act.state(SECURE), act.state(TRACKS)["tracks"]
        stale = [
            t
            for t, eps in sorted(state["epochs"].items())
            if t in tracks and name in eps[-1]["members"]
        ]
        issuer = self._site_secret() if stale else None
        keys = {name: new.identity}
        taken: set[tuple[str, int]] = set()  # inbox keys of this append's epochs: one each
        for track in stale:
            assert issuer is not None
            record, issued = self._next_epoch(
                act,
                track,
                issuer,
                reason=f"{name}'s key replaced",
                at_ms=now,
                new_keys=keys,
                taken=taken,
            )
            records.append(record)
            epochs.append(issued)
        return records, epochs

    def rekey_all(
        self, act: Session, issuer: Secret, *, reason: str, at_ms: int
    ) -> tuple[list[Record], list[EpochIssued]]:
        """The records of a new epoch of every track that has a key, issued by ``issuer`` —
        the site's new key, a member of each — not yet appended."""
        state, tracks = act.state(SECURE), act.state(TRACKS)["tracks"]
        keys = {issuer.name: issuer.identity}
        taken: set[tuple[str, int]] = set()
        records, issued = [], []
        for track in sorted(t for t in state["epochs"] if t in tracks):
            record, done = self._next_epoch(
                act, track, issuer, reason=reason, at_ms=at_ms, new_keys=keys, taken=taken
            )
            records.append(record)
            issued.append(done)
        return records, issued

    # track keys ---------------------------------------------------------------------------
    def rotate(self, track: str, *, reason: str = "rotation") -> EpochIssued:
        """Start a new epoch of a track's key, sealed to whoever is cleared for it now."""
        admin = self._s.administer(f"rotate the keys of {track}")
        return self.issue(admin, track, reason=reason)

    def keyring(self, secret: Secret) -> Keyring:
        """``secret``'s keyring for the tracks this session sees, under the room's key policy.
        When a message needs a new epoch — a track's first, or one to replace a key out of use
        — the site issues it, starting at the message's time (the sender is cleared for the
        track: no admin is needed)."""

        def issue(track: str, reason: str, at_ms: int) -> EpochIssued:
            return self.issue(self._s, track, reason=reason, at_ms=at_ms)

        return Keyring(
            lambda: self._s.state(SECURE),
            secret,
            chains=self._chains,
            walks=self._walks,
            random_bytes=self._random,
            issue=issue,
            policy=self._policy,
            readers=self._readers,
        )

    def issue(
        self, session: Session, track: str, *, reason: str, at_ms: int | None = None
    ) -> EpochIssued:
        """A new epoch of ``track`` issued by this site, appended through ``session``,
        starting ``at_ms`` (default: now). Checks nothing of who asks: the caller does."""
        record, issued = self._next_epoch(
            session, track, self._site_secret(), reason=reason, at_ms=at_ms
        )
        session.append([record], action=f"rotate the keys of {track}")
        return issued

    def _next_epoch(
        self,
        session: Session,
        track: str,
        issuer: Secret,
        *,
        reason: str,
        at_ms: int | None = None,
        new_keys: Mapping[str, Identity] | None = None,
        taken: set[tuple[str, int]] | None = None,
    ) -> tuple[Record, EpochIssued]:
        """The record of ``track``'s next epoch, not yet appended: sealed to whoever is cleared
        for it now (and the issuer), each to their lowest unused inbox key published under
        their current key, else under their published key or the one ``new_keys`` gives them
        (a key replaced in the same append). The issuer's own copy is sealed to its identity
        key: the site's archive. ``taken``: inbox keys used by epochs of the same append."""
        tracks = session.state(TRACKS)["tracks"]
        if track not in tracks:
            raise NotFound("track", track, known=sorted(tracks))
        state = session.state(SECURE)
        names = sorted({*cleared(state, track), issuer.name})
        found = [(new_keys or {}).get(n) or identity(session, n) for n in names]
        members = [m for m in found if m is not None]
        epochs = state["epochs"].get(track, [])
        number = (epochs[-1]["epoch"] + 1) if epochs else 1
        now = session.now_ms() if at_ms is None else at_ms
        taken = set() if taken is None else taken
        inboxes: dict[str, tuple[int, bytes]] = {}
        warnings = []
        for m in members:
            published = state["inbox"].get(m.name, {})
            if m.name == issuer.name or not published:
                continue  # the site's archive copy; a member who never opted in
            used = {i for who, i in taken if who == m.name}
            free = inbox.usable(published, m, now, used)
            if free:
                inboxes[m.name] = free[0]
                taken.add((m.name, free[0][0]))
            if len(free) - 1 < inbox.LOW:
                left = max(len(free) - 1, 0)
                warnings.append(
                    f"{m.name} has {left} inbox key{'' if left == 1 else 's'} left"
                    + ("" if free else ": epoch sealed to the identity key, not forward-secret")
                    + f"; `sitroom keys inbox` as {m.name} publishes more"
                )
        record = epoch_record(
            track,
            number,
            self._random(SECRET_BYTES),
            members,
            issuer,
            now_ms=now,
            cryptoperiod_ms=self._policy.cryptoperiod_ms,
            aead=self._aead,
            reason=reason,
            inboxes=inboxes,
        )
        issued = EpochIssued(
            track=track,
            epoch=number,
            members=tuple(sorted(m.name for m in members)),
            expires=iso(int(record.payload["expires_ms"])) or "",
            reason=reason,
            identity_copies=tuple(sorted(m.name for m in members if m.name not in inboxes)),
            warnings=tuple(warnings),
        )
        return record, issued

    # inbox keys ---------------------------------------------------------------------------
    def inbox(
        self, count: int = inbox.DEFAULT_COUNT, *, passphrase: Passphrase | None = None
    ) -> InboxPublished:
        """Publish ``count`` one-time inbox keys for the acting identity (the user, or this
        site), signed with its identity key; their private halves kept first, sealed under it.
        Epochs issued from then on are sealed to them, one each, until they run out."""
        if not 1 <= count <= 1000:
            raise UserInputError("publish 1 to 1,000 inbox keys at a time")
        if self._readers is None:
            raise SecureError("this room keeps no reader state: inbox keys cannot be kept")
        s, name = self._s, self._s.user or self._site
        if s.user is None:
            me, act = self._site_secret(), s
        else:
            me = s.signer if s.signer is not None else self.unlock(name, passphrase)
            act = s.publishing_own(me)
        now = act.now_ms()
        published = act.state(SECURE)["inbox"].get(name, {})
        first = inbox.next_id(published)
        pairs = {
            first + i: inbox.new_inbox_key(self._random(inbox.KEY_BYTES)) for i in range(count)
        }
        self._readers.change(
            me, lambda st: (None, st.with_inbox({i: p[0] for i, p in pairs.items()}))
        )
        act.append(
            [inbox.inbox_record(me, i, p[1], now_ms=now) for i, p in pairs.items()],
            action=f"publish inbox keys for {name}",
        )
        unused = inbox.usable(act.state(SECURE)["inbox"].get(name, {}), me.identity, now)
        return InboxPublished(
            name=name,
            fingerprint=me.identity.fingerprint,
            ids=tuple(pairs),
            unused=len(unused),
            expires=iso(now + inbox.LIFETIME_MS) or "",
            kept_in=str(getattr(self._readers, "path", lambda n: "memory")(name)),
        )

    # reading ------------------------------------------------------------------------------
    def status(self, track: str | None = None, *, as_of_ms: int | None = None) -> KeyStatus:
        """Every identity, and each track key: use against its limit, expiry, when it will
        wear out at its recent rate; as of a moment."""
        s = self._s
        at = s.at(as_of_ms)
        views = s.states([SECURE, "summary"], at)
        state = views[SECURE]
        identities = tuple(
            IdentityRow(
                name=name,
                role=v[-1]["role"],
                fingerprint=v[-1]["fingerprint"],
                since=iso(v[-1]["since"]) or "",
                key_changes=len(v) - 1,
                inbox_keys=len(
                    inbox.usable(state["inbox"].get(name, {}), identity_from_record(v[-1]), at.wall)
                ),
            )
            for name, v in sorted(state["identities"].items())
        )
        tracks = []
        for keys in current_keys(state, self._policy, at.wall):
            t = keys[0].track
            if track is not None and t != track:
                continue
            ep = state["epochs"][t][-1]
            tracks.append(
                TrackKeys(
                    track=t,
                    epoch=ep["epoch"],
                    aead=ep["aead"],
                    limits=LIMITS[ep["aead"]].source,
                    members=tuple(sorted(ep["members"])),
                    created=iso(ep["created_ms"]) or "",
                    expires=iso(ep["expires_ms"]) or "",
                    reason=ep.get("reason", ""),
                    epochs=len(state["epochs"][t]),
                    keys=tuple(_use(w) for w in keys),
                    rotate_by=iso(min(w.ends_ms for w in keys)) or "",
                    sealed_to={
                        name: NOT_FORWARD_SECRET
                        if copy.get("inbox") is None
                        else f"inbox key {copy['inbox']}"
                        for name, copy in sorted(ep["members"].items())
                    },
                )
            )
        if track is not None and not tracks:
            raise NotFound("track key", track, known=sorted(state["epochs"]))
        newest = max((e[-1]["since"] for e in state["epochs"].values()), default=None)
        return KeyStatus(
            identities=identities,
            tracks=tuple(tracks),
            rejected=dict(state["rejected"]),
            key_alerts=views["summary"]["alerts"].get(KEYS, 0),
            provenance=s.provenance(at, newest, [*SECURE_KINDS, ALERT]),
        )

    # moving keys between sites ------------------------------------------------------------
    def export_card(self, name: str | None = None) -> Exported:
        """An identity's public card (self-signed; default: this site's), for another site to
        import once its owner has read out the fingerprint."""
        who = name or self._site
        found = current_identity(self._s.state(SECURE), who)
        if found is None:
            known = sorted(self._s.state(SECURE)["identities"])
            raise NotFound("identity", who, known=known)
        body = {k: v for k, v in found.items() if k not in ("record", "since")}
        return Exported(
            what="card",
            name=who,
            fingerprint=str(body["fingerprint"]),
            epochs=0,
            data=_dump(body),
        )

    def export_epochs(self, track: str) -> Exported:
        """A track's epoch records (each copy of its secret sealed to one member), for the
        other sites among its members: nothing in it opens without a member's private key."""
        admin = self._s.administer(f"export the keys of {track}")
        epochs = admin.state(SECURE)["epochs"]
        if not epochs.get(track):
            raise NotFound("track key", track, known=sorted(epochs))
        drop = ("record", "since")
        body = {
            "format": EPOCHS_FORMAT,
            "epochs": [{k: v for k, v in e.items() if k not in drop} for e in epochs[track]],
        }
        return Exported(
            what="epochs", name=track, fingerprint=None, epochs=len(epochs[track]), data=_dump(body)
        )

    def import_file(
        self,
        payload: bytes | Mapping[str, Any],
        *,
        fingerprint: str | None = None,
        transition: bytes | Mapping[str, Any] | None = None,
    ) -> Imported:
        """Trust another site's, intermediary's or person's card (once its self-signature
        verifies and its fingerprint is the one its owner read out), or record a track's
        epochs exported by a site trusted already (each issuer's signature checked), or a
        site's key transition (its new card, once the key pinned here for it signed it).
        ``transition``: the key transition that vouches for a known site's new card."""
        data = json_object(payload, "a card, an epoch bundle or a key transition")
        if "epochs" in data:
            return Imported(identity=None, epochs=self._import_epochs(data))
        if data.get("format") == KEY_TRANSITION_FORMAT:
            return Imported(identity=self._import_transition(data), epochs=())
        if transition is not None:
            moved = json_object(transition, "a key transition")
            return Imported(identity=self._import_transition(moved, card=data), epochs=())
        return Imported(identity=self._import_card(data, fingerprint), epochs=())

    def _import_transition(
        self, body: Mapping[str, Any], card: Mapping[str, Any] | None = None
    ) -> ImportedIdentity:
        """A site's new card, trusted because the key pinned here for it signed the
        transition to it (and the new key too); a witness also checks its tree head extends
        the last head it co-signed for the site. The transition is recorded with the card."""
        from sitroom.application.site_key import held_cosigned
        from sitroom.domain.secure import transition, witness

        admin = self._s.administer("import a key transition")
        t = transition.Transition.from_json({k: v for k, v in body.items() if k != "proofs"})
        if t.site == self._site:
            raise UserInputError(f"that is this site's ({t.site}) own key transition")
        why = None
        if card is not None:
            new = identity_from_record(dict(card))
            if new != t.new:
                why = f"it moves {t.site} to key {t.new.fingerprint}, not the card's"
        pinned = identity(admin, t.site)
        if pinned is None:
            raise SecureError(
                f"site {t.site}'s card is not trusted here: import its new card with the "
                "fingerprint it reads out to you (`sitroom keys import CARD --fingerprint`)"
            )
        why = why or transition.fault(t, pinned)
        if why is None:
            last = witness.newest(held_cosigned(admin)).get((self._site, t.site))
            given = (body.get("proofs") or {}).get(self._site) or {}
            proof: tuple[bytes, ...] = ()
            if last is not None and given.get("since") == last.size:
                hashes = given.get("proof")
                proof = tuple(
                    unb64(str(h), what="a proof hash", size=32)
                    for h in (hashes if isinstance(hashes, list) else [])[:128]
                )
            why = transition.head_fault(
                t, None if last is None else last.head, proof, by=self._site
            )
        if why is not None:
            raise SecureError(f"the key transition is refused: {why}")
        short = t.new.fingerprint.replace(" ", "")[:16]
        admin.append(
            [
                IDENTITY.record(
                    id=f"identity:{t.site}:{short}",
                    source=f"import:{t.site}",
                    valid_from=admin.now_ms(),
                    payload=cast(IdentityPayload, dict(t.new_card)),  # checked above
                ),
                t.record(),
            ],
            action=f"import site {t.site}'s key transition",
        )
        return ImportedIdentity(name=t.site, role=t.new.role, fingerprint=t.new.fingerprint)

    def _import_card(self, payload: Mapping[str, Any], fingerprint: str | None) -> ImportedIdentity:
        admin = self._s.administer("import an identity")
        ident = pinned_card(payload, fingerprint, to="import")
        known = identity(admin, ident.name)
        if known is not None and known != ident:
            raise SecureError(
                f"{ident.name} is already known here with another key ({known.fingerprint}); "
                "refusing to replace it silently"
            )
        admin.append(
            [
                IDENTITY.record(
                    id=f"identity:{ident.name}:{ident.fingerprint.replace(' ', '')[:16]}",
                    source=f"import:{ident.name}",
                    valid_from=admin.now_ms(),
                    payload=cast(IdentityPayload, dict(payload)),  # checked above
                )
            ]
        )
        return ImportedIdentity(name=ident.name, role=ident.role, fingerprint=ident.fingerprint)

    def _import_epochs(self, bundle: Mapping[str, Any]) -> tuple[ImportedEpoch, ...]:
        admin = self._s.administer("import track keys")
        records, out = [], []
        for p in bundle.get("epochs") or []:
            issuer = identity(admin, str(p.get("issuer")))
            if issuer is None:
                raise NotFound(
                    "identity",
                    str(p.get("issuer")),
                    detail=f", the issuer of epoch {p.get('epoch')} of {p.get('track')}",
                )
            check_epoch_signature(p, issuer)
            records.append(
                KEY_EPOCH.record(
                    id=f"{KEY_EPOCH}:{p['track']}:{p['epoch']}",
                    source=f"import:{issuer.name}",
                    valid_from=int(p["created_ms"]),
                    valid_to=int(p["expires_ms"]),
                    compartment=str(p["track"]),
                    payload=dict(p),
                )
            )
            out.append(
                ImportedEpoch(track=str(p["track"]), epoch=int(p["epoch"]), issuer=issuer.name)
            )
        if not records:
            raise UserInputError("the bundle holds no epochs")
        admin.append(records)
        return tuple(out)
