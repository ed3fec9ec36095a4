"""kapid.storage."""
