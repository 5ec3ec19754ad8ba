"""Who may talk to the server: the ``Host`` check (DNS rebinding), bearer-token protection,
and the rule that only loopback binds may run without a token."""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Iterable

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


def check_token(token: str | None) -> str | None:
    """The token as given, or a ConfigError when it could never be sent: empty, only
    whitespace, or with whitespace around it (HTTP clients strip a header value)."""
    if token is None:
        return None
    if not token.strip():
        raise ConfigError(
            "the server token is empty or only whitespace; set a real secret in "
            "JBT_SERVER_TOKEN (or [server] token, or --token), e.g. the output of: "
            "python -c \"import secrets; print(secrets.token_urlsafe(32))\""
        )
    if token != token.strip():
        raise ConfigError(
            "the server token starts or ends with whitespace, which no client can send; "
            "remove it from JBT_SERVER_TOKEN (or [server] token, or --token)"
        )
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token, and with a token that is
    blank or has whitespace around it on any address."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run "
            "imports and backtests and read your sessions; set JBT_SERVER_TOKEN (or [server] token in config.toml, "
            "or --token), or bind to 127.0.0.1"
        )
    check_token(token)


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


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _host_name(header: bytes) -> str | None:
    """The host of a ``Host`` header (no port, no brackets, lower case), None when malformed."""
    try:
        text = header.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            return None
        return text[1:end]
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


class HostCheckMiddleware:
    """Answer 400 to a request whose ``Host`` is not this server, token or not.

    A web page can make a browser send requests to a server on the user's machine through a
    name it controls (DNS rebinding); the browser then sends that name as the ``Host``. So the
    server answers only to: the address it is bound to, the loopback names and addresses
    (``localhost``, ``127.0.0.1``, ``::1``) when bound to loopback or to every interface, any
    IP address when bound to every interface (``0.0.0.0``, ``::``), and the names in
    ``allowed_hosts`` (``*.example.lan`` allows its subdomains). A rebinding page cannot send
    any of these.
    """

    def __init__(self, app, bind_host: str, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        bind = bind_host.strip().strip("[]").lower()
        bind_ip = _ip(bind)
        self._wildcard = bind_ip is not None and bind_ip.is_unspecified
        self._loopback_ok = self._wildcard or is_loopback(bind)
        self._names = {bind} | {h.strip().lower().rstrip(".") for h in allowed_hosts if h.strip()}
        self._suffixes = tuple(n[1:] for n in self._names if n.startswith("*."))

    def allowed(self, host: str) -> bool:
        if host in self._names or (self._suffixes and host.endswith(self._suffixes)):
            return True
        ip = _ip(host)
        if self._loopback_ok and (host == "localhost" or (ip is not None and ip.is_loopback)):
            return True
        return self._wildcard and ip is not None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = next((v for k, v in scope.get("headers", ()) if k == b"host"), None)
        host = _host_name(raw) if raw is not None else None
        if host is not None and self.allowed(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        shown = "no Host header" if raw is None else f"Host '{raw[:100].decode('latin-1')}'"
        detail = (f"{shown}: this server answers only to its own address and names; to reach "
                  "it under another name, add that name to [server] allowed_hosts in config.toml")
        await send_json(send, 400, {"detail": detail, "error": "BadHost"})


async def send_json(send, status: int, content: dict, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """Send a whole JSON answer from an ASGI middleware."""
    body = json.dumps(content).encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            *headers,
        ],
    })
    await send({"type": "http.response.body", "body": body})
