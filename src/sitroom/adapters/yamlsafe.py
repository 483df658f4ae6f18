"""The one way sitroom reads YAML: safe, and bounded before anything is built from it.

Track files, report front matter and channel traces are small files people write by hand. None
of them needs what makes YAML dangerous to read:

- **anchors and aliases** (``&a``, ``*a``): a few hundred bytes of aliases to aliases expand to
  gigabytes (a "billion laughs"), and an alias inside its own anchor is a structure that
  contains itself. They are refused outright, at the first ``&`` or ``*``, before expansion.
- **deep nesting**: PyYAML composes nodes recursively, so thousands of ``[`` are a
  RecursionError. Nesting deeper than :data:`MAX_DEPTH` is refused as it is composed.
- **size**: PyYAML is pure Python and holds every node at once; a megabyte of the densest YAML
  (``[1,1,1,...]``) takes about 17 s and 360 MB. Text longer than :data:`MAX_CHARS` is refused
  before it is parsed, and a file longer than that is not read whole (:func:`read_text`).
- **types JSON has no word for** (``!!set``, ``!!binary``, ``!!omap``, ``!!pairs``): values that
  no record can hold. Explicit tags other than the plain ones are refused.

Every refusal, and every YAML syntax error, is one line naming the text (``label``) and, when
known, the line and column: a :class:`SourceError` unless the caller says which error its
format raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import Node

from sitroom.domain.wording import said, shown
from sitroom.errors import SitroomError, SourceError

MAX_CHARS = 1 << 20  # characters of YAML (1 MiB): the largest example is 3.4 KB
MAX_DEPTH = 32  # levels of nesting: the formats use six at most; a claim's value may use more
_CORE = "tag:yaml.org,2002:"
# Explicit tags a file may give (``!!str 0123``): the ones whose values JSON can hold.
ALLOWED_TAGS = frozenset(
    _CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")
)


class _Refused(yaml.MarkedYAMLError):
    """YAML that reads, but that sitroom does not accept (or a value its tag cannot hold)."""


class BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses anchors, aliases, deep nesting and exotic tags as it composes,
    so nothing is built from a document it would refuse. Subclass it to add constructors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        problem = None
        tag = getattr(event, "tag", None)
        if isinstance(event, AliasEvent) or (
            isinstance(event, NodeEvent) and event.anchor is not None
        ):
            problem = "anchors and aliases (&, *) are not accepted"
        elif tag not in (None, "!") and tag not in ALLOWED_TAGS:
            problem = f"the tag {shown(str(tag).replace(_CORE, '!!'))} is not accepted"
        elif isinstance(event, CollectionStartEvent) and self.depth >= MAX_DEPTH:
            problem = f"nested deeper than {MAX_DEPTH} levels"
        if problem:
            raise _Refused(None, None, problem, event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # A scalar its tag cannot hold (a 13th month, an int of 5,000 digits, ``!!int abc``,
        # ``!!bool ""``) fails inside PyYAML with whatever its constructor tripped on: the same
        # one line as any other mistake.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, IndexError, KeyError, TypeError, AttributeError) as e:
            if not isinstance(node, yaml.ScalarNode):
                raise
            kind = str(node.tag).removeprefix(_CORE)
            problem = f"cannot read {shown(node.value)} as {kind}"
            detail = " ".join(str(e).split()) if isinstance(e, ValueError | OverflowError) else ""
            raise _Refused(
                None, None, f"{problem} ({detail})" if detail else problem, node.start_mark
            ) from None


def load(
    text: str,
    label: str,
    *,
    first_line: int = 1,
    loader: type[BoundedLoader] = BoundedLoader,
    error: type[SitroomError] = SourceError,
) -> Any:
    """The one YAML document in ``text``, read by ``loader``. ``label`` names the text in errors;
    ``first_line`` is the line of the file the text starts on (front matter starts on 2)."""
    if len(text) > MAX_CHARS:
        raise error(f"{label}: {len(text):,} characters, more than the {MAX_CHARS:,} YAML may be")
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader
    except _Refused as e:  # readable YAML, but not accepted: where, and why
        raise error(f"{label}: {_at(e.problem_mark, first_line)}: {e.problem}") from None
    except yaml.MarkedYAMLError as e:
        where = _at(e.problem_mark or e.context_mark, first_line)
        problem = said(e.problem or e.context or "cannot be read")
        raise error(f"{label}: not valid YAML{where and ' at ' + where}: {problem}") from None
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + first_line
        problem = f"{e.reason} ({e.character!r})"
        raise error(f"{label}: not valid YAML at line {line}: {problem}") from None
    except yaml.YAMLError as e:
        raise error(f"{label}: not valid YAML: {said(str(e))}") from None


def read_text(path: Path) -> str:
    """A YAML file's text, read no further than :data:`MAX_CHARS` can be in UTF-8: a larger
    file is refused before it fills memory. OSError and UnicodeDecodeError are the caller's to
    word."""
    with path.open("rb") as f:
        data = f.read(4 * MAX_CHARS + 1)
    if len(data) > 4 * MAX_CHARS:
        raise SourceError(f"{path}: more than {4 * MAX_CHARS:,} bytes, too large for a YAML file")
    return data.decode("utf-8")


def _at(mark: yaml.Mark | None, first_line: int) -> str:
    return f"line {mark.line + first_line}, column {mark.column + 1}" if mark else ""
