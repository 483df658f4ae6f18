"""The seed's case is a test: `sitroom demo`'s scenario, played in-process on a virtual clock,
raises the expected alerts — each failure the seed names — each at its expected virtual time and
each before the postponement; and the command builds it, refuses a workspace it did not make,
and says it in JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import sitroom

from sitroom import demo
from sitroom.domain.timeutil import parse_time
from sitroom.errors import UserInputError, WorkspaceError

TOLERANCE_MS = 5 * 60_000  # a channel's silence is judged from jittered heartbeats
# (detector, the start of its key, what the seed calls it, virtual time it fires)
EXPECTED = [
    ("risk", "disagreement:forecast:talks", "disagreement (90/30)", "2019-10-09T11:00:00Z"),
    ("redline", "beirut-500:ucdp-ged:308867", "nearby conflict (UCDP)", "2019-10-13T06:00:00Z"),
    ("deadlock", "resource:nsc-me|track:ceasefire", "deadlock", "2019-10-14T00:00:00Z"),
    ("keys", "us-iran|1|washington|wearing", "key wear (forecast)", "2019-10-14T14:00:00Z"),
    ("keys", "us-iran|1|washington|used", "key wear (80% used)", "2019-10-16T13:00:00Z"),
    ("channels", "liveness:liveness:swiss", "silence", "2019-10-16T22:01:31Z"),
    ("channels", "breaker:breaker:swiss", "missing acks", "2019-10-16T23:03:30Z"),
    ("contention", "envoy:", "double-booked envoy", "2019-10-18T09:00:00Z"),
    ("channels", "overdue:swiss-dates", "reply overdue", "2019-10-20T04:30:00Z"),
    ("stale-read", "analyst:omar:report:", "stale read", "2019-10-21T07:00:00Z"),
    ("redline", "beirut-500:gdelt-v2:", "nearby conflict (GDELT)", "2019-10-24T14:45:00Z"),
]  # fmt: skip
POSTPONED = parse_time("2019-10-25T12:00:00Z", now_ms=0)


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> demo.DemoRun:
    return demo.run(tmp_path_factory.mktemp("demo") / "room")


def at_ms(a: demo.DemoAlert) -> int:
    return parse_time(a.at, now_ms=0)


@pytest.mark.parametrize(
    ("detector", "key", "what", "when"), EXPECTED, ids=[e[2] for e in EXPECTED]
)
def test_each_failure_the_seed_names_is_an_alert_at_its_time_before_the_postponement(
    played: demo.DemoRun, detector: str, key: str, what: str, when: str
) -> None:
    found = [a for a in played.alerts if a.detector == detector and a.key.startswith(key)]
    assert found, f"{what}: no {detector} alert {key}…"
    first = min(found, key=at_ms)
    assert abs(at_ms(first) - parse_time(when, now_ms=0)) <= TOLERANCE_MS, (what, first.at)
    assert at_ms(first) < POSTPONED and first.lead_ms == POSTPONED - at_ms(first)
    assert first.evidence, f"{what}: an alert names its evidence"


def test_nothing_unexpected_fires_and_nothing_fires_after_the_postponement(
    played: demo.DemoRun,
) -> None:
    expected = {(d, k) for d, k, _, _ in EXPECTED}
    strays = [
        (a.detector, a.key)
        for a in played.alerts
        if a.severity != "info"
        and not any(a.detector == d and a.key.startswith(k) for d, k in expected)
    ]
    assert strays == []
    assert all(a.lead_ms > 0 for a in played.alerts)


def test_the_evidence_is_the_scenarios_records(played: demo.DemoRun) -> None:
    by = {a.detector: a for a in played.alerts}
    stale = next(a for a in played.alerts if a.detector == "stale-read")
    assert "Iran willingness to talk = high" in stale.title
    assert "Hezbollah posture = restrained, now escalating" in stale.title
    assert len(stale.evidence) == 3  # the assessment, the change, the claim it had read
    assert "analyst omar at 90%" in by["risk"].title and "32%" in by["risk"].title
    ucdp = next(a for a in played.alerts if a.key.startswith("beirut-500:ucdp-ged"))
    assert ucdp.evidence == ("ucdp-ged:308867@703429ba234f387b",) or any(
        e.startswith("ucdp-ged:308867") for e in ucdp.evidence
    )


def test_a_scenario_step_running_into_the_next_is_refused(tmp_path: Path) -> None:
    text = demo.default_scenario().read_text().replace("count: 60", "count: 600")
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(
        UserInputError, match=r"s.yaml: the step at 2019-10-14T06:00:00Z \(sealed\) runs to"
    ):
        demo.load(tmp_path / "s.yaml")


def test_the_demo_never_writes_over_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="holds files the demo did not make"):
        demo.prepare(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


# the command ---------------------------------------------------------------------------------
def test_sitroom_demo_builds_the_case_and_says_what_could_have_been_known(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "sitroom-demo"
    r = sitroom(capfd, "demo", "-w", str(ws), "--day-seconds", "0")
    assert r.code == 0, r.err
    assert "What the team could have known, and when: 14 alerts before us-iran postponed" in r.out
    assert "Swiss backchannel falls silent" in r.out and "Stale read:" in r.out
    assert "[12/12] 2019-10-25 12:00  the postponement" in r.err
    assert (ws / "scenario" / "tracks.yaml").is_file() and (ws / demo.MARKER).is_file()
    # Again: a demo workspace is built anew, not added to.
    again = sitroom(capfd, "demo", "-w", str(ws), "--day-seconds", "0", "--json")
    assert again.code == 0, again.err
    out = json.loads(again.out)
    assert out["postponed_at"] == "2019-10-25T12:00:00Z"
    assert len([a for a in out["alerts"] if a["severity"] != "info"]) == 14
    assert {"at", "detector", "key", "title", "evidence", "lead_ms", "lead"} <= set(
        out["alerts"][0]
    )


def test_sitroom_demo_refuses_a_workspace_it_did_not_make_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "room"
    assert sitroom(capfd, "init", "-w", str(ws)).code == 0
    r = sitroom(capfd, "demo", "-w", str(ws), "--day-seconds", "0")
    assert r.code == 2 and r.out == ""
    assert r.err.strip().splitlines() == [
        f"sitroom: error: {ws} holds a sitroom workspace the demo did not make: give another "
        "folder with -w"
    ]


def test_the_after_action_report_of_the_demo_holds_every_section_and_every_alert(
    played: demo.DemoRun, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Issue 21: the after-action report of the demo, generated and checked for its sections —
    and for the story: each alert the demo raised is in it, with its evidence."""
    import html
    import re

    out = tmp_path / "aar.html"
    r = sitroom(capfd, "report", "-w", played.workspace, "--to", "2019-10-26T00:00:00Z",
                "-o", str(out), "--json")  # fmt: skip
    assert r.code == 0, r.err
    page = out.read_text()
    for section, heading in (
        ("timeline", "Timeline of what was known when"),
        ("alerts", "Alerts"),
        ("forecasts", "Forecasts over time"),
        ("decisions", "Decisions and channel events"),
        ("tracks", "Tracks"),
    ):
        assert re.search(rf'id="{section}"[^>]*>\s*{heading}<', page) or (
            f'id="{section}"' in page and f">{heading}<" in page
        ), section
    alerts = page[page.index('id="alerts"') : page.index('id="forecasts"')]
    text = html.unescape(re.sub(r"<[^>]+>", " ", alerts))
    for a in played.alerts:
        assert a.title.split(":")[0] in text, a.title
        assert all(e in text for e in a.evidence[:3]), (a.title, a.evidence)
    assert "<svg" in page[page.index('id="forecasts"') :]  # the 90/30 split, plotted
    assert "<script" not in page
