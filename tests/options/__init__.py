"""Tests of kapid.options and kapid.tap."""
