"""Entry point of the `feed` plugin (group `zhongcao.plugins`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import hookimpl
from plugins.feed import __version__  # noqa: F401 - read by `zhongcao plugins`
from plugins.feed import specs as HOOKSPECS  # noqa: F401 - feed_candidates, published for other plugins

HERE = Path(__file__).resolve().parent


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("feed", HERE / "migrations" / "versions")


@hookimpl
def register_models() -> tuple[type, ...]:
    from plugins.feed.models import MODELS

    return MODELS


@hookimpl
def register_routes(surface: str) -> list[Any]:
    """JSON API under /api/v1/feed; the explore pages under /feed."""
    if surface == "api":
        from plugins.feed.api import FEED_CONTROLLERS

        return list(FEED_CONTROLLERS)
    if surface == "storefront":
        from core.web import static_assets
        from plugins.feed.pages import EXPLORE_PAGES

        static = static_assets("/static", HERE / "static", name="feed_static")
        return [*EXPLORE_PAGES, static]
    return []


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    from plugins.feed.pages import TRANSLATIONS

    return TRANSLATIONS


@hookimpl
async def page_context(template: str, context: dict[str, Any], runtime: Any) -> dict[str, Any] | None:
    from plugins.feed.pages import page_context as explore_context

    return await explore_context(template, context, runtime)


@hookimpl
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    from plugins.feed.pages import render_slot as explore_slot

    return explore_slot(slot, context)


@hookimpl
def register_cli_commands(cli: Any) -> None:
    from plugins.feed.cli import feed

    cli.add_command(feed)


@hookimpl
def register_jobs() -> list[Any]:
    from core.jobs import Job

    async def expire_sessions(runtime: Any) -> None:
        from plugins.feed.explore import expire_sessions as run

        await run(runtime)

    return [Job(name="feed.expire_sessions", fn=expire_sessions, queue="default", max_retries=3, periodic=True, every_seconds=600.0)]
