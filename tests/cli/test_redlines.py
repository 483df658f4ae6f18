"""Red lines on the real UCDP sample: they fire where the data crosses them, checked against an
independent computation with the csv module, and not where it does not; malformed rules name
their column."""

from __future__ import annotations

import csv
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

import sitroom
from sitroom.domain.redlines import RedLineError, parse_rule

from conftest import UCDP_FILE
from helpers import sitroom as run

DAMASCUS = (33.5138, 36.2765)
MILE = 1609.344


def ged() -> list[dict[str, str]]:
    with UCDP_FILE.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def distance_m(lat: float, lon: float, centre: tuple[float, float]) -> float:
    p1, p2 = math.radians(lat), math.radians(centre[0])
    dp, dl = p2 - p1, math.radians(centre[1] - lon)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def day_ms(text: str) -> int:
    return int(datetime.fromisoformat(text[:10]).replace(tzinfo=UTC).timestamp() * 1000)


def ingest_with_rules(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], *rules: tuple[str, str]
) -> str:
    ws = str(tmp_path / "ws")
    assert run(capfd, "init", "-w", ws).code == 0
    for name, text in rules:
        r = run(capfd, "redlines", "add", name, text, "-w", ws, "--severity", "critical")
        assert r.code == 0, r.err
    assert run(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE)).code == 0
    return ws


def event_ids(ws: str, record_ids: list[str]) -> set[int]:
    with sitroom.open(Path(ws)) as w:
        return {r.payload["event_id"] for b in w.session.read(ids=record_ids) for r in b.rows()}


def test_a_selection_rule_fires_on_exactly_the_matching_events_and_not_elsewhere(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = ged()
    expected = {
        int(r["id"])
        for r in rows
        if re.search(r"\bisrael\b", r["side_a"], re.I) and r["country"].lower() == "lebanon"
    }
    assert expected  # the sample holds such events (Government of Israel - Hezbollah)
    absent = [r for r in rows if "hezbollah" in r["side_a"].lower() and r["country"] == "Iran"]
    assert not absent
    ws = ingest_with_rules(
        tmp_path,
        capfd,
        ("israel-in-lebanon", "conflict by Israel located in Lebanon"),
        ("hezbollah-in-iran", "conflict by Hezbollah located in Iran"),
    )
    alerts = run(capfd, "alerts", "-w", ws, "--json").json()["alerts"]
    fired = [a for a in alerts if a["detector"] == "redline"]
    assert [a["detail"]["rule"] for a in fired] == ["israel-in-lebanon"]
    (alert,) = fired
    assert alert["severity"] == "critical"
    assert event_ids(ws, alert["evidence"]) == expected


def test_a_threshold_rule_fires_when_the_window_sum_crosses_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rule = "fatalities >= 10 within 100mi of Damascus in 30d"
    near = sorted(
        (day_ms(r["date_start"]), int(r["best"]))
        for r in ged()
        if distance_m(float(r["latitude"]), float(r["longitude"]), DAMASCUS) <= 100 * MILE
    )
    window = 30 * 86_400_000
    crossings, peak = [], 0
    for k, (t, w) in enumerate(near):
        total = sum(w2 for t2, w2 in near[: k + 1] if t - window < t2 <= t)
        later_same_day = sum(w2 for t2, w2 in near[k + 1 :] if t2 == t)
        peak = max(peak, total + later_same_day)
        if total >= 10 > total - w:
            crossings.append(t)
    assert crossings  # the real data crosses this line

    ws = ingest_with_rules(tmp_path, capfd, ("damascus", rule))
    tested = run(capfd, "redlines", "test", rule, "-w", ws, "--json").json()
    assert sorted(day_ms(c["at"]) for c in tested["crossings"]) == crossings
    assert tested["peak"] == peak
    alerts = [
        a
        for a in run(capfd, "alerts", "-w", ws, "--json").json()["alerts"]
        if a["detector"] == "redline"
    ]
    # One bulk append: one alert, counting every crossing in it.
    assert len(alerts) == 1 and alerts[0]["detail"]["crossings_in_append"] == len(crossings)
    assert run(capfd, "redlines", "-w", ws, "--json").json()["redlines"][0][
        "matched_events"
    ] == len(near)


@pytest.mark.parametrize(
    ("rule", "column", "expected"),
    [
        ("fatalities >= 50 within Beirut in 24h", 25, "expected a radius"),
        ("material confict by ISR", 10, "expected 'conflict' or 'cooperation'"),
        ("conflict by ISR in Lebanon", 20, "expected a window"),
        ("events >= 5 conflict", 21, "expected 'in' and a window"),
        ("conflict within 10mi of Atlantis", 25, "unknown place 'Atlantis'"),
        ("conflict by ISR by IRN", 17, "'by' given twice"),
        ("conflict located IRN", 18, "expected 'in' after 'located'"),
    ],
)
def test_a_malformed_rule_names_its_column(rule: str, column: int, expected: str) -> None:
    with pytest.raises(RedLineError) as e:
        parse_rule(rule)
    assert e.value.column == column and expected in str(e.value)


def test_the_cli_reports_a_malformed_rule_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    run(capfd, "init", "-w", ws)
    r = run(capfd, "redlines", "add", "x", "fatalities >= 50 within Beirut in 24h", "-w", ws)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "column 25" in r.err and "expected a radius" in r.err
    assert run(capfd, "redlines", "-w", ws, "--json").json()["redlines"] == []
