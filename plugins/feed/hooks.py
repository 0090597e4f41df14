"""Entry point of the `feed` plugin (group `zhongcao.plugins`)."""

from __future__ import annotations

from pathlib import Path

from core import hookimpl
from plugins.feed import __version__  # noqa: F401 - read by `zhongcao plugins`

HERE = Path(__file__).resolve().parent


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("feed", HERE / "migrations" / "versions")
