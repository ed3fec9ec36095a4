"""Tests for kapid.controllers."""
