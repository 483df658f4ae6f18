"""Tracks: the deadlock of the issue's example, written as a track file, is found and explained
in words and disappears when the ceasefire is agreed; a person booked by two tracks at once is
reported with the exact windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import sitroom

FILE = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "us-iran-ceasefire.yaml"


def test_deadlock_is_explained_and_resolved_and_overbooking_has_exact_windows(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    added = sitroom(capfd, "tracks", "add", "-w", ws, str(FILE), "--json").json()
    assert added["files"][0]["new"] == 7
    check = sitroom(capfd, "tracks", "check", "-w", ws, "--at", "2026-11-25", "--json").json()
    (deadlock,) = check["deadlocks"]
    assert deadlock["cycle"] == ["track:ceasefire", "resource:nsc-me", "track:us-iran"]
    assert deadlock["explanation"] == [
        "the Israel–Hezbollah ceasefire negotiation waits for the NSC Middle East team",
        "the NSC Middle East team is held by US–Iran talks until 2026-12-12",
        "US–Iran talks waits for the Israel–Hezbollah ceasefire negotiation to reach 'agreed' "
        "(now 'negotiating')",
    ]
    (over,) = check["contention"]
    assert (over["name"], over["since"], over["until"], over["over_by"], over["tracks"]) == (
        "Special Envoy W.",
        "2026-12-03T00:00:00Z",
        "2026-12-05T00:00:00Z",
        1,
        ["ceasefire", "us-iran"],
    )
    alerts = sitroom(capfd, "alerts", "-w", ws, "--json").json()["alerts"]
    assert [a["detector"] for a in alerts] == ["deadlock"]
    # After the team is released (12 Dec) the cycle is gone even before any agreement.
    later = sitroom(capfd, "tracks", "check", "-w", ws, "--at", "2026-12-12", "--json").json()
    assert later["deadlocks"] == []

    status = sitroom(capfd, "tracks", "status", "ceasefire", "agreed", "-w", ws, "--json").json()
    assert status == {"track": "ceasefire", "status": "agreed", "was": "negotiating", "alerts": []}
    after = sitroom(capfd, "tracks", "check", "-w", ws, "--at", "2026-11-25", "--json").json()
    assert after["deadlocks"] == [] and after["contention"] == check["contention"]
    again = sitroom(capfd, "tracks", "add", "-w", ws, str(FILE), "--json").json()
    assert again["files"][0]["new"] == 0  # the same file adds nothing
    listed = sitroom(capfd, "tracks", "-w", ws, "--json").json()
    by_priority = [(t["id"], t["priority"], t["status"]) for t in listed["tracks"]]
    assert by_priority == sorted(by_priority, key=lambda x: (x[1], x[0]))
    tracks = {t["id"]: t for t in listed["tracks"]}
    assert tracks["ceasefire"]["status"] == "agreed"
    assert tracks["us-iran"]["preconditions"] == [{"track": "ceasefire", "status": "agreed"}]
    assert listed["provenance"]["hidden"] == 0


def test_track_file_mistakes_are_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tracks:\n  - id: a\n    name: A\n    preconditions: [{track: b, status: agreed}]\n"
    )
    r = sitroom(capfd, "tracks", "add", "-w", ws, str(bad))
    assert r.code != 0 and len(r.err.strip().splitlines()) == 1
    assert "precondition on unknown track 'b'" in r.err
    empty = tmp_path / "empty.yaml"
    empty.write_text(
        "resources: [{id: r}]\ntracks: [{id: a, name: A}]\n"
        "holdings: [{track: a, resource: r, from: 2026-12-05, until: 2026-12-05}]\n"
    )
    r = sitroom(capfd, "tracks", "add", "-w", ws, str(empty))
    assert r.code != 0 and "holding 1: 'until' must be after 'from'" in r.err
    r = sitroom(capfd, "tracks", "status", "nope", "agreed", "-w", ws)
    assert r.code == 2 and "no track 'nope'" in r.err


def test_an_unknown_track_is_not_found_with_its_fields_and_json_errors_are_json(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    sitroom(capfd, "tracks", "add", "-w", ws, str(FILE))
    r = sitroom(capfd, "tracks", "status", "us-irn", "agreed", "-w", ws, "--json")
    assert r.code == 2 and r.err == ""
    error = r.json()["error"]
    assert (error["type"], error["what"], error["id"]) == ("not_found", "track", "us-irn")
    assert error["known"] == ["ceasefire", "us-iran"]
    assert error["hint"].startswith("see `sitroom tracks`") and error["exit_code"] == 2
    text = sitroom(capfd, "tracks", "status", "us-irn", "agreed", "-w", ws)
    assert text.err.strip() == (
        "sitroom: error: no track 'us-irn' (tracks: ceasefire, us-iran); see `sitroom tracks`, "
        "or add one with `sitroom tracks add FILE`"
    )
    missing = sitroom(capfd, "tracks", "add", "-w", ws, str(tmp_path / "nope.yaml"), "--json")
    assert missing.code == 1 and missing.json()["error"]["type"] == "source"
