"""The request body cap: ``[server] max_request_bytes`` (1 MiB by default; a backtest request with
20 routes and their hyperparameters is a few kilobytes)."""

from __future__ import annotations

from starlette.exceptions import HTTPException

from jbt.api.auth import send_json


def too_large_detail(limit: int) -> str:
    return (f"the request body is larger than {limit:,} bytes ([server] max_request_bytes in "
            "config.toml); send less (e.g. fewer hyperparameters) or raise the limit")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body without a Content-Length passes the cap; FastAPI
    lets HTTPExceptions through its body parsing, and the app's handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is larger than ``limit`` bytes: at once when its
    Content-Length says so (nothing of the body is read), else as soon as the bytes received
    pass the limit."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await send_json(send, 400, {"detail": "invalid Content-Length header",
                                            "error": "HTTPError"})
                return
            if declared > self.limit:
                await send_json(send, 413, {"detail": too_large_detail(self.limit),
                                            "error": "PayloadTooLarge"},
                                headers=[(b"connection", b"close")])
                return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counted, send)
