"""
Helpers for admission tests: the in-memory API of L{tests.endpoints.helpers} with a chosen chain,
and recording plugins.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Optional

from zope.interface import implementer

from kapid.admission.chain import AdmissionChain, build_chain
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import Attributes, IMutatingAdmission, IValidatingAdmission
from tests.endpoints.helpers import API


def api_with(testcase: Any, plugins: Iterable[Any] = (), names: Iterable[str] = (), config: Optional[dict] = None) -> API:
    """
    An in-memory L{API} whose link runs the kapid plugins C{names} (built over the link) followed
    by C{plugins}.
    """
    api = API(testcase)
    context = PluginContext(api.link, api.clock)
    built = build_chain(list(names), context, config or {})
    api.link.admission = AdmissionChain(built.plugins + list(plugins))
    api.context = context  # type: ignore[attr-defined]
    return api


@implementer(IMutatingAdmission, IValidatingAdmission)
class Recorder:
    """
    A plugin that records a copy of what each phase saw and calls C{on_admit}/C{on_validate}.
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
        return operation in self.operations

    def _record(self, phase: str, a: Attributes) -> None:
        snap = copy.copy(a)
        snap.object = copy.deepcopy(a.object)
        snap.old_object = copy.deepcopy(a.old_object)
        self.calls.append((phase, snap))

    def admit(self, a: Attributes) -> Any:
        self._record("admit", a)
        if self.on_admit is not None:
            return self.on_admit(a)
        return None

    def validate(self, a: Attributes) -> Any:
        self._record("validate", a)
        if self.on_validate is not None:
            return self.on_validate(a)
        return None

    def phases(self) -> list[tuple[str, str]]:
        """
        C{(phase, operation)} of every call.
        """
        return [(p, a.operation) for p, a in self.calls]
