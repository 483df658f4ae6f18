"""What sites' NATS setup derives from site names (no server: the contract tests in
test_nats_cluster.py run it on real ones), and the credentials file, whose every flaw is one
SecureError naming it."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from sitroom.adapters.nats_setup import (
    account_config,
    inbox_prefix,
    load_credentials,
    new_credentials,
    save_credentials,
    site_permissions,
    stream_name,
    subject,
)
from sitroom.errors import SecureError, UserInputError


def test_names_derive_from_the_site() -> None:
    assert stream_name("new-york") == "SR_NEW_YORK"
    assert subject("geneva", "new-york") == "sitroom.rec.geneva.new-york"
    assert inbox_prefix("tehran") == "_INBOX_tehran"


@pytest.mark.parametrize("bad", ["Geneva", "1geneva", "", "a" * 33, "gen.eva", "gen*", "operator"])
def test_a_name_that_cannot_be_a_site_is_refused(bad: str) -> None:
    with pytest.raises(UserInputError, match="site name"):
        stream_name(bad)


def test_a_site_may_read_only_the_consumers_named_after_it() -> None:
    perms = site_permissions("geneva", ["geneva", "tehran", "new-york"])
    assert perms["subscribe"] == ["_INBOX_geneva.>"]
    assert perms["publish"] == [
        "sitroom.rec.geneva.*",
        "$JS.API.CONSUMER.MSG.NEXT.SR_NEW_YORK.geneva",
        "$JS.API.CONSUMER.MSG.NEXT.SR_TEHRAN.geneva",
        "$JS.ACK.SR_NEW_YORK.geneva.>",
        "$JS.ACK.SR_TEHRAN.geneva.>",
        "$JS.API.CONSUMER.INFO.SR_NEW_YORK.geneva",
        "$JS.API.CONSUMER.INFO.SR_TEHRAN.geneva",
        "$JS.API.DIRECT.GET.SR_NEW_YORK.sitroom.rec.new-york.geneva",
        "$JS.API.DIRECT.GET.SR_TEHRAN.sitroom.rec.tehran.geneva",
        "$JS.API.STREAM.INFO.SR_GENEVA",
        "$JS.API.INFO",
    ]


def test_the_account_holds_the_operator_and_each_site_with_its_own_password() -> None:
    creds = new_credentials(["tehran", "geneva", "geneva"])
    assert list(creds) == ["geneva", "tehran"]
    assert creds["geneva"].password != creds["tehran"].password
    text = account_config(creds, "o" * 24)
    assert text.count("{user: ") == 3
    assert f'{{user: "tehran", password: "{creds["tehran"].password}", permissions:' in text
    assert 'subscribe: {allow: ["_INBOX_tehran.>"]}' in text


def test_a_password_nats_could_misread_is_refused() -> None:
    with pytest.raises(UserInputError, match="operator's password"):
        account_config(new_credentials(["geneva"]), "$2a$11$short")


def test_credentials_come_back_as_saved_from_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "nats.json"
    creds = new_credentials(["geneva", "tehran"])
    save_credentials(path, creds)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(path) == creds
    save_credentials(path, new_credentials(["geneva"]))  # replaced whole
    assert list(load_credentials(path)) == ["geneva"]
    assert [p.name for p in tmp_path.iterdir()] == ["nats.json"]


GOOD = {"user": "geneva", "password": "p" * 32}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot be read"),
        ("", "is not JSON"),
        ('{"format": "sitroom-nats-credentials/1", "sites": {', "is not JSON"),
        ("[]", "is not a sitroom NATS credentials file"),
        ({"format": "other", "sites": {}}, "is not a sitroom NATS credentials file"),
        ('{"sites": {}}', "is not a sitroom NATS credentials file"),
        ({"format": "sitroom-nats-credentials/1"}, "has no sites"),
        ({"sites": {"Geneva": GOOD}}, "names a site 'Geneva'"),
        ({"sites": {"operator": {**GOOD, "user": "operator"}}}, "names a site 'operator'"),
        ({"sites": {"geneva": {**GOOD, "user": "tehran"}}}, "not named as the site"),
        ({"sites": {"geneva": "secret"}}, "not named as the site"),
        ({"sites": {"geneva": {"user": "geneva"}}}, "no password"),
        ({"sites": {"geneva": {**GOOD, "password": "short"}}}, "no password or one"),
        ({"sites": {"geneva": {**GOOD, "password": 'p"' * 10}}}, "no password or one"),
    ],
)
def test_a_bad_credentials_file_is_one_error_naming_it(
    tmp_path: Path, content: object, says: str
) -> None:
    path = tmp_path / "nats.json"
    if isinstance(content, dict):
        path.write_text(json.dumps({"format": "sitroom-nats-credentials/1", **content}))
    elif isinstance(content, str):
        path.write_text(content)
    with pytest.raises(
        SecureError, match=f"^NATS credentials file {re.escape(str(path))} .*{says}"
    ):
        load_credentials(path)
