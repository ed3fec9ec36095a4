"""kapid's own version and the Kubernetes API level it implements."""

__version__ = "0.1.0"

#: The Kubernetes API level kapid implements (what /version reports).
KUBE_MAJOR = "1"
KUBE_MINOR = "33"
KUBE_GIT_VERSION = f"v1.33.0+kapid-{__version__}"
