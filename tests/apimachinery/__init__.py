"""Tests for kapid.apimachinery."""
