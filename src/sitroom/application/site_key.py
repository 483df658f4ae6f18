"""Replacing the site's own key (`sitroom keys replace SITE`), with continuity others can check.

    old key ─┐                                   ┌─> keys/SITE.key: the new key, a new key file
    new key ─┴─> key transition (both sign it) ──┼─> the log: identity, key.revoked,
                 over the log's tree head now    │   key.transition, a new epoch of every track
                                                 ├─> head.json: a head signed by the new key
                                                 └─> transition.json: for peers and witnesses

The old key is kept, under the new key file, as ``SITE.replaced-FP``: it opens the epochs it
was sealed to (the records sealed at rest before) and signs nothing. Snapshots signed by the
old key are dropped: they are a cache, rebuilt from the log under the new key. With ``lost``
(the old key file is gone) the transition carries the new key's signature only, says so, and
whoever pinned the old card must re-pin the new one out of band.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.keys import EpochIssued, Keys, identity
from sitroom.application.ports import KeyStore, Unlock
from sitroom.application.results import INTERNAL, Result
from sitroom.application.session import Session
from sitroom.domain.kinds import KEY_REVOKED, WITNESS_COSIGNED
from sitroom.domain.secure import merkle, transition, witness
from sitroom.domain.secure.audit import LogHead, SignedHead
from sitroom.domain.secure.codec import b64
from sitroom.domain.secure.identity import SITE, Secret, identity_record
from sitroom.domain.secure.witness import Cosigned
from sitroom.errors import SecureError, SitroomError, UserInputError

ARCHIVE = ".replaced-"  # SITE.replaced-FP: a replaced site key, kept to open what it opened


def archived(store: KeyStore, site: str) -> list[str]:
    """The names the site's replaced keys are kept under in ``store``."""
    return [n for n in store.names() if n.startswith(f"{site}{ARCHIVE}")]


def as_site(secret: Secret, site: str) -> Secret:
    """A kept key, under the site's name again (what its epoch copies are sealed to)."""
    return Secret(site, SITE, secret.signing, secret.agreeing)


def held_cosigned(session: Session) -> list[Cosigned]:
    """Every co-signed head this log records (a malformed one is verify's to report)."""
    out = []
    for batch in session.read(kinds=[WITNESS_COSIGNED]):
        for r in batch.rows():
            try:
                out.append(Cosigned.from_json(r.payload, what=f"record {r.id}"))
            except SecureError:
                continue
    return out


@dataclass(frozen=True, kw_only=True)
class SiteKeyReplaced(Result):
    """The site's key replaced: the transition recorded, every track re-keyed by the new key,
    a new head kept outside the log."""

    name: str
    fingerprint: str  # the new key's
    revoked: str  # the old key's
    lost: bool  # the old key did not sign the transition
    key: str  # the new key's file
    key_file: str  # ... and the key file that opens it
    seq: int  # the log position the transition's tree head is at
    head_seq: int | None  # the head signed by the new key and kept outside the log
    epochs: tuple[EpochIssued, ...]
    witnesses: tuple[str, ...]  # witnesses the transition carries a consistency proof for
    repin: str | None  # what everyone who pinned the old card must do (lost)
    transition: str | None = None  # where the statement was written (the CLI says)
    # The statement to hand to peers and witnesses, with a consistency proof for each witness.
    statement: Mapping[str, Any] = field(default_factory=dict, metadata=INTERNAL, repr=False)


class SiteKey:
    """The site's own key: replace it."""

    def __init__(
        self,
        session: Session,
        store: KeyStore,
        keys: Keys,
        *,
        site: str,
        site_secret: Callable[[], Secret],
        new_secret: Callable[[str, str], Secret],
        stored_tree: Callable[[], tuple[LogHead, merkle.Tree]],
        keep: Callable[[SignedHead], object],
        forget: Callable[[], None],
    ) -> None:
        self._s = session
        self._store = store
        self._keys = keys
        self._site = site
        self._secret = site_secret
        self._new = new_secret
        self._tree = stored_tree
        self._keep = keep
        self._forget = forget

    def replace(
        self,
        *,
        key_file: Path | None = None,
        reason: str = "compromised",
        lost: bool = False,
    ) -> SiteKeyReplaced:
        """Replace the site's key: the transition recorded with the new identity, the old
        key's revocation and a new epoch of every track, issued by the new key; a head signed
        by the new key kept outside the log. An admin's act, where the site's key opens."""
        site, s = self._site, self._s
        admin = s.administer(f"replace the key of site {site}")
        old = identity(admin, site)
        if old is None or not self._store.exists(site):
            raise SecureError(f"this room holds no key for site {site} to replace")
        kept_old = f"{site}{ARCHIVE}{old.fingerprint.replace(' ', '')[:8]}"
        # A replacement stopped after the keys were stored and before the log took them: the
        # new key is the site's, the old one kept beside it. The next run goes on with them.
        resuming = self._store.public(site) != old
        if resuming and (lost or kept_old not in archived(self._store, site)):
            raise SecureError(
                f"the key this room holds for site {site} is not its published key "
                f"{old.fingerprint}: run `sitroom verify` before replacing it"
            )
        if key_file is not None and key_file.exists() and not resuming:
            raise UserInputError(f"{key_file} exists: a replaced key gets a key file made new")
        old_secret: Secret | None
        if resuming:
            new, old_secret = self._secret(), as_site(self._unlock_kept(kept_old), site)
            kept: dict[str, Secret] = {}
        else:
            old_secret = self._old_secret(lost)
            kept = (
                {n: self._unlock_kept(n) for n in archived(self._store, site)} if not lost else {}
            )
            new = self._new(site, SITE)
        now = admin.now_ms()
        head, tree = self._tree()
        new_record = identity_record(new, now)
        t = transition.make(
            old, new, new_record.payload, head, at_ms=now, reason=reason, old_secret=old_secret
        )
        proofs = self._proofs(admin, tree, head)

        short = new.identity.fingerprint.replace(" ", "")[:8]
        where = self._store.stored_key_file(site) if resuming else None
        where = (
            where
            or key_file
            or self._store.default_key_file(site).parent / f"{site}-{short}.keyfile"
        )
        how = Unlock(key_file=where)
        path = self._store.replace(new, how)  # the same key again, when resuming
        if not resuming:
            for secret in kept.values():
                self._store.replace(secret, how)  # kept keys move under the new key file
            if old_secret is not None:
                archive = Secret(kept_old, SITE, old_secret.signing, old_secret.agreeing)
                self._store.save(archive, how)
        self._forget()

        revoked = KEY_REVOKED.record(
            {
                "name": site,
                "fingerprint": old.fingerprint,
                "replaced_by": new.identity.fingerprint,
                "reason": reason,
                "by": s.user,
                "tokens": [],
            },
            id=f"{KEY_REVOKED}:{site}:{old.fingerprint.replace(' ', '')[:16]}",
            source=SITROOM_SOURCE,
            valid_from=now,
        )
        epochs, issued = self._keys.rekey_all(
            admin, new, reason=f"site {site}'s key replaced", at_ms=now
        )
        admin.append([new_record, revoked, t.record(), *epochs], action="replace the site's key")
        after, _ = self._tree()
        signed = after.sign(new)
        self._keep(signed)
        return SiteKeyReplaced(
            name=site,
            fingerprint=new.identity.fingerprint,
            revoked=old.fingerprint,
            lost=lost,
            key=str(path),
            key_file=str(where),
            seq=head.seq,
            head_seq=after.seq,
            epochs=tuple(issued),
            witnesses=tuple(sorted(proofs)),
            repin=(
                f"every site and witness that pinned {site}'s old card must re-pin the new one "
                f"({new.identity.fingerprint}) after reading its fingerprint with you out of "
                "band: the old key did not sign the transition"
            )
            if lost
            else None,
            statement={**t.to_json(), "proofs": proofs},
        )

    def _old_secret(self, lost: bool) -> Secret | None:
        """The old key, to sign the transition (None: lost). SecureError where it cannot be
        opened and ``lost`` was not said, or where it can and ``lost`` was."""
        try:
            secret = self._secret()
        except SitroomError as e:
            if lost:
                return None
            raise SecureError(
                f"the site's old key does not open here ({e}); if its key file is lost, "
                "replace it with --lost"
            ) from None
        if lost:
            raise UserInputError(
                "the site's old key opens here: replace it without --lost, so that the old key "
                "signs the transition and those who pinned it can check it"
            )
        return secret

    def _unlock_kept(self, name: str) -> Secret:
        key_file = self._store.stored_key_file(name)
        if key_file is None:
            raise SecureError(f"the kept key {name} is not protected by a key file")
        return self._store.unlock(name, Unlock(key_file=key_file))

    def _proofs(
        self, session: Session, tree: merkle.Tree, head: LogHead
    ) -> dict[str, Mapping[str, Any]]:
        """For each witness whose co-signed head this log keeps, the consistency proof from
        that head to the transition's: what the witness checks before it re-pins."""
        out: dict[str, Mapping[str, Any]] = {}
        for (by, site), c in witness.newest(held_cosigned(session)).items():
            if site != self._site or c.size > head.size:
                continue
            out[by] = {"since": c.size, "proof": [b64(h) for h in tree.consistency(c.size)]}
        return out
