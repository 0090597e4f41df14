"""Entry point of the `notes` plugin (group `zhongcao.plugins`)."""

from __future__ import annotations

from pathlib import Path

from core import hookimpl
from plugins.notes import __version__  # noqa: F401 - read by `zhongcao plugins`

HERE = Path(__file__).resolve().parent


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("notes", HERE / "migrations" / "versions")


@hookimpl
def register_models() -> tuple[type, ...]:
    from plugins.notes.models import MODELS

    return MODELS
