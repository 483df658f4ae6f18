"""How much memory `sitroom ingest gdelt` takes, measured on a real process for hostile inputs
and a real-looking file of the same size (issue 18, item 3: a 100 KB zip of NULs once took
3.2 GB, a 20 KB zip of newlines 241 s and 20,971,520 quarantine records).

The bound, for an input that expands to N bytes (a file's size, a zip member's once expanded;
never more than ``ingest_max_bytes``)::

    peak RSS <= BASE + PER_BYTE * N

``BASE`` (512 MiB) is the interpreter with polars, pyarrow and numpy loaded and a room open
(about 200 MB), plus the chunks in flight: each is at most 100,000 lines or 64 MiB (parse.py),
and one is parsed ahead while another is appended. ``PER_BYTE`` (8) is the input itself, mapped
and read (1x), and on a real file what its rows become: the parsed columns, the events as Arrow
and JSON, the projections' share. It falls as N grows (chunks stop growing past 100,000 rows):
measured on 2 shared cores (KiB of peak RSS; the bound is 712,000 KiB at 24 MB, 1,274,000 at
96 MB; before the fix a 24 MB zip of NULs peaked at 935,256 KiB and one of newlines ran past
two minutes)::

    input of N bytes              N = 24 MB    N = 96 MB
    a tiny real file (baseline)     201,320      200,892
    zip of newlines                 278,260      354,624
    zip of NULs (one line)          222,220      301,864
    random bytes                    500,016      703,080
    resampled real rows             541,688    1,058,428   (192 MB: 1,476,188)

Garbage costs less than real rows of its size: its lines are refused by their shape before
any are split into fields, runs of one line are one record, and a line longer than any row is
read by its start only. Each peak is measured in a fresh helper process
(``RUSAGE_CHILDREN``), so nothing else the test runner holds is counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sitroom.testing.hostile import peak_rss, zipped

from conftest import V2_FILES
from helpers import sitroom_process

BASE = 512 * 1024 * 1024
PER_BYTE = 8
N = 24_000_000  # bytes each input expands to: big enough to show amplification, quick to run


def resampled(path: Path, size: int) -> Path:
    """Real GDELT 2.0 rows drawn at random, with fresh ids, until the file is ``size`` bytes."""
    rows = [r.split(b"\t") for f in V2_FILES for r in f.read_bytes().split(b"\n") if r]
    rng = random.Random(5)
    out, written, i = [], 0, 0
    while written < size:
        fields = list(rows[rng.randrange(len(rows))])
        fields[0] = str(2_000_000_000 + i).encode()
        line = b"\t".join(fields) + b"\n"
        out.append(line)
        written, i = written + len(line), i + 1
    path.write_bytes(b"".join(out))
    return path


def garbage(path: Path, size: int) -> Path:
    path.write_bytes(random.Random(3).randbytes(size))
    return path


INPUTS: dict[str, Callable[[Path], Path]] = {
    "zip of newlines": lambda d: zipped(d / "newlines.zip", b"\n", N),
    "zip of NULs": lambda d: zipped(d / "nuls.zip", b"\0", N),
    "random bytes": lambda d: garbage(d / "garbage.CSV", N),
    "resampled real rows": lambda d: resampled(d / "real.CSV", N),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(INPUTS))
def test_ingesting_an_input_of_n_bytes_peaks_below_the_bound(name: str, tmp_path: Path) -> None:
    spec = INPUTS[name](tmp_path)
    ws = str(tmp_path / "ws")
    assert sitroom_process("init", "-w", ws).code == 0
    code, rss, err = peak_rss("ingest", "gdelt", "-w", ws, str(spec), "--no-progress")
    assert rss <= BASE + PER_BYTE * N, f"{name}: {rss:,} bytes at the peak for {N:,} bytes"
    assert "Traceback" not in err
    assert code == (0 if name == "resampled real rows" else 1), err


@pytest.mark.slow
def test_a_zip_that_expands_past_the_limit_is_refused_holding_no_more_than_the_limit(
    tmp_path: Path,
) -> None:
    """One gigabyte of NULs in a 4.6 MB zip, under a limit of N: refused at the limit, and the
    process never holds more than the bound for N."""
    bomb = zipped(tmp_path / "bomb.zip", b"\0", 1 << 30)
    ws = tmp_path / "ws"
    assert sitroom_process("init", "-w", str(ws)).code == 0
    toml = ws / "sitroom.toml"
    kept = [x for x in toml.read_text().splitlines() if not x.startswith("ingest_max_bytes")]
    toml.write_text("\n".join([*kept, f"ingest_max_bytes = {N}"]) + "\n")
    code, rss, err = peak_rss("ingest", "gdelt", "-w", str(ws), str(bomb), "--no-progress")
    assert code == 1 and "ingest_max_bytes" in err and len(err.strip().splitlines()) == 1
    assert rss <= BASE + PER_BYTE * N, f"{rss:,} bytes at the peak"
