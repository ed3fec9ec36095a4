"""
kube-apiserver's built-in admission plugins that make sense without nodes; importing this package
registers each with L{kapid.admission.chain.register}.
"""

from kapid.admission.plugins import (  # noqa: F401
    certificates, defaults, limitranger, namespace, noderestriction, pods, podsecurity, resourcequota, simple,
)
from kapid.admission import webhook  # noqa: F401
from kapid.cel import policy  # noqa: F401  (ValidatingAdmissionPolicy)
