"""The README's "Using it" block runs as written, top to bottom, as a new user would run it from a
clone: each command exits 0, or the code its comment gives (`# exit 4`). The two URLs it names
are served from a local server (GDELT's lastupdate list of a real export shipped in the package,
and a real RSS file of the tests'), and the fingerprint tehran's operator would read out is read
from tehran's own keys."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sitroom.testing.samples import GDELT_V2_FILES

from helpers import bare_env

ROOT = Path(__file__).resolve().parents[1]
GDELT_URL = "http://data.gdeltproject.org/gdeltv2/lastupdate.txt"
RSS_URL = "https://feeds.bbci.co.uk/news/world/middle_east/rss.xml"
SITROOM = f"{sys.executable} -m sitroom"


def block() -> list[str]:
    """The commands of the README's "Using it" block, continuation lines joined."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Using it", 1)[1]
    body = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    """A local server: GDELT's lastupdate list of one real export, and an RSS feed."""
    root = tmp_path / "web"
    (root / "gdeltv2").mkdir(parents=True)
    export = next(p for p in GDELT_V2_FILES if p.name.startswith("20191024"))
    archive = root / "gdeltv2" / f"{export.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(export, export.name)
    shutil.copy(ROOT / "tests" / "fixtures" / "rss" / "wire.rss.xml", root / "feed.xml")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    base = f"http://127.0.0.1:{server.server_address[1]}"
    data = archive.read_bytes()
    (root / "gdeltv2" / "lastupdate.txt").write_text(
        f"{len(data)} {hashlib.md5(data).hexdigest()} {base}/gdeltv2/{archive.name}\n"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


def _wait_listening(command: str, timeout: float = 60.0) -> None:
    """A desk or relay started in the background takes its port before the next line runs:
    on a loaded machine its start-up can outlast the next command's retries."""
    found = re.search(r"--listen (\S+):(\d+)", command)
    if found is None:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((found.group(1), int(found.group(2))), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {found.group(1)}:{found.group(2)}: {command}")


def test_the_block_names_every_example_it_uses() -> None:
    named = set(re.findall(r"examples/([\w.-]+)", "\n".join(block())))
    assert named and all((ROOT / "examples" / n).is_file() for n in named), named


@pytest.mark.slow
def test_the_using_it_block_runs_as_written(tmp_path: Path, web: str) -> None:
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", work / "examples")
    env = bare_env(SITROOM_PASSPHRASE="correct horse battery staple")
    background: list[subprocess.Popen[bytes]] = []
    outputs: dict[str, str] = {}
    try:
        for line in block():
            command = line.split("  #", 1)[0].strip()
            if command.startswith("export "):
                name, value = command.removeprefix("export ").split("=", 1)
                env[name] = value
                continue
            for site, ws in (("TEHRAN", "tehran"), ("WASHINGTON", "room")):
                if f"${site}_FP" in command:  # read out by the site's owner, from its own keys
                    keys = subprocess.run(
                        [*SITROOM.split(), "keys", "-w", ws, "--json"],
                        cwd=work, env=env, capture_output=True, text=True, check=True,
                    )  # fmt: skip
                    (own,) = [i for i in json.loads(keys.stdout)["identities"]
                              if i["name"] == site.lower()]  # fmt: skip
                    env[f"{site}_FP"] = own["fingerprint"]
            command = command.replace(GDELT_URL, f"{web}/gdeltv2/lastupdate.txt")
            command = command.replace(RSS_URL, f"{web}/feed.xml")
            command = re.sub(r"(^|&& )sitroom ", rf"\g<1>{SITROOM} ", command)
            if command.endswith("&"):
                background.append(
                    subprocess.Popen(
                        ["bash", "-c", command.rstrip("&").strip()],
                        cwd=work,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                _wait_listening(command)  # as its user waits for "listening on"
                continue
            done = subprocess.run(
                ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True
            )
            expected = re.search(r"#\s*exit (\d+)", line)  # a line that says its exit code
            code = int(expected.group(1)) if expected else 0
            assert done.returncode == code, f"{line}\n{done.stdout}\n{done.stderr}"
            assert "Traceback" not in done.stderr, line
            outputs[line] = done.stdout
    finally:
        for p in background:
            p.terminate()
            p.wait(timeout=30)

    said = "\n".join(outputs.values())
    assert "DEADLOCK" in said  # tracks check explains the knot in words
    assert "geneva-1: acked" in said  # the far end's desk acknowledged the FLASH message
    assert "VERIFIED: every party signed exactly this text" in said  # offline
    assert "OK: every record is as written" in said
    assert (work / "calendars").is_dir() and (work / "plots" / "reliability.png").is_file()
