"""The real data samples shipped in the package, as paths: what the tests and the benchmarks
read, so that a fresh clone (or an installed wheel) needs nothing beside it.

    GDELT_V2_FILES      three complete GDELT 2.0 15-minute exports (2116 + 1629 + 2111 rows)
    GDELT_V1_FILE       710 GDELT 1.0 rows, the 58- and 57-column formats mixed
    GDELT_V1_SMALL_FILE 10 GDELT 1.0 daily rows
    GDELT_V1_FILES      both GDELT 1.0 files
    UCDP_FILE           1,000 UCDP GED events (2023 release)
    COUNTRY_CODES_FILE  ISO 3166 / FIPS 10-4 / M49 country codes (249 rows)

Sources, licences and checksums: ``data/demo/NOTICE.md`` and ``data/lookups/NOTICE.md`` in the
package. Files are found through :mod:`importlib.resources`; from a zipped install each is
extracted once, to a temporary file that lives as long as the process.
"""

from __future__ import annotations

import atexit
import contextlib
from importlib import resources
from pathlib import Path

__all__ = [
    "COUNTRY_CODES_FILE",
    "GDELT_V1_FILE",
    "GDELT_V1_FILES",
    "GDELT_V1_SMALL_FILE",
    "GDELT_V2_FILES",
    "UCDP_FILE",
    "demo_file",
]

_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def _path(*parts: str) -> Path:
    found = resources.files("sitroom").joinpath(*parts)
    if not found.is_file():
        raise FileNotFoundError(f"sitroom ships no {'/'.join(parts)}")
    return _extracted.enter_context(resources.as_file(found))


def demo_file(name: str) -> Path:
    """A file of the package's ``data/demo`` folder, by name."""
    return _path("data", "demo", name)


GDELT_V2_FILES: tuple[Path, ...] = tuple(
    demo_file(f.name)
    for f in sorted(resources.files("sitroom").joinpath("data", "demo").iterdir(), key=str)
    if f.name.endswith(".export.CSV")
)
GDELT_V1_FILE = demo_file("gdelt-demo_sample_events.tsv")
GDELT_V1_SMALL_FILE = demo_file("lumify_small.export.txt")
GDELT_V1_FILES = (GDELT_V1_FILE, GDELT_V1_SMALL_FILE)
UCDP_FILE = demo_file("ucdpged_sample.csv")
COUNTRY_CODES_FILE = _path("data", "lookups", "country-codes.csv")
