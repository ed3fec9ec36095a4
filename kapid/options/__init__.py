"""kapid.options."""
