"""The fixtures of the service's tests (made in serving.py)."""

from serving import served, team_room, team_template

__all__ = ["served", "team_room", "team_template"]
