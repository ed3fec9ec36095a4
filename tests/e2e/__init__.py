"""End-to-end tests: real twistd kapid processes, real kubectl, real clients."""
