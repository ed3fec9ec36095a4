"""Tests for kapid.kubeapi."""
