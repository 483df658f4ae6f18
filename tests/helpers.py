"""Running the CLI as a user would: in-process for speed, or as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from sitroom.cli import run


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def sitroom(capfd: pytest.CaptureFixture[str], *args: str) -> Result:
    capfd.readouterr()
    code = run(list(args))
    out, err = capfd.readouterr()
    return Result(code, out, err)


def sitroom_process(*args: str, timeout: float = 300) -> Result:
    p = subprocess.run(
        [sys.executable, "-m", "sitroom", *args], capture_output=True, text=True, timeout=timeout
    )
    return Result(p.returncode, p.stdout, p.stderr)
