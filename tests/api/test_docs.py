"""The interactive docs work offline (issue 16, finding 10): ``/docs`` (Swagger UI) and
``/redoc`` load every script, style sheet and icon from the server itself, never from a CDN
(FastAPI's default pages pull them from cdn.jsdelivr.net and are blank without internet)."""

from __future__ import annotations

import re

import httpx

from jbt.api import create_app
from jbt.config import load_config

from .conftest import uvicorn_server, write_project

#: Every URL a page can make a browser fetch: src/href attributes, CSS url(), and the
#: JavaScript string literals of the inline script (the spec URL, the redirect URL).
URLS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^)"']+)|["'](https?:[^"']+|//[^"']+)["']""")


def _urls(html: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in URLS.finditer(html)}


def test_swagger_ui_and_redoc_load_everything_from_the_server(tmp_path):
    root = write_project(tmp_path / "project")
    app = create_app(load_config(root, env={}), root)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        swagger = http.get("/docs")
        redoc = http.get("/redoc")
        for page in (swagger, redoc):
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")

        swagger_urls = _urls(swagger.text)
        redoc_urls = _urls(redoc.text)
        assert swagger_urls == {
            "/docs/static/swagger-ui.css",
            "/docs/static/favicon.png",
            "/docs/static/swagger-ui-bundle.js",
        }
        assert redoc_urls == {"/docs/static/favicon.png", "/docs/static/redoc.standalone.js"}
        assert "cdn" not in swagger.text and "fonts.googleapis" not in redoc.text
        assert "url: '/openapi.json'" in swagger.text
        assert '"validatorUrl": null' in swagger.text  # no badge fetched from swagger.io
        assert 'spec-url="/openapi.json"' in redoc.text

        expected = {
            "/docs/static/swagger-ui-bundle.js": ("javascript", b"SwaggerUIBundle"),
            "/docs/static/swagger-ui.css": ("text/css", b".swagger-ui"),
            "/docs/static/redoc.standalone.js": ("javascript", b"Redoc"),
            "/docs/static/favicon.png": ("image/png", b"\x89PNG"),
        }
        for url in swagger_urls | redoc_urls:
            asset = http.get(url)
            kind, marker = expected[url]
            assert asset.status_code == 200, url
            assert kind in asset.headers["content-type"], url
            assert marker in asset.content[:2_000_000], url
        assert http.get("/openapi.json").json()["info"]["title"] == "jbt"
        redirect = http.get("/docs/oauth2-redirect")
        assert redirect.status_code == 200 and _urls(redirect.text) == set()
        # the static files are not part of the API's schema
        assert not any(p.startswith("/docs") for p in http.get("/openapi.json").json()["paths"])


def test_the_docs_need_the_token_like_everything_else(tmp_path):
    token = "docs-token-7f3a"
    root = write_project(tmp_path / "project", token=token)
    app = create_app(load_config(root, env={}), root)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        for path in ("/docs", "/redoc", "/docs/static/swagger-ui-bundle.js"):
            assert http.get(path).status_code == 401, path
            assert http.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
