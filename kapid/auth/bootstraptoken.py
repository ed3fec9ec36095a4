"""
Bootstrap token authentication (C{--enable-bootstrap-token-auth}, kube's
C{plugin/pkg/auth/authenticator/token/bootstrap}): a bearer token C{<id>.<secret>} (6 and 16
characters of C{[a-z0-9]}) is the user C{system:bootstrap:<id>} in C{system:bootstrappers} (and the
Secret's C{auth-extra-groups}) while the Secret C{kube-system/bootstrap-token-<id>} of type
C{bootstrap.kubernetes.io/token} holds that secret, allows authentication
(C{usage-bootstrap-authentication: "true"}) and has not expired.
"""

from __future__ import annotations

import base64
import hmac
import re
from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred

from kapid.auth.interfaces import UserInfo

TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
EXTRA_GROUP = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")
SECRET_TYPE = "bootstrap.kubernetes.io/token"
BOOTSTRAPPERS = "system:bootstrappers"


def _field(secret: dict, key: str) -> str:
    value = (secret.get("data") or {}).get(key)
    if value is None:
        return ""
    try:
        return base64.b64decode(value).decode()
    except Exception:
        return ""


class BootstrapTokenAuthenticator:
    """
    Token authenticator over C{lookup(resource, namespace, name)} (see
    L{kapid.auth.serviceaccount.storage_lookup}) and C{now()} (seconds since the epoch).
    """

    def __init__(self, lookup: Callable[[str, str, str], Any], now: Callable[[], float]) -> None:
        self.lookup = lookup
        self.now = now

    def authenticate_token(self, token: str) -> Any:
        """
        The bootstrap user (a Deferred), or None when C{token} does not look like a bootstrap
        token.
        """
        match = TOKEN.match(token)
        if match is None:
            return None
        return Deferred.fromCoroutine(self._check(match.group(1), match.group(2)))

    async def _check(self, token_id: str, token_secret: str) -> Optional[UserInfo]:
        from kapid.apimachinery.meta import parse_timestamp

        secret = await self.lookup("secrets", "kube-system", f"bootstrap-token-{token_id}")
        if secret is None or (secret.get("metadata") or {}).get("deletionTimestamp"):
            return None
        if secret.get("type") != SECRET_TYPE:
            return None
        if not hmac.compare_digest(_field(secret, "token-secret").encode(), token_secret.encode()):
            return None
        if _field(secret, "token-id") != token_id:
            return None
        expiration = _field(secret, "expiration")
        if expiration:
            expires = parse_timestamp(expiration)
            if expires is None or expires <= self.now():
                return None
        if _field(secret, "usage-bootstrap-authentication") != "true":
            return None
        groups = [BOOTSTRAPPERS]
        for group in (g.strip() for g in _field(secret, "auth-extra-groups").split(",")):
            if not group:
                continue
            if not EXTRA_GROUP.match(group):
                return None
            if group not in groups:
                groups.append(group)
        return UserInfo(name=f"system:bootstrap:{token_id}", groups=tuple(groups))
