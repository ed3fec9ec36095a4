"""
An admission plugin for tests of other layers: L{RecordingPlugin} records what each phase saw and
calls the test's functions (to change the object, refuse, warn or annotate). Put it in a link's
chain with C{link.admission = AdmissionChain([...])} (L{kapid.admission.chain.AdmissionChain}).
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

from zope.interface import implementer

from kapid.admission.interfaces import Attributes, IMutatingAdmission, IValidatingAdmission


@implementer(IMutatingAdmission, IValidatingAdmission)
class RecordingPlugin:
    """
    A plugin that records a copy of what each phase saw (C{calls}: C{(phase, Attributes)}) and
    calls C{on_admit}/C{on_validate} (which may change C{attributes.object}, raise a
    L{kapid.apimachinery.status.StatusError}, or add warnings and annotations).
    """

    def __init__(
        self,
        name: str = "Recorder",
        on_admit: Optional[Callable[[Attributes], Any]] = None,
        on_validate: Optional[Callable[[Attributes], Any]] = None,
        operations: tuple[str, ...] = ("CREATE", "UPDATE", "DELETE", "CONNECT"),
    ) -> None:
        self.name = name
        self.on_admit = on_admit
        self.on_validate = on_validate
        self.operations = operations
        self.calls: list[tuple[str, Attributes]] = []

    def handles(self, operation: str) -> bool:
        """
        The operations given (all by default).
        """
        return operation in self.operations

    def _record(self, phase: str, a: Attributes) -> None:
        snap = copy.copy(a)
        snap.object = copy.deepcopy(a.object)
        snap.old_object = copy.deepcopy(a.old_object)
        self.calls.append((phase, snap))

    def admit(self, a: Attributes) -> Any:
        """
        Record, then call C{on_admit}.
        """
        self._record("admit", a)
        if self.on_admit is not None:
            return self.on_admit(a)
        return None

    def validate(self, a: Attributes) -> Any:
        """
        Record, then call C{on_validate}.
        """
        self._record("validate", a)
        if self.on_validate is not None:
            return self.on_validate(a)
        return None

    def phases(self) -> list[tuple[str, str]]:
        """
        C{(phase, operation)} of every call.
        """
        return [(p, a.operation) for p, a in self.calls]
