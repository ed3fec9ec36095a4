"""Tests of kapid.auth."""
