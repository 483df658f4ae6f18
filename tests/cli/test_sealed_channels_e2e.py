"""A track's messages between two real sites: sealed by Washington, opened by Tehran's desk
(a real process, over TLS pinned to Tehran's card), refused with a recorded reason when
replayed, forged or sent for another track, and never in the clear in either log file.

The attacks here come signed as Washington (a peer that misbehaves, or whose desk was taken):
what refuses them is the envelope's own seal, behind the request's signature. An unsigned copy
is refused before that (tests/cli/test_desk_forgeries.py has the rest of the forgeries)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import orjson
import pytest
from test_channels_e2e import Proc, procs  # noqa: F401  (the fixture)

from sitroom import open as open_room
from sitroom.adapters.keystore import KeyStore
from sitroom.adapters.site_tls import pinned_context
from sitroom.domain.kinds import CHANNEL_RECEIVE, SECURE_REJECTED
from sitroom.domain.secure.codec import b64, unb64

from helpers import signed_headers, sitroom

pytestmark = pytest.mark.slow

TEXT = "Tehran accepts Geneva on the 14th"
TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


def _ok(capfd: pytest.CaptureFixture[str], *args: str) -> str:
    r = sitroom(capfd, *args)
    assert r.code == 0, (args, r.err)
    return r.out


def _records(ws: Path, kind: str) -> list[dict[str, object]]:
    with open_room(ws, as_site=True) as room:
        return [dict(r.payload) for r in room.session.records(kinds=[kind])]


def test_a_sealed_message_crosses_and_replays_forgeries_and_wrong_tracks_are_refused(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    procs: list[Proc],  # noqa: F811
) -> None:
    wa, te = tmp_path / "washington", tmp_path / "tehran"
    _ok(capfd, "init", "-w", str(wa), "--site", "washington")
    _ok(capfd, "init", "-w", str(te), "--site", "tehran")
    # Verified endpoints: each site imports the other's card with the fingerprint read out.
    for a, b, name in ((wa, te, "washington"), (te, wa, "tehran")):
        card = tmp_path / f"{name}.card"
        _ok(capfd, "keys", "export", "-w", str(a), "-o", str(card))
        fp = json.loads(card.read_text())["fingerprint"]
        wrong = sitroom(capfd, "keys", "import", "-w", str(b), str(card), "--fingerprint", "0" * 40)
        assert wrong.code == 5 and f"fingerprint is {fp}" in wrong.err
        _ok(capfd, "keys", "import", "-w", str(b), str(card), "--fingerprint", fp)
    tracks = tmp_path / "tracks.yaml"
    tracks.write_text(TRACK)
    _ok(capfd, "tracks", "add", "-w", str(wa), str(tracks))
    _ok(capfd, "users", "grant", "-w", str(wa), "tehran", "us-iran")  # re-keyed, Tehran a member
    bundle = tmp_path / "us-iran.keys"
    _ok(capfd, "keys", "export", "-w", str(wa), "--track", "us-iran", "-o", str(bundle))
    _ok(capfd, "keys", "import", "-w", str(te), str(bundle))
    _ok(
        capfd,
        "channels",
        "add",
        "-w",
        str(te),
        "direct",
        "--to",
        "Washington",
        "--track",
        "us-iran",
    )
    _ok(capfd, "channels", "add", "-w", str(te), "other", "--to", "Washington")  # in the clear

    tehran = Proc("channels", "run", "-w", str(te), "--listen", "127.0.0.1:0")
    procs.append(tehran)
    _ok(
        capfd,
        "channels",
        "add",
        "-w",
        str(wa),
        "direct",
        "--to",
        "Tehran",
        "--url",
        tehran.url,
        "--track",
        "us-iran",
    )
    sent = json.loads(
        _ok(
            capfd,
            "channels",
            "send",
            "-w",
            str(wa),
            "direct",
            TEXT,
            "--id",
            "m-1",
            "-p",
            "FLASH",
            "--json",
        )
    )
    assert sent["status"] == "acked"

    # The same envelope again, as an attacker would replay it: under a new id, on another
    # track's label, and with its ciphertext altered.
    (sent_record,) = [r for r in _records(wa, "channel.send") if r["message"] == "m-1"]
    body = str(sent_record["body"])
    wire = {
        "id": "m-1",
        "channel": "direct",
        "priority": "FLASH",
        "body": body,
        "sent_ms": 1,
        "track": "us-iran",
    }
    env = orjson.loads(body)
    ct = bytearray(unb64(env["ct"]))
    ct[5] ^= 0xFF
    tampered = orjson.dumps({**env, "ct": b64(bytes(ct)), "header": {**env["header"], "id": "m-7"}})
    attempts = {
        "retry": wire,
        "replay": {**wire, "id": "m-9"},
        "wrong-track": {**wire, "id": "m-8", "channel": "other", "track": "ceasefire"},
        "forged": {**wire, "id": "m-7", "body": tampered.decode()},
    }
    with open_room(wa, as_site=True) as room:
        washington = room.keys.unlock("washington")
    pin = KeyStore(te / "keys").public("tehran")  # Tehran's card, as Washington holds it
    assert tehran.url.startswith("https://")

    def signed(w_: dict[str, object]) -> dict[str, object]:
        data = orjson.dumps(w_)
        answer = client.post(
            f"{tehran.url}/deliver",
            content=data,
            headers=signed_headers(washington, "tehran", data),
        )
        return dict(answer.json())

    with httpx.Client(timeout=10, verify=pinned_context(pin)) as client:
        unsigned = client.post(f"{tehran.url}/deliver", content=orjson.dumps(wire))
        assert unsigned.status_code == 401 and "not signed" in unsigned.json()["error"]
        answers = {label: signed(w_) for label, w_ in attempts.items()}
    assert answers["retry"] == {"ack": True, "message": "m-1", "duplicate": True}
    assert answers["replay"]["rejected"] == "replayed" and answers["replay"]["ack"] is False
    assert answers["wrong-track"]["rejected"] == "wrong-track"
    assert answers["forged"]["rejected"] == "forged"
    assert tehran.stop() == ""

    received = _records(te, CHANNEL_RECEIVE)
    assert [r["message"] for r in received] == ["m-1"] and received[0]["body"] == body
    rejected = sorted(str(r["reason"]) for r in _records(te, SECURE_REJECTED))
    assert rejected == ["forged", "replayed", "wrong-track"]
    # Tehran reads it with its own key; neither log file holds the text.
    read = json.loads(_ok(capfd, "channels", "read", "-w", str(te), "m-1", "--json"))
    assert (
        read["text"] == TEXT and read["opened_with"] == "tehran" and read["sender"] == "washington"
    )
    for ws in (wa, te):
        for f in ws.glob("sitroom.db*"):
            assert TEXT.encode() not in f.read_bytes(), f
    status = json.loads(_ok(capfd, "keys", "-w", str(te), "--json"))
    (track,) = status["tracks"]
    assert track["keys"][0]["sealed"] >= 1 and status["rejected"] == {
        "forged": 1,
        "replayed": 1,
        "wrong-track": 1,
    }
