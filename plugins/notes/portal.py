"""The creator portal's note pickers: a creator submits one of their notes as a
collaboration's content, or makes a tracked link to one, without the portal knowing
about notes.

Slots `collaboration_content_picker` (radio buttons named `ref`, a note's id as
`resolve_content` reads it, inside the portal's form that posts `kind=note`) and
`link_note_options` (`<option value="note:{id}">` for the new-link select). Their data
is the creator's recent published public notes, loaded once per page by `page_context`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from plugins.notes import notes as svc
from plugins.notes.models import NoteStatus

if TYPE_CHECKING:
    from core.runtime import Runtime

PICKER_PAGES = ("portal/creator_collaboration.html", "portal/creator_links.html")
RECENT = 20  # the newest published notes offered


async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    actor = context.get("actor")
    if template not in PICKER_PAGES or actor is None:
        return None
    async with runtime.db.read_session() as session:
        mine = await svc.my_notes(session, actor, status=NoteStatus.PUBLISHED, limit=RECENT)
    return {"notes_mine": [(str(n.id), n.title, n.published_at) for n in mine if svc.is_visible(n)]}


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    mine = context.get("notes_mine")
    if mine is None:
        return None
    _ = context["_"]
    if slot == "collaboration_content_picker":
        if not mine:
            return Markup('<p class="muted" data-testid="no-notes">{} <a href="/notes/me">{}</a></p>').format(
                _("You have no published notes yet: post one, then pick it here."), _("My notes")
            )
        collab = context.get("collaboration")
        current = collab.content_ref if collab is not None and collab.content_kind == "note" else None
        choices = Markup("").join(
            Markup('<label class="check note-pick"><input type="radio" name="ref" value="{}" required{}> {} <small class="muted">{}</small></label>').format(
                ref, Markup(" checked") if ref == current else "", title, at.strftime("%Y-%m-%d") if at else ""
            )
            for ref, title, at in mine
        )
        return Markup('<fieldset class="note-picker" data-testid="note-picker"><legend>{}</legend>{}</fieldset><button class="btn" type="submit" data-testid="submit-note">{}</button>').format(
            _("Pick one of your notes"), choices, _("Submit this note")
        )
    if slot == "link_note_options" and mine:
        options = Markup("").join(Markup('<option value="note:{}">{}</option>').format(ref, title) for ref, title, _at in mine)
        return Markup('<optgroup label="{}">{}</optgroup>').format(_("My notes"), options)
    return None


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "You have no published notes yet: post one, then pick it here.": "你还没有已发布的笔记：先发布一篇，再在这里选择。",
        "Pick one of your notes": "选择你的一篇笔记",
        "Submit this note": "提交这篇笔记",
    }
}
