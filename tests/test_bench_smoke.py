"""Every benchmark runs, at a small size, and prints its figures against its baseline: so the
scripts in bench/ keep working as the code changes. (Speed goals are judged by running them at
full size, never here.)"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "expect"),
    [
        ("gdelt_ingest.py", ["--rows", "20000", "--runs", "1"], "ratio sitroom / baseline"),
        (
            "gdelt_ingest.py",
            ["--rows", "20000", "--runs", "1", "--postgres"],
            "ratio postgresql / sqlite",
        ),
        ("ingest_hostile.py", ["--mb", "4"], "ratio worst hostile / baseline"),
        ("alert_latency.py", ["--rate", "500", "--seconds", "2"], "ratio p99 baseline / sitroom"),
        (
            "asof_rebuild.py",
            ["--rows", "30000", "--samples", "5", "--baseline-samples", "2"],
            "ratio on the same T",
        ),
        ("claims_ingest.py", ["--claims", "5000", "--batch", "500"], "ratio sitroom / baseline"),
        ("deadlock_check.py", ["--edges", "5000", "--runs", "1"], "ratio baseline / sitroom"),
        (
            "schedule_solve.py",
            ["--meetings", "60", "--people", "120", "--days", "5", "--tracks", "6", "--limit", "3"],
            "ratio first schedule baseline / sitroom",
        ),
        ("channel_storm.py", ["--seconds", "20"], "ratio FLASH p99 storm / idle"),
        (
            "silence_detection.py",
            ["--traces", "50", "--minutes", "3"],
            "ratio detect time baseline / sitroom",
        ),
        (
            "risk_reforecast.py",
            ["--events", "5000", "--questions", "10", "--appends", "10", "--baseline-appends", "2"],
            "ratio p99 baseline / sitroom",
        ),
        ("risk_backtest.py", ["--places", "3"], "ratio forecasts/s sitroom / baseline"),
        (
            "radius_query.py",
            ["--events", "20000", "--queries", "20", "--baseline-queries", "5"],
            "ratio p95 baseline / sitroom",
        ),
        (
            "audit_verify.py",
            ["--rows", "20000", "--runs", "1", "--leaves", "5000", "--rounds", "3"],
            "ratio verify / file SHA-256",
        ),
        ("secure_envelope.py", ["--messages", "500"], "envelope overhead (raw / sitroom)"),
        ("records_at_rest.py", ["--records", "500", "--runs", "1"], "ratio sealed / clear"),
        (
            "sites_replication.py",
            ["--rates", "200", "--seconds", "2", "--partition-records", "2000"],
            "ratio converge / local append",
        ),
        ("startup.py", ["--runs", "1"], "ratio sitroom --help / python -c pass"),
        ("dashboard_paint.py", ["--events", "5000", "--runs", "1"], "ratio TTI dashboard / bare"),
        ("stix_import.py", ["--objects", "500", "--runs", "1"], "ratio baseline / sitroom"),
        (
            "serve_stream.py",
            [
                "--clients",
                "5",
                "--records",
                "20",
                "--rest-clients",
                "4",
                "--rest-requests",
                "20",
                "--soak-seconds",
                "5",
                "--events",
                "2000",
            ],
            "ratio p99 served / library",
        ),
    ],
)
def test_benchmark_runs_and_reports(
    script: str, args: list[str], expect: str, tmp_path: Path
) -> None:
    """... and leaves nothing in the home of whoever runs it: the key files of its scratch
    workspaces go with the run (bench/_home.py)."""
    env = {k: v for k, v in os.environ.items() if k != "SITROOM_HOME"} | {"HOME": str(tmp_path)}
    r = subprocess.run(
        [sys.executable, script, *args],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert expect in r.stdout
    assert not (tmp_path / ".sitroom").exists()
