"""kapid.apiextensions."""
