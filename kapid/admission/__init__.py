"""kapid.admission."""
