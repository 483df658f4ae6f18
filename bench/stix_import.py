"""STIX 2.1 import of a bundle of 20,000 identities and 20,000 opinions about them, as another
tool exports an analysts' desk: every object read, validated and made into records (the
identities as actors, the opinions kept whole and read as claims about what they concern).

Two figures for sitroom: the adapter alone (``stix.from_bundle`` and the record batch it
yields: the part that was quadratic in opinions x identities and did not finish 20k + 20k in
300 s), and the whole ``ingest stix`` into a fresh workspace (durable append and the folds).
Baseline, measured in the same run on the same bytes: the OASIS ``stix2`` library's own parse of
the bundle (``stix2.parse``, which validates every object into its Python class). Goal: linear
in the bundle (twice the objects, about twice the time) and no slower than the baseline.

    python bench/stix_import.py [--objects 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import stix2  # type: ignore[import-untyped]

import sitroom
from sitroom.adapters import stix
from sitroom.domain.records import RecordBatch

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)

OPINIONS = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
CLASSES = ("individual", "group", "organization")


def make_bundle(n: int, seed: int = 11) -> bytes:
    """``n`` identities and ``n`` opinions, each opinion about one to three identities."""
    rng = random.Random(seed)

    def sid(kind: str) -> str:
        return f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    def at(i: int) -> str:
        return f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.000Z"

    identities = [
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": sid("identity"),
            "created": at(i),
            "modified": at(i),
            "name": f"Desk {i}",
            "identity_class": rng.choice(CLASSES),
        }
        for i in range(n)
    ]
    opinions = [
        {
            "type": "opinion",
            "spec_version": "2.1",
            "id": sid("opinion"),
            "created": at(i),
            "modified": at(i),
            "opinion": rng.choice(OPINIONS),
            "authors": [f"analyst-{rng.randrange(200)}"],
            "object_refs": [rng.choice(identities)["id"] for _ in range(rng.randint(1, 3))],
        }
        for i in range(n)
    ]
    objects: list[dict[str, Any]] = [*identities, *opinions]
    rng.shuffle(objects)
    return orjson.dumps({"type": "bundle", "id": sid("bundle"), "objects": objects})


def run_adapter(data: bytes) -> tuple[float, int, int]:
    started = time.perf_counter()
    bad: list[Any] = []
    records = stix.from_bundle("bench.json", data, now_ms=1_800_000_000_000, bad=bad)
    batch = RecordBatch.from_records(records)
    return time.perf_counter() - started, len(batch), len(bad)


def run_ingest(path: Path, work: Path) -> tuple[float, int]:
    with sitroom.init(work / "ws") as room:
        started = time.perf_counter()
        done = room.ingest.feeds("stix", [str(path)])
        elapsed = time.perf_counter() - started
    return elapsed, done.totals.accepted


def run_baseline(data: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    bundle = stix2.parse(data.decode(), allow_custom=True)
    return time.perf_counter() - started, len(bundle.objects)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--objects", type=int, default=20_000, help="identities, and as many opinions")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = make_bundle(args.objects)
    half = make_bundle(args.objects // 2)
    work = Path(tempfile.mkdtemp(prefix="sitroom-bench-"))
    try:
        path = work / "bundle.json"
        path.write_bytes(data)
        adapter = [run_adapter(data) for _ in range(args.runs)]
        halved = [run_adapter(half)[0] for _ in range(args.runs)]
        ingest = [run_ingest(path, work / str(i)) for i in range(args.runs)]
        baseline = [run_baseline(data) for _ in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a, h = statistics.median(t for t, _, _ in adapter), statistics.median(halved)
    i, b = statistics.median(t for t, _ in ingest), statistics.median(t for t, _ in baseline)
    records, bad = adapter[0][1], adapter[0][2]
    print(
        f"{args.objects:,} identities + {args.objects:,} opinions, {len(data) / 1e6:.1f} MB "
        f"(medians of {args.runs} runs)"
    )
    print(
        f"sitroom stix.from_bundle + record batch: {a:.2f} s, {records:,} records "
        f"({bad} quarantined); half the bundle {h:.2f} s (growth x{a / h:.2f} for x2 objects)"
    )
    print(f"sitroom ingest stix (durable append, folds): {i:.2f} s, {ingest[0][1]:,} accepted")
    print(f"baseline stix2.parse of the same bundle: {b:.2f} s, {baseline[0][1]:,} objects")
    print(f"ratio baseline / sitroom (adapter): {b / a:.2f}x; (whole ingest): {b / i:.2f}x")


if __name__ == "__main__":
    main()
