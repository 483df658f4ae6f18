"""One grammar: the person acting is -u/--user NAME anywhere on the line (and wins over
SITROOM_USER), times and places read the same way in every command, and with --json an error is
JSON too, in one shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitroom.cli import _who

from helpers import sitroom


@pytest.mark.parametrize(
    ("argv", "rest", "user"),
    [
        (["-u", "dana", "judge", "q", "35%"], ["judge", "q", "35%"], "dana"),
        (["judge", "q", "35%", "--user", "dana"], ["judge", "q", "35%"], "dana"),
        (["judge", "--user=dana", "q"], ["judge", "q"], "dana"),
        (
            ["channels", "send", "d", "--", "-u", "x"],
            ["channels", "send", "d", "--", "-u", "x"],
            None,
        ),
        (["state", "-u"], ["state", "-u"], None),  # the parser then says the value is missing
    ],
)
def test_the_person_acting_is_taken_from_anywhere_before_a_double_dash(
    argv: list[str], rest: list[str], user: str | None
) -> None:
    assert _who(argv) == (rest, user)


def test_u_on_the_line_wins_over_the_environment(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = str(tmp_path / "ws")
    monkeypatch.setenv("SITROOM_PASSPHRASE", "correct horse battery")
    assert sitroom(capfd, "init", "-w", ws).code == 0
    assert sitroom(capfd, "users", "add", "-w", ws, "alice", "--role", "admin").code == 0
    assert (
        sitroom(capfd, "users", "add", "-w", ws, "victor", "--role", "viewer", "-u", "alice").code
        == 0
    )
    monkeypatch.setenv("SITROOM_USER", "alice")
    rule = "conflict located in Lebanon"
    refused = sitroom(capfd, "redlines", "add", "-w", ws, "r", rule, "-u", "victor")
    assert refused.code == 6 and "victor is a viewer" in refused.err
    assert sitroom(capfd, "redlines", "add", "-w", ws, "r", rule).code == 0  # as alice


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["state", "--as-of", "next tuesday"], "invalid"),
        (["events", "--near", "Atlantis", "--radius", "5mi"], "invalid"),
        (["actor", "Atlantis"], "not_found"),
        (["state", "--bogus"], "usage"),
        (["intensity", "--near", "Beirut", "--window", "2h30m", "--previous", "1"], None),
    ],
)
def test_json_errors_have_one_shape(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], args: list[str], kind: str | None
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    r = sitroom(capfd, *args, "-w", ws, "--json")
    body = r.json()
    if kind is None:  # compound durations and place names work where help promises them
        assert r.code == 0 and body["window_ms"] == 9_000_000
        return
    error = body["error"]
    assert (error["type"], error["exit_code"]) == (kind, r.code) and r.code == 2
    assert error["message"] and r.err == ""


def test_a_command_is_built_alone_and_help_sees_them_all() -> None:
    from sitroom.cli import _only, app

    assert [g.name for g in _only("tracks").registered_groups] == ["tracks"]
    assert not _only("tracks").registered_commands
    (judge,) = _only("judge").registered_commands
    assert judge.callback is not None and judge.callback.__name__ == "judge"
    for whole in (None, "--help", "nosuch"):
        assert _only(whole) is app
