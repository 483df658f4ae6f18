"""Imports flow one way: cli/workspace -> adapters -> application -> domain. The domain does no
I/O and reads no clock."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sitroom"

FORBIDDEN = {
    "domain": {
        "sitroom.application",
        "sitroom.adapters",
        "sitroom.cli",
        "sitroom.workspace",
        "sitroom.render",
        "sqlite3",
        "socket",
        "httpx",
        "time",
        "random",
        "uuid",
        "secrets",
        "os",
        "subprocess",
        "threading",
    },
    "application": {
        "sitroom.adapters",
        "sitroom.cli",
        "sitroom.workspace",
        "sitroom.render",
        "sqlite3",
        "httpx",
        "socket",
    },
    "adapters": {"sitroom.cli", "sitroom.workspace", "sitroom.render"},
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_inwards(layer: str) -> None:
    files = sorted((SRC / layer).rglob("*.py"))
    assert files, layer
    bad = {
        f"{f.relative_to(SRC)} imports {name}"
        for f in files
        for name in imports(f)
        if any(name == x or name.startswith(x + ".") for x in FORBIDDEN[layer])
    }
    assert not bad, sorted(bad)


def test_domain_never_reads_the_clock() -> None:
    text = "\n".join(p.read_text() for p in (SRC / "domain").rglob("*.py"))
    for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
        assert call not in text, call
