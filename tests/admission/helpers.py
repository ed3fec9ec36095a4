"""
Helpers for admission tests: the in-memory API of L{tests.endpoints.helpers} with a chosen chain,
and the recording plugin.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from kapid.admission.chain import AdmissionChain, build_chain
from kapid.admission.context import PluginContext
from kapid.testing.admission import RecordingPlugin
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


#: kapid's shipped recording plugin (L{kapid.testing.admission}) under its test name
Recorder = RecordingPlugin
