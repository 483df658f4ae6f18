"""Command-line values the fuzzers (tests/fuzz/test_fuzz_values.py) broke, end to end: each was
a traceback — SQLite's 64-bit overflow, datetime's range, the log's JSON, time.sleep — and is a
one-line refusal, with the workspace as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Result, sitroom

THIRTY = "123456789012345678901234567890"


def refused(r: Result) -> None:
    """Exit 2 and one line on stderr, no traceback."""
    assert r.code == 2 and "Traceback" not in r.err, r.err
    assert r.err.startswith("sitroom: error:") and r.err.count("\n") == 1, r.err


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:
    w = str(tmp_path / "ws")
    assert sitroom(capfd, "init", "-w", w).code == 0
    return w


@pytest.mark.parametrize(
    "args",
    [
        ("state", "--as-of", "9999-12-31"),  # SQLite: int too large
        ("events", "--as-of", "0001-01-01T00:00:00+23:59"),
        ("intensity", "--near", "Beirut", "--until", "0001-01-01"),  # datetime: out of range
        ("events", "--limit", THIRTY),  # SQLite again
        ("intensity", "--near", "Beirut", "--previous", "100", "--window", "36500d"),
        ("channels", "add", "c1", "--to", "them", "--capacity", THIRTY),  # 64-bit JSON
        ("channels", "add", "c1", "--to", "them", "--weight", THIRTY),
        ("replay", "no-such-export.jsonl", "--speed", "nan"),
        ("replay", "no-such-export.jsonl", "--speed", "1e-300"),  # time.sleep: too large
    ],
)
def test_a_value_out_of_every_range_is_one_line(
    ws: str, capfd: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    before = sitroom(capfd, "state", "--json", "-w", ws).json()["records"]
    r = sitroom(capfd, *args, "-w", ws)
    refused(r)
    assert sitroom(capfd, "state", "--json", "-w", ws).json()["records"] == before


def test_an_infinite_prior_is_refused_and_forecasts_go_on(
    ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """It was written to the log as null; reading the question back then failed every forecast
    of the workspace, for good."""
    w = ("-w", ws)
    ok = sitroom(capfd, "questions", "add", "Will they meet?", "--id", "meet", "--until", "+7d", *w)
    assert ok.code == 0, ok.err
    r = sitroom(capfd, "questions", "add", "Will it?", "--until", "+7d", "--prior", "inf,1", *w)
    refused(r)
    assert "Beta prior" in r.err
    forecast = sitroom(capfd, "forecast", "meet", "--json", *w)
    assert forecast.code == 0, forecast.err
