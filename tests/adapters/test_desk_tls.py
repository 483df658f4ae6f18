"""A desk over real TLS on loopback, attacked as a stranger with curl would: it serves a
certificate made from its site's own key, and clients pin it to the card they imported; a
submit needs a user's token, a delivery a known site's fresh signature on a channel declared
for that site, sealed where the channel is a track's. Each refusal is a 401 or a 403, counted
by its reason on the desk, and leaves the log as it was."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import sitroom
from sitroom.adapters.channel_http import (
    HttpWire,
    Limits,
    Relay,
    RelayKeys,
    Served,
    run_relay,
    serve,
)
from sitroom.adapters.keystore import new_secret
from sitroom.adapters.site_tls import certificate, pinned_context, server_context
from sitroom.application.desk import Desk
from sitroom.application.ports import Peer, WireError
from sitroom.domain.kinds import ACCESS_DENIED, CHANNEL_RECEIVE, CHANNEL_SEND
from sitroom.domain.secure.identity import INTERMEDIARY, SITE, Secret
from sitroom.errors import AuthError
from sitroom.room import Room

from helpers import peer_site, served_desk, signed_headers

LIMITS = Limits(max_body_bytes=100_000, read_timeout_s=2.0, max_connections=8)
TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"
TOKENS = {"tok-dana": "dana", "tok-alice": "alice"}


def by_token(authorization: str | None) -> str:
    """Tokens as a test's token store: 'Bearer tok-dana' is dana."""
    if authorization is None:
        raise AuthError("no token: send Authorization: Bearer TOKEN", reason="no-token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or token not in TOKENS:
        raise AuthError("that token is not known here", reason="bad-token")
    return TOKENS[token]


@dataclass
class Site:
    room: Room
    served: Served
    me: Secret  # Tehran's own keys
    washington: Secret  # a peer whose card Tehran holds
    client: httpx.Client  # pinned to Tehran's card

    @property
    def desk(self) -> Desk:
        desk: Desk = self.served.desk  # type: ignore[attr-defined]
        return desk

    def post(self, path: str, data: bytes, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(f"{self.served.url}{path}", content=data, headers=headers)

    def deliver(self, envelope: dict[str, Any], **sign: Any) -> Any:
        data = orjson.dumps(envelope)
        return self.post("/deliver", data, signed_headers(self.washington, "tehran", data, **sign))


@pytest.fixture
def tehran(tmp_path: Path) -> Iterator[Site]:
    (tmp_path / "tracks.yaml").write_text(TRACK)
    with sitroom.init(tmp_path / "tehran", site="tehran") as room:
        washington = peer_site(room, "washington")
        room.tracks.add([tmp_path / "tracks.yaml"])
        room.channels.add("direct", counterpart="Washington")
        room.channels.add("sealed", counterpart="washington", track="us-iran")
        room.channels.add("elsewhere", counterpart="cairo")
        me = room.keys.unlock("tehran")
        tls = server_context(me)
        with (
            served_desk(room, LIMITS, authenticate=by_token, tls=tls) as served,
            httpx.Client(verify=pinned_context(me.identity), timeout=10) as client,
        ):
            yield Site(room, served, me, washington, client)


def envelope(msg: str = "m-1", channel: str = "direct", body: str = "proposal") -> dict[str, Any]:
    return {"id": msg, "channel": channel, "priority": "FLASH", "body": body, "attempt": 1,
            "sent_ms": 1_795_000_000_000, "track": None}  # fmt: skip


# the certificate ----------------------------------------------------------------------------
def test_the_certificate_carries_the_key_of_the_sites_card_and_tls_1_2_is_refused(
    tehran: Site,
) -> None:
    cert = certificate(tehran.me)
    key = cert.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert key == tehran.me.identity.sign_pub
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "tehran"
    assert tehran.client.get(f"{tehran.served.url}/ping").json() == {"ok": True}
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=old) as client:
        client.get(f"{tehran.served.url}/ping")


def test_a_client_pinned_to_a_card_refuses_a_server_with_another_key(tehran: Site) -> None:
    """A man in the middle: a server at the address, with a certificate of its own key."""
    mallory = new_secret("tehran", SITE)  # even under the same name
    fake = serve({("POST", "/deliver"): lambda r: {"ack": True, "message": r.body["id"]},
                  ("GET", "/ping"): lambda _: {"ok": True}},
                 "127.0.0.1", 0, tls=server_context(mallory))  # fmt: skip
    got: list[str] = []
    wire = HttpWire(
        me=tehran.washington,
        peers=lambda origin: Peer("tehran", tehran.me.identity),
        tls_only=True,
    )
    try:
        with pytest.raises(WireError, match="the certificate does not match the pinned card"):
            wire.deliver(fake.url, envelope(), 5.0)
        with pytest.raises(WireError, match="does not match the pinned card"):
            wire.ping(fake.url, 5.0)
        wire.ping(tehran.served.url, 5.0)  # the genuine desk: the same wire goes through
        got.append("genuine")
    finally:
        fake.shutdown()
        wire.close()
    assert got == ["genuine"]


def test_plain_http_and_an_address_with_no_card_are_refused_by_a_desks_wire(
    tehran: Site,
) -> None:
    strict = HttpWire(me=tehran.washington, peers=lambda o: Peer("tehran", None), tls_only=True)
    try:
        with pytest.raises(WireError, match="plain http: desks speak https"):
            strict.deliver(tehran.served.url.replace("https", "http"), envelope(), 2.0)
        with pytest.raises(WireError, match="no verified card to pin"):
            strict.deliver(tehran.served.url, envelope(), 2.0)
    finally:
        strict.close()


# users: /submit and /status -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("authorization", "reason"),
    [(None, "no-token"), ("Bearer wrong", "bad-token"), ("Basic tok-dana", "bad-token")],
)
def test_a_submit_without_a_good_token_is_401_and_records_nothing(
    tehran: Site, authorization: str | None, reason: str
) -> None:
    before = tehran.room.session.last_seq()
    headers = {} if authorization is None else {"authorization": authorization}
    body = orjson.dumps({"channel": "direct", "body": "from curl", "priority": "FLASH"})
    r = tehran.post("/submit", body, headers)
    assert r.status_code == 401 and list(r.json()) == ["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert tehran.room.session.last_seq() == before
    assert tehran.desk.refused == {reason: 1}
    assert tehran.client.get(f"{tehran.served.url}/status").status_code == 401


def test_a_submit_with_a_token_is_sent_as_its_user(tehran: Site) -> None:
    body = orjson.dumps({"channel": "direct", "body": "hold", "id": "m-9", "priority": "FLASH"})
    r = tehran.post("/submit", body, {"authorization": "Bearer tok-dana"})
    assert r.status_code == 200 and r.json()["accepted"] is True
    (sent,) = tehran.room.session.records(kinds=[CHANNEL_SEND])
    assert sent.payload["message"] == "m-9" and sent.payload["by"] == "dana"
    status = tehran.client.get(
        f"{tehran.served.url}/status", headers={"authorization": "Bearer tok-alice"}
    )
    assert status.status_code == 200 and status.json() == {"pending": ["m-9"], "refused": {}}


def test_a_user_not_cleared_for_the_channels_track_is_refused_and_it_is_recorded(
    tehran: Site,
) -> None:
    room = tehran.room
    room.users.add("alice", role="admin", passphrase="correct horse battery")
    room.users.add("dana", role="analyst", passphrase="correct horse battery")
    before = room.session.last_seq()
    body = orjson.dumps({"channel": "sealed", "body": "secret", "priority": "FLASH"})
    r = tehran.post("/submit", body, {"authorization": "Bearer tok-dana"})
    assert r.status_code == 403 and "dana is not cleared for us-iran" in r.json()["error"]
    (denied,) = room.session.records(kinds=[ACCESS_DENIED], after_seq=before)
    assert denied.payload["user"] == "dana" and denied.compartment == "us-iran"
    assert not room.session.records(kinds=[CHANNEL_SEND])
    assert tehran.desk.refused == {"not-cleared": 1}


# sites: /deliver ----------------------------------------------------------------------------
def test_a_signed_delivery_from_a_known_site_is_received(tehran: Site) -> None:
    r = tehran.deliver(envelope())
    assert r.status_code == 200 and r.json() == {"ack": True, "message": "m-1", "duplicate": False}
    (got,) = tehran.room.session.records(kinds=[CHANNEL_RECEIVE])
    assert got.payload["message"] == "m-1" and tehran.desk.refused == {}


def _forge(site: Site, how: str) -> Any:
    env, now = envelope(), time.time_ns() // 1_000_000
    data = orjson.dumps(env)
    if how == "unsigned":
        return site.post("/deliver", data)
    if how == "unknown site":
        mallory = new_secret("mallory", SITE)
        return site.post("/deliver", data, signed_headers(mallory, "tehran", data))
    if how == "a site's name, another key":
        impostor = new_secret("washington", SITE)
        return site.post("/deliver", data, signed_headers(impostor, "tehran", data))
    if how == "tampered body":
        other = orjson.dumps({**env, "body": "surrender"})
        return site.post("/deliver", other, signed_headers(site.washington, "tehran", data))
    if how == "signed for another desk":
        return site.post("/deliver", data, signed_headers(site.washington, "cairo", data))
    if how == "signed for another path":
        return site.post("/deliver", data, signed_headers(site.washington, "tehran", data,
                                                          path="/submit"))  # fmt: skip
    if how == "old":
        return site.deliver(env, now_ms=now - 301_000)
    if how == "from the future":
        return site.deliver(env, now_ms=now + 301_000)
    if how == "replayed":
        headers = signed_headers(site.washington, "tehran", data)
        assert site.post("/deliver", data, headers).status_code == 200
        return site.post("/deliver", data, headers)
    if how == "undeclared channel":
        return site.deliver(envelope(channel="nope"))
    if how == "another site's channel":
        return site.deliver(envelope(channel="elsewhere"))
    if how == "plaintext on a sealed channel":
        return site.deliver(envelope(channel="sealed", body="in the clear"))
    if how == "garbled signature":
        headers = {**signed_headers(site.washington, "tehran", data), "sitroom-signature": "!"}
        return site.post("/deliver", data, headers)
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "status", "reason"),
    [
        ("unsigned", 401, "unsigned"),
        ("garbled signature", 401, "unsigned"),
        ("unknown site", 401, "unknown-site"),
        ("a site's name, another key", 401, "bad-signature"),
        ("tampered body", 401, "bad-signature"),
        ("signed for another desk", 401, "bad-signature"),
        ("signed for another path", 401, "bad-signature"),
        ("old", 401, "stale"),
        ("from the future", 401, "stale"),
        ("replayed", 401, "replayed-request"),
        ("undeclared channel", 403, "undeclared-channel"),
        ("another site's channel", 403, "undeclared-channel"),
        ("plaintext on a sealed channel", 403, "plaintext-on-sealed"),
    ],
)
def test_a_forged_delivery_is_refused_counted_and_changes_nothing(
    tehran: Site, capfd: pytest.CaptureFixture[str], how: str, status: int, reason: str
) -> None:
    room = tehran.room
    before = room.session.last_seq()
    received_before = len(room.session.records(kinds=[CHANNEL_RECEIVE]))
    r = _forge(tehran, how)
    assert r.status_code == status, r.text
    assert list(r.json()) == ["error"] and "\n" not in r.json()["error"]
    assert tehran.desk.refused == {reason: 1}
    changed = 1 if how == "replayed" else 0  # its first copy was genuine, and received
    assert room.session.last_seq() == before + changed
    assert len(room.session.records(kinds=[CHANNEL_RECEIVE])) == received_before + changed
    status_seen = tehran.client.get(
        f"{tehran.served.url}/status", headers={"authorization": "Bearer tok-dana"}
    ).json()
    assert status_seen["refused"] == {reason: 1}
    assert "Traceback" not in capfd.readouterr().err
    assert tehran.deliver(envelope("m-ok")).status_code == 200  # the desk goes on


# relays ---------------------------------------------------------------------------------------
def test_a_relay_over_tls_passes_the_senders_signature_and_pins_its_far_end(
    tehran: Site,
) -> None:
    """Washington → Muscat's relay (TLS with Muscat's key, pinned by Washington to Muscat's
    card) → Tehran's desk (pinned by the relay to Tehran's card): the desk checks
    Washington's signature, which the relay passed on with the bytes it signed."""
    muscat = new_secret("muscat", INTERMEDIARY)
    stop, urls = threading.Event(), []
    ready = threading.Event()

    def run(far_end: Secret) -> threading.Thread:
        def go() -> None:
            keys = RelayKeys(server_context(muscat), far_end.identity)
            run_relay(tehran.served.url, "127.0.0.1", 0, stop=stop, keys=keys,
                      ready=lambda url: (urls.append(url), ready.set()))  # fmt: skip

        t = threading.Thread(target=go, daemon=True)
        t.start()
        assert ready.wait(10)
        ready.clear()
        return t

    threads = [run(tehran.me), run(new_secret("tehran", SITE))]  # the second pins a wrong card
    wire = HttpWire(me=tehran.washington, peers=lambda o: Peer("tehran", muscat.identity),
                    tls_only=True)  # fmt: skip
    try:
        good, wrong = urls
        assert good.startswith("https://")
        answer = wire.deliver(good, {**envelope("m-r"), "nested": "é ✓ \u2028"}, 5.0)
        assert answer == {"ack": True, "message": "m-r", "duplicate": False}
        with pytest.raises(WireError, match="502"):
            wire.deliver(wrong, envelope("m-w"), 5.0)
        # Straight to Tehran with Muscat pinned: the certificate is Tehran's, not Muscat's.
        with pytest.raises(WireError, match="does not match the pinned card"):
            wire.deliver(tehran.served.url, envelope("m-x"), 5.0)
    finally:
        stop.set()
        wire.close()
        for t in threads:
            t.join(10)
    received = [r.payload["message"] for r in tehran.room.session.records(kinds=[CHANNEL_RECEIVE])]
    assert received == ["m-r"] and tehran.desk.refused == {}


def test_a_relays_routes_forward_what_came_byte_for_byte() -> None:
    """The relay hands on the body's own bytes: re-encoding the JSON would change what the
    signature covers (escapes, number spellings)."""
    seen: list[tuple[bytes, dict[str, str]]] = []

    def far(request: Any) -> dict[str, Any]:
        seen.append((request.raw, dict(request.headers)))
        return {"ack": True, "message": "m"}

    end = serve({("POST", "/deliver"): far}, "127.0.0.1", 0)
    hop = HttpWire()
    relay = serve(Relay(hop, end.url).routes(), "127.0.0.1", 0)
    raw = b'{"id":"m","body":"\\u00e9","sent_ms":1.0e3}'
    signed = {"sitroom-site": "w", "sitroom-time": "1", "sitroom-signature": "x" * 86}
    try:
        httpx.post(f"{relay.url}/deliver", content=raw, headers=signed, timeout=5)
    finally:
        relay.shutdown()
        end.shutdown()
        hop.close()
    ((got, headers),) = seen
    assert got == raw and {k: headers[k] for k in signed} == signed
