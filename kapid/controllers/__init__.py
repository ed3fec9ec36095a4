"""kapid.controllers."""
