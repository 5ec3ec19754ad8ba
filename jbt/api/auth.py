"""Bearer-token protection and the rule that only loopback binds may run without a token."""

from __future__ import annotations

import ipaddress
import json
import secrets

from jbt.errors import ConfigError

#: Header sent with every 401 so clients know which scheme to use.
CHALLENGE = (b"www-authenticate", b"Bearer")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; every other name or address is reachable
    from elsewhere (``0.0.0.0`` and ``::`` mean every interface)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "imports and backtests and read your sessions; set JBT_SERVER_TOKEN (or [server] token in config.toml, "
            "or --token), or bind to 127.0.0.1"
        )


class BearerTokenMiddleware:
    """Answer 401 to every HTTP request (the docs and the schema included) that does not carry
    ``Authorization: Bearer <token>``. Compares in constant time."""

    def __init__(self, app, token: str) -> None:
        if not token:
            raise ValueError("BearerTokenMiddleware needs a non-empty token")
        self.app = app
        self._expected = token.encode("utf-8")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(
            {
                "detail": "missing or wrong token: send the header 'Authorization: Bearer <token>'",
                "error": "Unauthorized",
            }
        ).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    CHALLENGE,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                if scheme.lower() != b"bearer":
                    return False
                return secrets.compare_digest(given.strip(), self._expected)
        return False
