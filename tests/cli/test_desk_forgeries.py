"""Two sites and an intermediary as separate processes, over real TLS with real keys: a sealed
message crosses from Washington's desk to Tehran's, directly and through Muscat's relay, each
hop pinned to the card imported for it; and the forgeries a stranger with curl would try on a
running desk are refused, with one line for people and the log left as it was."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from test_channels_e2e import Proc, procs  # noqa: F401  (the fixture)

import sitroom
from sitroom.adapters.keystore import KeyStore
from sitroom.adapters.site_tls import pinned_context
from sitroom.cli import run
from sitroom.domain.kinds import CHANNEL_RECEIVE

from helpers import exchange_cards, import_card, sitroom_process

pytestmark = pytest.mark.slow

TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


def _ok(*args: str) -> None:
    assert run(list(args)) == 0, args


def _wait(what: str, ok: Any, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if value := ok():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _received(ws: Path) -> dict[str, dict[str, Any]]:
    with sitroom.open(ws, as_site=True) as room:
        return {
            str(r.payload["message"]): dict(r.payload)
            for r in room.session.records(kinds=[CHANNEL_RECEIVE])
        }


def test_a_sealed_message_crosses_over_pinned_tls_directly_and_through_a_relay(
    tmp_path: Path,
    procs: list[Proc],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wa, te, mu = tmp_path / "washington", tmp_path / "tehran", tmp_path / "muscat"
    for ws in (wa, te, mu):
        _ok("init", "-w", str(ws), "--site", ws.name)
    exchange_cards(tmp_path, wa, te)
    # Muscat's intermediary: its own key, its card imported by Washington, which pins it.
    key_file = mu / "keys" / "relay.keyfile"
    _ok("keys", "init", "muscat-relay", "-w", str(mu), "--role", "intermediary",
        "--key-file", str(key_file))  # fmt: skip
    import_card(tmp_path, mu, wa, "muscat-relay")
    tehran_card = tmp_path / "tehran-for-relay.card"
    _ok("keys", "export", "-w", str(te), "-o", str(tehran_card))
    fingerprint = json.loads(tehran_card.read_text())["fingerprint"]
    # The track: Washington's, with Tehran a member holding its epochs.
    (tmp_path / "tracks.yaml").write_text(TRACK)
    _ok("tracks", "add", "-w", str(wa), str(tmp_path / "tracks.yaml"))
    _ok("users", "grant", "-w", str(wa), "tehran", "us-iran")
    _ok("keys", "export", "-w", str(wa), "--track", "us-iran", "-o", str(tmp_path / "e.keys"))
    _ok("keys", "import", "-w", str(te), str(tmp_path / "e.keys"))
    for channel in ("direct", "backchannel"):
        _ok("channels", "add", channel, "-w", str(te), "--to", "Washington", "--track", "us-iran")

    tehran = Proc("channels", "run", "-w", str(te), "--listen", "127.0.0.1:0")
    procs.append(tehran)
    assert tehran.url.startswith("https://127.0.0.1:")
    # A relay pinned to the wrong card for its far end, first: Tehran's is refused at start.
    wrong = sitroom_process("channels", "relay", "--to", tehran.url, "--to-card",
                            str(tehran_card), "--to-fingerprint", "0" * 40)  # fmt: skip
    assert wrong.code == 5 and wrong.err.startswith("sitroom: error: tehran's fingerprint is")
    assert "Traceback" not in wrong.err and wrong.err.count("\n") == 1
    muscat = Proc("channels", "relay", "--to", tehran.url, "--listen", "127.0.0.1:0",
                  "--key", str(mu / "keys" / "muscat-relay.key"), "--key-file", str(key_file),
                  "--to-card", str(tehran_card), "--to-fingerprint", fingerprint)  # fmt: skip
    procs.append(muscat)
    assert muscat.url.startswith("https://")

    _ok("channels", "add", "direct", "-w", str(wa), "--to", "Tehran", "--url", tehran.url,
        "--track", "us-iran", "--heartbeat", "250ms", "--ack-timeout", "3s")  # fmt: skip
    _ok("channels", "add", "backchannel", "-w", str(wa), "--to", "Tehran", "--via", "muscat-relay",
        "--url", muscat.url, "--track", "us-iran", "--heartbeat", "250ms",
        "--ack-timeout", "3s")  # fmt: skip
    washington = Proc("channels", "run", "-w", str(wa), "--listen", "127.0.0.1:0")
    procs.append(washington)
    monkeypatch.setenv("SITROOM_TOKEN", "anything: a room without users has one user")
    for msg, channel in (("m-1", "direct"), ("m-2", "backchannel")):
        _ok("channels", "send", "-w", str(wa), channel, f"proposal {msg}", "--id", msg,
            "-p", "FLASH", "--desk", washington.url)  # fmt: skip

    pin = KeyStore(wa / "keys").public("washington")
    with httpx.Client(verify=pinned_context(pin), timeout=10) as client:
        _wait("m-1 and m-2 acked", lambda: client.get(f"{washington.url}/status").json()
              == {"pending": [], "refused": {}})  # fmt: skip
    assert washington.stop() == "" and muscat.stop() == "" and tehran.stop() == ""

    received = _received(te)
    assert sorted(received) == ["m-1", "m-2"]
    assert {m: r["channel"] for m, r in received.items()} == {
        "m-1": "direct",
        "m-2": "backchannel",
    }
    assert all("proposal" not in str(r["body"]) for r in received.values())  # sealed
    with sitroom.open(te) as room:
        assert room.channels.read("m-2").text == "proposal m-2"
    with sitroom.open(wa, as_site=True) as room:
        sent = {
            r.payload["message"]: r.payload for r in room.session.records(kinds=["channel.send"])
        }
    assert sent["m-1"]["by"] == "local"  # the one user of a room without users


def test_curl_at_a_running_desk_of_a_room_with_users_is_refused_and_records_nothing(
    tmp_path: Path,
    procs: list[Proc],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A desk of a room with users takes a user's token and nothing else: a submit and a
    status without one, or with a guessed one, are refused; `channels send --desk` with a
    guessed token is refused before it leaves; alice's own token sends, signed by her."""
    ws = tmp_path / "room"
    _ok("init", "-w", str(ws), "--site", "washington")
    _ok("channels", "add", "direct", "-w", str(ws), "--to", "Tehran")
    passphrase = tmp_path / "pass"
    passphrase.write_text("correct horse battery staple\n")
    _ok("users", "add", "alice", "-w", str(ws), "--role", "admin",
        "--passphrase-file", str(passphrase))  # fmt: skip
    desk = Proc("channels", "run", "-w", str(ws), "--listen", "127.0.0.1:0")
    procs.append(desk)
    with sitroom.open(ws, as_site=True) as room:
        before = room.session.last_seq()
    pin = KeyStore(ws / "keys").public("washington")
    body = orjson.dumps({"channel": "direct", "body": "sealed and signed as Washington"})
    with httpx.Client(verify=pinned_context(pin), timeout=10) as client:
        for headers in ({}, {"authorization": "Bearer guessed"}):
            r = client.post(f"{desk.url}/submit", content=body, headers=headers)
            assert r.status_code == 401 and list(r.json()) == ["error"]
            assert client.get(f"{desk.url}/status", headers=headers).status_code == 401
    # Without a card to pin, a plain httpx client does not even get to ask.
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{desk.url}/submit", content=body, timeout=5)
    monkeypatch.setenv("SITROOM_TOKEN", "guessed")
    sent = sitroom_process("channels", "send", "-w", str(ws), "-u", "alice", "direct", "hi",
                           "--desk", desk.url)  # fmt: skip
    assert sent.code == 6 and sent.err.startswith("sitroom: error: that is not a sitroom token")
    assert sent.err.count("\n") == 1 and "Traceback" not in sent.err
    with sitroom.open(ws, as_site=True) as room:
        assert room.session.last_seq() == before
        token = room.auth.login("alice", "correct horse battery staple").token
    monkeypatch.setenv("SITROOM_TOKEN", token)
    _ok("channels", "send", "-w", str(ws), "-u", "alice", "direct", "hi", "--id", "m-9",
        "--desk", desk.url)  # fmt: skip
    assert desk.stop() == ""
    with sitroom.open(ws, as_site=True) as room:
        send = room.session.records(kinds=["channel.send"])
    assert [r.payload["by"] for r in send] == ["alice"]
    assert sitroom.verify(ws).ok  # her send is signed with her key, not the desk's
