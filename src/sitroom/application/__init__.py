"""Use cases and the ports they need. Imports flow domain -> application -> adapters/cli."""
