from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
V2_FILES = sorted((SHARED / "gdelt-v2-events").glob("*.export.CSV"))
V1_FILE = SHARED / "gdelt-v1-events" / "gdelt-demo_sample_events.tsv"
UCDP_FILE = SHARED / "ucdp-ged-sample" / "ucdpged_sample.csv"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert SHARED.is_dir(), f"tests read the real data in {SHARED}"
    return SHARED
