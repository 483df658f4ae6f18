"""Export, then replay into a fresh workspace: the same records, and the alerts raised again at
the moments they became due."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.application.export import export_jsonl
from sitroom.application.ingest import declare, ingest
from sitroom.application.replay import replay
from sitroom.domain.kinds import ALERT
from sitroom.domain.timeutil import MS_PER_MIN
from sitroom.testing import T0, ManualClock
from sitroom.workspace import Workspace

from conftest import V2_FILES
from helpers import sitroom


def ingest_file(ws: Workspace, path: Path) -> None:
    for inp in gdelt.open_inputs(str(path)):
        ingest(ws.engine, inp.label, gdelt.chunks(inp, load_lookups()))


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    """A workspace where GDELT went silent twice, exported as JSON Lines."""
    clock = ManualClock(T0)
    with Workspace.init(tmp_path / "a", clock=clock) as ws:
        declare(ws.engine, gdelt.declarations())
        ingest_file(ws, V2_FILES[0])
        clock.advance(31 * MS_PER_MIN)
        assert len(ws.engine.tick()) == 1  # gdelt-v2 silent for 31 min (cadence 15)
        clock.advance(9 * MS_PER_MIN)
        ingest_file(ws, V2_FILES[1])
        clock.advance(60 * MS_PER_MIN)
        assert len(ws.engine.tick()) == 1
        buf = io.BytesIO()
        export_jsonl(ws.engine, buf)
    path = tmp_path / "a.jsonl"
    path.write_bytes(buf.getvalue())
    rows = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    return path, rows


def test_replay_reproduces_records_and_alerts(
    tmp_path: Path, exported: tuple[Path, list[dict[str, object]]]
) -> None:
    _, rows = exported
    originals = [r for r in rows if r["kind"] == ALERT]
    assert len(originals) == 2
    clock = ManualClock(0)
    with Workspace.init(tmp_path / "b", clock=clock) as ws:
        report = replay(ws.engine, clock, rows)
        result = report.as_dict()
        assert result["records"] == len(rows) - 2
        assert result["reproduced"] == 2 and result["missing"] == [] and result["new"] == []
        for original in originals:
            again = next(a for a in report.raised if a["id"] == original["id"])
            due = original["payload"]["detail"]["due_at"]  # type: ignore[index]
            assert again["detail"]["due_at"] == due
            assert again["at"] <= original["valid_from"]  # raised when due, not later
        own = f"identity:{ws.settings.site}:"  # the fresh workspace's own site identity
        replayed_ids = [
            i for b in ws.log.read() for i in b.column("id").to_pylist() if not i.startswith(own)
        ]
    assert sorted(replayed_ids) == sorted(str(r["id"]) for r in rows)


def test_replay_refuses_a_workspace_that_holds_records(
    tmp_path: Path,
    exported: tuple[Path, list[dict[str, object]]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    path, _ = exported
    ok = sitroom(capfd, "replay", str(path), "-w", str(tmp_path / "c"), "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["reproduced"] == 2
    again = sitroom(capfd, "replay", str(path), "-w", str(tmp_path / "c"))
    assert again.code == 2 and "fresh workspace" in again.err


def test_replay_rejects_a_file_that_is_not_an_export(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "kind": "gdelt.event"}\nnot json\n')
    r = sitroom(capfd, "replay", str(bad), "-w", str(tmp_path / "d"))
    assert r.code == 1 and "bad.jsonl:" in r.err and "Traceback" not in r.err
