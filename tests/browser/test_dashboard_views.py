"""The dashboard's views on the seed's case (`sitroom demo`, a single-user room: the page opens
without a login), in real Chromium against `sitroom serve`: the tracks view says the knot of
the deadlock in words and draws it, what-if answers from the page, the forecasts view shows the
90/30 split with both sides named, the channels view gives phi and what waits by priority, the
map rings the red line hits and names the conflicts that move the forecast, and an alert
acknowledged from the page shows in the feed and is one record in the log. Offline, without
console errors. Each view is shot (into docs/img with SITROOM_SCREENSHOTS=docs: the README's
pictures)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dashboard import Page, Server, open_page, screenshot, serve, sitroom
from dashboard import browser as browser  # the fixture: no conftest.py here (one is tests/')

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# Before the postponement (2019-10-25 12:00): the deadlock, the over-booked envoy, the red
# line's 41 hits near Beirut and the silent backchannel are all known.
MOMENT = "2019-10-24T16:00:00Z"
SPLIT = "2019-10-09T12:00:00Z"  # the ensemble's first split: omar at 90%, the rest at 32%


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    room = tmp_path_factory.mktemp("demo") / "room"
    done = sitroom("demo", "-w", str(room), "--day-seconds", "0")
    assert done.returncode == 0, done.stderr
    return room


@pytest.fixture
def server(demo: Path, tmp_path: Path) -> Iterator[Server]:
    with serve(Path(shutil.copytree(demo, tmp_path / "room"))) as s:
        yield s


def at(p: Page, moment: str | None) -> None:
    """The page opened as of ``moment`` (its address: #as_of=…), every view drawn."""
    p.page.goto("about:blank")  # a new fragment alone would not load the page again
    p.page.goto(p.url + "/" + (f"#as_of={moment}" if moment else ""))
    p.page.wait_for_selector("#dash:not([hidden])")
    p.settle()
    if moment:
        shown = p.page.evaluate("() => document.body.dataset.asOf")
        assert shown.replace(".000Z", "Z") == moment


def text(p: Page, selector: str) -> str:
    return " ".join((p.page.text_content(selector) or "").split())


def test_the_tracks_view_shows_the_knot_in_words_and_what_if_answers(
    browser: Any, server: Server
) -> None:
    with open_page(browser, server.url) as p:
        at(p, MOMENT)
        p.tab("tracks")
        words = text(p, "#waitfor-words [data-knot]")
        assert (
            "the Israel–Lebanon ceasefire negotiation waits for the NSC Middle East team" in words
        )
        assert "the NSC Middle East team is held by US–Iran talks" in words
        assert "US–Iran talks waits for the Israel–Lebanon ceasefire negotiation" in words
        knot = p.page.locator("#waitfor .node.knot").evaluate_all(
            "ns => ns.map(n => n.dataset.node)"
        )
        assert sorted(knot) == ["resource:nsc-me", "track:ceasefire", "track:us-iran"]
        assert p.page.locator("#waitfor line.edge.knot").count() == 3
        # The envoy held twice from the 22nd to the 25th: the Gantt's over-booked window.
        assert p.page.locator("#gantt rect.over[data-contention='envoy']").count() == 2
        assert p.page.locator("#gantt rect.meeting").count() == 1
        screenshot(p, "demo-tracks", docs="tracks")
        p.page.select_option("#whatif-target", "us-iran")
        p.page.fill("#whatif-delay", "1d")
        p.page.click("#whatif-form button[type=submit]")
        p.page.wait_for_selector("#whatif-answer[data-answered]", timeout=30_000)
        answer = text(p, "#whatif-answer")
        # As the CLI says: a day's slip leaves no schedule, and why.
        assert "If us-iran slips +1.0d: no schedule exists." in answer, answer
        assert "cannot all hold" in answer and "Special Envoy W." in answer
        assert p.errors == [] and p.outside == [], (p.errors, p.outside)


def test_the_forecasts_view_shows_the_split_with_both_sides_named(
    browser: Any, server: Server
) -> None:
    with open_page(browser, server.url) as p:
        at(p, SPLIT)
        p.tab("forecasts")
        card = "[data-question='talks']"
        assert text(p, f"{card} [data-side='high']").startswith("High: analyst omar at 90%")
        low = text(p, f"{card} [data-side='low']")
        assert low.startswith("Low: ") and "base rate at 32%" in low
        names = p.page.locator(f"{card} circle.member").evaluate_all(
            "cs => cs.map(c => c.dataset.member)"
        )
        assert "analyst omar" in names and "base rate" in names
        assert p.page.locator(f"{card} svg.history circle.point").count() == 2
        # Later, the history has every forecast up to then.
        at(p, MOMENT)
        p.tab("forecasts")
        assert p.page.locator(f"{card} svg.history circle.point").count() == 3
        screenshot(p, "demo-forecasts", docs="forecasts")
        assert p.errors == [] and p.outside == [], (p.errors, p.outside)


def test_the_channels_view_and_the_map_marks(browser: Any, server: Server) -> None:
    with open_page(browser, server.url) as p:
        at(p, MOMENT)
        p.tab("channels")
        assert text(p, "[data-phi='swiss']") == "8.0"
        row = text(p, "#channels-table tr[data-channel='swiss']")
        assert "open" in row and "suspect_peer" in row and "Asia/Tehran" in row
        assert text(p, "#pending-priority [data-priority='IMMEDIATE']") == "1"
        assert "Reply overdue" in text(p, "#channel-messages [data-message='swiss-dates']")
        screenshot(p, "demo-channels", docs="channels")
        for view in ("timeline", "sources"):
            p.tab(view)
            screenshot(p, f"demo-{view}", docs=view)
        p.tab("map")
        assert p.page.locator("#marks circle.hit").count() == 42  # 1 + 41 events crossed it
        assert "beirut-500" in text(p, "#map-marks")
        p.page.click("[data-region=me]")
        screenshot(p, "demo-map", docs="map")
        # Live: the last forecast before the question resolved names what moved it.
        at(p, None)
        p.tab("map")
        named = p.page.locator("#map-marks [data-nearby]").first
        assert "moves the forecast of ‘Will the US–Iran meeting" in (named.text_content() or "")
        assert p.page.locator("#marks circle.nearby").count() > 0
        p.page.uncheck("#layer-nearby")
        assert p.page.get_attribute("#marks [data-layer=nearby]", "visibility") == "hidden"
        assert p.errors == [] and p.outside == [], (p.errors, p.outside)


def test_an_acknowledged_alert_shows_in_the_feed_and_is_one_record(
    browser: Any, server: Server
) -> None:
    alert = "alert:channels:overdue:swiss-dates"
    with open_page(browser, server.url) as p:
        at(p, None)
        item = f"#alert-list li[data-alert='{alert}']"
        assert p.page.locator(f"{item} .ack").count() == 0
        p.page.click(f"{item} button.ack-button")
        p.page.wait_for_selector(f"{item} .ack")
        shown = text(p, f"{item} .ack")
        assert shown.startswith("✓ acknowledged by washington at 20")
        assert p.page.locator(f"{item} button.ack-button").count() == 0  # once
        screenshot(p, "demo-alerts", docs="alerts")
        assert p.errors == [] and p.outside == [], (p.errors, p.outside)
    # The log holds it once, by the room's one user (the site), in the alert's compartment.
    again = sitroom("alerts", "ack", alert, "-w", str(server.room))
    assert again.returncode == 0 and "already acknowledged" in again.stdout, again.stderr
    listed = sitroom("alerts", "-w", str(server.room), "--json")
    (shown,) = [a for a in json.loads(listed.stdout)["alerts"] if a["id"] == alert]
    assert [a["by"] for a in shown["acknowledged"]] == ["washington"]
    record = f"alert.ack:washington:{alert}"
    held = httpx.get(f"{server.url}/records", params={"id": record}).json()["records"]
    assert [(r["kind"], r["payload"], r["compartment"]) for r in held] == [
        ("alert.ack", {"alert": alert, "by": "washington"}, "")
    ]
