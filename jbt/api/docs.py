"""The interactive docs, served from installed files: Swagger UI at ``/docs``, ReDoc at
``/redoc``. FastAPI's own pages load their scripts and styles from a CDN (a blank page without
internet); these pages load them from ``/docs/static/``, the files the ``fastapi-offline``
package ships, and ask for nothing else (no fonts, no validator badge, no remote favicon)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_URL = "/docs/static"
#: The files the pages load, all under STATIC_URL.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def static_dir() -> Path:
    """Where the Swagger UI and ReDoc files are installed."""
    return Path(str(resources.files(fastapi_offline) / "static"))


def add_docs(app: FastAPI, title: str) -> None:
    """Mount the static files and add ``/docs``, ``/docs/oauth2-redirect`` and ``/redoc`` to an
    app built with ``docs_url=None, redoc_url=None``."""
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_url = "/docs/oauth2-redirect"
    app.mount(STATIC_URL, StaticFiles(directory=static_dir()), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            oauth2_redirect_url=root + oauth2_url,
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(oauth2_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
