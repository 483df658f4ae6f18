"""sitroom: a real-time situation room for teams coordinating several negotiation tracks.

The curated public API. Everything enters through :meth:`Engine.append`; projections are pure
folds over the log; detectors turn them into alerts; every answer carries its provenance.
"""

from sitroom.application.engine import AppendOutcome, Engine
from sitroom.domain.records import Record, RecordBatch, feed_item_id
from sitroom.errors import SitroomError
from sitroom.workspace import Workspace

__all__ = [
    "AppendOutcome",
    "Engine",
    "Record",
    "RecordBatch",
    "SitroomError",
    "Workspace",
    "feed_item_id",
]
__version__ = "0.1.0"
