"""Where this site's sending to each peer stands: ``sites.json`` in the workspace, beside the
log (a :class:`~sitroom.application.sites.Positions`).

It is written after each bundle the link stored, so a crash sends a bundle again at most
(the link's de-duplication, or the receiver's receipts, drop it), never skips one. Lost, it
is rebuilt by sending everything again, which receivers take as duplicates: nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import orjson

from sitroom.adapters.outputs import write_atomic
from sitroom.errors import UserInputError, WorkspaceError

FORMAT = "sitroom-sites-sent/1"
SITES_FILE = "sites.json"


class PositionsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, int]:
        try:
            body = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as e:
            raise WorkspaceError(f"{self.path} cannot be read ({e})") from None
        sent = body.get("sent") if isinstance(body, dict) else None
        if (
            body.get("format") != FORMAT
            or not isinstance(sent, dict)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in sent.values())
        ):
            raise WorkspaceError(
                f"{self.path} is not sitroom's record of what it sent its peers: move it away "
                "and the next sync sends everything again (peers drop what they hold)"
            )
        return {str(k): int(v) for k, v in sent.items()}

    def save(self, sent: Mapping[str, int]) -> None:
        body = {"format": FORMAT, "sent": dict(sorted(sent.items()))}
        try:
            write_atomic(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        except UserInputError as e:  # not the user's path: the workspace's own file
            raise WorkspaceError(str(e)) from None
