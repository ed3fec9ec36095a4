"""kapid.registry."""
