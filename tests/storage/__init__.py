"""Tests for kapid.storage."""
