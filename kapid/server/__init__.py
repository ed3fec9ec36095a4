"""kapid.server."""
