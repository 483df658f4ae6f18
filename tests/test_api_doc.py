"""docs/api.md is a tested example: its code blocks run in order, as a library user would run
them, in a fresh directory holding the repository's examples/."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import bare_env

ROOT = Path(__file__).resolve().parents[1]


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


def test_the_page_has_the_example_the_issue_asks_for() -> None:
    code = "\n".join(blocks())
    for call in ("sitroom.init(", "room.ingest.samples(", "room.world.events(", "radius=",
                 "room.tracks.add(", "room.tracks.check(", "deadlocks"):  # fmt: skip
        assert call in code, call


@pytest.mark.slow
def test_every_code_block_runs_in_order(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    script = tmp_path / "api.py"
    script.write_text("\n\n".join(blocks()))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=bare_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DEADLOCK:" in done.stdout and "events within 500 miles of Beirut" in done.stdout
