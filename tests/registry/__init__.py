"""Tests for kapid.registry."""
