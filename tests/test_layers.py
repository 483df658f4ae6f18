"""The layers, checked with no holes: imports flow inwards (edges -> room -> adapters ->
application -> domain), the domain does no I/O and reads no clock, the domain and application
use no CLI, YAML or HTTP library, the CLI never reaches into the engine, and the public package
exports exactly what it says. Each rule is shown to fail on a planted violation."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import sitroom

SRC = Path(__file__).resolve().parents[1] / "src" / "sitroom"

IO_AND_CLOCK = {"sqlite3", "socket", "httpx", "time", "random", "uuid", "secrets", "os",
                "subprocess", "threading", "pathlib", "tempfile", "shutil"}  # fmt: skip
PRESENTATION = {"rich", "typer", "click", "yaml", "httpx", "matplotlib", "stix2", "feedparser",
                "fastapi", "starlette", "uvicorn", "sse_starlette",
                "prometheus_client"}  # fmt: skip
EDGES = {"sitroom.cli", "sitroom.service", "sitroom.room", "sitroom.workspace", "sitroom.shell",
         "sitroom.render"}  # fmt: skip

# layer -> the modules it may not import (a name matches itself and its submodules)
FORBIDDEN: dict[str, set[str]] = {
    "domain": {"sitroom.application", "sitroom.adapters", "sitroom.testing", "sitroom.settings"}
    | EDGES
    | IO_AND_CLOCK
    | PRESENTATION,
    "application": {"sitroom.adapters", "sitroom.testing", "sqlite3", "socket"}
    | EDGES
    | PRESENTATION,
    "adapters": {"sitroom.testing", "rich", "typer", "click"} | EDGES,
    "core": {"sitroom.application", "sitroom.adapters", "sitroom.domain"} | EDGES,
    "room": {"sitroom.cli", "sitroom.service", "sitroom.testing", "rich", "typer"},
}
# What the CLI may not touch of a room: its engine, log, projection states, detectors.
REACH = re.compile(r"\.(_?engine|_?log|_?states|detectors|reactors|projections)\b|\.detector\(")


def layer_of(path: Path, root: Path) -> str:
    """Which layer a module is in, by its place: a top-level module named cli*, render* or
    shell* is an edge whatever its suffix."""
    rel = path.relative_to(root)
    top = rel.parts[0]
    if top in ("domain", "application", "adapters", "cli", "service", "testing"):
        return "edge" if top in ("cli", "service") else top
    stem = rel.stem
    if stem.startswith(("cli", "render", "shell")):
        return "edge"
    if stem in ("room", "workspace"):
        return "room"
    if stem in ("errors",):
        return "core"
    return "other"


def imports(source: str) -> Iterator[str]:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def violations(root: Path) -> list[str]:
    """Every broken rule under ``root`` (a tree laid out like src/sitroom), in words."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        layer = layer_of(path, root)
        rel = path.relative_to(root)
        for name in imports(source):
            banned = FORBIDDEN.get(layer, set())
            if any(name == b or name.startswith(b + ".") for b in banned):
                found.append(f"{rel} ({layer}) imports {name}")
        if layer == "domain":
            for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
                if call in source:
                    found.append(f"{rel} (domain) reads the clock: {call}")
        if layer == "edge":
            for n, line in enumerate(source.splitlines(), 1):
                if REACH.search(line.split("#")[0]):
                    found.append(f"{rel}:{n} reaches into the room: {line.strip()}")
    return found


def test_the_source_breaks_no_rule() -> None:
    assert violations(SRC) == []


PLANTED = [
    ("domain/bad.py", "import sqlite3\n", "imports sqlite3"),
    ("domain/bad.py", "from sitroom.adapters import log_sqlite\n", "imports sitroom.adapters"),
    ("domain/bad.py", "import yaml\n", "imports yaml"),
    ("domain/bad.py", "from datetime import datetime\nx = datetime.now()\n", "reads the clock"),
    ("application/bad.py", "import rich.console\n", "imports rich.console"),
    ("application/bad.py", "import typer\n", "imports typer"),
    ("application/bad.py", "import httpx\n", "imports httpx"),
    ("application/bad.py", "from fastapi import FastAPI\n", "imports fastapi"),
    ("domain/bad.py", "import sse_starlette\n", "imports sse_starlette"),
    ("application/bad.py", "import prometheus_client\n", "imports prometheus_client"),
    ("adapters/bad.py", "from sitroom.service import serve\n", "imports sitroom.service"),
    ("service/bad.py", "def f(room):\n    return room.engine.log\n", "reaches into the room"),
    ("application/bad.py", "from sitroom.adapters.keystore import KeyStore\n", "adapters"),
    ("application/bad.py", "from sitroom.cli import shell\n", "imports sitroom.cli"),
    ("adapters/bad.py", "from sitroom.room import Room\n", "imports sitroom.room"),
    ("adapters/bad.py", "from sitroom.cli.render import world\n", "imports sitroom.cli"),
    ("cli/bad.py", "def f(room):\n    return room._engine.states\n", "reaches into the room"),
    ("cli/bad.py", "def f(ws):\n    return ws.engine.log.last_seq()\n", "reaches into the room"),
    ("cli_extra.py", "x = 1\nfrom sitroom.application import engine\n", None),
    ("render_extra.py", "def f(r):\n    return r.detector('x')\n", "reaches into the room"),
    ("room.py", "import typer\n", "imports typer"),
    ("errors.py", "from sitroom.domain import records\n", "imports sitroom.domain"),
]


@pytest.mark.parametrize(("where", "code", "says"), PLANTED)
def test_each_rule_fails_on_a_planted_violation(
    tmp_path: Path, where: str, code: str, says: str | None
) -> None:
    for layer in ("domain", "application", "adapters", "cli", "service"):
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "fine.py").write_text("from __future__ import annotations\n")
    (tmp_path / where).write_text(code)
    found = violations(tmp_path)
    if says is None:  # an edge module whatever its name: it may import the application...
        assert found == [], found
        assert layer_of(tmp_path / where, tmp_path) == "edge"
    else:
        assert len(found) == 1 and says in found[0], found


def test_a_top_level_cli_or_render_module_is_an_edge_whatever_its_suffix() -> None:
    for name in ("cli.py", "cli_tracks.py", "render.py", "render_secure.py", "shell.py"):
        assert layer_of(SRC / name, SRC) == "edge"
    assert layer_of(SRC / "service" / "app.py", SRC) == "edge"
    assert layer_of(SRC / "cli" / "render" / "world.py", SRC) == "edge"


# the public package -----------------------------------------------------------------------
def test_every_public_name_resolves_and_nothing_else_is_offered() -> None:
    assert sitroom.__all__ == sorted(sitroom.__all__)
    assert set(dir(sitroom)) == set(sitroom.__all__)
    for name in sitroom.__all__:
        assert not name.startswith("_") or name == "__version__"
        value = getattr(sitroom, name)
        module = getattr(value, "__module__", None)
        if module is not None:  # defined where the package says, not re-exported by accident
            assert module.startswith("sitroom"), (name, module)
    with pytest.raises(AttributeError):
        sitroom.Engine  # noqa: B018 - the engine is not public: the Room is


def test_every_public_name_is_typed_and_documented() -> None:
    for name in sitroom.__all__:
        value = getattr(sitroom, name)
        if callable(value) and not isinstance(value, type | str):
            assert value.__doc__, f"sitroom.{name} has no docstring"
    assert (SRC / "py.typed").exists()  # the types are part of the API (PEP 561)


def _callbacks(group: object) -> Iterator[object]:
    for c in group.registered_commands:  # type: ignore[attr-defined]
        if c.callback is not None:
            yield c.callback
    for g in group.registered_groups:  # type: ignore[attr-defined]
        if g.typer_instance.registered_callback is not None:
            yield g.typer_instance.registered_callback.callback
        yield from _callbacks(g.typer_instance)


def test_every_command_is_a_thin_call_of_the_room() -> None:
    """Parse, one call, render: no command body over 30 lines (docstring aside)."""
    import inspect
    import textwrap

    from sitroom.cli import app

    long = {}
    for callback in _callbacks(app):
        node = ast.parse(textwrap.dedent(inspect.getsource(callback))).body[0]  # type: ignore[arg-type]
        assert isinstance(node, ast.FunctionDef), (callback, inspect.getsourcefile(callback))  # type: ignore[arg-type]
        body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
        lines = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
        if lines > 30:
            long[node.name] = lines
    assert not long, long
