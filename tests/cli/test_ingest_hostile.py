"""Hostile and damaged inputs through `sitroom ingest`, on real files (issue 18, items 3 and 7):
an archive that expands past the size limit, a file of newlines, runs of identical bad lines,
a line longer than any row, a refused input that must leave nothing behind, one bad UCDP row,
and dates no source can mean."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import V2_FILES
from helpers import sitroom, sitroom_process

REAL = V2_FILES[0].read_bytes()
REAL_LINES = REAL.count(b"\n")


@pytest.fixture
def ws(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:
    assert sitroom(capfd, "init", "-w", str(tmp_path / "ws")).code == 0
    return str(tmp_path / "ws")


def limit(ws: str, max_bytes: int) -> None:
    """Set the workspace's ingest_max_bytes (init wrote every setting: the line is replaced)."""
    toml = Path(ws) / "sitroom.toml"
    kept = [x for x in toml.read_text().splitlines() if not x.startswith("ingest_max_bytes")]
    toml.write_text("\n".join([*kept, f"ingest_max_bytes = {max_bytes}"]) + "\n")


def state(capfd: pytest.CaptureFixture[str], ws: str) -> dict[str, Any]:
    result = sitroom(capfd, "state", "-w", ws, "--json")
    assert result.code == 0, result.err
    return dict(result.json())


def one_line_refusal(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sitroom: error:") and "Traceback" not in err
    return lines[0]


def zipped(path: Path, member: str, data: bytes) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
    return str(path)


# -- the size limit ------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_zip_that_expands_to_a_gigabyte_is_refused_at_the_limit_in_one_line(
    tmp_path: Path, ws: str
) -> None:
    """A real process, a 4.6 MB zip of one gigabyte of NULs, a 10 MB limit: one line naming
    the member, the limit and the setting; nothing appended."""
    bomb = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z,
        z.open("20250101000000.export.CSV", "w", force_zip64=True) as member,
    ):
        block = b"\0" * (1 << 20)
        for _ in range(1024):
            member.write(block)
    limit(ws, 10_000_000)
    r = sitroom_process("ingest", "gdelt", "-w", ws, str(bomb), "--no-progress", timeout=60)
    assert r.code != 0
    line = one_line_refusal(r.err)
    assert "bomb.zip!20250101000000.export.CSV" in line
    assert "10,000,000 bytes" in line and "ingest_max_bytes" in line
    after = sitroom_process("state", "-w", ws, "--json")
    assert '"gdelt.event"' not in after.out and '"source.declared"' not in after.out


def test_a_file_or_a_member_past_the_limit_is_refused_and_leaves_nothing(
    tmp_path: Path, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    before = state(capfd, ws)["records"]
    limit(ws, len(REAL) - 1)
    plain = tmp_path / "20151027220000.export.CSV"
    plain.write_bytes(REAL)
    archive = zipped(tmp_path / "export.zip", plain.name, REAL)
    for spec in (str(plain), archive):
        r = sitroom(capfd, "ingest", "gdelt", "-w", ws, spec)
        assert r.code != 0
        line = one_line_refusal(r.err)
        assert f"{len(REAL) - 1:,} bytes" in line and "ingest_max_bytes" in line
    assert state(capfd, ws)["records"] == before
    limit(ws, len(REAL))  # at the limit exactly: taken
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, archive, "--json")
    assert r.code == 0 and r.json()["totals"]["accepted"] == REAL_LINES


# -- amplification -------------------------------------------------------------------------------
def test_a_zip_of_newlines_is_not_a_gdelt_export_and_leaves_nothing(
    tmp_path: Path, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Once 20,971,520 quarantine records: now one line, nothing appended (not its quarantine,
    not the source's declaration)."""
    before = state(capfd, ws)["records"]
    spec = zipped(tmp_path / "newlines.zip", "newlines.CSV", b"\n" * 300_000)
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, spec)
    assert r.code != 0
    assert one_line_refusal(r.err).endswith(
        "newlines.zip!newlines.CSV: not a GDELT export (0 of 300,000 lines are GDELT rows)"
    )
    assert state(capfd, ws)["records"] == before


def test_a_run_of_identical_bad_lines_is_one_record_with_its_count(
    tmp_path: Path, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """Real rows, 50,000 blank lines, real rows: one quarantine record for the run; the report
    still counts every line; ingesting again adds nothing."""
    lines = REAL.split(b"\n")[:-1]
    path = tmp_path / "gappy.CSV"
    path.write_bytes(b"\n".join(lines[:10]) + b"\n" * 50_001 + b"\n".join(lines[10:]) + b"\n")
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, str(path), "--json")
    assert r.code == 0, r.err
    report = r.json()["files"][0]
    assert report["rows"] == REAL_LINES + 50_000
    assert (report["accepted"], report["quarantined"]) == (REAL_LINES, 50_000)
    (q,) = sitroom(capfd, "quarantine", "-w", ws, "--json").json()["quarantined"]
    assert (q["line"], q["last_line"], q["count"], q["reason"]) == (
        11,
        50_010,
        50_000,
        "empty line",
    )
    human = sitroom(capfd, "quarantine", "-w", ws).out
    assert "gappy.CSV:11-50010 (50,000 identical rows): empty line" in human
    records = state(capfd, ws)["records"]
    again = sitroom(capfd, "ingest", "gdelt", "-w", ws, str(path), "--json").json()["totals"]
    assert (again["accepted"], again["quarantined"]) == (0, 50_000)
    assert state(capfd, ws)["records"] == records


def test_a_line_longer_than_any_row_is_kept_by_its_start_and_its_length(
    tmp_path: Path, ws: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A 3 MB line (NULs) and a 20 KB one (a row with a huge URL) among real rows: each
    quarantined with at most 4,096 characters of its text and its length in bytes."""
    lines = REAL.split(b"\n")[:-1]
    fields = lines[5].split(b"\t")
    fields[0], fields[-1] = b"999999999", b"http://example.org/" + b"a" * 20_000
    bad_url = list(fields)
    bad_url[0], bad_url[26] = b"999999998", b"999"  # and an unknown event code
    path = tmp_path / "long.CSV"
    long_lines = [b"\0" * 3_000_000, b"\t".join(fields), b"\t".join(bad_url)]
    path.write_bytes(b"\n".join([*lines[:3], *long_lines, *lines[3:]]) + b"\n")
    r = sitroom(capfd, "ingest", "gdelt", "-w", ws, str(path), "--json")
    assert r.code == 0, r.err
    totals = r.json()["totals"]
    # Under the long-line limit a row is read as usual (a 20 KB URL is a URL).
    assert (totals["accepted"], totals["quarantined"]) == (REAL_LINES + 1, 2)
    nul, code = sitroom(capfd, "quarantine", "-w", ws, "--json").json()["quarantined"]
    assert nul["line"] == 4 and nul["raw_bytes"] == 3_000_000 and len(nul["raw"]) <= 4096
    assert "a line of 3000000 bytes, longer than any GDELT row" in nul["reason"]
    assert code["line"] == 6 and "unknown CAMEO event code" in code["reason"]
    assert len(code["raw"]) == 4096 and code["raw_bytes"] == len(b"\t".join(bad_url))


# -- a refused input leaves nothing -----------------------------------------------------------
@pytest.mark.parametrize(
    ("format", "data"),
    [
        ("ucdp", b"id,year\n1,2020\n"),
        ("acled", b"event_id_cnty,event_date\nLBN1,2024-01-01\n"),
        ("gdelt", b"this is\nnot a GDELT file\n"),
    ],
)
def test_a_refused_input_appends_nothing_not_even_its_source(
    tmp_path: Path, ws: str, capfd: pytest.CaptureFixture[str], format: str, data: bytes
) -> None:
    before = state(capfd, ws)
    path = tmp_path / f"wrong.{format}.csv"
    path.write_bytes(data)
    r = sitroom(capfd, "ingest", format, "-w", ws, str(path))
    assert r.code != 0
    one_line_refusal(r.err)
    after = state(capfd, ws)
    assert after["records"] == before["records"]
    assert "source.declared" not in after["by_kind"]
