"""Claims through the CLI: two sources disagree; as of before the second, only the first."""

from __future__ import annotations

from pathlib import Path

import pytest

import sitroom
from sitroom.adapters.clock import ManualClock
from sitroom.adapters.reports import parse_report
from sitroom.testing import T0

from helpers import sitroom as run

FIRST = """---
author: jdoe
reliability: B
published: 2025-11-24T12:00:00Z
claims:
  - subject: Hezbollah
    property: posture
    value: defensive
    credibility: 2
---
"""
SECOND = """---
source: reuters
reliability: A
published: 2025-11-24T15:00:00Z
claims:
  - subject: hezbollah
    property: posture
    value: offensive
    confidence: 75
---
"""


def test_conflicting_claims_side_by_side_and_as_of_before_the_second(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws_dir = tmp_path / "ws"
    first, second = tmp_path / "first.md", tmp_path / "second.md"
    first.write_text(FIRST)
    second.write_text(SECOND)
    clock = ManualClock(T0)
    sitroom.init(ws_dir, clock=clock).close()
    ws = str(ws_dir)
    # Append through the library with a controlled clock, so "between" is a known time.
    with sitroom.open(ws_dir, clock=clock) as w:
        w.session.append(parse_report(str(first), FIRST, now_ms=clock.now_ms()))
    clock.advance(60_000)
    with sitroom.open(ws_dir, clock=clock) as w:
        w.session.append(parse_report(str(second), SECOND, now_ms=clock.now_ms()))

    now = run(capfd, "claims", "Hezbollah", "-w", ws, "--all", "--json").json()
    (posture,) = now["properties"]
    assert posture["conflict"] is True
    assert {v["value"]: [c["source"] for c in v["claims"]] for v in posture["values"]} == {
        "defensive": ["analyst:jdoe"],
        "offensive": ["reuters"],
    }
    between = "2025-11-24T16:00:30Z"  # T0 + 30 s: after the first append, before the second
    before = run(
        capfd, "claims", "Hezbollah", "-w", ws, "--all", "--as-of", between, "--json"
    ).json()
    (posture,) = before["properties"]
    assert [v["value"] for v in posture["values"]] == ["defensive"] and not posture["conflict"]
    assert before["provenance"]["newer_records"] == 1  # and it says a newer claim exists

    human = run(capfd, "claims", "hezbollah", "-w", ws, "--all")
    assert human.code == 0 and "CONFLICT" in human.out and "reuters" in human.out


def test_adding_a_report_twice_adds_nothing_and_a_bad_one_is_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    run(capfd, "init", "-w", ws)
    f = tmp_path / "r.md"
    f.write_text(FIRST)
    a = run(capfd, "reports", "add", "-w", ws, str(f), "--json").json()
    b = run(capfd, "reports", "add", "-w", ws, str(f), "--json").json()
    assert a["reports"][0]["new_records"] == 2 and b["reports"][0]["new_records"] == 0
    bad = tmp_path / "bad.md"
    bad.write_text(FIRST.replace("credibility: 2", "credibility: 7"))
    r = run(capfd, "reports", "add", "-w", ws, str(bad))
    assert r.code != 0 and len(r.err.strip().splitlines()) == 1
    assert "claim 1: credibility must be 1-6" in r.err
    missing = run(capfd, "reports", "add", "-w", ws, str(tmp_path / "nope.md"))
    assert missing.code != 0 and "no such file" in missing.err


DAILY = """---
author: kim
cadence: 1d
claims:
  - subject: Hezbollah
    property: same-as
    value: Hizballah
    credibility: 2
---
"""


def test_a_daily_analyst_is_overdue_when_silent_and_same_as_is_only_proposed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock(T0)
    ws_dir = tmp_path / "ws"
    sitroom.init(ws_dir, clock=clock).close()
    actors = """---
author: kim
actors:
  - name: Hezbollah
    type: armed-group
---
"""
    with sitroom.open(ws_dir, clock=clock) as w:
        w.session.append(parse_report("a.md", actors, now_ms=clock.now_ms()))
        w.session.append(parse_report("d.md", DAILY, now_ms=clock.now_ms()))
        clock.advance(36 * 3_600_000)  # 1.5 days: within cadence x (1 + grace 1.0)
        assert not [a for a in w.session.tick().alerts if a.payload["detector"] == "source-overdue"]
        clock.advance(13 * 3_600_000)  # 49 h: overdue
        (alert,) = [a for a in w.session.tick().alerts if a.payload["detector"] == "source-overdue"]
        assert alert.payload["detail"]["source"] == "analyst:kim"
    actor = run(capfd, "actor", "Hezbollah", "-w", str(ws_dir), "--json").json()
    assert actor["proposed_same_as"] == [
        {"same_as": "Hizballah", "sources": ["analyst:kim"], "confidence": 70}
    ]
    assert actor["name"] == "Hezbollah" and actor["aliases"] == []  # proposed, not merged
