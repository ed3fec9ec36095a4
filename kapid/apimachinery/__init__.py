"""kapid.apimachinery."""
