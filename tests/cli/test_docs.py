"""Every CLI command is documented in the README (the sqlite-utils habit)."""

from pathlib import Path

import pytest
import typer

from sitroom.cli import app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def commands(group: typer.Typer, prefix: str = "") -> list[str]:
    """Every command, sub-commands of groups included ('tracks check', 'whatif delay')."""
    names = [
        prefix + (c.name or c.callback.__name__.replace("_", "-"))
        for c in group.registered_commands
        if c.callback
    ]
    for g in group.registered_groups:
        assert g.typer_instance is not None and g.name
        names += commands(g.typer_instance, f"{prefix}{g.name} ")
    return names


COMMANDS = commands(app)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_is_in_the_readme(command: str) -> None:
    assert f"sitroom {command}" in README


def test_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    blocks = [b.split("```", 1)[0].strip() for b in README.split("```bash\n")[1:3]]
    assert blocks == [
        "pip install . && sitroom demo",
        "sh scripts/test-deps.sh && pip install -e '.[test]' && python -m pytest",
    ]
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert blocks[1] in ci
