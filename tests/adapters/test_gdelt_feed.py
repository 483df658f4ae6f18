"""The live GDELT feed, against a local HTTP server serving the real files (never the internet)."""

from __future__ import annotations

import contextlib
import http.server
import io
import mmap
import threading
import zipfile
from pathlib import Path

import httpx
import pytest

from sitroom.adapters import inputs
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.errors import SourceError

from conftest import V2_FILES
from feeds import Feed, feed
from helpers import sitroom

__all__ = ["feed"]  # a fixture


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:
    assert sitroom(capfd, "init", "-w", str(tmp_path / "ws")).code == 0
    return str(tmp_path / "ws")


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_polling_lastupdate_ingests_each_new_export_once(
    feed: Feed, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    feed.publish(V2_FILES[0])
    first = sitroom(capfd, "ingest", "gdelt", "-w", ws, feed.lastupdate, "--json")
    assert first.code == 0, first.err
    assert first.json()["totals"]["accepted"] == lines(V2_FILES[0])
    again = sitroom(capfd, "ingest", "gdelt", "-w", ws, feed.lastupdate, "--json").json()
    assert again["totals"]["accepted"] == 0  # re-polling adds nothing
    feed.publish(V2_FILES[1])  # fifteen minutes later...
    nxt = sitroom(capfd, "ingest", "gdelt", "-w", ws, feed.lastupdate, "--json").json()
    assert nxt["totals"]["accepted"] == lines(V2_FILES[1])
    assert nxt["files"][0]["input"].endswith(
        "20190121220000.export.CSV.zip!20190121220000.export.CSV"
    )


def test_follow_polls_repeatedly(feed: Feed, ws: str, capfd: pytest.CaptureFixture[str]) -> None:
    feed.publish(V2_FILES[2])
    r = sitroom(
        capfd,
        "ingest",
        "gdelt",
        "-w",
        ws,
        feed.lastupdate,
        "--follow",
        "--polls",
        "3",
        "--interval",
        "10ms",
        "--json",
    )
    assert r.code == 0, r.err
    files = r.json()["files"]
    assert [f["accepted"] for f in files] == [lines(V2_FILES[2]), 0, 0]


def test_a_download_that_fails_its_md5_is_refused(
    feed: Feed, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    feed.publish(V2_FILES[0], corrupt=True)
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, feed.lastupdate)
    assert r.code == 1 and "md5" in r.err and len(r.err.strip().splitlines()) == 1
    state = sitroom(capfd, "state", "-w", ws, "--json").json()
    assert "gdelt.event" not in state["by_kind"]


def test_unreachable_and_missing_urls_are_one_line(
    feed: Feed, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, f"{feed.base}/nothing.export.CSV.zip")
    assert r.code == 1 and "HTTP 404" in r.err
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, "http://127.0.0.1:9/lastupdate.txt")
    assert r.code == 1 and "ConnectError" in r.err and "Traceback" not in r.err


def test_a_zip_file_on_disk(tmp_path: Path, ws: str, capfd: pytest.CaptureFixture[str]) -> None:
    z = tmp_path / "x.export.CSV.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.write(V2_FILES[0], V2_FILES[0].name)
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, str(z), "--json").json()
    assert r["totals"]["accepted"] == lines(V2_FILES[0])
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    r2 = sitroom(capfd, "ingest", "gdelt", "-w", ws, str(bad))
    assert r2.code == 1 and "not a valid zip" in r2.err


def test_follow_survives_a_failed_poll(
    feed: Feed, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """With --follow a failed poll is a warning, and the next poll takes the file."""
    missing = f"{feed.base}/20191024143000.export.CSV.zip"
    (feed.root / "lastupdate.txt").write_text(f"1 {'0' * 32} {missing}\n")
    capfd.readouterr()

    def publish_after_first_poll() -> None:
        import time

        time.sleep(0.3)
        feed.publish(V2_FILES[2])

    threading.Thread(target=publish_after_first_poll, daemon=True).start()
    args = f"ingest gdelt -w {ws} {feed.lastupdate} --follow --polls 2 --interval 1s --json"
    r = sitroom(capfd, *args.split())
    assert r.code == 0, r.err
    out = r.json()
    assert len(out["failed_polls"]) == 1 and "HTTP 404" in out["failed_polls"][0]
    assert out["totals"]["accepted"] == lines(V2_FILES[2])
    assert "warning: poll 1" in r.err


def test_follow_reports_a_silent_feed_when_it_becomes_overdue(
    feed: Feed, ws: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between polls the follower wakes when the feed becomes overdue, not at the next poll.
    A grace of -0.999 makes GDELT's 15-minute cadence due after 0.9 s instead of 30 minutes."""
    monkeypatch.setenv("SITROOM_OVERDUE_GRACE", "-0.999")
    feed.publish(V2_FILES[0])
    args = f"ingest gdelt -w {ws} {feed.lastupdate} --follow --polls 2 --interval 2s --json"
    r = sitroom(capfd, *args.split())
    assert r.code == 0, r.err
    assert r.err.count("gdelt-v2 is overdue") == 1  # raised once, before the second poll
    alerts = sitroom(capfd, "alerts", "-w", ws, "--json").json()["alerts"]
    (alert,) = [a for a in alerts if a["detector"] == "source-overdue"]
    assert 0 <= alert["detail"]["late_ms"] < 500  # raised when due, not at the next poll


@pytest.mark.parametrize(
    ("text", "lines"), [(b"a\nb\nc", 3), (b"a\nb\nc\n", 3), (b"\n\n", 2), (b"", 0)]
)
def test_a_local_file_is_mapped_and_its_lines_counted(
    tmp_path: Path, text: bytes, lines: int
) -> None:
    path = tmp_path / "x.export.CSV"
    path.write_bytes(text)
    (inp,) = gdelt.open_inputs(str(path))
    assert bytes(inp.data) == text
    assert isinstance(inp.data, mmap.mmap) == bool(text)  # an empty file cannot be mapped
    assert inputs.count_lines(inp, window=2) == lines  # windows split lines: still exact


def test_follow_goes_on_when_a_question_resolves_between_polls(
    feed: Feed, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A question whose window closes is resolved by the follower's tick: a derived record,
    not an alert (it was read as one: KeyError 'title', and the follower died)."""
    feed.publish(V2_FILES[0])
    ask = "questions add -w {} Nine-near-Beirut --id b1s --threshold 9 --near Beirut --window 1s"
    asked = sitroom(capfd, *ask.format(ws).split())
    assert asked.code == 0, asked.err
    args = f"ingest gdelt -w {ws} {feed.lastupdate} --follow --polls 2 --interval 2s --json"
    r = sitroom(capfd, *args.split())
    assert r.code == 0, r.err
    assert r.json()["polls"] == 2 and not [a for a in r.json()["alerts"] if "b1s" in a["id"]]
    (q,) = sitroom(capfd, "questions", "-w", ws, "--json").json()["questions"]
    assert (q["id"], q["status"]) == ("b1s", "no")  # resolved, on no events near Beirut


class _Big(http.server.BaseHTTPRequestHandler):
    """Ten megabytes that say so (``/sized``), or a body that never ends and says nothing of
    its length (``/endless``): only a limit stops the read. The client hanging up is expected."""

    def do_GET(self) -> None:
        self.send_response(200)
        if self.path.startswith("/sized"):
            self.send_header("Content-Length", str(10_000_000))
        self.end_headers()
        block = b"\n" * 65536
        sized = self.path.startswith("/sized")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(10_000_000 // len(block)) if sized else iter(int, 1):
                self.wfile.write(block)

    def finish(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ValueError):
            super().finish()

    def log_message(self, *args: object) -> None:
        """Quiet."""


def test_a_download_past_the_limit_is_refused_at_the_limit(
    ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        toml = Path(ws) / "sitroom.toml"
        kept = [x for x in toml.read_text().splitlines() if not x.startswith("ingest_max_bytes")]
        toml.write_text("\n".join([*kept, "ingest_max_bytes = 100000"]) + "\n")
        r = sitroom(capfd, "ingest", "gdelt", "-w", ws, f"{base}/sized.export.CSV")
        assert r.code == 1 and r.err.strip().splitlines() == [
            f"sitroom: error: {base}/sized.export.CSV is larger than 100,000 bytes, the most one "
            "input may hold (setting ingest_max_bytes); refused"
        ]
        with (
            httpx.Client(timeout=10) as client,
            pytest.raises(SourceError, match=r"endless.CSV is larger than 1,000,000 bytes"),
        ):
            inputs.fetch(client, f"{base}/endless.CSV", max_bytes=1_000_000)
    finally:
        server.shutdown()
        server.server_close()


def test_an_archive_member_is_expanded_to_a_mapped_file_and_refused_past_the_limit() -> None:
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    got = inputs.spool(io.BytesIO(data), "a.zip!a.CSV", max_bytes=len(data))
    assert isinstance(got, mmap.mmap) and got[:] == data
    with pytest.raises(SourceError) as refused:
        inputs.spool(io.BytesIO(data), "a.zip!a.CSV", max_bytes=len(data) - 1)
    assert str(refused.value) == (
        "a.zip!a.CSV expands to more than 1,023,999 bytes, the most one input may hold "
        "(setting ingest_max_bytes); refused"
    )


def test_the_members_of_an_archive_together_are_held_to_the_limit(tmp_path: Path) -> None:
    """Ten members of a megabyte each, every one under the limit of 5 MB: ingest opens all of
    a spec's inputs before reading any, so together they are one input, refused at the limit."""
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(10):
            z.writestr(f"{i}.export.CSV", b"\n" * 1_000_000)
    with pytest.raises(SourceError) as refused:
        list(gdelt.open_inputs(str(path), max_bytes=5_000_000))
    assert str(refused.value) == (
        f"{path} expands to more than 5,000,000 bytes, the most one input may hold "
        "(setting ingest_max_bytes); refused"
    )
    assert len(list(gdelt.open_inputs(str(path), max_bytes=10_000_000))) == 10
