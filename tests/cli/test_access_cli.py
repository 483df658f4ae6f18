"""Access by role and compartment, through the CLI as users run it: an uncleared user's queries
return nothing of a compartment — not its tracks, questions, forecasts, records or their count —
and what they may not do is refused and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sitroom.domain.kinds import ACCESS_DENIED
from sitroom.workspace import Workspace

from helpers import Result, sitroom

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "geneva-schedule.yaml"


@pytest.fixture
def room(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Tracks us-iran, ceasefire and sanctions; a question on us-iran; alice (admin, cleared
    for us-iran), dana (analyst, cleared for ceasefire), vic (viewer, nothing)."""
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery")
    monkeypatch.delenv("SITROOM_USER", raising=False)
    w = tmp_path / "room"
    steps = [
        ["init", "-w", str(w)],
        ["tracks", "add", "-w", str(w), str(TRACKS)],
        [
            "question",
            "add",
            "-w",
            str(w),
            "Will the US-Iran talks meet by 15 December?",
            "--id",
            "talks",
            "--by",
            "2026-12-15",
            "--track",
            "us-iran",
        ],
        [
            "question",
            "add",
            "-w",
            str(w),
            "Will the ceasefire hold to 1 January?",
            "--id",
            "hold",
            "--by",
            "2027-01-01",
            "--track",
            "ceasefire",
        ],
        ["user", "add", "-w", str(w), "alice", "--role", "admin"],
        ["-u", "alice", "user", "add", "-w", str(w), "dana", "--role", "analyst"],
        ["-u", "alice", "user", "add", "-w", str(w), "vic", "--role", "viewer"],
        ["-u", "alice", "user", "grant", "-w", str(w), "alice", "us-iran"],
        ["-u", "alice", "user", "grant", "-w", str(w), "dana", "ceasefire"],
    ]
    for args in steps:
        r = sitroom(capfd, *args)
        assert r.code == 0, (args, r.err)
    return w


def _as(capfd: pytest.CaptureFixture[str], user: str, *args: str) -> Result:
    return sitroom(capfd, "-u", user, *args)


def _visible_count(w: Path, compartments: set[str]) -> int:
    with Workspace.open(w) as ws:
        return sum(
            1
            for b in ws.log.read()
            for c in b.column("compartment").to_pylist()
            if c in compartments
        )


def test_an_uncleared_user_sees_nothing_of_the_compartment(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    tracks = {t["id"] for t in _as(capfd, "dana", "tracks", "-w", w, "--json").json()["tracks"]}
    assert tracks == {"ceasefire"}
    assert {t["id"] for t in _as(capfd, "alice", "tracks", "-w", w, "--json").json()["tracks"]} == {
        "us-iran"
    }
    qs = _as(capfd, "dana", "question", "list", "-w", w, "--json").json()["questions"]
    assert [q["id"] for q in qs] == ["hold"]
    hidden = _as(capfd, "dana", "forecast", "talks", "-w", w)
    assert hidden.code != 0 and "no question 'talks'" in hidden.err
    assert "us-iran" not in hidden.err  # not even the name of the compartment it lies in
    seen = _as(capfd, "alice", "forecast", "talks", "-w", w, "--json")
    assert seen.code == 0, seen.err
    # Counts: dana's summary counts exactly the general records and ceasefire's.
    state = _as(capfd, "dana", "state", "-w", w, "--json").json()
    assert state["records"] == _visible_count(room, {"", "ceasefire"})
    alice = _as(capfd, "alice", "state", "-w", w, "--json").json()
    assert alice["records"] == _visible_count(room, {"", "us-iran"})
    assert state["records"] < _visible_count(room, {"", "ceasefire", "us-iran", "sanctions"})
    # Keys and people of the track: its epochs, its clearances.
    keys = _as(capfd, "dana", "keys", "status", "-w", w, "--json").json()
    assert [t["track"] for t in keys["tracks"]] == ["ceasefire"]
    users = {
        u["name"]: u for u in _as(capfd, "dana", "user", "list", "-w", w, "--json").json()["users"]
    }
    assert users["alice"]["clearances"] == [] and users["dana"]["clearances"] == ["ceasefire"]
    # And a whole export holds none of its records.
    out = room.parent / "dana.jsonl"
    assert _as(capfd, "dana", "export", "-w", w, "-o", str(out)).code == 0
    text = out.read_text()
    assert '"compartment":"us-iran"' not in text.replace(" ", "") and "talks" not in text


def test_a_write_outside_ones_clearance_or_role_is_refused_and_recorded(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    # A track she is not cleared for: told "no track" (its existence is not confirmed)...
    r = _as(capfd, "dana", "tracks", "status", "-w", w, "us-iran", "agreed")
    assert r.code == 2 and "no track 'us-iran'" in r.err
    # ... and a record into its compartment is refused and recorded.
    r = _as(capfd, "dana", "channel", "add", "-w", w, "side", "--to", "x", "--track", "us-iran")
    assert r.code == 6 and "dana is not cleared for us-iran; refused and recorded" in r.err
    r = _as(capfd, "vic", "judge", "-w", w, "hold", "30%", "--analyst", "vic")
    assert r.code != 0
    r = _as(capfd, "dana", "judge", "-w", w, "hold", "30%", "--analyst", "dana", "--rationale", "x")
    assert r.code == 0, r.err
    r = _as(capfd, "dana", "user", "grant", "-w", w, "dana", "us-iran")
    assert r.code == 6 and "not an admin" in r.err
    with Workspace.open(room) as ws:
        denied: list[Any] = [rec for b in ws.log.read(kinds=[ACCESS_DENIED]) for rec in b.rows()]
    assert [(d.payload["user"], d.compartment) for d in denied] == [
        ("dana", "us-iran"),
        ("dana", ""),
    ]
    # The denial in us-iran is seen by those cleared for it, not by dana herself.
    for user, expected in (("alice", 2), ("dana", 1)):
        with Workspace.open(room) as ws:
            ws.act_as(user)
            assert ws.engine.log.count(kinds=[ACCESS_DENIED]) == expected


def test_a_viewer_cannot_write_and_the_workspace_asks_who_you_are(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    r = _as(capfd, "vic", "tracks", "add", "-w", w, str(TRACKS))
    assert r.code == 6 and "viewers do not write" in r.err
    r = sitroom(capfd, "tracks", "-w", w)
    assert r.code == 6 and "say who you are with --user" in r.err
    r = _as(capfd, "mallory", "tracks", "-w", w)
    assert r.code == 6 and "mallory is not a user" in r.err
    assert _as(capfd, "vic", "tracks", "-w", w, "--json").json()["tracks"] == []


def test_a_single_user_workspace_sees_everything(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITROOM_USER", raising=False)
    w = str(tmp_path / "solo")
    assert sitroom(capfd, "init", "-w", w).code == 0
    assert sitroom(capfd, "tracks", "add", "-w", w, str(TRACKS)).code == 0
    tracks = sitroom(capfd, "tracks", "-w", w, "--json").json()["tracks"]
    assert {t["id"] for t in tracks} == {"us-iran", "ceasefire", "sanctions"}
