"""Access by role and compartment, through the CLI as users run it: an uncleared user's queries
return nothing of a compartment — not its tracks, questions, forecasts, records or their count —
and what they may not do is refused and recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sitroom.domain.kinds import ACCESS_DENIED
from sitroom.room import open as open_room

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
            "questions",
            "add",
            "-w",
            str(w),
            "Will the US-Iran talks meet by 15 December?",
            "--id",
            "talks",
            "--until",
            "2026-12-15",
            "--track",
            "us-iran",
        ],
        [
            "questions",
            "add",
            "-w",
            str(w),
            "Will the ceasefire hold to 1 January?",
            "--id",
            "hold",
            "--until",
            "2027-01-01",
            "--track",
            "ceasefire",
        ],
        ["users", "add", "-w", str(w), "alice", "--role", "admin"],
        ["-u", "alice", "users", "add", "-w", str(w), "dana", "--role", "analyst"],
        ["-u", "alice", "users", "add", "-w", str(w), "vic", "--role", "viewer"],
        ["-u", "alice", "users", "grant", "-w", str(w), "alice", "us-iran"],
        ["-u", "alice", "users", "grant", "-w", str(w), "dana", "ceasefire"],
    ]
    for args in steps:
        r = sitroom(capfd, *args)
        assert r.code == 0, (args, r.err)
    return w


def _as(capfd: pytest.CaptureFixture[str], user: str, *args: str) -> Result:
    return sitroom(capfd, "-u", user, *args)


def _visible_count(w: Path, compartments: set[str]) -> int:
    with open_room(w, as_site=True) as room:
        return sum(
            1
            for b in room.session.read()
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
    qs = _as(capfd, "dana", "questions", "-w", w, "--json").json()["questions"]
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
    keys = _as(capfd, "dana", "keys", "-w", w, "--json").json()
    assert [t["track"] for t in keys["tracks"]] == ["ceasefire"]
    users = {u["name"]: u for u in _as(capfd, "dana", "users", "-w", w, "--json").json()["users"]}
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
    r = _as(capfd, "dana", "channels", "add", "-w", w, "side", "--to", "x", "--track", "us-iran")
    assert r.code == 6 and "dana is not cleared for us-iran; refused and recorded" in r.err
    r = _as(capfd, "vic", "judge", "-w", w, "hold", "30%")
    assert r.code != 0
    r = _as(capfd, "dana", "judge", "-w", w, "hold", "30%", "--rationale", "x")
    assert r.code == 0, r.err
    r = _as(capfd, "dana", "users", "grant", "-w", w, "dana", "us-iran")
    assert r.code == 6 and "dana is an analyst, not an admin; refused and recorded" in r.err
    with open_room(room, as_site=True) as opened:
        denied: list[Any] = opened.session.records(kinds=[ACCESS_DENIED])
    assert [(d.payload["user"], d.compartment) for d in denied] == [
        ("dana", "us-iran"),
        ("dana", ""),
    ]
    # The denial in us-iran is seen by those cleared for it, not by dana herself.
    for user, expected in (("alice", 2), ("dana", 1)):
        with open_room(room, user=user, proof="correct horse battery") as opened:
            assert opened.session.count(kinds=[ACCESS_DENIED]) == expected


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


def test_an_analyst_granting_is_refused_in_json_and_the_refusal_is_on_record(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    r = _as(capfd, "dana", "users", "grant", "-w", w, "vic", "ceasefire", "--json")
    assert r.code == 6 and r.err == ""
    error = r.json()["error"]
    assert error["type"] == "access_denied" and error["exit_code"] == 6
    assert error["message"] == "dana is an analyst, not an admin; refused and recorded"
    assert (error["user"], error["action"]) == ("dana", "grant vic ceasefire")
    with open_room(room, as_site=True) as opened:
        (denied,) = opened.session.records(kinds=[ACCESS_DENIED])
    assert denied.payload == {
        "user": "dana",
        "action": "grant vic ceasefire",
        "reason": "dana is an analyst, not an admin",
    }
    listed = _as(capfd, "alice", "users", "-w", w, "--json").json()["users"]
    assert {u["name"]: u["clearances"] for u in listed}["vic"] == []  # nothing changed
    # A usage mistake is JSON too, in the same shape.
    usage = _as(capfd, "alice", "users", "grant", "-w", w, "--json")
    assert usage.code == 2
    assert {"type", "message", "exit_code"} <= set(usage.json()["error"])


def test_users_are_listed_and_grants_re_key_their_tracks(
    room: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    listed = _as(capfd, "alice", "users", "-w", w, "--json").json()
    by_name = {u["name"]: u for u in listed["users"]}
    assert {n: (u["role"], u["endpoint"]) for n, u in by_name.items()} == {
        "alice": ("admin", False),
        "dana": ("analyst", False),
        "vic": ("viewer", False),
        by_name[next(n for n, u in by_name.items() if u["endpoint"])]["name"]: (
            "endpoint (site)",
            True,
        ),
    }
    assert by_name["alice"]["clearances"] == ["us-iran"]
    assert listed["provenance"]["hidden"] > 0  # alice is not cleared for ceasefire
    # alice is not cleared for sanctions, but as the admin she clears vic for it: re-keyed.
    granted = _as(capfd, "alice", "users", "grant", "-w", w, "vic", "sanctions", "--json")
    assert granted.code == 0, granted.err
    body = granted.json()
    assert (body["change"], body["epoch"]["epoch"], body["epoch"]["reason"]) == (
        "grant",
        1,
        "members changed: + vic",
    )
    assert "vic" in body["epoch"]["members"]
    again = _as(capfd, "alice", "users", "grant", "-w", w, "vic", "sanctions")
    assert again.code == 2 and "vic is already cleared for sanctions" in again.err
    revoked = _as(capfd, "alice", "users", "revoke", "-w", w, "vic", "sanctions")
    assert revoked.code == 0, revoked.err
    assert "vic no longer cleared for sanctions" in revoked.out
    assert "sanctions re-keyed: epoch 2, sealed to" in revoked.out
    marking = _as(capfd, "alice", "users", "grant", "-w", w, "vic", "TLP:RED", "--json").json()
    assert marking["epoch"] is None  # a marking, not a track: nothing to re-key
    nobody = _as(capfd, "alice", "users", "grant", "-w", w, "mallory", "sanctions", "--json")
    assert nobody.code == 2 and nobody.json()["error"]["what"] == "identity"


def test_wording_uses_the_right_article(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """'an admin', 'an analyst', 'a viewer' — never 'a admin' — in what users read."""
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery")
    monkeypatch.delenv("SITROOM_USER", raising=False)
    w = str(tmp_path / "room")
    said = [sitroom(capfd, "init", "-w", w)]
    said.append(sitroom(capfd, "users", "add", "-w", w, "vic", "--role", "viewer"))
    assert said[-1].code == 2 and "the first user of a room is its admin" in said[-1].err
    said.append(sitroom(capfd, "users", "add", "-w", w, "alice", "--role", "admin"))
    assert "alice is an admin; the first user" in said[-1].out
    said.append(sitroom(capfd, "-u", "alice", "users", "add", "-w", w, "dana"))
    assert "dana is an analyst" in said[-1].out
    said.append(sitroom(capfd, "-u", "alice", "users", "add", "-w", w, "vic", "--role",
                            "viewer"))  # fmt: skip
    assert "vic is a viewer" in said[-1].out
    said.append(sitroom(capfd, "-u", "vic", "users", "grant", "-w", w, "vic", "x"))
    assert "vic is a viewer, not an admin" in said[-1].err
    said.append(sitroom(capfd, "-u", "dana", "keys", "rotate", "-w", w, "x"))
    assert "dana is an analyst, not an admin" in said[-1].err
    said.append(sitroom(capfd, "-u", "alice", "users", "-w", w))
    said.append(sitroom(capfd, "-u", "alice", "keys", "-w", w))
    for r in said:
        text = (r.out + r.err).lower()
        assert " a admin" not in text and " a analyst" not in text and "an viewer" not in text
