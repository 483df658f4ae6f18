"""The risk commands as a new user runs them, on the real UCDP sample."""

from pathlib import Path

import pytest

from helpers import sitroom


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str], shared_data: Path) -> Path:
    w = tmp_path / "ws"
    assert sitroom(capfd, "init", "-w", str(w)).code == 0
    ucdp = shared_data / "ucdp-ged-sample" / "ucdpged_sample.csv"
    assert sitroom(capfd, "ingest", "ucdp", str(ucdp), "-w", str(w)).code == 0
    return w


def test_ask_judge_forecast_list_resolve_and_score(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = ("-w", str(ws))
    made = sitroom(
        capfd,
        "question", "add", "Will US-Iran talks in Geneva happen by 15 December?",
        "--id", "talks", "--by", "2030-12-15", "--venue", "Geneva",
        "--reference", "announced rounds that met", "--hits", "3", "--of", "10",
        "--json", *w,
    )  # fmt: skip
    assert made.code == 0, made.err
    members = {m["name"]: m for m in made.json()["forecast"]["members"]}
    assert members["base rate"]["detail"]["posterior"] == [3.5, 7.5]
    judged = sitroom(
        capfd,
        "judge",
        "talks",
        "90%",
        "--analyst",
        "hawk",
        "--rationale",
        "dates set",
        "--json",
        *w,
    )
    assert judged.code == 0, judged.err
    assert any("disagree" in a for a in judged.json()["alerts"])
    shown = sitroom(capfd, "forecast", "talks", "--json", *w).json()
    f = shown["forecasts"][0]["forecast"]
    assert [m["name"] for m in f["members"]] == ["base rate", "nearby conflicts", "analyst hawk"]
    assert f["disagreement"]["high"][0]["member"] == "analyst hawk"
    assert "provenance" in shown
    human = sitroom(capfd, "forecast", "talks", *w)
    assert "range" in human.out and "disagreement" in human.out and "hawk" in human.out
    listed = sitroom(capfd, "question", "list", "--json", *w).json()["questions"]
    assert [(q["id"], q["status"]) for q in listed] == [("talks", "open")]
    assert listed[0]["range"][1] == pytest.approx(0.9)
    done = sitroom(capfd, "question", "resolve", "talks", "no", "--by", "chair", "--json", *w)
    assert done.code == 0 and done.json()["score"]["members"]["analyst hawk"][
        "brier"
    ] == pytest.approx(0.81)
    scores = sitroom(capfd, "question", "scores", "--json", *w).json()
    assert scores["resolved"] == 1 and scores["analysts"]["hawk"]["weight"] < 1


def test_a_count_question_on_real_events(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A window already in the log resolves at once from the events; a future one is
    forecast by the three model members."""
    past = sitroom(
        capfd,
        "question", "add", "At least 3 events within 500 miles of Damascus in Q2 2013?",
        "--id", "dam", "--threshold", "3", "--from", "2013-04-01", "--until", "2013-07-01",
        "--venue", "damascus", "--json", "-w", str(ws),
    )  # fmt: skip
    assert past.code == 0, past.err
    body = past.json()
    assert body["forecast"] is None
    [resolved] = body["resolved"]
    assert resolved["outcome"] == "yes" and resolved["count"] >= 3
    assert len(resolved["evidence"]) == resolved["count"]
    future = sitroom(
        capfd,
        "question", "add", "At least 1 event within 500 miles of Damascus next week?",
        "--id", "dam-next", "--threshold", "1", "--window", "7d", "--venue", "damascus",
        "--json", "-w", str(ws),
    )  # fmt: skip
    f = future.json()["forecast"]
    assert {m["name"] for m in f["members"]} == {"base rate", "event count", "nearby conflicts"}
    assert f["aggregate"]["method"] == "median" and f["spread"]["max"] >= f["aggregate"]["p"]


def test_user_mistakes_are_one_line(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    w = ("-w", str(ws))
    for args, words in [
        (("judge", "nope", "0.4"), "no question 'nope'"),
        (("question", "add", "Talks?", "--id", "t", "--by", "2030-01-01"), None),
        (("judge", "t", "140%"), "between 0 and 1"),
        (("question", "resolve", "t", "maybe"), "yes, no or void"),
        (("question", "add", "Count?", "--threshold", "3"), "needs a venue"),
        (("question", "add", "Talks?"), "needs --by"),
        (("backtest", "--known", "later"), "valid or recorded"),
    ]:
        r = sitroom(capfd, *args, *w)
        if words is None:
            assert r.code == 0, r.err
            continue
        assert r.code == 2, (args, r.out, r.err)
        assert words in r.err and "Traceback" not in r.err
        assert len(r.err.strip().splitlines()) == 1


@pytest.mark.slow
def test_backtest_writes_a_reliability_diagram(
    ws: Path, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plots = tmp_path / "plots"
    r = sitroom(
        capfd,
        "backtest", "--place", "damascus", "--place", "baghdad", "--window", "180d",
        "--threshold", "1", "--from", "2005-01-01", "--plot", str(plots), "--json", "-w", str(ws),
    )  # fmt: skip
    assert r.code == 0, r.err
    body = r.json()
    assert body["leaks"] == 0 and body["forecasts"] == 2 * body["forecast_times"]
    png = plots / "reliability.png"
    assert body["plots"] == [str(png)] and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(body["scores"]) >= {"aggregate", "climatology", "last value"}
    human = sitroom(capfd, "backtest", "--place", "damascus", "--window", "180d", "-w", str(ws))
    assert "skill" in human.out and "climatology" in human.out
