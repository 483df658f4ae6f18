"""The real data the tests read is the package's own (sitroom.testing.samples): a fresh clone
needs nothing beside it."""

from collections.abc import Iterator

import pytest

# The contract suites live in the package: have pytest rewrite their asserts as it does ours.
pytest.register_assert_rewrite("sitroom.testing")

from sitroom.testing.samples import (  # noqa: E402 - after the rewrite hook
    COUNTRY_CODES_FILE,
    GDELT_V1_FILE,
    GDELT_V1_FILES,
    GDELT_V2_FILES,
    UCDP_FILE,
)

__all__ = ["COUNTRY_CODES_FILE", "UCDP_FILE", "V1_FILE", "V1_FILES", "V2_FILES"]

V2_FILES = list(GDELT_V2_FILES)
V1_FILE = GDELT_V1_FILE
V1_FILES = list(GDELT_V1_FILES)


@pytest.fixture(autouse=True, scope="session")
def _own_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What sitroom keeps per person, outside any workspace (cached logins, site key files),
    goes to a folder of the run's, never the home of whoever runs the suite; the processes a
    test starts inherit it. Session-wide, so that session fixtures' rooms keep theirs there."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SITROOM_HOME", str(tmp_path_factory.mktemp("home")))
        mp.delenv("SITROOM_TOKEN", raising=False)
        mp.delenv("SITROOM_SERVER", raising=False)
        yield
