"""The HTTP API: ``create_app(config, project_dir)`` builds a FastAPI app over the same modes
the command line uses. ``jbt serve`` runs it with uvicorn.

``create_app`` is imported on first use, so the processes that run backtests and optimisations
for the server (:mod:`jbt.api.worker`, :mod:`jbt.api.optimizer`) start without FastAPI."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from jbt.api.app import create_app

        return create_app
    raise AttributeError(f"module 'jbt.api' has no attribute {name!r}")
