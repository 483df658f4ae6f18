"""As-of rebuild of a projection at random recorded times on a 1,000,000-record log.

The log is built by ingesting 1,000,000 GDELT 2.0 rows resampled from the real files (_data.py).
sitroom rebuilds from the newest snapshot at or before T and folds the records since; the
baseline, measured in the same run on the same log, replays every record from the first up to T.
Goals: p95 at most 200 ms, and at least 20x faster than the full replay.

    python bench/asof_rebuild.py [--rows 1000000] [--samples 100] [--baseline-samples 5]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import sitroom
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.application.ingest import declare, ingest

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)
from _data import pct, resampled_v2

PROJECTIONS = ("summary", "sources")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--baseline-samples", type=int, default=5)
    args = ap.parse_args()
    path = resampled_v2(args.rows)
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        ws = sitroom.init(work / "ws")
        declare(ws.engine, gdelt.declarations())
        lookups = load_lookups()
        t0 = time.perf_counter()
        for inp in gdelt.open_inputs(str(path)):
            ingest(ws.engine, inp.label, gdelt.chunks(inp, lookups))
        build = time.perf_counter() - t0
        ws.close()
        ws = sitroom.open(work / "ws")  # a cold start: nothing cached in memory
        engine = ws.engine
        log = engine.log
        n = log.last_seq()
        rng = random.Random(11)

        def recorded_time_of(seq: int) -> int:
            batch = next(log.read(after_seq=seq - 1, upto_seq=seq))
            return int(batch.column("recorded_time")[0].as_py())

        def as_of(t: int) -> float:
            started = time.perf_counter()
            engine.rebuild_many(PROJECTIONS, log.seq_as_of(t))
            return (time.perf_counter() - started) * 1000

        def full_replay(t: int) -> float:
            started = time.perf_counter()
            seq = log.seq_as_of(t)
            for name in PROJECTIONS:
                p = engine.projections[name]
                state = p.initial()
                for batch in log.read(upto_seq=seq, kinds=p.kinds):
                    state = p.apply(state, batch)
            return (time.perf_counter() - started) * 1000

        # T is the recorded time of a record drawn uniformly from the log: a bulk append stamps
        # its records within one millisecond, so T drawn uniformly from the clock's range would
        # nearly always fall between appends, where a snapshot sits.
        times = [recorded_time_of(rng.randint(1, n)) for _ in range(args.samples)]
        fast = [as_of(t) for t in times]
        slow = [full_replay(t) for t in times[: args.baseline_samples]]
        fast_same = fast[: args.baseline_samples]
        ws.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"log: {n:,} records (built by ingest in {build:.1f} s), "
        f"projections {', '.join(PROJECTIONS)}, "
        f"snapshot every {engine.snapshot_every:,} records"
    )
    print(
        f"sitroom as-of rebuild at {len(fast)} random T: p50 {pct(fast, 50):.1f} ms, "
        f"p95 {pct(fast, 95):.1f} ms, max {max(fast):.1f} ms   [goal p95 <= 200 ms]"
    )
    print(
        f"baseline full replay at {len(slow)} of the same T: mean {statistics.mean(slow):,.0f} ms, "
        f"max {max(slow):,.0f} ms"
    )
    print(
        f"ratio on the same T (mean full replay / mean as-of): "
        f"{statistics.mean(slow) / statistics.mean(fast_same):.0f}x   [goal >= 20x]"
    )


if __name__ == "__main__":
    main()
