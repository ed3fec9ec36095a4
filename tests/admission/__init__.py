"""Tests for kapid.admission."""
