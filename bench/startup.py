"""How fast a command starts: every `sitroom` command pays its start-up, and a team runs dozens
an hour.

Measured in fresh processes, each run several times (median, and the best): wall time and peak
resident memory (the child's own ``ru_maxrss``, from ``wait4``). Baselines in the same run:
``python -c pass`` (the interpreter alone) and ``python -c "import sitroom"``.

The commands run as a user's install runs them: with compiled bytecode (pip compiles it at
install; the run unsets PYTHONDONTWRITEBYTECODE and warms each command once). pandas is
installed, as in every install (OR-Tools requires it): Arrow imports it, 0.2 s, at the first
array a process builds, so a command that builds none is that much faster.

Goals (issue 16): ``sitroom --help`` at most 0.25 s and 60 MB; ``sitroom alerts`` and
``sitroom state`` on the samples' workspace (``sitroom demo --samples``) at most 0.5 s.

    python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)

NEAR_BEIRUT = ("--near", "Beirut", "--radius", "500mi")
GOALS = {
    "sitroom --help": (0.25, 60.0),
    "sitroom alerts": (0.5, None),
    "sitroom state": (0.5, None),
}


# The environment of a user's install: bytecode written and read.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str]) -> tuple[float, float]:
    """One fresh process: (wall seconds, peak RSS in MB). Output is discarded."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err}")
    return wall, usage.ru_maxrss / 1024  # kB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    # `python -m sitroom` is what the installed `sitroom` script runs; it also measures a
    # checkout put first on PYTHONPATH (how the benchmark table's "before" was measured).
    sitroom = [py, "-m", "sitroom"]

    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"

        # The bulk samples' room (what a command reads on a room full of events), not the
        # seed's case, which plays on a clock.
        subprocess.run(
            [*sitroom, "demo", "--samples", "-w", str(demo)],
            check=True,
            capture_output=True,
            env=ENV,
        )
        cases = {
            "python -c pass": [py, "-c", "pass"],
            'python -c "import sitroom"': [py, "-c", "import sitroom"],
            "sitroom --help": [*sitroom, "--help"],
            "sitroom --version": [*sitroom, "--version"],
            "sitroom alerts": [*sitroom, "alerts", "-w", str(demo)],
            "sitroom state": [*sitroom, "state", "-w", str(demo)],
            "sitroom events (radius)": [*sitroom, "events", "-w", str(demo), *NEAR_BEIRUT],
        }
        results = {}
        for name, argv in list(cases.items()):
            try:  # warm the page cache and the .pyc files
                measure(argv)
            except SystemExit as e:  # a command this version does not have (--version)
                print(f"{name}: skipped, {e}")
                del cases[name]
        for name, argv in cases.items():
            runs = [measure(argv) for _ in range(args.runs)]
            walls, rss = [w for w, _ in runs], [m for _, m in runs]
            results[name] = (statistics.median(walls), min(walls), statistics.median(rss))
    base = results["python -c pass"][0]
    print(f"{'command':32} {'median s':>9} {'best s':>8} {'RSS MB':>8} {'x python':>9}  goal")
    for name, (med, best, rss) in results.items():
        goal = GOALS.get(name)
        verdict = ""
        if goal:
            secs, mb = goal
            ok = med <= secs and (mb is None or rss <= mb)
            verdict = (
                f"≤ {secs} s"
                + (f", ≤ {mb:.0f} MB" if mb else "")
                + (": met" if ok else ": NOT met")
            )
        print(f"{name:32} {med:9.3f} {best:8.3f} {rss:8.1f} {med / base:9.1f}  {verdict}")
    print(f"ratio sitroom --help / python -c pass: {results['sitroom --help'][0] / base:.1f}")


if __name__ == "__main__":
    main()
