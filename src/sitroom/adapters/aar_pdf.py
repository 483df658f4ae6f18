"""The after-action report as PDF, printed from its HTML page by a headless Chromium where one
is installed (``$SITROOM_CHROMIUM``, else ``chromium``, ``chromium-browser``, ``google-chrome``
on the PATH). Nothing else is a converter: without one, one line says so.

Chromium runs with a profile of its own in a temporary folder (never the user's), no network
to speak of (the page fetches nothing), and is given two minutes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sitroom.adapters.outputs import atomic
from sitroom.domain.wording import said
from sitroom.errors import UserInputError

CHROMIUM_ENV = "SITROOM_CHROMIUM"
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 120


def converter() -> str | None:
    """The headless browser that prints PDFs here, or None."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if os.access(given, os.X_OK) else None
    return next((found for n in NAMES if (found := shutil.which(n))), None)


def require_converter() -> str:
    found = converter()
    if found is None:
        raise UserInputError(
            "no PDF converter found: install Chromium (chromium on the PATH, or "
            f"${CHROMIUM_ENV}), or write .html and print it from a browser"
        )
    return found


def write_pdf(html: str, path: Path) -> int:
    """Print ``html`` to ``path`` (written whole or not at all); its size in bytes."""
    browser = require_converter()
    with tempfile.TemporaryDirectory(prefix="sitroom-aar-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        pdf = Path(tmp) / "report.pdf"
        args = [
            browser,
            "--headless",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses root without it
        try:
            done = subprocess.run(
                args, capture_output=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UserInputError(f"the PDF converter {browser} failed: {said(e)}") from None
        if done.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            why = said(lines[-1] if lines else f"exit {done.returncode}")
            raise UserInputError(f"the PDF converter {browser} made no PDF: {why}")
        data = pdf.read_bytes()
    with atomic(path) as f:
        f.write(data)
    return len(data)
