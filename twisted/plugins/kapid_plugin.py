"""The twistd plugin: ``twistd kapid`` runs the kapid API server (see L{kapid.tap})."""

from twisted.application.service import ServiceMaker

kapid = ServiceMaker(
    "kapid", "kapid.tap", "A Kubernetes API server on Twisted.", "kapid"
)
