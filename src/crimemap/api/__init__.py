"""The web API and browser map: ``create_app(settings)`` (FastAPI)."""

from crimemap.api.app import create_app, static_dir
from crimemap.api.errors import STATUS, status_for

__all__ = ["STATUS", "create_app", "static_dir", "status_for"]
