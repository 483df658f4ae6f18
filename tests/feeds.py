"""A GDELT-like feed on localhost: a directory served over HTTP, laid out like
data.gdeltproject.org/gdeltv2 (never the internet). Use the ``feed`` fixture by importing it."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest


class Feed:
    """A directory served over HTTP on localhost, laid out like data.gdeltproject.org/gdeltv2."""

    def __init__(self, root: Path, base: str) -> None:
        self.root, self.base = root, base

    def publish(self, export: Path, *, corrupt: bool = False) -> None:
        name = export.name + ".zip"
        with zipfile.ZipFile(self.root / name, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(export, export.name)
        data = (self.root / name).read_bytes()
        md5 = hashlib.md5(data + (b"x" if corrupt else b"")).hexdigest()
        stamp = export.name.split(".")[0]
        (self.root / "lastupdate.txt").write_text(
            f"{len(data)} {md5} {self.base}/{name}\n"
            f"12345 {'0' * 32} {self.base}/{stamp}.mentions.CSV.zip\n"
            f"67890 {'1' * 32} {self.base}/{stamp}.gkg.csv.zip\n"
        )

    @property
    def lastupdate(self) -> str:
        return f"{self.base}/lastupdate.txt"


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[Feed]:
    root = tmp_path / "gdeltv2"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Feed(root, f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """Keep the test output clean: the server's access log is not needed."""
