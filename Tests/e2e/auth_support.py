"""Tokens for the access-control tests, minted with PyJWT (a library nobody here wrote), and a
server started with --auth-secret-file."""

from __future__ import annotations

import contextlib
import os
import time

import jwt

from tasks_support import Api, own_server, task_serve_args

SECRET = b"e2e-secret-" + b"k" * 40          # ≥ 32 bytes, as HS256 needs
PUBLISH_TOKEN = "publish-" + "p" * 24


def mint(sub: str | None = "alice", role: str | None = "viewer", ttl: float = 600, *, key: bytes = SECRET,
         algorithm: str = "HS256", **claims) -> str:
    now = int(time.time())
    payload = {"iat": now, "exp": now + ttl}
    if sub is not None:
        payload["sub"] = sub
    if role is not None:
        payload["role"] = role
    payload.update(claims)
    return jwt.encode(payload, key, algorithm=algorithm)


def secret_file(tmp_path, data: bytes = SECRET) -> str:
    path = tmp_path / "auth.secret"
    path.write_bytes(data + b"\n")    # trailing whitespace is not part of the key
    return str(path)


@contextlib.contextmanager
def auth_server(site, tmp_path, *extra):
    with own_server(task_serve_args(site.public, ":memory:", "--auth-secret-file", secret_file(tmp_path), *extra),
                    name="auth herald") as h:
        yield h


class AuthApi(Api):
    """The task API with a bearer token on every request (or none)."""

    def __init__(self, port: int, token: str | None):
        super().__init__(port)
        self.token = token

    def call(self, method, path, body=None, *, headers=None, **kw):
        hdrs = dict(headers or {})
        if self.token is not None:
            hdrs.setdefault("Authorization", f"Bearer {self.token}")
        return super().call(method, path, body, headers=hdrs, **kw)


def ws_url(port: int, query: str) -> str:
    return f"ws://127.0.0.1:{port}/ws?{query}"


def env_without_tokens() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("HERALD_TOKEN", "HERALD_PUBLISH_TOKEN", "HERALD_AUTH_SECRET_FILE")}
