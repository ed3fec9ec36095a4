"""
Tests for L{kapid.testing}: the process fixture and the pytest plugin.
"""
