"""The audit chain's last signed head, kept in a file of the workspace beside the log
(``head.json``): a :class:`~sitroom.application.ports.HeadKeeper`.

A log that is deleted, emptied, cut short or swapped for another is consistent with itself, and
its own checkpoints go with it; this file does not. ``sitroom verify`` checks that the log
still holds the head kept here, and a workspace whose log is missing or empty while this file
says it had records refuses to open rather than start a new, empty log. It guards against
accidents and careless hands, not against someone who can rewrite both files (the witnesses of
issue 20 are for that): the head is signed, so it can be checked, not forged.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from sitroom.adapters.outputs import write_atomic
from sitroom.domain.secure.audit import SignedHead
from sitroom.errors import SecureError, UserInputError, WorkspaceError

FORMAT = "sitroom-head/1"


class HeadFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = path.name

    def last(self) -> SignedHead | None:
        try:
            body = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as e:
            raise SecureError(f"{self.path} cannot be read ({e})") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SecureError(f"{self.path} is not a head kept by sitroom")
        return SignedHead.from_json(body, what=str(self.path))

    def keep(self, head: SignedHead) -> None:
        body = {"format": FORMAT, **head.to_json()}
        try:
            write_atomic(self.path, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
        except UserInputError as e:  # not the user's path: the workspace's own file
            raise WorkspaceError(str(e)) from None
