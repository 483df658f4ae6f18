"""I/O at the edges: log backends, connectors, clocks.

Each implements a port of sitroom.application."""
