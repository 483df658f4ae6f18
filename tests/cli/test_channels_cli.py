"""The channel commands as a user runs them: declare, send to a far end that is not there,
settle by hand, look back, read, simulate — and what they say when something is wrong."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sitroom.cli import run
from sitroom.domain.timeutil import MS_PER_H, iso, parse_time

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "channels"


def out_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert run(argv) == code
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> str:
    """The one line on stderr of a command that fails with ``code``."""
    capsys.readouterr()
    assert run(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.fixture
def ws(tmp_path: Path) -> str:
    w = str(tmp_path / "room")
    assert run(["init", "-w", w]) == 0
    return w


def test_a_message_nobody_acks_stays_owed_until_settled_by_hand(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = iso(int(time.time() * 1000))
    time.sleep(0.01)
    # Port 9 (discard) on localhost: nothing listens, the connection is refused.
    added = out_json(capsys, ["channels", "add", "cable", "-w", ws, "--to", "Embassy Muscat",
                              "--url", "http://127.0.0.1:9", "--ack-timeout", "200ms",
                              "--json"])  # fmt: skip
    assert (added["id"], added["counterpart"], added["new"]) == ("cable", "Embassy Muscat", True)
    assert added["payload"]["ack_timeout_ms"] == 200
    send = ["channels", "send", "cable", "démarche", "-w", ws, "--id", "d1", "-p", "priority"]
    sent = out_json(capsys, [*send, "--await-reply", "--wait", "1s", "--json"], 3)
    assert (sent["message"], sent["status"], sent["accepted"]) == ("d1", "pending", True)
    assert sent["waiting"] is True and sent["path"] == ["cable"]
    assert sent["attempts"] >= 2  # retried, not given up

    status = out_json(capsys, ["channels", "status", "-w", ws, "--json"])
    (m,) = status["messages"]
    assert (m["message"], m["status"], m["awaits_reply"]) == ("d1", "pending", True)
    assert status["channels"][0]["breaker"] in ("closed", "open")
    assert status["provenance"]["hidden"] == 0

    acked = out_json(capsys, ["channels", "ack", "d1", "-w", ws, "--json"])
    assert (acked["message"], acked["channel"], acked["new"]) == ("d1", "cable", True)
    replied = out_json(capsys, ["channels", "reply", "d1", "-w", ws, "--body", "received",
                                "--json"])  # fmt: skip
    assert (replied["message"], replied["new"]) == ("d1", True)
    assert out_json(capsys, ["channels", "reply", "d1", "-w", ws, "--json"])["new"] is False
    assert out_json(capsys, ["channels", "status", "-w", ws, "--json"])["messages"] == []

    # As of before the channel existed, there was nothing.
    then = out_json(capsys, ["channels", "-w", ws, "--as-of", str(before), "--json"])
    assert then["channels"] == []
    now = out_json(capsys, ["channels", "-w", ws, "--json"])["channels"]
    assert [(c["id"], c["acked"], c["replies_seen"]) for c in now] == [("cable", 1, 1)]

    err = fails(capsys, ["channels", "reply", "nope", "-w", ws], 2)
    assert "no message 'nope' was sent" in err and "sitroom channels status" in err
    body = out_json(capsys, ["channels", "ack", "nope", "-w", ws, "--json"], 2)["error"]
    assert (body["type"], body["what"], body["id"]) == ("not_found", "message", "nope")


def test_ack_and_reply_take_their_time_and_a_reply_by_can_be_relative(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["channels", "add", "cable", "-w", ws, "--to", "Embassy"]) == 0
    sent = out_json(capsys, ["channels", "send", "cable", "x", "-w", ws, "--id", "m1",
                             "--reply-by", "+4h", "--wait", "0s", "--json"], 3)  # fmt: skip
    assert sent["status"] == "pending"
    status = out_json(capsys, ["channels", "status", "m1", "-w", ws, "--json"])
    (m,) = status["messages"]
    by = parse_time(m["reply_by"], now_ms=0) - parse_time(m["sent_at"], now_ms=0)
    assert abs(by - 4 * MS_PER_H) < 60_000 and m["awaits_reply"] is True
    acked = out_json(capsys, ["channels", "ack", "m1", "-w", ws, "--at", "2026-12-01T10:00:00Z",
                              "--json"])  # fmt: skip
    assert acked["at"] == "2026-12-01T10:00:00Z"
    replied = out_json(capsys, ["channels", "reply", "m1", "-w", ws, "--at", "-1m", "--json"])
    assert replied["at"] is not None and replied["at"] < iso(int(time.time() * 1000))


def test_people_read_what_was_done(ws: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["channels", "-w", ws]) == 0
    assert "0 channels" in capsys.readouterr().out
    assert run(["channels", "add", "cable", "-w", ws, "--to", "Embassy [Muscat]"]) == 0
    assert "channel cable: to Embassy [Muscat]" in capsys.readouterr().out
    assert run(["channels", "add", "cable", "-w", ws, "--to", "Embassy [Muscat]"]) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert run(["channels", "-w", ws]) == 0
    listed = capsys.readouterr().out
    assert "1 channel\n" in listed and "Embassy [Muscat]" in listed and "(default)" in listed
    assert run(["channels", "send", "cable", "hello [there]", "-w", ws, "--id", "m1",
                "--wait", "0s"]) == 3  # fmt: skip
    said = capsys.readouterr().out
    assert "m1: pending (cable; backpressure ok)" in said and "Not acknowledged yet" in said
    assert run(["channels", "read", "m1", "-w", ws]) == 0
    assert capsys.readouterr().out.strip() == "hello [there]"
    assert run(["channels", "status", "-w", ws]) == 0
    assert "1 message waits for an ack or a reply" in capsys.readouterr().out


def test_mistakes_are_one_line_naming_what_is_wrong(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = fails(capsys, ["channels", "add", "direct", "-w", ws, "--to", "X",
                         "--fallback", "spare"], 2)  # fmt: skip
    assert "no channel 'spare' to fail over to" in err and "sitroom channels add" in err
    assert run(["channels", "add", "spare", "-w", ws, "--to", "X"]) == 0
    err = fails(capsys, ["channels", "add", "direct", "-w", ws, "--to", "X", "--fallback",
                         "spare", "--track", "us-iran"], 2)  # fmt: skip
    assert "no track 'us-iran' for the channel" in err  # a track the room neither runs nor keys
    err = fails(capsys, ["channels", "add", "x", "-w", ws, "--to", "X", "--url", "notaurl"], 2)
    assert "'notaurl' is not a desk's address" in err
    err = fails(capsys, ["channels", "send", "telex", "x", "-w", ws], 2)
    assert "no channel 'telex' (channels: spare)" in err
    err = fails(capsys, ["channels", "send", "spare", "x", "-w", ws, "-p", "urgent"], 2)
    assert "unknown priority 'urgent'" in err
    err = fails(capsys, ["channels", "status", "nothing", "-w", ws], 2)
    assert "no channel or message 'nothing'" in err
    err = fails(capsys, ["channels", "read", "m-9", "-w", ws], 2)
    assert "no message 'm-9'" in err
    err = fails(capsys, ["channels", "run", "-w", ws, "--listen", "nowhere"], 2)
    assert "HOST:PORT" in err


def test_send_to_a_desk_that_is_not_there(ws: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["channels", "add", "cable", "-w", ws, "--to", "Embassy"]) == 0
    err = fails(capsys, ["channels", "send", "cable", "x", "-w", ws,
                         "--desk", "http://127.0.0.1:9"], 2)  # fmt: skip
    assert "no desk at http://127.0.0.1:9" in err


def test_simulate_prints_a_balanced_report_with_the_failover(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no workspace here: a scratch room is enough
    report = out_json(capsys, ["channels", "simulate", str(TRACES / "outage.yaml"), "--json"])
    msgs = report["messages"]
    assert msgs["sent"] == msgs["acked"] + msgs["dropped"] + msgs["unacknowledged"]
    assert msgs["lost"] == 0
    moved = {f["message"]: f for f in report["failovers"]}
    assert "m-urgent" in moved and moved["m-urgent"]["to"] == "muscat"
    assert not (tmp_path / "sitroom.db").exists()
    capsys.readouterr()
    assert run(["channels", "simulate", str(TRACES / "outage.yaml")]) == 0
    assert "Accounted for: 505 sent" in capsys.readouterr().out


def test_a_recorded_simulation_goes_into_the_workspace(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = out_json(capsys, ["channels", "simulate", str(TRACES / "peer_down.yaml"), "-w", ws,
                               "--record", "--json"])  # fmt: skip
    listed = out_json(capsys, ["channels", "-w", ws, "--json"])["channels"]
    assert {c["id"] for c in listed} == {"direct", "muscat"}
    # every message of the trace is in the log, acked (one on both channels: it failed over)
    assert report["messages"]["acked"] == report["messages"]["sent"] > 0
    assert max(c["acked"] for c in listed) <= report["messages"]["acked"]
    assert sum(c["acked"] for c in listed) >= report["messages"]["acked"]
    assert out_json(capsys, ["channels", "status", "-w", ws, "--json"])["messages"] == []
    alerts = out_json(capsys, ["alerts", "-w", ws, "--as-of", "now", "--json"])["alerts"]
    assert any(a["detector"] == "channels" for a in alerts)


def test_a_trace_with_a_bad_duration_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    text = (TRACES / "outage.yaml").read_text()
    bad.write_text(text.replace("until: 4h", "until: 4 hours"))
    assert "until: 4 hours" in bad.read_text()
    err = fails(capsys, ["channels", "simulate", str(bad)], 2)
    assert err.startswith("sitroom: error: trace bad.yaml: until: cannot read duration")
    body = out_json(capsys, ["channels", "simulate", str(bad), "--json"], 2)["error"]
    assert body["type"] == "invalid" and "until: cannot read duration '4 hours'" in body["message"]
    err = fails(capsys, ["channels", "simulate", str(tmp_path / "none.yaml")], 1)
    assert "cannot read trace" in err


def test_an_open_breaker_shows_its_next_probe_and_an_operator_can_reset_it(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add = "channels add cable --to Embassy --url http://127.0.0.1:9 --ack-timeout 100ms --json"
    out_json(capsys, [*add.split(), "-w", ws])
    for i in range(3):  # refused three times: the breaker opens
        run(["channels", "send", "cable", f"m{i}", "-w", ws, "--wait", "300ms"])
    (row,) = out_json(capsys, ["channels", "-w", ws, "--json"])["channels"]
    assert row["breaker"] == "open" and row["next_probe"] is not None
    capsys.readouterr()
    run(["channels", "-w", ws])
    assert "open (probes " in capsys.readouterr().out
    fails(capsys, ["channels", "reset", "cable", "-w", ws, "--reason", "x"], 2)  # whose?
    done = out_json(capsys, ["-u", "dana", "channels", "reset", "cable", "-w", ws,
                             "--reason", "the embassy is back, by phone", "--json"])  # fmt: skip
    assert (done["was"], done["by"]) == ("open", "dana")
    (row,) = out_json(capsys, ["channels", "-w", ws, "--json"])["channels"]
    assert row["breaker"] == "closed" and row["next_probe"] is None
    assert "reset by dana: the embassy is back" in row["breaker_reason"]


def test_the_acceptable_pause_is_set_from_the_command_line_and_a_trace(
    ws: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    strict = out_json(capsys, ["channels", "add", "fast", "-w", ws, "--to", "X",
                               "--acceptable-pause", "0s", "--json"])  # fmt: skip
    assert strict["payload"]["acceptable_pause_ms"] == 0
    loose = out_json(capsys, ["channels", "add", "slow", "-w", ws, "--to", "X", "--json"])
    assert loose["payload"]["acceptable_pause_ms"] is None  # one and a half heartbeats
    from sitroom.adapters.trace import load_trace

    trace = tmp_path / "t.yaml"
    trace.write_text(
        "start: 2026-11-30T06:00:00Z\nuntil: 1m\nchannels:\n"
        "  - {id: d, counterpart: T, heartbeat: 2s, acceptable_pause: 500ms}\n"
    )
    (link,) = load_trace(trace).links
    assert (link.heartbeat_ms, link.pause_ms) == (2000, 500)


def test_a_counterparts_days_off_are_declared_with_the_channel(
    ws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    added = out_json(capsys, ["channels", "add", "direct", "-w", ws, "--to", "Tehran desk",
                              "--timezone", "Asia/Tehran", "--days", "Sat-Wed",
                              "--closed", "2027-03-20..2027-03-24", "--closed", "2027-04-01",
                              "--json"])  # fmt: skip
    closed = added["payload"]["week"]["closed"]
    assert closed[0] == "2027-03-20" and closed[-1] == "2027-04-01" and len(closed) == 6
    err = fails(capsys, ["channels", "add", "x", "-w", ws, "--to", "X", "--closed", "Nowruz"], 2)
    assert "cannot read days off 'Nowruz'" in err
