"""Export, then replay into a fresh workspace: the same records, and the alerts raised again at
the moments they became due."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

import sitroom
from sitroom.domain.kinds import ALERT
from sitroom.domain.timeutil import MS_PER_MIN
from sitroom.testing import T0, ManualClock

from conftest import V2_FILES
from helpers import sitroom as run


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, list[dict[str, object]]]:
    """A workspace where GDELT went silent twice, exported as JSON Lines."""
    clock = ManualClock(T0)
    with sitroom.init(tmp_path / "a", clock=clock) as room:
        room.ingest.feeds("gdelt", [str(V2_FILES[0])])
        clock.advance(31 * MS_PER_MIN)
        assert len(room.session.tick().alerts) == 1  # gdelt-v2 silent for 31 min (cadence 15)
        clock.advance(9 * MS_PER_MIN)
        room.ingest.feeds("gdelt", [str(V2_FILES[1])])
        clock.advance(60 * MS_PER_MIN)
        assert len(room.session.tick().alerts) == 1
        buf = io.BytesIO()
        room.world.export_jsonl(buf)
    path = tmp_path / "a.jsonl"
    path.write_bytes(buf.getvalue())
    rows = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    return path, rows


def test_replay_reproduces_records_and_alerts(
    tmp_path: Path, exported: tuple[Path, list[dict[str, object]]]
) -> None:
    path, rows = exported
    originals = [r for r in rows if r["kind"] == ALERT]
    assert len(originals) == 2
    steps: list[tuple[int, int | None]] = []
    report = sitroom.replay(
        tmp_path / "b", path, progress=lambda n, total: steps.append((n, total))
    )
    assert report.records == len(rows) - 2
    assert report.reproduced == 2 and report.missing == () and report.new == ()
    for original in originals:
        again = next(a for a in report.alerts_raised if a.id == original["id"])
        due = original["payload"]["detail"]["due_at"]  # type: ignore[index]
        assert again.at == due  # raised when due, not later

    assert steps[-1] == (len(rows), len(rows)) and [n for n, _ in steps] == sorted(
        n for n, _ in steps
    )
    with sitroom.open(tmp_path / "b") as room, io.BytesIO() as again_buf:
        room.world.export_jsonl(again_buf)
        replayed = [orjson.loads(line) for line in again_buf.getvalue().splitlines()]
    own = "identity:"  # the fresh workspace's own site identity
    replayed_ids = [
        str(r["id"])
        for r in replayed
        if not (str(r["id"]).startswith(own) and r["id"] not in {x["id"] for x in rows})
    ]
    assert sorted(replayed_ids) == sorted(str(r["id"]) for r in rows)


def test_replay_refuses_a_workspace_that_holds_records(
    tmp_path: Path,
    exported: tuple[Path, list[dict[str, object]]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    path, _ = exported
    ok = run(capfd, "replay", str(path), "-w", str(tmp_path / "c"), "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["reproduced"] == 2
    again = run(capfd, "replay", str(path), "-w", str(tmp_path / "c"))
    assert again.code == 2 and "fresh workspace" in again.err


def test_replay_rejects_a_file_that_is_not_an_export(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "kind": "gdelt.event"}\nnot json\n')
    r = run(capfd, "replay", str(bad), "-w", str(tmp_path / "d"))
    assert r.code == 1 and "bad.jsonl:" in r.err and "Traceback" not in r.err
