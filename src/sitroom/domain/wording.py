"""Words for people: counts with their nouns, articles. One place, so every answer agrees."""

from __future__ import annotations

from typing import Any


def plural(n: int, noun: str, many: str | None = None) -> str:
    """'1 record', '2 records', '1,204 properties': the count and its noun in agreement."""
    if n == 1:
        return f"1 {noun}"
    if many is None:
        if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
            many = noun[:-1] + "ies"
        elif noun.endswith(("s", "x", "sh")) or (noun.endswith("ch") and noun[-3:] != "och"):
            many = noun + "es"
        else:
            many = noun + "s"
    return f"{n:,} {many}"


def article(word: str) -> str:
    """'an admin', 'a viewer'."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def shown(value: Any, limit: int = 40) -> str:
    """A value as an error message quotes it: its repr, cut to ``limit`` characters (a file's
    thirty-digit number or a pasted paragraph stays one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def said(what: BaseException | str, limit: int = 160) -> str:
    """What a library's error (or a message) says, as one line of printable text cut to
    ``limit`` characters: such messages quote the input's own bytes, line breaks and escapes
    included, and a refusal is one line a terminal shows as it is."""
    if isinstance(what, BaseException):
        text = f"no {what.args[0]}" if isinstance(what, KeyError) and what.args else str(what)
        text = " ".join(text.split()) or type(what).__name__
    else:
        text = " ".join(what.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
