"""First paint and time to interactive of the dashboard, in Debian's Chromium driven by
Playwright, on the demo workspace (``sitroom.demo.run``: the seed's case, no users) and on a
room holding many events, against a bare page served by the same server in the same run; and
the time of the map's and the timeline's reads alone (``GET /map``, ``GET /map?as_of=`` the
moment the log held half its records, ``GET /timeline``), served.

The large room's events are GDELT 2.0 rows resampled from the real files (_data.py), ingested
through the bulk path. "Interactive" is when every view has drawn its first answer (the page
marks ``body[data-refreshed]``); the map ships cell counts, never points, and reads them from
the ``map`` projection, so neither should grow with the events held. Each figure is the median
of ``--runs`` fresh page loads (``--reads`` requests for the reads alone, after one to warm).

    python bench/dashboard_paint.py [--events 1000000] [--runs 3] [--reads 5]
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
import sitroom.demo
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.application.ingest import declare, ingest
from sitroom.domain import hlc
from sitroom.domain.timeutil import iso
from sitroom.service import Service

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


def load(browser: Any, url: str, *, dashboard: bool, token: str | None) -> dict[str, float]:
    """One fresh page load, logged in already (its token in sessionStorage, as after the
    login form; the demo's room has no users, and needs none): first contentful paint and time
    to interactive, in ms."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    if token is not None:
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


def halfway(path: Path, user: str | None) -> str:
    """The moment the log of ``path`` held half its records: where the as-of map is read."""
    with sitroom.open(path, user=user, proof=PASS if user else None) as r:
        half = r.session.last_seq() // 2
        (record,) = r.session.records(after_seq=half - 1, upto_seq=half)
    assert record.recorded_time is not None
    return str(iso(hlc.wall_ms(record.recorded_time)))


def reads(url: str, token: str | None, n: int, middle: str) -> dict[str, float]:
    """Median ms of each of the map's and the timeline's reads alone, over ``n`` requests
    after one that warms (the live states restored, the basemap cached), and the cells shipped.
    The as-of map is read as of ``middle``, as the slider would ask."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
        asks = {
            "map": ("/map", {"cell": 1}),
            "map as of": ("/map", {"cell": 1, "as_of": middle}),
            "timeline": ("/timeline", {"buckets": 96}),
        }
        out: dict[str, float] = {}
        for name, (path, params) in asks.items():
            times = []
            for _ in range(n + 1):
                t0 = time.perf_counter()
                r = client.get(path, params=params)
                times.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, r.text
            out[name] = statistics.median(times[1:])
            if path == "/map":
                out[f"{name} cells"] = len(r.json()["cells"])
                out[f"{name} events"] = r.json()["events"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reads", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        sitroom.demo.run(work / "demo")
        t0 = time.perf_counter()
        large_room(work / "large", args.events)
        print(f"built a room of {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        middle = {"demo": halfway(work / "demo", None), "large": halfway(work / "large", "bench")}
        figures: dict[str, dict[str, float]] = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for name in ("demo", "large"):
                service, thread = serving(work / name)
                try:
                    assert service.url is not None
                    token = None
                    if name == "large":
                        login = {"user": "bench", "passphrase": PASS}
                        answer = httpx.post(f"{service.url}/auth/login", json=login, timeout=600)
                        token = answer.json()["token"]
                    load(
                        browser, service.url + "/", dashboard=True, token=token
                    )  # warm: the basemap cached
                    bare = [load(browser, service.url + "/bench/bare", dashboard=False, token=token)
                            for _ in range(args.runs)]  # fmt: skip
                    dash = [load(browser, service.url + "/", dashboard=True, token=token)
                            for _ in range(args.runs)]  # fmt: skip
                    alone = reads(service.url, token, args.reads, middle[name])
                finally:
                    service.stop()
                    thread.join(60)
                figures[name] = {
                    "bare fcp": median(bare, "fcp"),
                    "bare tti": median(bare, "tti"),
                    "fcp": median(dash, "fcp"),
                    "tti": median(dash, "tti"),
                    **alone,
                }
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'room':<7}{'bare FCP':>9}{'bare TTI':>9}{'FCP':>7}{'TTI':>7}"
          f"{'/map':>8}{'as of':>8}{'/timeline':>10}  (ms, median)")  # fmt: skip
    for name, f in figures.items():
        print(f"{name:<7}{f['bare fcp']:>9.0f}{f['bare tti']:>9.0f}{f['fcp']:>7.0f}{f['tti']:>7.0f}"
              f"{f['map']:>8.1f}{f['map as of']:>8.1f}{f['timeline']:>10.1f}")  # fmt: skip
    for name, f in figures.items():
        mid = f"{f['map as of events']:,.0f} in {f['map as of cells']:,.0f}"
        print(f"{name}: {f['map events']:,.0f} events on the map in {f['map cells']:,.0f} cells "
              f"(as of the log's halfway moment: {mid})")  # fmt: skip
    for name, f in figures.items():
        print(f"ratio FCP dashboard / bare ({name}): {f['fcp'] / max(f['bare fcp'], 1):.2f}")
        print(f"ratio TTI dashboard / bare ({name}): {f['tti'] / max(f['bare tti'], 1):.2f}")
    d, big = figures["demo"], figures["large"]
    print(f"ratio TTI {args.events:,} events / demo: {big['tti'] / max(d['tti'], 1):.2f}")
    for read in ("map", "map as of", "timeline"):
        print(f"ratio {read} {args.events:,} events / demo: {big[read] / max(d[read], 0.1):.2f}")


if __name__ == "__main__":
    main()
