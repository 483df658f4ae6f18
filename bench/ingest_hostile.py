"""Hostile GDELT inputs through `sitroom ingest gdelt` (a real process each): time and peak memory
against a clean export of the same expanded size, measured in the same run.

Inputs, each expanding to --mb megabytes: a zip of newlines, a zip of NULs (one line), random
bytes, real rows with a long run of one bad line in the middle (kept as one quarantine record),
and a zip of a gigabyte of NULs under an ingest_max_bytes of --mb (refused at the limit).
Baseline: real GDELT 2.0 rows resampled to the same size (see _data.py), ingested whole.
Goals: no hostile input takes more than 4x the baseline's time or more memory than it.

Peak memory is the child's peak RSS (``RUSAGE_CHILDREN`` of a fresh helper per run).

    python bench/ingest_hostile.py [--mb 64]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sitroom.testing.hostile import peak_rss, zipped

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import resampled_v2


def run(work: Path, spec: Path, limit: int | None = None) -> tuple[float, int, int]:
    """(seconds, peak RSS bytes, exit code) of ``sitroom ingest gdelt`` into a fresh
    workspace."""
    ws = work / f"ws-{spec.stem}"
    shutil.rmtree(ws, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "sitroom", "init", "-w", str(ws)], check=True,
                   capture_output=True)  # fmt: skip
    if limit is not None:
        toml = ws / "sitroom.toml"
        kept = [x for x in toml.read_text().splitlines() if not x.startswith("ingest_max_bytes")]
        toml.write_text("\n".join([*kept, f"ingest_max_bytes = {limit}"]) + "\n")
    started = time.perf_counter()
    code, rss, _ = peak_rss("ingest", "gdelt", "-w", str(ws), str(spec), "--no-progress",
                            timeout=3600)  # fmt: skip
    elapsed = time.perf_counter() - started
    return elapsed, rss, code


def clean(size: int) -> Path:
    """Real rows resampled until the file is about ``size`` bytes (cached in bench/out)."""
    probe = resampled_v2(10_000)
    per_row = probe.stat().st_size / 10_000
    return resampled_v2(max(1, round(size / per_row)))


def with_a_run(path: Path, real: Path, size: int) -> Path:
    """Real rows, then a run of one bad line filling half the size, then real rows again."""
    data = real.read_bytes()
    half = data[: size // 4].rsplit(b"\n", 1)[0] + b"\n"
    bad = b"not\ta\tGDELT\trow\n"
    tail = data[-(size // 4) :].split(b"\n", 1)[1]
    path.write_bytes(half + bad * (size // 2 // len(bad)) + tail)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mb", type=float, default=64, help="expanded size of each input, MB")
    args = ap.parse_args()
    size = int(args.mb * 1_000_000)
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        baseline = clean(size)
        random_bytes = work / "random.CSV"
        random_bytes.write_bytes(random.Random(3).randbytes(size))
        hostile = {
            "zip of newlines": (zipped(work / "newlines.zip", b"\n", size), None),
            "zip of NULs (one line)": (zipped(work / "nuls.zip", b"\0", size), None),
            "random bytes": (random_bytes, None),
            "real rows around a run of one bad line": (
                with_a_run(work / "run.CSV", baseline, size),
                None,
            ),
            "zip of 1 GB of NULs, refused at the limit": (
                zipped(work / "bomb.zip", b"\0", 1 << 30),
                size,
            ),
        }
        b_time, b_rss, b_code = run(work, baseline)
        assert b_code == 0, "the baseline must ingest"
        print(
            f"inputs expand to {size / 1e6:.0f} MB each "
            f"(baseline: {baseline.name}, {baseline.stat().st_size / 1e6:.0f} MB)"
        )
        print(f"{'baseline: clean GDELT 2.0 rows':44s} {b_time:7.2f} s  {b_rss / 1e6:7.0f} MB peak")
        worst_time = worst_rss = 0.0
        for name, (spec, limit) in hostile.items():
            t, rss, code = run(work, spec, limit)
            worst_time, worst_rss = max(worst_time, t / b_time), max(worst_rss, rss / b_rss)
            print(
                f"{name:44s} {t:7.2f} s  {rss / 1e6:7.0f} MB peak   exit {code}   "
                f"time x{t / b_time:.2f}  memory x{rss / b_rss:.2f}"
            )
        print(
            f"ratio worst hostile / baseline: time x{worst_time:.2f} [goal <= 4], "
            f"memory x{worst_rss:.2f} [goal <= 1]"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
