"""Tests of kapid.server and the chain links."""
