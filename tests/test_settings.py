from pathlib import Path

import pytest

from sitroom.errors import WorkspaceError
from sitroom.settings import CONFIG_FILE, Settings


def test_toml_then_environment(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text('[sitroom]\nsite = "geneva"\nsnapshot_every = 500\n')
    s = Settings.load(tmp_path, environ={"SITROOM_SNAPSHOT_EVERY": "250"})
    assert (s.site, s.snapshot_every, s.durability) == ("geneva", 250, "full")


def test_written_settings_read_back(tmp_path: Path) -> None:
    original = Settings(site="beirut-desk", overdue_grace=0.5)
    (tmp_path / CONFIG_FILE).write_text(original.to_toml())
    assert Settings.load(tmp_path, environ={}) == original


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ('[sitroom]\ncolour = "red"\n', {}, "unknown settings"),
        ("[sitroom]\n", {"SITROOM_DURABILITY": "sometimes"}, "durability"),
        ("[sitroom]\n", {"SITROOM_SNAPSHOT_EVERY": "often"}, "bad setting"),
        ("[sitroom\n", {}, "not valid TOML"),
        ("[sitroom]\ningest_max_bytes = 0\n", {}, "ingest_max_bytes is a number of bytes"),
        ("[sitroom]\n", {"SITROOM_SERVE_LISTEN": "8660"}, "serve_listen is HOST:PORT"),
        ("[sitroom]\nstream_queue_max = 0\n", {}, "stream_queue_max"),
        ("[sitroom]\nserve_upload_max_bytes = 0\n", {}, "serve_upload_max_bytes"),
        ("[sitroom]\nlogin_attempts_per_minute = 0\n", {}, "login_attempts_per_minute"),
        ("[sitroom]\n", {"SITROOM_KEY_WEAR_ACTION": "warn"}, "key_wear_action must be rotate"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(toml)
    with pytest.raises(WorkspaceError, match=message):
        Settings.load(tmp_path, environ=env)
