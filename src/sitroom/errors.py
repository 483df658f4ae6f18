"""sitroom's one exception tree. Errors carry fields; hints and exit codes are added at the edge.

    SitroomError                 root: everything sitroom raises on purpose
    ├── UserInputError           a value the user gave is wrong (bad time, radius, location)
    │   ├── NotFound             no such thing: ``what`` (a track, a channel...) and ``id``
    │   └── AlreadyExists        it exists already: ``what`` and ``id``
    ├── WorkspaceError           the workspace cannot be created or opened
    │   └── NoWorkspace          there is no workspace at ``path``
    ├── SourceError              an input file or URL cannot be read (missing, unreachable, corrupt)
    │   └── LinkDown             the link to other sites is cut (sitroom sites)
    ├── LogError                 the log refused an append or is inconsistent
    │   ├── RecordError          a record is invalid (bad kind, confidence, valid time)
    │   └── NotWriter            this process only reads the log: another is its elected writer
    └── SecureError              key material is missing, locked or invalid; a signature fails
        ├── Rejected             a message or agreement was refused (``reason``: a stable code)
        ├── AuthError            who is acting is not proven (no or a wrong passphrase or token)
        └── AccessDenied         ``user`` may not do ``action``

Every error's message is one line meant for a person and says what is wrong, not what to type
next: the CLI adds the hint (``sitroom.cli.errors``), the API will add its own, and both give
the same fields in one JSON shape (:meth:`SitroomError.to_json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class SitroomError(Exception):
    """Root of every error sitroom raises on purpose. ``code`` names the class of error for
    scripts; :meth:`fields` says what it is about."""

    code: ClassVar[str] = "error"

    def fields(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"type": self.code, "message": str(self), **self.fields()}


class UserInputError(SitroomError):
    """A value given by the user cannot be understood or does not fit."""

    code = "invalid"


class NotFound(UserInputError):
    """There is no ``what`` called ``id`` (``known``: the ones there are, when few)."""

    code = "not_found"

    def __init__(self, what: str, id: str, *, known: Sequence[str] = (), detail: str = "") -> None:
        self.what, self.id, self.known = what, id, tuple(known)
        listed = f" ({what}s: {', '.join(self.known)})" if 0 < len(self.known) <= 12 else ""
        super().__init__(f"no {what} {id!r}{detail}{listed}")

    def fields(self) -> dict[str, Any]:
        return {"what": self.what, "id": self.id, "known": list(self.known)}


class AlreadyExists(UserInputError):
    """A ``what`` called ``id`` exists already."""

    code = "exists"

    def __init__(self, what: str, id: str, *, detail: str = "") -> None:
        self.what, self.id = what, id
        super().__init__(f"{what} {id!r} already exists{detail}")

    def fields(self) -> dict[str, Any]:
        return {"what": self.what, "id": self.id}


class WorkspaceError(SitroomError):
    """The workspace cannot be created or opened (bad settings, unwritable directory...)."""

    code = "workspace"


class NoWorkspace(WorkspaceError):
    """No sitroom workspace at ``path``."""

    code = "no_workspace"

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no sitroom workspace in {path}")

    def fields(self) -> dict[str, Any]:
        return {"path": self.path}


class SourceError(SitroomError):
    """An input (file, archive, URL) cannot be read."""

    code = "source"


class LinkDown(SourceError):
    """The link to other sites is cut: their server unreachable, or not answering."""

    code = "link_down"


class LogError(SitroomError):
    """The log refused an operation."""

    code = "log"


class RecordError(LogError):
    """A record does not satisfy the record schema."""

    code = "record"


class NotWriter(LogError):
    """This process follows the log: another `sitroom serve` process is its elected writer, so
    a write goes to that one (the server forwards it)."""

    code = "not_writer"


class SecureError(SitroomError):
    """Key material is missing, locked or invalid, or a cryptographic check failed."""

    code = "secure"


class Rejected(SecureError):
    """A message or agreement was refused. ``reason`` is a stable code (``forged``,
    ``replayed``, ``wrong-track``...) for records and scripts; the message says why in words."""

    code = "rejected"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def fields(self) -> dict[str, Any]:
        return {"reason": self.reason}


class AuthError(SecureError):
    """Who is acting is not proven: no token or signature, a wrong one, an unknown site, a
    request stale or replayed. A server answers it with 401; ``user`` is who was claimed, when
    known; ``reason`` a stable code for counting (``no-token``, ``bad-token``, ``unsigned``,
    ``unknown-site``, ``bad-signature``, ``stale``, ``replayed-request``)."""

    code = "unauthenticated"

    def __init__(
        self, message: str, *, user: str | None = None, reason: str = "unauthenticated"
    ) -> None:
        super().__init__(message)
        self.user = user
        self.reason = reason

    def fields(self) -> dict[str, Any]:
        return {"reason": self.reason, **({} if self.user is None else {"user": self.user})}


class AccessDenied(SecureError):
    """``user`` is not cleared for the compartment, or their role does not allow ``action``."""

    code = "access_denied"

    def __init__(
        self, message: str, *, user: str | None = None, action: str = "", compartment: str = ""
    ) -> None:
        super().__init__(message)
        self.user, self.action, self.compartment = user, action, compartment

    def fields(self) -> dict[str, Any]:
        return {"user": self.user, "action": self.action, "compartment": self.compartment}
