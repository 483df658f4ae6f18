"""Where this site's sending to each peer stands: ``sites.json`` in the workspace, beside the
log (a :class:`~sitroom.application.sites.Positions`).

It is written after each bundle the link stored, so a crash sends a bundle again at most
(the link's de-duplication, or the receiver's receipts, drop it), never skips one. Lost, it
is rebuilt by sending everything again, which receivers take as duplicates: nothing is lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import orjson

from sitroom.adapters.outputs import write_atomic
from sitroom.application.sites import Sent
from sitroom.errors import UserInputError, WorkspaceError

FORMAT = "sitroom-sites-sent/2"
SITES_FILE = "sites.json"


class PositionsFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Sent]:
        try:
            body = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as e:
            raise WorkspaceError(f"{self.path} cannot be read ({e})") from None
        try:
            if body["format"] != FORMAT:
                raise ValueError(body["format"])
            return {
                str(peer): Sent(_count(s["upto"]), _count(s["records"]), s.get("newest_ms"))
                for peer, s in body["sent"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError):
            raise WorkspaceError(
                f"{self.path} is not sitroom's record of what it sent its peers: move it away "
                "and the next sync sends everything again (peers drop what they hold)"
            ) from None

    def save(self, sent: Mapping[str, Sent]) -> None:
        body = {
            "format": FORMAT,
            "sent": {peer: dataclasses.asdict(s) for peer, s in sorted(sent.items())},
        }
        try:
            write_atomic(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        except UserInputError as e:  # not the user's path: the workspace's own file
            raise WorkspaceError(str(e)) from None


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(value)
    return value
