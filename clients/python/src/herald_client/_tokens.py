"""mint_token(): an HS256 JWT for Herald's --auth-secret-file, with the standard library."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Mapping, Optional, Union

ROLES = ("viewer", "worker", "admin")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(obj: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def mint_token(secret: Union[str, bytes], sub: str, role: str = "viewer", ttl: float = 3600, *,
               claims: Optional[Mapping[str, Any]] = None, now: Optional[float] = None) -> str:
    """A JWT signed with HS256 that Herald accepts when started with `--auth-secret-file`.

    `secret`: the key, i.e. the secret file's content. Trailing whitespace is removed, as the
    server does with the file (so `open(path, "rb").read()` works as is). `sub`: the owner the
    token acts for; `role`: viewer, worker or admin; `ttl`: seconds until `exp`. `claims` adds
    or overrides claims (e.g. `nbf`, `jti`). Claims: sub, role, iat, exp (whole seconds).
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    key = (secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)).rstrip()
    if not key:
        raise ValueError("the secret is empty")
    issued = int(time.time() if now is None else now)
    payload: Dict[str, Any] = {"sub": sub, "role": role, "iat": issued, "exp": issued + int(ttl)}
    if claims:
        payload.update(claims)
    signing_input = _segment({"alg": "HS256", "typ": "JWT"}) + "." + _segment(payload)
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)
