"""Proof of who is acting: a person's passphrase, or a token that stands in for it.

Once a room has users, nobody acts as a user on their word. ``-u alice`` opens alice's session
only with proof: her passphrase, which unlocks her key (scrypt, then an AEAD whose tag check
is constant-time), or a token she was given for it (``sitroom login``, an API token, a server
session), which unwraps the same key. The key then signs everything she writes
(:mod:`sitroom.domain.secure.authorship`): whoever holds the log cannot write in her name.

A person's passphrase is asked for once per working session: ``sitroom login`` turns it into a
short-lived session token cached for the terminal, as ssh-agent does; ``sitroom logout`` (or
the expiry) ends it. Scripts use API tokens their user creates and revokes; both kinds are
revocable at once, since the only copy of the key a token opens is kept with it.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.ports import Clock, KeyStore, Passphrase, Token, TokenStore, Unlock
from sitroom.application.results import Result
from sitroom.application.session import Session
from sitroom.domain.kinds import AUTH_REVOKED, AUTH_TOKEN, Kind
from sitroom.domain.secure.identity import PERSON, Secret
from sitroom.domain.timeutil import iso
from sitroom.errors import AuthError, NotFound, SecureError, UserInputError

SESSION, API = "session", "api"
DAY_MS = 86_400_000
MINUTE_MS = 60_000
MAX_TTL_DAYS = 366


@dataclass(frozen=True)
class Bearer:
    """A token, as its holder presents it."""

    token: str


# What proves a person is who they say: their passphrase (given, or asked for), or a token.
Proof = Passphrase | Bearer


@dataclass(frozen=True, kw_only=True)
class TokenRow(Result):
    id: str
    user: str
    kind: str
    name: str
    created: str | None
    expires: str | None


@dataclass(frozen=True, kw_only=True)
class TokenList(Result):
    user: str
    tokens: tuple[TokenRow, ...]


@dataclass(frozen=True, kw_only=True)
class Issued(Result):
    """A token made now: ``token`` is shown this once and kept nowhere in the clear."""

    token: str
    row: TokenRow


@dataclass(frozen=True, kw_only=True)
class LoggedOut(Result):
    user: str
    ended: TokenRow | None  # the session ended (None: there was none to end)


def row(t: Token) -> TokenRow:
    return TokenRow(
        id=t.id,
        user=t.user,
        kind=t.kind,
        name=t.name,
        created=iso(t.created_ms),
        expires=iso(t.expires_ms),
    )


class Auth:
    """Proves people, and issues and revokes the tokens that prove them later."""

    def __init__(
        self,
        keystore: KeyStore,
        tokens: TokenStore,
        clock: Clock,
        *,
        session_hours: float,
    ) -> None:
        self._keys = keystore
        self._tokens = tokens
        self._clock = clock
        self.session_ms = round(session_hours * 3_600_000)

    def prove(self, user: str, proof: Proof | None) -> Secret:
        """``user``'s key, unlocked by ``proof``; AuthError if it proves nothing."""
        if proof is None:
            raise AuthError(f"acting as {user} needs {user}'s passphrase or token", user=user)
        if isinstance(proof, Bearer):
            token, secret = self._tokens.open(proof.token, self._clock.now_ms())
            if token.user != user:
                raise AuthError(f"that token is {token.user}'s, not {user}'s", user=user)
            return secret
        if not self._keys.exists(user):
            raise AuthError(f"{user} has no key here to prove who they are", user=user)
        if self._keys.public(user).role != PERSON:
            raise AuthError(f"{user} is not a person: a site or relay logs in to nothing")
        passphrase = proof(user) if callable(proof) else proof
        try:
            return self._keys.unlock(user, Unlock(passphrase=passphrase))
        except SecureError as e:
            raise AuthError(f"{user}'s passphrase does not open their key", user=user) from e

    def authenticate(self, bearer: str) -> Secret:
        """The key of whoever holds ``bearer``; AuthError if it is no valid token."""
        return self._tokens.open(bearer, self._clock.now_ms())[1]

    def issue(self, secret: Secret, *, kind: str, name: str, ttl_ms: float | None = None) -> Issued:
        """A token for ``secret``'s holder: a session (``ttl_ms`` defaults to the setting) or
        an API token."""
        if kind not in (SESSION, API):
            raise UserInputError(f"a token is a {SESSION} or an {API} token, not {kind!r}")
        ttl = self.session_ms if ttl_ms is None else ttl_ms
        if not (math.isfinite(ttl) and MINUTE_MS <= ttl <= MAX_TTL_DAYS * DAY_MS):
            raise UserInputError(f"a token lives from a minute to {MAX_TTL_DAYS} days")
        ttl = round(ttl)
        now = self._clock.now_ms()
        token = Token(
            id=secrets.token_hex(6),
            user=secret.name,
            role=secret.role,
            kind=kind,
            name=name,
            created_ms=now,
            expires_ms=now + ttl,
        )
        return Issued(token=self._tokens.issue(secret, token), row=row(token))

    def login(self, user: str, proof: Proof, *, ttl_ms: float | None = None) -> Issued:
        """A session token for ``user``, once ``proof`` proves them."""
        return self.issue(self.prove(user, proof), kind=SESSION, name="login", ttl_ms=ttl_ms)

    def create(self, session: Session, name: str, *, ttl_ms: float) -> Issued:
        """An API token for the session's user, on the record (signed by them)."""
        if session.signer is None or session.user is None:
            raise AuthError("only a person, proven, creates tokens (log in first)")
        issued = self.issue(session.signer, kind=API, name=name, ttl_ms=ttl_ms)
        self._record(session, AUTH_TOKEN, issued.row)
        return issued

    def revoke(self, session: Session, which: str) -> TokenRow:
        """End one of the session user's tokens, by id or by name (if one token has it). No
        one ends another's: an admin removes the user, and their tokens open nothing after."""
        user = session.user or ""
        mine = [t for t in self._tokens.tokens() if t.user == user]
        found = [t for t in mine if t.id == which] or [t for t in mine if t.name == which]
        if not found:
            raise NotFound("token", which, known=sorted({t.name for t in mine}))
        if len(found) > 1:
            ids = ", ".join(t.id for t in found)
            raise UserInputError(f"{len(found)} tokens are called {which!r}: give its id ({ids})")
        token = found[0]
        self._tokens.revoke(token.id)
        if token.kind == API:
            self._record(session, AUTH_REVOKED, row(token))
        return row(token)

    def logout(self, user: str, bearer: str | None) -> LoggedOut:
        """End the session ``bearer`` is, if it is ``user``'s and still kept (``ended`` is
        None when it was not: expired, revoked already, or mistyped)."""
        if bearer is None:
            return LoggedOut(user=user, ended=None)
        try:
            token, _ = self._tokens.open(bearer, self._clock.now_ms())
        except AuthError:
            return LoggedOut(user=user, ended=None)
        if token.user != user:
            return LoggedOut(user=user, ended=None)
        self._tokens.revoke(token.id)
        return LoggedOut(user=user, ended=row(token))

    def listing(self, user: str) -> TokenList:
        now = self._clock.now_ms()
        live = [row(t) for t in self._tokens.tokens() if t.user == user and t.expires_ms > now]
        return TokenList(user=user, tokens=tuple(live))

    def _record(self, session: Session, kind: Kind[Any], t: TokenRow) -> None:
        payload = {"token": t.id, "kind": t.kind, "name": t.name, "expires": t.expires}
        session.append(
            [
                kind.record(
                    {**payload, "by": t.user},
                    id=f"{kind}:{t.id}",
                    source=SITROOM_SOURCE,
                    valid_from=self._clock.now_ms(),
                )
            ]
        )
