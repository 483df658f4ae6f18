"""YAML that would expand, recurse or fill memory (issue 18, item 4): every format read as YAML
(track files, report front matter, channel traces) goes through one bounded loader, which
refuses anchors, aliases, deep nesting, exotic tags and oversized text before building
anything, in one line that names the file and the line."""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sitroom.adapters import yamlsafe
from sitroom.adapters.reports import read_report
from sitroom.adapters.trace import load_trace
from sitroom.adapters.trackfile import read_track_file
from sitroom.cli import run
from sitroom.errors import SitroomError

BOMBS = Path(__file__).resolve().parents[1] / "fixtures" / "bombs"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = 1_796_000_000_000
ADDRESS_SPACE = 3 << 29  # 1.5 GiB: a sitroom command needs a few hundred MB of it
MAX_RSS_MB = 400


def _tracks(path: Path) -> Any:
    return read_track_file(path, now_ms=T0)


def _report(path: Path) -> Any:
    return read_report(str(path), T0)


READERS: dict[str, tuple[Callable[[Path], Any], str, str]] = {
    # format: (reader, its YAML with one free value, a shipped example)
    "tracks": (_tracks, "tracks:\n  - {id: t, name: T, parties: %s}\n", "tracks.yaml"),
    "report": (
        _report,
        "source: analyst:x\nclaims:\n  - {subject: S, property: p, value: %s}\n",
        "hezbollah-posture.md",
    ),
    "trace": (
        load_trace,
        "start: 2026-11-30T06:00:00Z\nuntil: 1d\nchannels:\n"
        "  - {id: direct, counterpart: desk, closed: %s}\n",
        "outage.yaml",
    ),
}


def write(tmp_path: Path, fmt: str, value: str) -> Path:
    """A real file of the format whose one free value is ``value`` (a report's YAML is its front
    matter)."""
    _, head, _ = READERS[fmt]
    text = head % value
    if fmt == "report":
        text = f"---\n{text}---\nText.\n"
    path = tmp_path / f"f.{'md' if fmt == 'report' else 'yaml'}"
    path.write_text(text)
    return path


def refused(fmt: str, path: Path) -> str:
    with pytest.raises(SitroomError) as e:
        READERS[fmt][0](path)
    message = str(e.value)
    assert "\n" not in message and str(path.name) in message
    return message


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_anchors_and_aliases_are_refused_where_they_start(tmp_path: Path, fmt: str) -> None:
    """Three levels of laughs (27 strings: harmless, but the shape of a billion) are refused
    at the first anchor, with its line."""
    laughs = "[&b [&a [lol, lol, lol], *a, *a], *b, *b]"
    message = refused(fmt, write(tmp_path, fmt, laughs))
    line = {"tracks": 2, "report": 4, "trace": 4}[fmt]  # a report's YAML starts on line 2
    assert f"line {line}, column" in message and "anchors and aliases" in message


def test_a_value_that_contains_itself_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    message = refused("report", BOMBS / "self-reference-report.md")
    assert "line 5, column 52: anchors and aliases (&, *) are not accepted" in message


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_deep_nesting_is_refused_with_its_line(tmp_path: Path, fmt: str) -> None:
    deep = "[" * 5_000 + "]" * 5_000
    message = refused(fmt, write(tmp_path, fmt, deep))
    assert f"nested deeper than {yamlsafe.MAX_DEPTH} levels" in message


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_the_shipped_examples_still_read(fmt: str) -> None:
    """The bounds are not so tight that real files fail (none of them uses an anchor)."""
    reader, _, example = READERS[fmt]
    assert reader(EXAMPLES / example)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2026-13-45", "cannot read '2026-13-45' as timestamp (month must be in 1..12)"),
        ("1" * 5_000, "as int (Exceeds the limit"),
        ("!!int twelve", "cannot read 'twelve' as int"),
        ("!!set {a, b}", "the tag '!!set' is not accepted"),
        ("!!binary aGk=", "the tag '!!binary' is not accepted"),
    ],
    ids=["13th month", "5,000 digits", "int of a word", "set", "binary"],
)
def test_a_value_its_tag_cannot_hold_is_one_line_not_a_traceback(
    tmp_path: Path, value: str, problem: str
) -> None:
    path = tmp_path / "tracks.yaml"
    path.write_text(f"holdings:\n  - {{track: t, resource: r, from: {value}}}\n")
    message = refused("tracks", path)
    assert "tracks.yaml: line 2, column " in message and problem in message


def test_text_over_the_bound_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, "report", "x" * (yamlsafe.MAX_CHARS + 1))
    assert "more than the 1,048,576 YAML may be" in refused("report", path)


def test_a_file_over_the_bound_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as f:
        f.truncate(64 << 20)  # sparse: 64 MB of zero bytes, not written out
    assert "too large for a YAML file" in refused("tracks", path)


# The child reports its own peak: the high-water mark of the memory it was given at exec
# (VmHWM), read as it exits. Not its rusage: Linux carries into a child's ru_maxrss the
# resident size of the process it was forked from (here, pytest, hundreds of MB by then).
_PEAK_AT_EXIT = """
import atexit, re, runpy, sys
to = sys.argv[1]
def peak():
    with open("/proc/self/status") as status, open(to, "w") as out:
        out.write(re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1))
atexit.register(peak)
sys.argv = ["sitroom", *sys.argv[2:]]
runpy.run_module("sitroom", run_name="__main__", alter_sys=True)
"""


def run_bounded(*args: str) -> tuple[int, str, int]:
    """``sitroom *args`` in a child process whose address space is capped (so a regression
    fails with MemoryError, not by taking the machine's memory): exit code, stderr and the
    child's own peak resident memory in MB."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    # stderr to a file, not a pipe: a pipe nobody reads would block a child with a long
    # traceback while this process waits for it.
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
        child = subprocess.run(
            [sys.executable, "-c", _PEAK_AT_EXIT, peak.name, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=cap,
            check=False,
        )
        err.seek(0)
        text = err.read().decode(errors="replace")
        kb = int(peak.read() or 0)
    assert kb, f"the child said nothing of its memory: {text[-300:]}"
    return child.returncode, text, kb // 1024


@pytest.mark.slow
@pytest.mark.parametrize(
    ("command", "bomb"),
    [
        (["tracks", "add"], "laughs-tracks.yaml"),
        (["reports", "add"], "laughs-report.md"),
        (["channels", "simulate", "--no-progress"], "laughs-trace.yaml"),
    ],
)
def test_a_billion_laughs_is_refused_by_the_real_cli_in_bounded_memory(
    tmp_path: Path, command: list[str], bomb: str
) -> None:
    """A ~560-byte file that expands to 387 million strings: the CLI answers with one line and
    stays near its usual size (it reached 3-3.7 GB and MemoryError before)."""
    ws = str(tmp_path / "ws")
    assert run(["init", "-w", ws]) == 0
    code, err, peak_mb = run_bounded(*command, str(BOMBS / bomb), "-w", ws)
    assert "Traceback" not in err and "MemoryError" not in err, err[-500:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0 and len(lines) == 1, err
    assert lines[0].startswith("sitroom: error: ") and "anchors and aliases" in lines[0]
    assert peak_mb < MAX_RSS_MB, f"{peak_mb} MB"
