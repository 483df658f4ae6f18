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
    assert (over["name"], over["from"], over["until"], over["over_by"], over["tracks"]) == (
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

    assert sitroom(capfd, "tracks", "status", "ceasefire", "agreed", "-w", ws).code == 0
    after = sitroom(capfd, "tracks", "check", "-w", ws, "--at", "2026-11-25", "--json").json()
    assert after["deadlocks"] == [] and after["contention"] == check["contention"]
    again = sitroom(capfd, "tracks", "add", "-w", ws, str(FILE), "--json").json()
    assert again["files"][0]["new"] == 0  # the same file adds nothing


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
