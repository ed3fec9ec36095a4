"""
storage.k8s.io/v1 resources: storageclasses, volumeattachments (+status), csidrivers, csinodes,
csistoragecapacities.
"""

from __future__ import annotations

from kapid.registry.builtin._helpers import resource, status, v1

GROUP = "storage.k8s.io"


def _d(kind: str) -> str:
    return f"io.k8s.api.storage.v1.{kind}"


STORAGE_CLASSES = resource(
    GROUP, "StorageClass", "storageclasses", v1(_d("StorageClass")), namespaced=False, short_names=("sc",)
)
VOLUME_ATTACHMENTS = resource(
    GROUP, "VolumeAttachment", "volumeattachments", v1(_d("VolumeAttachment")),
    namespaced=False,
    subresources=(status("VolumeAttachment", GROUP),),
    reset_status={"attached": False},
)
CSI_DRIVERS = resource(GROUP, "CSIDriver", "csidrivers", v1(_d("CSIDriver")), namespaced=False)
CSI_NODES = resource(GROUP, "CSINode", "csinodes", v1(_d("CSINode")), namespaced=False)
CSI_STORAGE_CAPACITIES = resource(
    GROUP, "CSIStorageCapacity", "csistoragecapacities", v1(_d("CSIStorageCapacity"))
)

RESOURCES = [STORAGE_CLASSES, VOLUME_ATTACHMENTS, CSI_DRIVERS, CSI_NODES, CSI_STORAGE_CAPACITIES]
