"""Entry point of the `notes` plugin (group `zhongcao.plugins`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any


from core import hookimpl
from core.web import PageModules
from plugins.notes import __version__  # noqa: F401 - read by `zhongcao plugins`
from plugins.notes import specs as HOOKSPECS  # noqa: F401 - moderate_content and follower_ids, published for other plugins

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.campaigns.attribution import SaleCandidate, SaleContext
    from core.campaigns.collaborations import ContentInfo
    from core.campaigns.profiles import CreatorStats
    from core.events import Event
    from core.jobs import Job
    from core.runtime import Runtime
    from plugins.notes.moderation import ModerationVerdict

HERE = Path(__file__).resolve().parent
log = logging.getLogger("zhongcao.notes")
PUBLISH_DUE_JOB = "notes.publish_due"


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("notes", HERE / "migrations" / "versions")


@hookimpl
def register_models() -> tuple[type, ...]:
    from plugins.notes.models import MODELS

    return MODELS


# ---------------------------------------------------------------- engagement and people (H-engage)
# Routes, event types and the impression timer of plugins/notes/engagement.py and
# profiles.py. Merge your own into these functions (one hookimpl per name per module).


@hookimpl
def register_routes(surface: str) -> list:
    """JSON API under /api/v1/notes; storefront pages under /notes."""
    if surface == "api":
        from plugins.notes.api import NOTE_CONTROLLERS
        from plugins.notes.api_engagement import ENGAGEMENT_CONTROLLERS

        return [*NOTE_CONTROLLERS, *ENGAGEMENT_CONTROLLERS]
    if surface == "storefront":
        from core.web import static_assets
        from plugins.notes.pages_note import NOTE_PAGES
        from plugins.notes.pages_people import PEOPLE_PAGES

        static = static_assets("/static", HERE / "static", name="notes_static")
        return [*NOTE_PAGES, *PEOPLE_PAGES, static]
    return []


# ---------------------------------------------------------------- storefront pages
# The note page (pages_note.py) and people's pages (pages_people.py: profiles, the
# shopper's own notes, boards, likes, follows, "what people say" on product pages) each
# bring their routes, translations, page data and slot fragments; these hooks join them.


def _page_modules() -> tuple[Any, ...]:
    from plugins.notes import pages_note, pages_people, portal, portal_discovery

    return (pages_note, pages_people, portal_discovery, portal)


PAGES = PageModules(_page_modules)


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return PAGES.translations()


@hookimpl
async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    return await PAGES.page_context(template, context, runtime)


@hookimpl
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    return PAGES.render_slot(slot, context)


@hookimpl
def register_event_types() -> dict[str, str]:
    from plugins.notes.engagement import ENGAGEMENT_EVENT_TYPES
    from plugins.notes.notes import NOTE_EVENT_TYPES
    from plugins.notes.profiles import PROFILE_EVENT_TYPES

    return {**NOTE_EVENT_TYPES, **ENGAGEMENT_EVENT_TYPES, **PROFILE_EVENT_TYPES}


@hookimpl
def startup(app, runtime) -> None:
    """Flush buffered impressions on a timer while the app runs (scheduled publishing is
    a periodic job: the core's ticker enqueues it)."""
    from plugins.notes.engagement import start_impression_timer

    start_impression_timer(runtime)


@hookimpl
async def shutdown(app, runtime) -> None:
    """Write the impressions still buffered."""
    from plugins.notes.engagement import stop_impression_timer

    await stop_impression_timer(runtime)


# ---------------------------------------------------------------- notes (H-notes)


@hookimpl
def register_jobs() -> list[Job]:
    from core.jobs import Job

    async def publish_due(runtime: Runtime) -> None:
        from plugins.notes.notes import publish_due as run

        await run(runtime)

    return [Job(name=PUBLISH_DUE_JOB, fn=publish_due, queue="default", max_retries=3, periodic=True)]


@hookimpl
def register_cli_commands(cli: Any) -> None:
    from plugins.notes.cli import notes

    cli.add_command(notes)


@hookimpl
def moderate_content(kind: str, text: str, author_user_id: int | None, runtime: Runtime) -> ModerationVerdict:
    """The default: the keyword lists of ZHONGCAO_NOTES_BLOCKLIST / ZHONGCAO_NOTES_HOLDLIST."""
    from plugins.notes.moderation import keyword_verdict

    return keyword_verdict(text)


@hookimpl
async def follower_ids(user_id: int | None, brand_id: int | None, after: int, limit: int, runtime: Runtime) -> list[int]:
    from plugins.notes.profiles import follower_ids as read

    async with runtime.db.read_session() as session:
        return await read(session, user_id=user_id, brand_id=brand_id, after=after, limit=limit)


@hookimpl
async def resolve_content(kind: str, ref: str, runtime: Runtime) -> ContentInfo | None:
    if kind != "note":
        return None
    from plugins.notes.notes import content_info

    return await content_info(runtime, ref)


@hookimpl
async def creator_stats(user_id: int, runtime: Runtime) -> CreatorStats | None:
    from plugins.notes.notes import stats_of

    return await stats_of(runtime, user_id)


@hookimpl
async def attribute_sale(order: SaleContext, runtime: Runtime) -> list[SaleCandidate]:
    from plugins.notes.notes import sale_candidates

    return await sale_candidates(runtime, order)


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    await handle_note_event(event, runtime)


async def handle_note_event(event: Event, runtime: Runtime) -> None:
    """A collaboration that starts (or takes a note as its content) labels the creator's
    notes that tag its brand as sponsored. Idempotent: it recomputes the label. A renamed
    author's notes are reindexed (their documents carry the name and handle)."""
    if event.type == "user.renamed":
        from plugins.notes.search import author_renamed

        await author_renamed(runtime, event.payload.get("ids", []))
        return
    if event.type not in ("collaboration.accepted", "collaboration.content_submitted"):
        return
    from plugins.notes.notes import refresh_disclosure, stale_disclosures

    author = int(event.payload["creator_user_id"])
    brand = event.payload.get("brand_id") if event.type == "collaboration.accepted" else None
    async with runtime.db.read_session() as session:
        if not await stale_disclosures(session, author, brand):
            return  # the usual case: nothing to relabel, no write transaction
    async with runtime.db.session() as session:
        await refresh_disclosure(session, author, brand)
        await session.commit()


@hookimpl
async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    from plugins.notes.demo import seed_notes_demo

    await seed_notes_demo(session, runtime)


@hookimpl
def register_search_indexes() -> list[Any]:
    from plugins.notes.search import NOTES

    return [NOTES]


@hookimpl
def search_document(index: str, obj: Any, runtime: Runtime) -> dict[str, Any] | None:
    if index == "notes":
        from plugins.notes.search import note_document

        return note_document(obj)
    return None
