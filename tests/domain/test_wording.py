"""How errors quote what they were given: one printable line, cut to a length."""

from sitroom.domain.wording import said


def test_a_library_error_is_said_in_one_printable_line() -> None:
    e = ValueError("bad byte \x1b[31m in\nline 2:\t'\x00'")
    assert said(e) == "bad byte \\x1b[31m in line 2: '\\x00'"
    assert said(KeyError("salt")) == "no salt"
    assert said(RuntimeError()) == "RuntimeError"
    long = said(OverflowError("9" * 500), limit=40)
    assert len(long) == 40 and long.endswith("...")
    assert said("a message\nthat ran on") == "a message that ran on"
