"""The fixtures of the dashboard's browser tests (made in dashboard.py)."""

from dashboard import browser

__all__ = ["browser"]
