"""The dashboard in a real Chromium: Debian's, driven by Playwright (never a browser of
Playwright's own), against `sitroom serve` in its own process on a loopback port. Every request
to another host is aborted and counted; console errors are collected."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from helpers import PASS, bare_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
]
ARTEFACTS = ROOT / "tests" / "artefacts" / "dashboard"
DOCS_IMG = ROOT / "docs" / "img"
ACLED_HEADER = (ROOT / "examples" / "acled-export.csv").read_text().splitlines()[0]


def env() -> dict[str, str]:
    e = bare_env(SITROOM_PASSPHRASE=PASS)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), e.get("PYTHONPATH", "")])
    return e


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    room: Path
    logged: list[str] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, user: str) -> httpx.Client:
        r = httpx.post(f"{self.url}/auth/login", json={"user": user, "passphrase": PASS})
        assert r.status_code == 201, r.text
        c = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=30
        )
        self.clients.append(c)
        return c


@contextmanager
def serve(room: Path) -> Iterator[Server]:
    """`sitroom serve -w ROOM` on a free loopback port, until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitroom", "serve", "-w", str(room), "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise AssertionError(f"the server did not start: {line!r} {proc.stderr.read()!r}")
    server = Server(proc, line.split()[2], room)
    err = proc.stderr
    drain = threading.Thread(target=lambda: server.logged.extend(err), daemon=True)
    drain.start()  # a log line per request would otherwise fill the pipe and stall it
    try:
        yield server
    finally:
        for c in server.clients:
            c.close()
        proc.terminate()
        proc.wait(30)
        drain.join(10)
        proc.stdout.close()
        err.close()


def sitroom(*args: str) -> subprocess.CompletedProcess[str]:
    """A sitroom command as a user types it (through the server that holds the room)."""
    return subprocess.run(
        [sys.executable, "-m", "sitroom", *args],
        capture_output=True, text=True, timeout=120, env=env(), stdin=subprocess.DEVNULL,
    )  # fmt: skip


def acled_row(event_id: str, lat: float, lon: float, fatalities: int, day: str) -> str:
    """One ACLED export row (an invented event, marked so in its notes)."""
    cells = {name: "" for name in ACLED_HEADER.split(",")}
    cells.update(
        event_id_cnty=event_id, event_date=day, year=day[:4], time_precision="1",
        disorder_type="Political violence", event_type="Explosions/Remote violence",
        sub_event_type="Air/drone strike", actor1="Military Forces of Israel (2022-)",
        inter1="External/Other forces", iso="422", region="Middle East", country="Lebanon",
        admin1="Beirut", location="Beirut", latitude=str(lat), longitude=str(lon),
        geo_precision="1", source="Test", notes="[Invented for a test] a strike near Beirut",
        fatalities=str(fatalities), timestamp="1795400000",
    )  # fmt: skip
    return ACLED_HEADER + "\n" + ",".join(cells.values()) + "\n"


@dataclass
class Page:
    """A Chromium page on the dashboard: what it asked of other hosts, its console errors,
    and the bodies of the server's answers."""

    page: Any
    url: str
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)

    def login(self, user: str) -> None:
        self.page.goto(self.url + "/")
        self.page.fill("#login-user", user)
        self.page.fill("#login-pass", PASS)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("#dash:not([hidden])")
        self.settle()

    def settle(self) -> None:
        """Until every view has been drawn once since now."""
        self.page.wait_for_selector("body[data-refreshed]", state="attached")

    def tab(self, name: str) -> None:
        self.page.click(f"#tab-{name}")
        self.page.wait_for_selector(f"#panel-{name}:not([hidden])")


# Per module, not per session: each test module imports the fixture (there is no conftest.py
# here), and two session-scoped copies would start Playwright twice at once.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `sh scripts/test-deps.sh` (the README's "
                    "test command does)")  # fmt: skip
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@contextmanager
def open_page(browser: Any, url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    page = context.new_page()
    p = Page(page, url)
    host = urlsplit(url).netloc

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc == host:
            r.continue_()
        else:
            p.outside.append(r.request.url)
            r.abort()

    def answered(response: Any) -> None:
        if urlsplit(response.url).netloc == host and "json" in (
            response.headers.get("content-type") or ""
        ):
            with contextlib.suppress(Exception):  # a body the page no longer holds
                p.bodies.append(response.text())

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and p.errors.append(m.text))
    page.on("pageerror", lambda e: p.errors.append(str(e)))
    page.on("response", answered)
    try:
        yield p
    finally:
        context.close()


def screenshot(p: Page, name: str, *, docs: str | None = None) -> Path:
    """The page as it shows, saved with the test run's artefacts; with ``docs`` and
    SITROOM_SCREENSHOTS=docs, also as docs/img/dashboard-DOCS.png (the README's pictures, from
    the demo's room), made small: a 1280-wide copy in at most 256 colours."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    p.page.screenshot(path=str(path))
    if docs is not None and os.environ.get("SITROOM_SCREENSHOTS") == "docs":
        from PIL import Image

        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as shot:
            small = shot.convert("RGB").resize((1280, round(shot.height * 1280 / shot.width)))
            small.quantize(256).save(DOCS_IMG / f"dashboard-{docs}.png", optimize=True)
    print(f"screenshot: {path}")
    return path
