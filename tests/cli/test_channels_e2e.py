"""Channels between real processes over real HTTP: a sender's desk (Washington), a receiver's
desk (Tehran), the terminal of the direct link and the intermediary of the backchannel
(Muscat). The link's terminal is killed mid-run; the sender must notice the silence, with
Muscat vouching that Tehran itself is alive, fail urgent messages over with their ids, and lose
nothing; the receiver must see every message once.

These run in plain HTTP (``desk_tls = false``): what they test is failover, not transport; the
deliveries are signed all the same, so each site imports the other's card. TLS, pinning and
relays over TLS are tests/cli/test_desk_forgeries.py's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import sitroom
from sitroom.cli import run

from helpers import exchange_cards

pytestmark = pytest.mark.slow


class Proc:
    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "sitroom", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        line = self.p.stdout.readline() if self.p.stdout else ""
        if not line.startswith("listening on "):
            self.p.kill()
            raise AssertionError(f"{args} did not start: {line!r} {self.p.stderr.read()}")
        self.url = line.split()[2]

    def stop(self, sig: int = signal.SIGTERM) -> str:
        """Stop the process; its stderr, which a clean run leaves empty."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        _, err = self.p.communicate(timeout=20)
        return err


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop(signal.SIGKILL)


def _records(ws: Path, kind: str) -> list[Any]:
    with sitroom.open(ws, as_site=True) as room:
        return room.session.records(kinds=[kind])


def _wait(what: str, ok: Any, timeout: float = 30.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = ok()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def plain_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """Desks and sends in this process and the ones it starts speak plain HTTP."""
    monkeypatch.setenv("SITROOM_DESK_TLS", "false")


def two_sites(tmp: Path) -> tuple[Path, Path]:
    """Washington and Tehran, each holding the other's card, and Tehran's desk expecting
    Washington on the channels it will send on."""
    a, b = tmp / "washington", tmp / "tehran"
    assert run(["init", "-w", str(a), "--site", "washington"]) == 0
    assert run(["init", "-w", str(b), "--site", "tehran"]) == 0
    exchange_cards(tmp, a, b)
    for channel in ("direct", "backchannel"):
        assert run(["channels", "add", channel, "-w", str(b), "--to", "Washington"]) == 0
    return a, b


@pytest.mark.usefixtures("plain_http")
def test_a_killed_link_is_noticed_urgent_traffic_fails_over_and_nothing_is_lost(
    tmp_path: Path, procs: list[Proc]
) -> None:
    a, b = two_sites(tmp_path)

    tehran = Proc("channels", "run", "-w", str(b), "--listen", "127.0.0.1:0")
    procs.append(tehran)
    link = Proc("channels", "relay", "--to", tehran.url, "--listen", "127.0.0.1:0")
    procs.append(link)
    muscat = Proc("channels", "relay", "--to", tehran.url, "--listen", "127.0.0.1:0")
    procs.append(muscat)

    week = ["--timezone", "Asia/Tehran", "--hours", "08:00-16:00", "--days", "Sat-Wed"]
    assert run(["channels", "add", "backchannel", "-w", str(a), "--to", "Tehran",
                "--via", "Muscat", "--url", muscat.url, "--heartbeat", "250ms",
                "--ack-timeout", "3s", *week]) == 0  # fmt: skip
    assert run(["channels", "add", "direct", "-w", str(a), "--to", "Tehran",
                "--name", "Direct secure link", "--fallback", "backchannel", "--url", link.url,
                "--heartbeat", "250ms", "--ack-timeout", "2s", *week]) == 0  # fmt: skip

    washington = Proc("channels", "run", "-w", str(a), "--listen", "127.0.0.1:0")
    procs.append(washington)
    client = httpx.Client(base_url=washington.url, timeout=10)

    def submit(msg_id: str, priority: str) -> None:
        body = {"channel": "direct", "priority": priority, "body": f"text {msg_id}", "id": msg_id}
        r = client.post("/submit", json=body)
        assert r.status_code == 200 and r.json()["accepted"], r.text

    def pending() -> list[str]:
        return list(client.get("/status").json()["pending"])

    time.sleep(1.5)  # a few heartbeats, so that phi knows the direct path's rhythm
    submit("m1", "FLASH")
    submit("m2", "ROUTINE")
    _wait("m1 and m2 acknowledged", lambda: not pending())

    link.stop(signal.SIGKILL)  # the direct link's terminal dies
    submit("m3", "IMMEDIATE")
    submit("m4", "FLASH")
    submit("m5", "ROUTINE")
    _wait("m3 and m4 acknowledged", lambda: pending() == ["m5"])
    client.close()
    assert washington.stop() == ""
    assert tehran.stop() == ""

    # The sender noticed the silence, and Muscat vouched for Tehran: the path, not the peer.
    states = [r.payload for r in _records(a, "channel.state")]
    silences = [s for s in states if s["aspect"] == "liveness" and s["new"] != "alive"]
    assert silences and silences[0]["channel"] == "direct", states
    assert silences[0]["new"] == "suspect_path", silences[0]
    assert "Muscat heard Tehran recently" in silences[0]["reason"]

    # The urgent messages failed over with their own ids; the routine one did not.
    failovers = {r.payload["message"]: r.payload for r in _records(a, "channel.failover")}
    assert {"m3", "m4"} <= set(failovers), failovers
    assert "m5" not in failovers and "m1" not in failovers
    assert all(f["from"] == "direct" and f["to"] == "backchannel" for f in failovers.values())
    alerts = [r.payload for r in _records(a, "alert")]
    escalations = [
        x for x in alerts if x["key"].startswith("failover:") and "m3" in x["detail"]["messages"]
    ]
    assert escalations and escalations[0]["detail"]["escalation"] == (
        "Direct secure link → backchannel → via Muscat"
    )
    assert any(x["key"].startswith("liveness:") for x in alerts)

    # Every message acked but the routine one, which is still recorded as waiting: not lost.
    acks = {r.payload["message"]: r.payload for r in _records(a, "channel.ack")}
    assert set(acks) == {"m1", "m2", "m3", "m4"}
    assert acks["m3"]["channel"] == acks["m4"]["channel"] == "backchannel"
    with sitroom.open(a, as_site=True) as room:
        (m5,) = room.channels.status("m5").messages
        assert m5.status == "pending"

    # Tehran received each message once, whatever the copies and channels.
    received = [r.payload["message"] for r in _records(b, "channel.receive")]
    assert sorted(received) == ["m1", "m2", "m3", "m4"]
    assert {r.payload["channel"] for r in _records(b, "channel.receive")} == {
        "direct",
        "backchannel",
    }


@pytest.mark.usefixtures("plain_http")
def test_a_desk_goes_on_receiving_while_another_process_writes_its_workspace(
    tmp_path: Path, procs: list[Proc]
) -> None:
    """A CLI command appends to the receiving desk's workspace between two messages: the desk
    appends the second after it (it used to fail on `UNIQUE constraint failed`) and has each
    message once."""
    a, b = two_sites(tmp_path)
    tehran = Proc("channels", "run", "-w", str(b), "--listen", "127.0.0.1:0")
    procs.append(tehran)
    add = ["channels", "add", "direct", "-w", str(a), "--to", "Tehran", "--url", tehran.url]
    assert run([*add, "--heartbeat", "250ms", "--ack-timeout", "3s"]) == 0
    washington = Proc("channels", "run", "-w", str(a), "--listen", "127.0.0.1:0")
    procs.append(washington)
    client = httpx.Client(base_url=washington.url, timeout=10)

    def submit(msg_id: str) -> None:
        body = {"channel": "direct", "priority": "FLASH", "body": f"text {msg_id}", "id": msg_id}
        r = client.post("/submit", json=body)
        assert r.status_code == 200 and r.json()["accepted"], r.text

    submit("m1")
    _wait("m1 acknowledged", lambda: not client.get("/status").json()["pending"])
    report = Path(__file__).parents[2] / "examples" / "hezbollah-posture.md"
    other = subprocess.run(
        [sys.executable, "-m", "sitroom", "reports", "add", "-w", str(b), str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0, other.stderr
    submit("m2")
    _wait("m2 acknowledged", lambda: not client.get("/status").json()["pending"])
    client.close()
    assert washington.stop() == ""
    assert tehran.stop() == ""
    received = [r.payload["message"] for r in _records(b, "channel.receive")]
    assert sorted(received) == ["m1", "m2"]
    assert _records(b, "claim")
    assert run(["verify", "-w", str(b)]) == 0
