"""The CLI through the server: while `sitroom serve` holds a workspace, a command typed on the
machine runs in the server, the one writer, as the user whose token came with it — so two
analysts sending at once both succeed, in order; nobody acts as alice without her token; and a
command that would read or write a file of the server's is refused in one line."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import sitroom.room
from sitroom.domain.kinds import CHANNEL_SEND

from serving import PASS, Process, run_sitroom, serve_process, sitroom_env


def _log(room: Path, kinds: list[str]) -> list[dict[str, object]]:
    with sitroom.room.open(room, as_site=True) as r:
        return [dict(x.payload) for x in r.session.records(kinds=kinds)]


def _login(room: Path, user: str) -> None:
    done = run_sitroom("login", "-w", str(room), "-u", user)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Logged in as {user} until ")


def test_two_cli_processes_sending_at_once_both_succeed_in_order(team_room: Path) -> None:
    server = serve_process(team_room)
    try:
        _login(team_room, "alice")
        added = run_sitroom("channels", "add", "direct", "--to", "Tehran", "--track", "us-iran",
                            "-w", str(team_room), "-u", "alice")  # fmt: skip
        assert added.returncode == 0, added.stderr
        results: dict[int, list[tuple[int, str]]] = {}

        def sender(n: int) -> None:
            results[n] = []
            for i in range(6):
                r = run_sitroom("channels", "send", "direct", f"p{n}-{i}", "--id", f"m{n}-{i}",
                                "--wait", "0s", "-w", str(team_room), "-u", "alice")  # fmt: skip
                results[n].append((r.returncode, r.stderr))

        threads = [threading.Thread(target=sender, args=(n,)) for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        assert server.stop() == 0
    # Recorded, not yet acknowledged (no desk at the far end): exit 3, and nothing else said.
    assert all(rc == 3 and err == "" for n in (1, 2) for rc, err in results[n]), results
    sent = [str(p["message"]) for p in _log(team_room, [CHANNEL_SEND])]
    assert sorted(sent) == sorted(f"m{n}-{i}" for n in (1, 2) for i in range(6))
    for n in (1, 2):  # each process's sends in the order it made them
        mine = [m for m in sent if m.startswith(f"m{n}-")]
        assert mine == [f"m{n}-{i}" for i in range(6)]
    assert {p["by"] for p in _log(team_room, [CHANNEL_SEND])} == {"alice"}
    assert sitroom.room.verify(team_room).ok  # every send signed with alice's own key


def test_nobody_acts_as_alice_through_the_server_without_her_token(team_room: Path) -> None:
    server = serve_process(team_room)
    try:
        for who in ("alice", "dana"):
            r = run_sitroom("users", "grant", "dana", "us-iran", "-w", str(team_room), "-u", who)
            assert r.returncode == 6 and r.stdout == "", r
            (line,) = r.stderr.splitlines()
            assert f"the server at {server.url} needs proof of who you are" in line
        _login(team_room, "dana")
        # Her token says she is dana, whatever -u says; and dana is no admin.
        r = run_sitroom("users", "grant", "dana", "us-iran", "-w", str(team_room), "-u", "dana")
        assert r.returncode == 6 and "dana is an analyst, not an admin" in r.stderr
        wrong = run_sitroom("users", "-w", str(team_room), "-u", "alice")
        assert wrong.returncode == 6  # no login of alice's is cached: dana's is not hers
    finally:
        assert server.stop() == 0
    grants = _log(team_room, ["user.grant"])
    assert not [g for g in grants if g["principal"] == "dana" and g["compartment"] == "us-iran"]


def test_a_command_that_touches_files_is_refused_through_the_server(
    team_room: Path, tmp_path: Path
) -> None:
    server = serve_process(team_room)
    try:
        _login(team_room, "alice")
        with sitroom.room.open(team_room, as_site=True, served_ok=True) as r:
            before = r.session.last_seq()
        secret = tmp_path / "operator-only.txt"
        secret.write_text("not for analysts")
        for args in (["tracks", "add", str(secret)],
                     ["export", "-o", str(tmp_path / "out.json")],
                     ["agreements", "show", "x", "--file", str(secret)]):  # fmt: skip
            r = run_sitroom(*args, "-w", str(team_room), "-u", "alice")
            assert r.returncode == 2 and r.stdout == "", (args, r)
            (line,) = r.stderr.splitlines()
            assert "through the server" in line and "not for analysts" not in line
        assert not (tmp_path / "out.json").exists()
        with sitroom.room.open(team_room, as_site=True, served_ok=True) as r:
            assert r.session.last_seq() == before
    finally:
        assert server.stop() == 0


def test_ingest_through_the_server_sends_the_files_it_names(team_room: Path) -> None:
    from sitroom.testing.samples import GDELT_V2_FILES

    sample = str(GDELT_V2_FILES[0])
    server = serve_process(team_room)
    try:
        _login(team_room, "alice")
        sent = run_sitroom("ingest", "gdelt", sample, "-w", str(team_room), "-u", "alice")
        assert sent.returncode == 0, sent
        assert " accepted, " in sent.stdout and f"(sent to {server.url})" in sent.stdout
        again = run_sitroom("ingest", "gdelt", sample, "-w", str(team_room), "-u", "alice")
        assert again.returncode == 0 and " 0 accepted" in again.stdout  # already known
        follow = run_sitroom("ingest", "gdelt", "--follow", "http://127.0.0.1:9/x.zip",
                             "-w", str(team_room), "-u", "alice")  # fmt: skip
        assert follow.returncode == 2 and "(--follow) runs beside the server" in follow.stderr
    finally:
        assert server.stop() == 0
    report = sitroom.room.verify(team_room)
    assert report.ok and report.records > 1000  # the events, signed by alice


def test_a_remote_client_names_the_server_and_gets_the_same_answer(
    team_room: Path, tmp_path: Path
) -> None:
    server: Process = serve_process(team_room)
    try:
        import subprocess
        import sys

        def remote(*args: str) -> subprocess.CompletedProcess[str]:
            # From another folder, no workspace named: the server is the room.
            return subprocess.run(
                [sys.executable, "-m", "sitroom", *args, "--server", server.url],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=tmp_path,
                env=sitroom_env(SITROOM_PASSPHRASE=PASS),
            )

        assert remote("login", "-u", "dana").returncode == 0
        through = remote("tracks", "-u", "dana", "--json")
        assert through.returncode == 0, through.stderr
        tracks = [t["id"] for t in json.loads(through.stdout)["tracks"]]
        assert tracks == ["ceasefire"]  # her clearance, through the server
        out = remote("logout", "-u", "dana")
        assert out.returncode == 0 and "ended" in out.stdout
        assert remote("tracks", "-u", "dana").returncode == 6  # the session is gone
    finally:
        assert server.stop() == 0


def test_every_command_allowed_through_the_server_exists_and_names_no_file_unrefused() -> None:
    """The list of commands a server runs is checked against the CLI itself: each exists, and
    none takes a path unless the option naming it is refused (FILE_OPTIONS)."""
    import inspect
    import typing

    import typer

    from sitroom.cli import app
    from sitroom.cli.bridge import FILE_OPTIONS, THROUGH_SERVER

    def callbacks() -> dict[tuple[str, str | None], typing.Any]:
        found: dict[tuple[str, str | None], typing.Any] = {}
        for c in app.registered_commands:
            assert c.callback is not None
            found[((c.name or c.callback.__name__).replace("_", "-"), None)] = c.callback
        for g in app.registered_groups:
            assert g.typer_instance is not None and g.name is not None
            cb = g.typer_instance.registered_callback
            found[(g.name, None)] = cb.callback if cb else None
            for c in g.typer_instance.registered_commands:
                assert c.callback is not None
                found[(g.name, c.name or c.callback.__name__)] = c.callback
        return found

    known = callbacks()
    for pair in THROUGH_SERVER:
        assert pair in known, pair
        fn = known[pair]
        if fn is None:
            continue
        for name, hint in typing.get_type_hints(fn, include_extras=True).items():
            if "Path" not in str(hint) or name == "workspace":
                continue
            infos = [
                m
                for m in getattr(hint, "__metadata__", ())
                if isinstance(m, typer.models.ParameterInfo)
            ]
            decls = [d for i in infos for d in (i.param_decls or ())] or [
                f"--{name.replace('_', '-')}"
            ]
            assert set(decls) & FILE_OPTIONS, (pair, name, decls, inspect.getsourcefile(fn))
