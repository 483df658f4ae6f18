"""The spine end to end through the CLI, on the real GDELT files."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import Any

import pytest

from sitroom.domain.timeutil import iso

from conftest import V1_FILE, V2_FILES
from helpers import sitroom


def rows_in(path: Path) -> int:
    return path.read_bytes().count(b"\n")


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:
    assert sitroom(capfd, "init", "-w", str(tmp_path / "ws"), "--site", "test-site").code == 0
    return str(tmp_path / "ws")


def test_ingest_counts_add_up_and_a_second_ingest_adds_nothing(
    ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Rows = accepted + quarantined for every real file; re-ingesting everything adds nothing."""
    files = [str(f) for f in [*V2_FILES, V1_FILE]]
    first = sitroom(capfd, "ingest", "gdelt", "-w", ws, *files, "--json")
    assert first.code == 0, first.err
    reports = first.json()["files"]
    for f, r in zip(files, reports, strict=True):
        assert r["rows"] == rows_in(Path(f))
        assert r["accepted"] + r["quarantined"] == r["rows"]
        assert r["duplicates"] == 0
    total_rows = sum(rows_in(Path(f)) for f in files)
    quarantined = sum(r["quarantined"] for r in reports)
    state = sitroom(capfd, "state", "-w", ws, "--json").json()
    assert state["by_kind"]["gdelt.event"] == total_rows - quarantined
    assert state["by_kind"].get("ingest.quarantined", 0) == quarantined
    q = sitroom(capfd, "quarantine", "-w", ws, "--json").json()["quarantined"]
    assert len(q) == quarantined and all(item["reason"] for item in q)

    again = sitroom(capfd, "ingest", "gdelt", "-w", ws, *files, "--json").json()["totals"]
    assert again["accepted"] == 0
    assert again["duplicates"] == total_rows - quarantined
    assert again["quarantined"] == quarantined
    after = sitroom(capfd, "state", "-w", ws, "--json").json()
    assert after["records"] == state["records"]


def test_state_as_of_between_two_ingests_shows_only_the_first(
    ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b = V2_FILES[0], V2_FILES[1]
    assert sitroom(capfd, "ingest", "gdelt", "-w", ws, str(a)).code == 0
    time.sleep(0.01)
    between = iso(time.time_ns() // 1_000_000)
    assert between is not None
    time.sleep(0.01)
    assert sitroom(capfd, "ingest", "gdelt", "-w", ws, str(b)).code == 0
    then = sitroom(capfd, "state", "-w", ws, "--as-of", between, "--json").json()
    now = sitroom(capfd, "state", "-w", ws, "--json").json()
    assert then["by_kind"]["gdelt.event"] == rows_in(a)
    assert now["by_kind"]["gdelt.event"] == rows_in(a) + rows_in(b)
    assert then["provenance"]["stale"] is True
    assert then["provenance"]["newer_records"] == rows_in(b)
    assert now["provenance"]["stale"] is False
    human = sitroom(capfd, "state", "-w", ws, "--as-of", between)
    assert "STALE" in human.out and f"{rows_in(b):,} newer" in human.out


def independent_distance_miles(lat: float, lon: float) -> float:
    """Spherical law of cosines (not the haversine sitroom uses), same mean Earth radius."""
    p1, p2 = math.radians(33.89), math.radians(lat)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(
        math.radians(lon - 35.50)
    )
    return 6_371_008.8 * math.acos(max(-1.0, min(1.0, c))) / 1609.344


def events_near_beirut(capfd: pytest.CaptureFixture[str], ws: str, radius: str) -> Any:
    args = ["events", "-w", ws, "--near", "33.89,35.50", "--radius", radius, "--limit", "0"]
    return sitroom(capfd, *args, "--json").json()


def test_events_near_beirut_are_exactly_those_within_500_miles(
    ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert sitroom(capfd, "ingest", "gdelt", "-w", ws, *map(str, V2_FILES)).code == 0
    got = events_near_beirut(capfd, ws, "500mi")
    expected, boundary = set(), set()
    for f in V2_FILES:
        with f.open(encoding="utf-8", newline="") as fh:
            for row in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                if not row[56] or not row[57]:
                    continue
                d = independent_distance_miles(float(row[56]), float(row[57]))
                if abs(d - 500) < 1e-6:
                    boundary.add(f"gdelt-v2:{row[0]}")
                elif d <= 500:
                    expected.add(f"gdelt-v2:{row[0]}")
    ids = {e["id"] for e in got["items"]}
    assert len(expected) > 100  # Beirut is busy in these files
    assert ids - boundary == expected
    assert got["matched"] == len(got["items"])
    assert all(e["distance_m"] <= 500 * 1609.344 for e in got["items"])
    km = events_near_beirut(capfd, ws, "804.672km")
    assert {e["id"] for e in km["items"]} == ids


def test_events_window_filters_on_valid_time(ws: str, capfd: pytest.CaptureFixture[str]) -> None:
    assert sitroom(capfd, "ingest", "gdelt", "-w", ws, str(V2_FILES[2])).code == 0
    got = sitroom(
        capfd,
        "events",
        "-w",
        ws,
        "--since",
        "2019-10-24",
        "--until",
        "2019-10-25",
        "--limit",
        "0",
        "--json",
    ).json()
    with V2_FILES[2].open(encoding="utf-8") as fh:
        expected = sum(1 for line in fh if line.split("\t")[1] == "20191024")
    assert got["matched"] == expected > 0
    assert {e["date"] for e in got["items"]} == {"2019-10-24"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["state", "--as-of", "last tuesday"], "cannot read time"),
        (["events", "--near", "33.89,35.50", "--radius", "far"], "cannot read radius"),
        (["events", "--near", "33.89,35.50"], "--near and --radius go together"),
        (["events", "--near", "95,35", "--radius", "5mi"], "off the globe"),
        (["ingest", "gdelt", "/nonexistent/file.CSV"], "no such file"),
        (["replay", "/nonexistent/log.jsonl"], "no such file"),
        (["state", "--bogus"], "No such option"),
    ],
)
def test_user_mistakes_are_one_line_and_a_nonzero_exit(
    ws: str, capfd: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    r = sitroom(capfd, *args, "-w", ws)
    assert r.code != 0
    assert message in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert "Traceback" not in r.err


def test_no_workspace_and_double_init(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    r = sitroom(capfd, "state", "-w", str(tmp_path / "nowhere"))
    assert r.code == 2 and "no sitroom workspace" in r.err and "sitroom init" in r.err
    assert sitroom(capfd, "init", "-w", str(tmp_path / "w")).code == 0
    again = sitroom(capfd, "init", "-w", str(tmp_path / "w"))
    assert again.code == 2 and "already holds" in again.err
