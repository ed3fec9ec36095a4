"""kapid.auth."""
