"""sitroom: a real-time situation room for teams coordinating several negotiation tracks.

The library a notebook, the CLI and the service all stand on::

    import sitroom

    with sitroom.open("room", user="dana") as room:
        room.world.events(near=..., radius=...)     # every answer typed, with provenance
        room.tracks.check()

:func:`open` and :func:`init` give a :class:`Room`; its services (``room.ingest``,
``room.world``, ``room.tracks``, ``room.channels``, ``room.risk``, ``room.keys``,
``room.audit``, ``room.agreements``) take typed arguments and return frozen results with
``to_json()``. Everything sitroom raises on purpose is a :class:`SitroomError`.

Names are imported when first used, so ``import sitroom`` costs almost nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "open": "sitroom.room",
    "init": "sitroom.room",
    "replay": "sitroom.room",
    "is_room": "sitroom.room",
    "Room": "sitroom.room",
    "Session": "sitroom.application.session",
    "Answer": "sitroom.application.results",
    "Result": "sitroom.application.results",
    "Provenance": "sitroom.domain.provenance",
    "ReplayedAlert": "sitroom.application.replay",
    "Record": "sitroom.domain.records",
    "RecordBatch": "sitroom.domain.records",
    "Kind": "sitroom.domain.kinds",
    "feed_item_id": "sitroom.domain.records",
    "Point": "sitroom.domain.geo",
    "place": "sitroom.domain.places",
    "verify": "sitroom.room",
    "Radius": "sitroom.domain.geo",
    "SitroomError": "sitroom.errors",
    "UserInputError": "sitroom.errors",
    "NotFound": "sitroom.errors",
    "AccessDenied": "sitroom.errors",
    "AuthError": "sitroom.errors",
    "NoWorkspace": "sitroom.errors",
    "Bearer": "sitroom.application.auth",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sitroom' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from sitroom.application.auth import Bearer as Bearer
    from sitroom.application.replay import ReplayedAlert as ReplayedAlert
    from sitroom.application.results import Answer as Answer
    from sitroom.application.results import Result as Result
    from sitroom.application.session import Session as Session
    from sitroom.domain.geo import Point as Point
    from sitroom.domain.geo import Radius as Radius
    from sitroom.domain.kinds import Kind as Kind
    from sitroom.domain.places import place as place
    from sitroom.domain.provenance import Provenance as Provenance
    from sitroom.domain.records import Record as Record
    from sitroom.domain.records import RecordBatch as RecordBatch
    from sitroom.domain.records import feed_item_id as feed_item_id
    from sitroom.errors import AccessDenied as AccessDenied
    from sitroom.errors import AuthError as AuthError
    from sitroom.errors import NotFound as NotFound
    from sitroom.errors import NoWorkspace as NoWorkspace
    from sitroom.errors import SitroomError as SitroomError
    from sitroom.errors import UserInputError as UserInputError
    from sitroom.room import Room as Room
    from sitroom.room import init as init
    from sitroom.room import is_room as is_room
    from sitroom.room import open as open
    from sitroom.room import replay as replay
    from sitroom.room import verify as verify
