"""`sitroom intensity` on the real UCDP sample, against an independent computation (csv module and
the haversine formula written out here)."""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import UCDP_FILE
from helpers import sitroom

DAMASCUS = (33.5138, 36.2765)
DAY = 86_400_000


def km(lat: float, lon: float) -> float:
    p1, p2 = math.radians(lat), math.radians(DAMASCUS[0])
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(DAMASCUS[1] - lon) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_intensity_counts_fatalities_and_trend_match_an_independent_count(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    sitroom(capfd, "ingest", "ucdp", "-w", ws, str(UCDP_FILE))
    until = datetime(2016, 3, 1, tzinfo=UTC)
    got = sitroom(
        capfd,
        "intensity",
        "-w",
        ws,
        "--near",
        "Damascus",
        "--radius",
        "150km",
        "--window",
        "30d",
        "--until",
        "2016-03-01",
        "--previous",
        "3",
        "--json",
    ).json()
    with UCDP_FILE.open(encoding="utf-8", newline="") as f:
        near = [
            (datetime.fromisoformat(r["date_start"][:10]).replace(tzinfo=UTC), int(r["best"]))
            for r in csv.DictReader(f)
            if km(float(r["latitude"]), float(r["longitude"])) <= 150
        ]
    end_ms = int(until.timestamp() * 1000)
    expected = []
    for k in range(4):
        hi = end_ms - k * 30 * DAY
        inside = [b for d, b in near if hi - 30 * DAY <= d.timestamp() * 1000 < hi]
        expected.append((len(inside), sum(inside) if inside else None))
    windows = [got["current"], *got["previous"]]
    assert [(w["events"], w["fatalities"]) for w in windows] == expected
    assert sum(n for n, _ in expected) > 0  # the sample has events there
    assert all(set(w["by_quad_class"]) <= {"Material Conflict"} for w in windows)
    mean = sum(n for n, _ in expected[1:]) / 3
    assert got["trend"]["previous_mean"] == round(mean, 2)
    assert got["trend"]["change"] == round(expected[0][0] - mean, 2)


def test_intensity_rejects_an_unknown_place_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws = str(tmp_path / "ws")
    sitroom(capfd, "init", "-w", ws)
    r = sitroom(capfd, "intensity", "-w", ws, "--near", "Atlantis")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
