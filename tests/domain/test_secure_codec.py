"""The bytes every signature covers: RFC 8785, whichever path writes them."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.errors import SecureError

_values = st.one_of(
    st.integers(-(2**60), 2**60),
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@given(st.dictionaries(st.text(max_size=6), _values, max_size=8))
def test_canonical_is_rfc_8785_for_any_flat_object(d: dict[str, object]) -> None:
    try:
        expected = rfc8785.dumps(d)
    except rfc8785.CanonicalizationError:
        with pytest.raises(SecureError):
            canonical(d)
        return
    assert canonical(d) == expected


@given(st.recursive(_values, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_canonical_is_rfc_8785_for_nested_values(v: object) -> None:
    try:
        expected = rfc8785.dumps(v)
    except rfc8785.CanonicalizationError:
        return
    assert canonical(v) == expected


@given(st.binary(max_size=64))
def test_base64url_round_trips(data: bytes) -> None:
    assert unb64(b64(data)) == data and "=" not in b64(data)
