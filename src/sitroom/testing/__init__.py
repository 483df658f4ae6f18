"""What tests, plugins and users can reuse to test against sitroom.

Fakes: a clock that moves when told (:class:`ManualClock`), the in-memory log
(:class:`MemoryLog`), an in-memory wire between desks (:class:`MemoryWire`), an in-memory key
store (:class:`MemoryKeyStore`), in-memory sender chains (:class:`MemoryChains`) and a small
record factory (:func:`make_record`, :data:`T0`).

Contract suites, one per port of :mod:`sitroom.application.ports`: a backend or a connector
proves itself by subclassing the suite in a test module and saying how to make one.

    LogContract, DurableLogContract     LogStore      (sitroom.testing.log_contract)
    ConnectorContract                   Connector     (sitroom.testing.connector_contract)
    WireContract                        Wire          (sitroom.testing.wire_contract)
    KeyStoreContract                    KeyStore      (sitroom.testing.keystore_contract)

The real data samples shipped in the package, as paths: :mod:`sitroom.testing.samples`.
Hostile inputs (a zip bomb) and a command's peak memory: :mod:`sitroom.testing.hostile`.

This package is for tests: it imports pytest and hypothesis (the suites only, on first use), and
no other sitroom module imports it. For pytest's detailed assert messages inside the suites, put
``pytest.register_assert_rewrite("sitroom.testing")`` at the top of your ``conftest.py``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.log_memory import MemoryLog
from sitroom.domain.records import Record
from sitroom.testing.memory import MemoryChains, MemoryKeyStore, MemoryReaders, MemoryWire

if TYPE_CHECKING:
    from sitroom.testing.connector_contract import ConnectorContract
    from sitroom.testing.keystore_contract import KeyStoreContract
    from sitroom.testing.log_contract import DurableLogContract, LogContract
    from sitroom.testing.wire_contract import WireContract

__all__ = [
    "T0",
    "ConnectorContract",
    "DurableLogContract",
    "KeyStoreContract",
    "LogContract",
    "ManualClock",
    "MemoryChains",
    "MemoryKeyStore",
    "MemoryLog",
    "MemoryReaders",
    "MemoryWire",
    "WireContract",
    "make_record",
]

T0 = 1_764_000_000_000  # 2025-11-24T16:00:00Z, a fixed "now" for tests

# The suites import pytest, hypothesis, numpy...: loaded when first asked for, so that a test
# wanting only make_record or a fake pays for none of it.
_SUITES = {
    "ConnectorContract": "connector_contract",
    "DurableLogContract": "log_contract",
    "KeyStoreContract": "keystore_contract",
    "LogContract": "log_contract",
    "WireContract": "wire_contract",
}


def __getattr__(name: str) -> Any:
    module = _SUITES.get(name)
    if module is None:
        raise AttributeError(f"module 'sitroom.testing' has no attribute {name!r}")
    return getattr(import_module(f"sitroom.testing.{module}"), name)


def make_record(i: int, *, kind: str = "test.item", source: str = "test", **kw: Any) -> Record:
    """Record number ``i`` of a simple test stream: id from (source, i), valid at T0 + i s."""
    fields: dict[str, Any] = {
        "id": f"{source}:{i}",
        "kind": kind,
        "kind_version": 1,
        "source": source,
        "payload": {"n": i},
        "valid_from": T0 + 1000 * i,
        "valid_to": T0 + 1000 * i,
    }
    fields.update(kw)
    return Record(**fields)
