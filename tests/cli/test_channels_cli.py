"""The channel commands as a user runs them: declare, send to a far end that is not there,
settle by hand, look back, simulate."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sitroom.cli import run
from sitroom.domain.timeutil import iso

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "channels"


def out_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert run(argv) == code
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_a_message_nobody_acks_stays_owed_until_settled_by_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "room")
    assert run(["init", "-w", ws]) == 0
    before = iso(int(time.time() * 1000))
    time.sleep(0.01)
    # Port 9 (discard) on localhost: nothing listens, the connection is refused.
    assert run(["channel", "add", "cable", "-w", ws, "--to", "Embassy Muscat",
                "--url", "http://127.0.0.1:9", "--ack-timeout", "200ms"]) == 0  # fmt: skip
    send = ["channel", "send", "cable", "démarche", "-w", ws, "--id", "d1", "-p", "priority"]
    sent = out_json(capsys, [*send, "--await-reply", "--wait", "1s", "--json"], 3)
    assert (sent["message"], sent["status"], sent["accepted"]) == ("d1", "pending", True)
    assert sent["attempts"] >= 2  # retried, not given up

    status = out_json(capsys, ["channel", "status", "-w", ws, "--json"])
    (m,) = status["messages"]
    assert (m["message"], m["status"], m["awaits_reply"]) == ("d1", "pending", True)
    assert status["channels"][0]["breaker"] in ("closed", "open")

    assert run(["channel", "ack", "d1", "-w", ws]) == 0
    assert run(["channel", "reply", "d1", "-w", ws, "--body", "received"]) == 0
    assert out_json(capsys, ["channel", "status", "-w", ws, "--json"])["messages"] == []

    # As of before the channel existed, there was nothing.
    then = out_json(capsys, ["channels", "-w", ws, "--as-of", str(before), "--json"])
    assert then["channels"] == []
    now = out_json(capsys, ["channels", "-w", ws, "--json"])["channels"]
    assert [(c["id"], c["acked"], c["replies_seen"]) for c in now] == [("cable", 1, 1)]

    capsys.readouterr()
    assert run(["channel", "reply", "nope", "-w", ws]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no message 'nope' was sent" in err


def test_simulate_prints_a_balanced_report_with_the_failover(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = out_json(capsys, ["channel", "simulate", str(TRACES / "outage.yaml"), "--json"])
    msgs = report["messages"]
    assert msgs["sent"] == msgs["acked"] + msgs["dropped"] + msgs["unacknowledged"]
    assert msgs["lost"] == 0
    moved = {f["message"]: f for f in report["failovers"]}
    assert "m-urgent" in moved and moved["m-urgent"]["to"] == "muscat"
