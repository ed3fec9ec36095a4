"""kapid.kubeapi."""
