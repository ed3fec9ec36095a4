"""kapid.testing."""
