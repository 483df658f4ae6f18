from typing import Any

from sitroom.adapters.log_memory import MemoryLog
from sitroom.application.ports import LogStore

from log_contract import LogContract


class TestMemoryLog(LogContract):
    def make_log(self, tmp_path: Any) -> LogStore:
        return MemoryLog()
