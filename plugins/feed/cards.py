"""What the feed serves: cards, pages, and what it tells plugins about the viewer."""

from __future__ import annotations

from typing import Any

import msgspec


class CardImage(msgspec.Struct, frozen=True):
    url: str
    width: int
    height: int


class CardAuthor(msgspec.Struct, frozen=True):
    user_id: int
    handle: str
    display_name: str
    avatar_url: str | None = None


class FeedCard(msgspec.Struct, kw_only=True, frozen=True):
    """One card of the two-column feed.

    A note's card has `kind="note"`, `ref` and `note_id` its id. Other plugins' cards
    (`feed_candidates`) have their own `kind` ("live", "group_buy"), their own `ref`
    (unique within their kind), and usually a `url` and kind-specific `extra` values.
    """

    kind: str
    ref: str
    title: str
    note_id: int | None = None
    cover: CardImage | None = None
    author: CardAuthor | None = None
    like_count: int = 0
    sponsored: bool = False
    source: str = ""  # why it is here: follow, brand, topic, popular, fresh, nearby, recent, or the plugin's name
    url: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class FeedPage(msgspec.Struct, kw_only=True):
    items: list[FeedCard]
    next_cursor: str | None  # None: the end (start again without a cursor)


class FeedViewer(msgspec.Struct, frozen=True, kw_only=True):
    """Who the explore feed is for, as plugins see it."""

    user_id: int | None  # None: anonymous
    lat_e6: int | None = None  # the location they shared, in millionths of a degree
    lng_e6: int | None = None
    topic_ids: tuple[int, ...] = ()  # their strongest topics (engaged with, or picked), strongest first


class FeedPosition(msgspec.Struct, frozen=True, kw_only=True):
    """Where in the viewer's feed session the asked-for cards will go."""

    session_id: int
    position: int  # cards placed before this batch
    batch: int  # 0 for the first batch of the session


class TopicOut(msgspec.Struct, frozen=True):
    id: int
    key: str
    name: str
    note_count: int


class TopicFeedPage(FeedPage, kw_only=True):
    """A topic's channel: the topic, and a page of its notes."""

    topic: TopicOut


class TopicPicksIn(msgspec.Struct, forbid_unknown_fields=True):
    topic_ids: list[int]


class TopicPicksOut(msgspec.Struct):
    topics: list[TopicOut]


class SuggestedTopicsOut(msgspec.Struct):
    items: list[TopicOut]
