"""Hooks the feed plugin publishes (`HOOKSPECS` of plugins.feed.hooks); see docs/feed.md."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from core import hookspec

if TYPE_CHECKING:
    from plugins.feed.cards import FeedCard, FeedPosition, FeedViewer


@hookspec
def feed_candidates(viewer: FeedViewer, cursor: FeedPosition, limit: int, runtime: Any, session: Any) -> Iterable[FeedCard] | None:
    """Cards of your own for a viewer's explore feed (live rooms, group buys).

    Called each time the feed ranks a batch of cards into a session (the first page of
    a session, then every `ZHONGCAO_FEED_BATCH_SIZE` cards). Return at most `limit`
    `plugins.feed.cards.FeedCard` with a `kind` other than "note" and a `ref` unique
    within your kind, best first; the feed places them among the notes, at most one in
    every `ZHONGCAO_FEED_INJECT_EVERY` slots, never twice in a session. Sync or async.
    Implement it with `@hookimpl(optionalhook=True)`, so your plugin still loads when
    the feed is disabled. `session` is the feed's read-only session: read with it (name
    it among your arguments) rather than opening another connection while the feed holds
    one; write nothing with it.
    """
