from typing import Any

from sitroom.application.ports import LogStore
from sitroom.testing import LogContract, MemoryLog


class TestMemoryLog(LogContract):
    def make_log(self, tmp_path: Any) -> LogStore:
        return MemoryLog()
