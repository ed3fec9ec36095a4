"""
The request-info filter (kube's C{WithRequestInfo}).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from kapid.apimachinery.status import bad_request, internal_error
from kapid.server import context
from kapid.server.filters import Filter, answer
from kapid.server.requestinfo import RequestInfoError, new_request_info


_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class RequestInfoFilter(Filter):
    """
    Parses what the request is about and records it (see L{kapid.server.context.request_info}).
    """

    def render(self, request: Any) -> Any:
        """
        Record the L{RequestInfo}, then render the chain.
        """
        try:
            path = unquote(request.path.decode("ascii"), errors="strict")
            if _BAD_ESCAPE.search(request.path):
                raise ValueError("invalid URL escape")
        except (UnicodeError, ValueError):
            return answer(request, bad_request(f"invalid URL path {request.path.decode('latin-1')!r}"))
        try:
            info = new_request_info(request.method.decode("ascii", "replace"), path, context.query(request))
        except RequestInfoError as e:
            return answer(request, internal_error(f"failed to create RequestInfo: {e}"))
        context.set_request_info(request, info)
        return self.wrapped.render(request)
