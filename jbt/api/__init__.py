"""The HTTP API: ``create_app(config, project_dir)`` builds a FastAPI app over the same modes
the command line uses. ``jbt serve`` runs it with uvicorn."""

from jbt.api.app import create_app

__all__ = ["create_app"]
