"""sitroom's one exception tree.

    SitroomError                 root: everything sitroom raises on purpose
    ├── UserInputError           a value the user typed is wrong (bad time, radius, location)
    ├── WorkspaceError           the workspace is missing, already exists, or is not a workspace
    ├── SourceError              an input file or URL cannot be read (missing, unreachable, corrupt)
    ├── LogError                 the log refused an append or is inconsistent
    │   └── RecordError          a record is invalid (bad kind, confidence, valid time)
    └── SecureError              key material is missing, locked or invalid; a signature fails
        ├── Rejected             a message or agreement was refused: forged, replayed, wrong
        │                        track...; ``reason`` is a stable code, the message says why
        └── AccessDenied         the user is not cleared for what they asked to see or do

Every error carries a one-line message meant for a person; the CLI prints it as is and exits
non-zero, the API will return it in one JSON shape.
"""

from __future__ import annotations


class SitroomError(Exception):
    """Root of every error sitroom raises on purpose."""

    exit_code = 1


class UserInputError(SitroomError):
    """A value given by the user cannot be understood."""

    exit_code = 2


class WorkspaceError(SitroomError):
    """The workspace does not exist, already exists, or cannot be opened."""

    exit_code = 2


class SourceError(SitroomError):
    """An input (file, archive, URL) cannot be read."""

    exit_code = 1


class LogError(SitroomError):
    """The log refused an operation."""


class RecordError(LogError):
    """A record does not satisfy the record schema."""


class SecureError(SitroomError):
    """Key material is missing, locked or invalid, or a cryptographic check failed."""

    exit_code = 5  # 3 and 4 are `channel send`'s pending and refused


class Rejected(SecureError):
    """A message or agreement was refused. ``reason`` is a stable code (``forged``,
    ``replayed``, ``wrong-track``...) for records and scripts; the message says why in words."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AccessDenied(SecureError):
    """The user is not cleared for the compartment, or their role does not allow the action."""

    exit_code = 6
