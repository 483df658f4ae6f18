"""The published OpenAPI 3.1 document is the API: schemathesis calls every operation of the live
server with generated data, as an admin, and finds no server error, no undeclared status and no
answer that breaks its schema."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from serving import Served, build_team_room, serve_in_thread

TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = serve_in_thread(build_team_room(tmp_path_factory.mktemp("fuzzed") / "room"))
    TOKEN["alice"] = served.login("alice")
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def api(live: Served) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api")


def test_the_document_is_openapi_3_1_and_declares_every_error(live: Served) -> None:
    doc = httpx.get(f"{live.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert httpx.get(f"{live.url}/docs").status_code == 200
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if path not in ("/healthz", "/auth/login"):
                assert "401" in codes, (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_to_its_schema(case: schemathesis.Case) -> None:
    # Data the schema allows may still name nothing (a track no one declared) or say nothing
    # the room can use (a time no one can read): 404 and 422 are right then, not 2xx.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN['alice']}"},
        excluded_checks=[positive_data_acceptance],
        timeout=60,
    )
