"""
What the handler chain learns about a request, kept on the request object for later stages:
its L{RequestInfo} (set by the request-info filter) and its user (set by the authentication
filter, or the insecure chain).
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.auth.interfaces import UserInfo
from kapid.server.requestinfo import RequestInfo

_INFO = "_kapid_request_info"
_USER = "_kapid_user"
_START = "_kapid_start"


def request_info(request: Any) -> Optional[RequestInfo]:
    """
    The request's L{RequestInfo}, or None before the request-info filter ran.
    """
    return getattr(request, _INFO, None)


def set_request_info(request: Any, info: RequestInfo) -> None:
    """
    Record the request's L{RequestInfo}.
    """
    setattr(request, _INFO, info)


def user(request: Any) -> Optional[UserInfo]:
    """
    The authenticated user of the request, or None before authentication.
    """
    return getattr(request, _USER, None)


def set_user(request: Any, info: UserInfo) -> None:
    """
    Record the request's user.
    """
    setattr(request, _USER, info)


_QUERY = "_kapid_query"


def query(request: Any) -> dict[str, list[str]]:
    """
    The request's query parameters as Go's C{url.Query()} sees them: text, blank values kept, and
    parameters without C{=} (C{?verbose}) present with an empty value (Twisted's C{request.args}
    drops those).
    """
    cached = getattr(request, _QUERY, None)
    if cached is not None:
        return cached
    from urllib.parse import parse_qs

    uri = request.uri.decode("utf-8", "replace")
    _, _, qs = uri.partition("?")
    result = parse_qs(qs, keep_blank_values=True)
    setattr(request, _QUERY, result)
    return result
