"""Fuzzing analyst reports (Markdown with YAML front matter): the shipped report mutated as text
and as values, and garbage, read as `sitroom reports add` reads it and appended to a scratch
room. Every report is added or refused in one line naming the file: never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from sitroom.adapters.reports import parse_report
from sitroom.errors import SitroomError
from sitroom.room import scratch_engine

from fuzzing import assert_one_line, fuzz, garbage, json_values, mutated_text, mutated_tree

REPORT = (Path(__file__).resolve().parents[2] / "examples" / "hezbollah-posture.md").read_text()
_, FRONT, BODY = REPORT.split("---\n", 2)
META = yaml.safe_load(FRONT)
T0 = 1_796_000_000_000
HEAD = "---\nsource: analyst:x\n"  # the smallest front matter, for the examples below
NEAR = st.sampled_from(
    ["A", "Q", 0, 6, 7, 100, 101, "1d", "soon", "2026-11-20", "state", "sponsor", "armed-group",
     ["IRN"], {"name": "Iran"}, "https://example.org"]
)  # fmt: skip


def report(meta: Any) -> str:
    return f"---\n{yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)}---\n{BODY}"


def reports() -> st.SearchStrategy[str]:
    return st.one_of(
        mutated_text(REPORT),
        mutated_tree(META, json_values(dates=True) | NEAR).map(report),
        garbage().map(lambda text: f"---\n{text}\n---\n"),
        garbage(),
    )


@fuzz()
@example(HEAD + "relationships: [{source: A, target: B, type: proxy, confidence: no}]\n---\n")
@example(HEAD + "actors: [{name: Iran, type: state, cameo: true}]\n---\n")
@example(HEAD + "claims: [{subject: S, property: p, value: 99999999999999999999}]\n---\n")
@given(reports())
def test_a_report_is_added_or_refused_in_one_line(text: str) -> None:
    try:
        records = parse_report("fuzz.md", text, now_ms=T0)
        scratch_engine(T0).append(records)
    except SitroomError as e:
        assert_one_line(e)
