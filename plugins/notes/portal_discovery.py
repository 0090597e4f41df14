"""The creator portal's creator page (brand staff weighing a creator): that creator's
recent public notes, in the `portal_creator_notes` slot. The page puts the creator's
user id in its context as `creator_user_id`; the slot is called with `user_id` and
`handle`. Without this plugin the block is simply not there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from markupsafe import Markup
from sqlalchemy import select

from plugins.notes.models import Note
from plugins.notes.notes import readable_by_anyone

if TYPE_CHECKING:
    from core.runtime import Runtime

TEMPLATE = "portal/creators_profile.html"
RECENT = 6


async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """The creator's newest published public notes as cards (three queries)."""
    user_id = context.get("creator_user_id")
    if template != TEMPLATE or not isinstance(user_id, int):
        return None
    from plugins.notes.pages_people import card_of
    from plugins.notes.views import note_cards

    async with runtime.db.read_session() as session:
        query = select(Note).where(Note.author_user_id == user_id, readable_by_anyone()).order_by(Note.published_at.desc(), Note.id.desc()).limit(RECENT)
        notes = list((await session.execute(query)).scalars())
        cards = [card_of(c) for c in await note_cards(session, notes)]
    return {"notes_portal_creator": {"user_id": user_id, "cards": cards}}


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot != "portal_creator_notes":
        return None
    recent = context.get("notes_portal_creator")
    if not recent or recent["user_id"] != context.get("user_id"):
        return None
    _ = context["_"]
    handle = str(context.get("handle") or "")
    more = Markup('<a href="/people/{}" data-testid="creator-notes-profile">{}</a>').format(quote(handle), _("All notes")) if handle else ""
    if recent["cards"]:
        body = context["render_template"]("notes/_people_note_cards.html", cards=recent["cards"], show_author=False, cards_testid="creator-notes-cards")
    else:
        body = Markup('<p class="muted">{}</p>').format(_("No public notes yet."))
    return Markup(
        '<section class="panel" data-testid="creator-notes" aria-labelledby="creator-notes-title">'
        '<div class="section-head"><h2 id="creator-notes-title">{}</h2>{}</div>{}</section>'
    ).format(_("Recent notes"), more, body)


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Recent notes": "最近笔记",
        "All notes": "全部笔记",
        "No public notes yet.": "还没有公开笔记。",
    },
}
