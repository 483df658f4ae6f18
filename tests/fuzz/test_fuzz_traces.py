"""Fuzzing channel traces: the shipped traces mutated as text and as values, and garbage, read
as `sitroom channels simulate` reads them. Every trace is read or refused in one line naming
the trace: never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters.trace import parse_trace
from sitroom.errors import SitroomError

from fuzzing import assert_one_line, fuzz, json_values, yaml_files

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    ROOT / "examples" / "outage.yaml",
    ROOT / "examples" / "flash-after-outage.yaml",
    *sorted((ROOT / "tests/fixtures/channels").glob("*.yaml")),
]
TEXTS = [f.read_text() for f in FILES]
# Values a trace's fields nearly take: durations, priorities, windows, times of the wrong shape.
NEAR = st.sampled_from(
    ["0s", "-1s", "2h30m", "1y", "90", "IMMEDIATE", "flash", [["2h", "1h"]], [["1h"]],
     "2026-11-30", "Sat-Wed", "25:00-26:00", "Mars/Olympus", 0.5, 10**12, "storm1-1"]
)  # fmt: skip


def traces() -> st.SearchStrategy[str]:
    return yaml_files(TEXTS, json_values(dates=True) | NEAR)


@fuzz()
@given(traces())
def test_a_trace_is_read_or_refused_in_one_line(text: str) -> None:
    try:
        parse_trace(text, name="fuzz.yaml")
    except SitroomError as e:
        assert_one_line(e)
        assert str(e).startswith("trace fuzz.yaml: ")
