"""A command starts fast because heavy libraries are imported where they are used: `sitroom
--help` loads none of them, and opening a room for a read loads none it does not need. (The
timings themselves are measured by bench/startup.py, never here.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("polars", "pyarrow", "numpy", "ortools", "scipy", "matplotlib", "stix2", "cryptography",
         "scoringrules", "feedparser", "icalendar", "yaml", "httpx", "pandas", "rich")  # fmt: skip


def loaded(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in out.stdout.split()}


def test_the_cli_and_its_help_load_no_heavy_library() -> None:
    modules = loaded(
        "from sitroom.cli import app, run\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    run(['--help']); run(['tracks', '--help']); run(['--version'])"
    )
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_import_sitroom_loads_nothing_until_a_name_is_used() -> None:
    assert not loaded("import sitroom") & {*HEAVY, "sqlite3"}


@pytest.mark.slow
def test_a_read_opens_the_room_without_the_bulk_and_analysis_libraries(tmp_path: Path) -> None:
    room = tmp_path / "room"
    subprocess.run(
        [sys.executable, "-m", "sitroom", "demo", "--samples", "-w", str(room)],
        check=True,
        capture_output=True,
    )
    for command in ("alerts", "state"):
        argv = [command, "-w", str(room)]
        modules = loaded(
            "import contextlib, io\nfrom sitroom.cli import run\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    run({argv!r})"
        )

        # pandas: every install has it (OR-Tools requires it), and Arrow imports it (0.2 s) at
        # its first array unless nothing builds one.
        unneeded = {"polars", "ortools", "scipy", "matplotlib", "stix2", "scoringrules", "httpx",
                    "pandas"}  # fmt: skip
        assert not modules & unneeded, (command, sorted(modules & unneeded))
        assert {"pyarrow", "rich"} <= modules  # records are Arrow; people read rich tables
