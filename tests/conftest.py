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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a slow test first, each file's tests kept together and in order: the workers
    (pytest-xdist, --no-loadscope-reorder) take whole files in this order, so the last file each
    takes is a quick one and both end at about the same time, not one waiting on the README's."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
