"""`sitroom report`: one self-contained HTML page (well-formed, every section under its id, no
script, nothing fetched, what users wrote escaped), Markdown with its plots beside it, a PDF
where Chromium is installed (one line where it is not), --json, and every mistake one line and
exit 2 before any work."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sitroom.adapters.aar_pdf import converter

from helpers import PASS, crisis_room, sitroom

FROM, TO = "2026-11-25T00:00:00Z", "2026-11-25T10:00:00Z"
SECTIONS = {
    "timeline": "Timeline of what was known when",
    "alerts": "Alerts",
    "forecasts": "Forecasts over time",
    "decisions": "Decisions and channel events",
    "tracks": "Tracks",
    "reproduce": "Reproduce this report",
}
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return crisis_room(tmp_path_factory.mktemp("aar-cli") / "room")


@pytest.fixture
def room(built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    monkeypatch.delenv("SITROOM_USER", raising=False)
    return built


class Page(HTMLParser):
    """Tags must close in order; what each id'd section's heading says; every src/href."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()
        self.links: list[str] = []
        self.ids: dict[str, str] = {}
        self._heading_of: str | None = None
        self._section: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            if found.get(name) is not None:
                self.links.append(str(found[name]))
        if tag in ("section", "footer", "header") and found.get("id"):
            self._section = str(found["id"])
        if tag in ("h2",) and self._section:
            self._heading_of = self._section
            self.ids[self._section] = ""
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value is not None:
                self.links.append(value)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            return
        self.open.pop()
        if tag == "h2":
            self._heading_of = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading_of is not None:
            self.ids[self._heading_of] += data


def parsed(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    return page


def test_the_html_report_is_one_well_formed_self_contained_page(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aar.html"
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", "--from", FROM, "--to", TO,
                "-o", str(out))  # fmt: skip
    assert r.code == 0, r.err
    assert f"wrote {out}" in r.out
    text = out.read_text()
    page = parsed(text)
    assert page.problems == [] and page.open == []
    assert {k: v.strip() for k, v in page.ids.items()} == SECTIONS
    assert "script" not in page.tags
    assert all(link.startswith(("#", "data:")) for link in page.links), page.links
    assert "svg" in page.tags and "@media print" in text
    # Namespace names are URLs that nothing fetches; no other URL is on the page.
    assert not re.search(r"https?://", re.sub(r'xmlns(:\w+)?="[^"]*"', "", text))
    # What users wrote is text, not markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    words = "".join(page.text)
    assert "Will the <script>alert(1)</script> meeting take place?" in words
    # The header, an alert's evidence and its delay, a track's history, the command.
    assert "washington" in words and "alice" in words
    assert "Reply overdue from Tehran to m-1" in words and "send:m-1" in words
    assert "6h 0m" in words  # fired six hours after the message it waited on
    assert "us-iran → postponed" in words
    assert f"sitroom report -w {room} -u alice --from {FROM} --to {TO} -o {out}" in words


def test_markdown_has_the_same_sections_and_its_plots_beside_it(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aar.md"
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", "--to", TO, "-o", str(out),
                "--json")  # fmt: skip
    assert r.code == 0, r.err
    body = r.json()
    plot = tmp_path / "aar-forecast-1.svg"
    assert [f["format"] for f in body["files"]] == ["svg", "md"]
    assert body["files"][0]["path"] == str(plot) and plot.read_text().startswith("<svg")
    assert body["user"] == "alice" and body["window"] == {"from": None, "to": TO}
    assert body["sections"]["alerts"] == 5 and body["sections"]["tracks"] == 2
    text = out.read_text()
    for heading in SECTIONS.values():
        assert f"\n## {heading}\n" in text
    assert "](aar-forecast-1.svg)" in text
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_a_user_not_cleared_for_a_track_sees_nothing_of_it(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dana.html"
    r = sitroom(capfd, "report", "-w", str(room), "-u", "dana", "--to", TO, "-o", str(out))
    assert r.code == 0, r.err
    words = "".join(parsed(out.read_text()).text)
    for secret in ("us-iran", "US–Iran", "Tehran", "talks", "m-1"):
        assert secret not in words, secret
    assert "ceasefire → agreed" in words
    # Alerts about us-iran are in its compartment or a joint one: none is even withheld.
    assert "not shown: they name tracks" not in words


def test_records_outside_the_window_are_not_in_the_report(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "part.html"
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", "--from",
                "2026-11-25T05:00:00Z", "--to", "2026-11-25T08:30:00Z", "-o", str(out))  # fmt: skip
    assert r.code == 0, r.err
    words = "".join(parsed(out.read_text()).text)
    assert "Reply overdue from Tehran to m-1" in words  # 07:00
    assert "us-iran → postponed" not in words  # 09:00
    assert "question talks" not in words  # 02:00
    assert "agreement terms" not in words  # 09:00


@pytest.mark.skipif(converter() is None, reason="no headless Chromium here")
def test_a_pdf_is_printed_by_chromium(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aar.html"
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", "--to", TO, "-o", str(out),
                "--pdf", "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert [f["format"] for f in r.json()["files"]] == ["html", "pdf"]
    assert (tmp_path / "aar.pdf").read_bytes().startswith(b"%PDF-")


def test_without_a_converter_a_pdf_is_one_line_and_exit_2(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SITROOM_CHROMIUM", raising=False)
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", "-o", str(tmp_path / "a.pdf"))
    assert r.code == 2
    assert r.err.count("\n") == 1 and "no PDF converter found" in r.err
    assert not (tmp_path / "a.pdf").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-o", "{tmp}/aar.txt"], "cannot tell the report format of aar.txt"),
        (["-o", "{tmp}/aar.html", "--format", "docx"], "unknown report format 'docx'"),
        (["-o", "{tmp}/aar.html", "--from", FROM, "--to", "2026-11-24"], "is after --to"),
        (["-o", "{tmp}/missing/aar.html"], "no such folder"),
        (["-o", "{room}/sitroom.db", "--format", "html"], "will not write"),
        (["-o", "{room}/keys/aar.html"], "will not write"),
        (["-o", "{tmp}/aar.html", "--from", "yesterday-ish"], "cannot read time"),
    ],
)
def test_a_mistake_is_one_line_and_exit_2(
    room: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    log = (room / "sitroom.db").read_bytes()
    typed = [a.format(tmp=tmp_path, room=room) for a in args]
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", *typed)
    assert r.code == 2, r.err
    assert r.err.count("\n") == 1 and says in r.err and "Traceback" not in r.err
    assert (room / "sitroom.db").read_bytes() == log
    assert not list(tmp_path.glob("aar*"))


def test_json_errors_have_the_one_shape(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    r = sitroom(capfd, "report", "-w", str(room), "-u", "alice", "-o", str(tmp_path / "x.doc"),
                "--json")  # fmt: skip
    assert r.code == 2
    assert json.loads(r.out)["error"]["exit_code"] == 2
