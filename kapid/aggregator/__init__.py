"""kapid.aggregator."""
