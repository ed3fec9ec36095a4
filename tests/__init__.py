"""kapid tests."""
