"""First paint and time to interactive of the dashboard, in Debian's Chromium driven by
Playwright, on a room holding the shipped samples and on one holding many events, against a
bare page served by the same server in the same run.

The large room's events are GDELT 2.0 rows resampled from the real files (_data.py), ingested
through the bulk path. "Interactive" is when every view has drawn its first answer (the page
marks ``body[data-refreshed]``); the map ships cell counts, never points, so it should not grow
with the events held. Each figure is the median of ``--runs`` fresh page loads.

    python bench/dashboard_paint.py [--events 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.responses import HTMLResponse

import sitroom
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.application.ingest import declare, ingest
from sitroom.service import Service
from sitroom.testing.samples import GDELT_V2_FILES, UCDP_FILE

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import resampled_v2

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]
BARE = (
    "<!doctype html><html lang=en><title>bare</title><link rel=icon href='data:,'>"
    "<body><p>bare page</p></body></html>"
)
PAINT = """async () => {
  const fcp = await Promise.race([
    new Promise((ok) => new PerformanceObserver((l) => {
      const e = l.getEntries().find((x) => x.name === "first-contentful-paint");
      if (e) ok(e.startTime);
    }).observe({type: "paint", buffered: true})),
    new Promise((ok) => setTimeout(() => ok(null), 3000)),
  ]);
  const nav = performance.getEntriesByType("navigation")[0];
  return {fcp, dom: nav.domInteractive, now: performance.now()};
}"""


PASS = "bench passphrase"


def samples_room(path: Path) -> None:
    with sitroom.init(path) as r:
        r.users.add("bench", role="admin", passphrase=PASS)
        r.ingest.feeds("gdelt", [str(p) for p in GDELT_V2_FILES])
        r.ingest.feeds("ucdp", [str(UCDP_FILE)])


def large_room(path: Path, events: int) -> None:
    rows = resampled_v2(events)
    with sitroom.init(path) as r:
        r.users.add("bench", role="admin", passphrase=PASS)
        declare(r.engine, gdelt.declarations())
        lookups = load_lookups()
        for inp in gdelt.open_inputs(str(rows)):
            ingest(r.engine, inp.label, gdelt.chunks(inp, lookups))


def serving(path: Path) -> tuple[Service, threading.Thread]:
    service = Service(path, listen="127.0.0.1:0")

    async def bare() -> HTMLResponse:
        return HTMLResponse(BARE)

    service.app.add_api_route("/bench/bare", bare, include_in_schema=False)
    ready = threading.Event()
    thread = threading.Thread(target=lambda: service.run(ready=lambda u: ready.set()), daemon=True)
    thread.start()
    assert ready.wait(60), "the server did not start"
    return service, thread


def load(browser: Any, url: str, *, dashboard: bool, token: str) -> dict[str, float]:
    """One fresh page load, logged in already (its token in sessionStorage, as after the
    login form): first contentful paint and time to interactive, in ms."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    context.add_init_script(f"sessionStorage.setItem('sitroom.token', {token!r})")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url)
    if dashboard:
        page.wait_for_selector("body[data-refreshed]", state="attached", timeout=600_000)
    else:
        page.wait_for_load_state("load")
    done = performance_now(page) if dashboard else None
    t = page.evaluate(PAINT)
    context.close()
    assert not errors, errors
    return {"fcp": t["fcp"] or 0.0, "tti": done if done is not None else t["dom"]}


def performance_now(page: Any) -> float:
    """Milliseconds from navigation to now (just after every view drew)."""
    return float(page.evaluate("() => performance.now()"))


def median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        samples_room(work / "samples")
        t0 = time.perf_counter()
        large_room(work / "large", args.events)
        print(f"built a room of {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        figures: dict[str, dict[str, float]] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for name in ("samples", "large"):
                service, thread = serving(work / name)
                try:
                    assert service.url is not None
                    login = {"user": "bench", "passphrase": PASS}
                    token = httpx.post(f"{service.url}/auth/login", json=login).json()["token"]
                    load(
                        browser, service.url + "/", dashboard=True, token=token
                    )  # warm: the basemap cached
                    bare = [load(browser, service.url + "/bench/bare", dashboard=False, token=token)
                            for _ in range(args.runs)]  # fmt: skip
                    dash = [load(browser, service.url + "/", dashboard=True, token=token)
                            for _ in range(args.runs)]  # fmt: skip
                finally:
                    service.stop()
                    thread.join(60)
                figures[name] = {
                    "bare fcp": median(bare, "fcp"),
                    "bare tti": median(bare, "tti"),
                    "fcp": median(dash, "fcp"),
                    "tti": median(dash, "tti"),
                }
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'room':<10}{'bare FCP':>10}{'bare TTI':>10}{'FCP':>10}{'TTI':>10}  (ms, median)")
    for name, f in figures.items():
        print(f"{name:<10}{f['bare fcp']:>10.0f}{f['bare tti']:>10.0f}{f['fcp']:>10.0f}"
              f"{f['tti']:>10.0f}")  # fmt: skip
    for name, f in figures.items():
        print(f"ratio FCP dashboard / bare ({name}): {f['fcp'] / max(f['bare fcp'], 1):.2f}")
        print(f"ratio TTI dashboard / bare ({name}): {f['tti'] / max(f['bare tti'], 1):.2f}")
    s, big = figures["samples"], figures["large"]
    print(f"ratio TTI {args.events:,} events / samples: {big['tti'] / max(s['tti'], 1):.2f}")


if __name__ == "__main__":
    main()
