"""kapid.endpoints."""
