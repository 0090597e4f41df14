"""Hooks the notes plugin publishes for other plugins (added to the plugin manager through
`plugins.notes.hooks.HOOKSPECS`). Implement them with `@hookimpl(optionalhook=True)`, so
your plugin still loads when the notes plugin is disabled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import hookspec

if TYPE_CHECKING:
    from core.runtime import Runtime
    from plugins.notes.moderation import ModerationVerdict


@hookspec
def moderate_content(kind: str, text: str, author_user_id: int | None, runtime: Runtime) -> ModerationVerdict | None:
    """Judge a text before it is shown to others (may be async).

    `kind` says what it is: "note" (title, body and place of a note being published or
    edited) or "comment". Return `plugins.notes.moderation.ModerationVerdict(verdict,
    reasons)` with verdict "allow", "hold" (staff review it first) or "block" (refused),
    or None for no opinion. Every implementation runs; the strictest verdict wins
    (block > hold > allow) and carries the reasons of every implementation that gave it.
    The notes plugin's own implementation is the keyword lists of
    `ZHONGCAO_NOTES_BLOCKLIST` / `ZHONGCAO_NOTES_HOLDLIST`.
    """


@hookspec
def follower_ids(user_id: int | None, brand_id: int | None, after: int, limit: int, runtime: Runtime) -> list[int] | None:
    """Who follows a user (`user_id`) or a brand (`brand_id`; the other is None): their
    user ids in ascending order, each greater than `after`, at most `limit` (may be async).

    Page through them by passing the last id as the next `after`; an empty list is the
    end. The live plugin uses it to tell followers a room went live. The notes plugin's own
    implementation reads its follows; callers merge the answers of every implementation.
    """
