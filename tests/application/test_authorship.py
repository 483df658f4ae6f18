"""Who acts must prove it, and what they write is signed with their own key: a passphrase or a
token opens a user's session, nothing else does; `verify` holds every record that names a
person to that person's signature, and every user or clearance change to an admin's."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sitroom
from sitroom.application.audit import Report
from sitroom.application.auth import API, Bearer
from sitroom.domain.kinds import AUTHOR_SIGNATURE, JUDGMENT, USER_GRANT
from sitroom.domain.records import COLUMNS, Record, RecordBatch
from sitroom.domain.secure.authorship import content_digest, signature_record
from sitroom.errors import AccessDenied, AuthError
from sitroom.room import Room
from sitroom.testing import T0, ManualClock

PASS = "correct horse battery"
DAY = 86_400_000


@pytest.fixture
def room(tmp_path: Path) -> Path:
    """alice (admin) and dana (analyst), each with their own key under PASS."""
    path = tmp_path / "room"
    with sitroom.init(path, clock=ManualClock(T0)) as r:
        r.users.add("alice", role="admin", passphrase=PASS)
    with sitroom.open(path, user="alice", proof=PASS, clock=ManualClock(T0)) as alice:
        alice.users.add("dana", passphrase=PASS)
    return path


def report(path: Path) -> Report:
    return sitroom.verify(path)


def reasons(path: Path) -> list[str]:
    return [f.reason for f in report(path).findings]


# proof of who acts ------------------------------------------------------------------------
def test_a_user_is_opened_only_with_their_passphrase_or_token(room: Path) -> None:
    with pytest.raises(AuthError, match="needs alice's passphrase or token"):
        sitroom.open(room, user="alice")
    with pytest.raises(AuthError, match="alice's passphrase does not open"):
        sitroom.open(room, user="alice", proof="not alice's passphrase")
    with sitroom.open(room, as_site=True, clock=ManualClock(T0)) as site:
        dana_token = site.auth.login("dana", PASS).token
    with pytest.raises(AuthError, match="that token is dana's, not alice's"):
        sitroom.open(room, user="alice", proof=Bearer(dana_token), clock=ManualClock(T0))
    with pytest.raises(AuthError, match="not a sitroom token"):
        sitroom.open(room, user="dana", proof=Bearer("sitroom_" + "x" * 40))
    with sitroom.open(room, user="dana", proof=Bearer(dana_token), clock=ManualClock(T0)) as d:
        assert d.user == "dana" and d.session.signer is not None
    # A claimed user who is not one is refused before any proof is asked for.
    with pytest.raises(AccessDenied, match="mallory is not a user"):
        sitroom.open(room, user="mallory", proof=PASS)


def test_a_token_expires_and_a_revoked_one_opens_nothing(room: Path) -> None:
    clock = ManualClock(T0)
    with sitroom.open(room, user="dana", proof=PASS, clock=clock) as dana:
        issued = dana.auth.create(dana.session, "ci", ttl_ms=DAY)
        assert issued.row.kind == API
    with sitroom.open(room, user="dana", proof=Bearer(issued.token), clock=clock) as again:
        assert again.user == "dana"
    with pytest.raises(AuthError, match="expired"):
        sitroom.open(room, user="dana", proof=Bearer(issued.token), clock=ManualClock(T0 + DAY))
    with sitroom.open(room, user="dana", proof=PASS, clock=clock) as dana:
        dana.auth.revoke(dana.session, issued.row.id)
    with pytest.raises(AuthError, match="not valid here"):
        sitroom.open(room, user="dana", proof=Bearer(issued.token), clock=clock)
    assert report(room).ok  # the token's creation and revocation are on the record, signed


def test_the_token_file_opens_nothing_without_the_token(room: Path) -> None:
    with sitroom.open(room, as_site=True, clock=ManualClock(T0)) as site:
        token = site.auth.login("dana", PASS).token
    stored = (room / "keys" / "tokens.json").read_bytes()
    secret = token.split("_", 2)[2]  # sitroom_<id>_<secret>: the secret may hold "_" too
    assert secret.encode() not in stored
    # The same id with another secret is refused, in constant time, not unwrapped.
    forged = token[: -len(secret)] + ("A" if secret[0] != "A" else "B") + secret[1:]
    with pytest.raises(AuthError, match="not valid here"):
        sitroom.open(room, user="dana", proof=Bearer(forged), clock=ManualClock(T0))


# signatures -------------------------------------------------------------------------------
def test_what_a_user_writes_is_signed_with_their_key_and_verifies(room: Path) -> None:
    with sitroom.open(room, user="alice", proof=PASS, clock=ManualClock(T0)) as alice:
        alice.users.grant("dana", "TLP:RED")
    with sitroom.open(room, as_site=True) as site:
        signed = site.session.records(kinds=[AUTHOR_SIGNATURE])
    # The grant's signature is in TLP:RED, with the grant: only those cleared for it see it.
    assert [(s.payload["author"], s.compartment) for s in signed][-1] == ("alice", "TLP:RED")
    checked = report(room)
    assert checked.ok and checked.author_signatures == len(signed) >= 2


def _forge(room: Path, records: list[Record], signer: str | None) -> None:
    """An insider who holds the log and the site's key, not ``signer``'s: they write through
    the engine, so the chain is intact, and sign with a key of their own making."""
    from sitroom.adapters.keystore import new_secret

    with sitroom.open(room, as_site=True, clock=ManualClock(T0 + DAY)) as site:
        fake = None if signer is None else new_secret(signer, "person")
        site.engine.append(
            records, None if fake is None else lambda new: signature_record(fake, new)
        )


def grant(principal: str, compartment: str, by: str) -> Record:
    return USER_GRANT.record(
        {"principal": principal, "compartment": compartment, "by": by},
        id=f"grant:{principal}:{compartment}:forged",
        source="sitroom",
        compartment=compartment,
    )


def test_a_record_in_a_persons_name_that_they_did_not_sign_fails_verify(room: Path) -> None:
    _forge(room, [grant("dana", "us-iran", by="alice")], signer=None)
    assert reasons(room) == ["unsigned", "not-admin"]


def test_a_signature_by_another_key_in_the_authors_name_fails_verify(room: Path) -> None:
    _forge(room, [grant("dana", "us-iran", by="alice")], signer="alice")
    found = reasons(room)
    assert "forged-author" in found and "unsigned" in found


def test_a_grant_signed_by_a_non_admin_fails_verify(room: Path) -> None:
    with sitroom.open(room, user="dana", proof=PASS, clock=ManualClock(T0)) as dana:
        with pytest.raises(AccessDenied, match="not an admin"):
            dana.users.grant("dana", "us-iran")
        # Her own key, through the engine, past the session's check: still not an admin's.
        key = dana.session.signer
        assert key is not None
        dana.engine.append(
            [grant("dana", "us-iran", by="dana")], lambda new: signature_record(key, new)
        )
    assert reasons(room) == ["not-admin"]


def test_a_signed_record_changed_after_signing_fails_verify(room: Path) -> None:
    """Changed through the engine before the append (the chain holds what was stored): the
    signature, made over what the author wrote, does not hold."""
    with sitroom.open(room, user="dana", proof=PASS, clock=ManualClock(T0)) as dana:
        key = dana.session.signer
        assert key is not None
        judged = JUDGMENT.record(
            {"question": "q", "p": 0.2, "rationale": "", "by": "dana"},
            id="judgment:q:dana",
            source="user:dana",
        )

        def tampered(new: RecordBatch) -> Record:
            # The signer saw 0.2; what is stored says 0.9.
            seen = new.with_column("payload", ['{"question":"q","p":0.9,"by":"dana"}'])
            return signature_record(key, seen)

        dana.engine.append([judged], tampered)
    assert sorted(reasons(room)) == ["forged-author", "unsigned"]


# the digest -------------------------------------------------------------------------------
def _batch(n: int) -> RecordBatch:
    return RecordBatch.from_records(
        Record(
            id=f"r{i}",
            kind="k.x",
            kind_version=1,
            source="s",
            payload={"t": "US–Iran\n" * i, "n": i},
            seq=i + 1,
            recorded_time=T0 + i,
            origin="w",
        )
        for i in range(n)
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.data())
def test_the_digest_does_not_depend_on_how_columns_are_chunked(n: int, data: st.DataObject) -> None:
    batch = _batch(n)
    cut = data.draw(st.integers(0, n))
    chunked = RecordBatch(pa.concat_tables([batch.table.slice(0, cut), batch.table.slice(cut)]))
    assert content_digest(chunked) == content_digest(batch)


@pytest.mark.parametrize("column", [c for c in COLUMNS if c != "payload"] + ["payload"])
def test_the_digest_covers_every_column(column: str) -> None:
    batch = _batch(3)
    values = batch.column(column).to_pylist()
    changed = {
        "seq": 99,
        "kind_version": 2,
        "valid_from": 5,
        "valid_to": 6,
        "recorded_time": 7,
        "confidence": 50,
        "payload": '{"t":"x","n":1}',
    }.get(column, "other")
    values[1] = changed
    assert content_digest(batch.with_column(column, values)) != content_digest(batch)


def test_a_view_for_a_user_closes_nothing(room: Path) -> None:
    with sitroom.open(room, as_site=True, clock=ManualClock(T0)) as site:
        secret = site.auth.authenticate(site.auth.login("dana", PASS).token)
        view = site.as_user("dana", secret)
        assert isinstance(view, Room) and view.user == "dana"
        view.close()
        assert site.session.count() > 0  # the log is still open
