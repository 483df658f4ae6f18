"""The risk commands as a new user runs them, on the real UCDP sample."""

import re
from pathlib import Path

import pytest

from conftest import UCDP_FILE
from helpers import sitroom


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> Path:
    w = tmp_path / "ws"
    assert sitroom(capfd, "init", "-w", str(w)).code == 0
    assert sitroom(capfd, "ingest", "ucdp", str(UCDP_FILE), "-w", str(w)).code == 0
    return w


def test_ask_judge_forecast_list_resolve_and_score(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = ("-w", str(ws))
    made = sitroom(
        capfd,
        "questions", "add", "Will US-Iran talks in Geneva happen by 15 December?",
        "--id", "talks", "--until", "2030-12-15", "--venue", "Geneva",
        "--reference", "announced rounds that met", "--hits", "3", "--of", "10",
        "--json", *w,
    )  # fmt: skip
    assert made.code == 0, made.err
    body = made.json()
    assert body["question"]["text"] == "Will US-Iran talks in Geneva happen by 15 December?"
    assert body["question"]["places"][0]["name"] == "Geneva"
    members = {m["name"]: m for m in body["forecast"]["members"]}
    assert members["base rate"]["detail"]["posterior"] == [3.5, 7.5]
    nameless = sitroom(capfd, "judge", "talks", "90%", *w)
    assert nameless.code == 2 and "-u NAME" in nameless.err
    judged = sitroom(
        capfd, "-u", "hawk", "judge", "talks", "90%", "--rationale", "dates set", "--json", *w
    )
    assert judged.code == 0, judged.err
    assert judged.json()["by"] == "hawk"
    assert any("disagree" in a["title"] for a in judged.json()["alerts"])
    shown = sitroom(capfd, "forecast", "talks", "--json", *w).json()
    f = shown["forecasts"][0]["forecast"]
    assert [m["name"] for m in f["members"]] == ["base rate", "nearby conflicts", "analyst hawk"]
    assert f["disagreement"]["high"][0]["member"] == "analyst hawk"
    assert f["disagreement"]["low"][0]["member"] in ("base rate", "nearby conflicts")
    assert [h["p"] for h in shown["forecasts"][0]["history"]][-1] == f["aggregate"]["p"]
    assert "provenance" in shown
    human = sitroom(capfd, "forecast", "talks", *w)
    assert "range" in human.out and "disagreement" in human.out and "hawk" in human.out
    listed = sitroom(capfd, "questions", "--json", *w).json()["questions"]
    assert [(q["id"], q["status"]) for q in listed] == [("talks", "open")]
    assert listed[0]["range"][1] == pytest.approx(0.9)
    assert "talks" in sitroom(capfd, "questions", *w).out
    done = sitroom(capfd, "questions", "resolve", "talks", "no", "-u", "chair", "--json", *w)
    assert done.code == 0, done.err
    settled = done.json()
    assert settled["by"] == "chair"
    hawk = next(m for m in settled["score"]["members"] if m["member"] == "analyst hawk")
    assert hawk["brier"] == pytest.approx(0.81)
    scores = sitroom(capfd, "questions", "scores", "--json", *w).json()
    assert scores["resolved"] == 1
    assert [(a["by"], a["weight"] < 1) for a in scores["analysts"]] == [("hawk", True)]
    assert "analyst hawk: weight" in sitroom(capfd, "questions", "scores", *w).out


def test_questions_add_shows_the_question(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    r = sitroom(
        capfd,
        "questions", "add", "Will the Beirut round take place by 15 December?",
        "--until", "2030-12-15", "--near", "beirut", "--near", "33.3,44.4", "-w", str(ws),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert "Question added" in r.out
    assert "will-the-beirut-round-take-place-by-15" in r.out
    assert "Will the Beirut round take place by 15 December?" in r.out
    assert "binary: by 2030-12-15" in r.out
    assert "places: Beirut, 33.3,44.4 (within 500mi)" in r.out
    assert "base rate" in r.out and "range" in r.out
    again = sitroom(
        capfd,
        "questions", "add", "Will the Beirut round take place by 15 December?",
        "--until", "2030-12-15", "--near", "beirut", "--near", "33.3,44.4", "-w", str(ws),
    )  # fmt: skip
    assert again.code == 0 and "nothing changed" in again.out


def test_a_count_question_on_real_events(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A window already in the log resolves at once from the events; a future one is
    forecast by the three model members."""
    past = sitroom(
        capfd,
        "questions", "add", "At least 3 events within 500 miles of Damascus in Q2 2013?",
        "--id", "dam", "--threshold", "3", "--since", "2013-04-01", "--until", "2013-07-01",
        "--near", "damascus", "--json", "-w", str(ws),
    )  # fmt: skip
    assert past.code == 0, past.err
    body = past.json()
    assert body["forecast"] is None and body["question"]["status"] == "yes"
    assert body["question"]["window_from"] == "2013-04-01T00:00:00Z"
    [resolved] = body["resolved"]
    assert resolved["outcome"] == "yes" and resolved["count"] >= 3
    assert len(resolved["evidence"]) == resolved["count"]
    future = sitroom(
        capfd,
        "questions", "add", "At least 1 event within 500 miles of Damascus next week?",
        "--id", "dam-next", "--threshold", "1", "--window", "7d", "--near", "damascus",
        "--json", "-w", str(ws),
    )  # fmt: skip
    f = future.json()["forecast"]
    assert {m["name"] for m in f["members"]} == {"base rate", "event count", "nearby conflicts"}
    assert f["aggregate"]["method"] == "median" and f["spread"]["high"] >= f["aggregate"]["p"]
    count = next(m for m in f["members"] if m["name"] == "event count")
    assert set(count["dist"]) == {"offset", "mean", "dispersion"}


def test_user_mistakes_are_one_line(ws: Path, capfd: pytest.CaptureFixture[str]) -> None:
    w = ("-w", str(ws))
    for args, words in [
        (("-u", "ana", "judge", "nope", "0.4"), "no question 'nope'"),
        (("questions", "add", "Talks?", "--id", "t", "--until", "2030-01-01"), None),
        (("-u", "ana", "judge", "t", "140%"), "0 to 1 or 0% to 100%"),
        (("questions", "add", "Past?", "--until", "2020-01-01"), "has passed"),
        (("questions", "resolve", "t", "maybe"), "yes, no or void"),
        (("questions", "add", "Count?", "--threshold", "3"), "needs a venue"),
        (("questions", "add", "Talks?"), "needs --until"),
        (("questions", "add", "Talks?", "--until", "+4d", "--track", "nope"), "no track 'nope'"),
        (("questions", "add", "Talks?", "--until", "+4d", "--given", "x"), "no question 'x'"),
        (("forecast", "nope"), "see `sitroom questions`"),
        (("questions", "add", "T?", "--until", "+4d", "--hits", "2", "--of", "5"), "reference"),
        (("questions", "add", "T?", "--until", "+4d", "--since", "-1d"), "not a window"),
        (("backtest", "--known", "later"), "published, valid or recorded"),
    ]:
        r = sitroom(capfd, *args, *w)
        if words is None:
            assert r.code == 0, r.err
            continue
        assert r.code == 2, (args, r.out, r.err)
        assert words in r.err and "Traceback" not in r.err
        assert len(r.err.strip().splitlines()) == 1
    missing = sitroom(capfd, "forecast", "nope", "--json", *w).json()["error"]
    assert (missing["what"], missing["id"], missing["known"]) == ("question", "nope", ["t"])


@pytest.mark.slow
def test_backtest_writes_a_reliability_diagram(
    ws: Path, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plots = tmp_path / "plots"
    r = sitroom(
        capfd,
        "backtest", "--near", "damascus", "--near", "baghdad", "--window", "180d",
        "--threshold", "1", "--since", "2005-01-01", "--plot", str(plots), "--json",
        "-w", str(ws),
    )  # fmt: skip
    assert r.code == 0, r.err
    body = r.json()
    assert body["leaks"] == 0 and body["forecasts"] == 2 * body["forecast_times"]
    assert body["covered"]["places"] == ["Damascus", "Baghdad"]
    png = plots / "reliability.png"
    assert body["plots"] == [str(png)] and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {s["forecaster"] for s in body["scores"]} >= {"aggregate", "climatology", "last value"}
    human = sitroom(capfd, "backtest", "--near", "damascus", "--window", "180d", "-w", str(ws))
    assert "skill" in human.out and "climatology" in human.out


def test_the_risk_commands_are_listed_under_risk(capfd: pytest.CaptureFixture[str]) -> None:
    out = sitroom(capfd, "--help").out
    section = out.split("Risk:", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^  (\S+)", section, flags=re.MULTILINE)
    assert sorted(listed) == ["backtest", "forecast", "judge", "questions"]


@pytest.mark.parametrize(
    ("given", "hint"), [("1.5", "did you mean 1.5%?"), ("35", "did you mean 35%?"), ("1e30", "")]
)
def test_a_bare_number_above_one_is_refused_not_read_as_a_percent(
    ws: Path, capfd: pytest.CaptureFixture[str], given: str, hint: str
) -> None:
    """'1' meant 100% while '1.5' meant 1.5%: a bare number is a probability from 0 to 1, a
    percent says so."""
    w = ("-w", str(ws))
    ask = "questions add Talks-by-2030 --id t --until 2030-12-15 --venue Geneva"
    made = sitroom(capfd, *ask.split(), *w)
    assert made.code == 0, made.err
    before = sitroom(capfd, "state", "--json", *w).json()["records"]
    r = sitroom(capfd, "-u", "dana", "judge", "t", given, *w)
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and "0% to 100%" in r.err
    assert hint in r.err
    assert sitroom(capfd, "state", "--json", *w).json()["records"] == before
    for ok, p in (("1", 1.0), ("0.35", 0.35), ("35%", 0.35)):
        judged = sitroom(capfd, "-u", "dana", "judge", "t", ok, "--json", *w)
        assert judged.code == 0, judged.err
        assert judged.json()["p"] == pytest.approx(p)


def test_a_question_id_reused_is_refused_and_an_edit_sets_old_judgments_aside(
    ws: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Re-using an id rewrote the question (exit 0) and earlier judgments were scored against
    the new one. Now a changed definition is refused; `questions edit` records who changed
    what and why, sets the judgments aside and tells their authors."""
    w = ("-w", str(ws))
    ask = "questions add Talks-in-Geneva --id talks --until 2030-12-15 --venue Geneva --json"
    first = sitroom(capfd, *ask.split(), *w)
    assert first.code == 0, first.err
    assert sitroom(capfd, "-u", "dana", "judge", "talks", "30%", *w).code == 0
    before = sitroom(capfd, "state", "--json", *w).json()["records"]
    again = sitroom(capfd, *ask.replace("2030-12-15", "2031-06-01").split(), *w)
    error = again.json()["error"]
    assert again.code == 2 and error["type"] == "exists" and "questions edit" in error["message"]
    assert sitroom(capfd, "state", "--json", *w).json()["records"] == before
    same = sitroom(capfd, *ask.split(), *w)  # the same definition: nothing new
    assert same.code == 0 and same.json()["new"] is False
    assert sitroom(capfd, "state", "--json", *w).json()["records"] == before

    edit = ["questions", "edit", "talks", "--until", "2031-06-01", *w]
    assert sitroom(capfd, *edit, "--reason", "moved").code == 2  # whose edit?
    assert sitroom(capfd, "-u", "chair", *edit[:3], "--reason", "x", *w).code == 2  # no change
    done = sitroom(capfd, "-u", "chair", *edit, "--reason", "round moved to June", "--json")
    assert done.code == 0, done.err
    body = done.json()
    assert body["question"]["deadline"].startswith("2031-06-01")
    (alert,) = [a for a in body["alerts"] if "edited" in a["title"]]
    assert "chair" in alert["title"] and "dana" in alert["title"]
    members = [m["name"] for m in body["forecast"]["members"]]
    assert "analyst dana" not in members  # she judged another question
