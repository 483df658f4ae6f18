"""Hostile inputs and what they cost, for the tests and benchmarks that measure it: a zip bomb
written a block at a time, and a command's peak memory measured in a process of its own."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

# Runs the command as its only child, so that RUSAGE_CHILDREN's peak is the command's alone
# (not the test runner's, nor a benchmark's other runs).
_PEAK = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))\n"
    "sys.stderr.write(r.stderr)\n"
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
)


def peak_rss(*args: str, timeout: float = 120) -> tuple[int, int, str]:
    """Run ``sitroom ARGS`` (this interpreter, ``-m sitroom``): its exit code, its peak
    resident memory in bytes, and its stderr."""
    r = subprocess.run(
        [sys.executable, "-c", _PEAK, str(timeout), sys.executable, "-m", "sitroom", *args],
        capture_output=True,
        text=True,
        timeout=timeout + 60,
        check=True,
    )
    code, rss = r.stdout.split()
    return int(code), int(rss), r.stderr


def zipped(path: Path, byte: bytes, size: int) -> Path:
    """A zip whose one GDELT export member is ``size`` bytes of ``byte``, written a block at a
    time (a 1 GB member costs a megabyte of memory to make)."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
        z.open("20250101000000.export.CSV", "w", force_zip64=True) as member,
    ):
        block = byte * (1 << 20)
        for at in range(0, size, len(block)):
            member.write(block[: size - at])
    return path
