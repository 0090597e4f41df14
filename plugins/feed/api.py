"""The feed's JSON API, mounted under /api/v1/feed/ (see docs/feed.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from litestar import Controller, Request, get, put
from litestar.params import Parameter

from core.web import login_required, strict_body
from plugins.feed import explore, service
from plugins.feed.cards import (
    FeedPage,
    SuggestedTopicsOut,
    TopicFeedPage,
    TopicPicksIn,
    TopicPicksOut,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

Cursor = Annotated[str | None, Parameter(max_length=512, description="next_cursor of the previous page")]
Limit = Annotated[int, Parameter(ge=1, le=200, description="cards per page (at most ZHONGCAO_FEED_PAGE_MAX, 50 by default)")]
Lat = Annotated[float | None, Parameter(ge=-90, le=90, description="the viewer's latitude, in degrees, if they share it")]
Lng = Annotated[float | None, Parameter(ge=-180, le=180, description="the viewer's longitude, in degrees")]


class FeedController(Controller):
    path = "/"
    tags = ["feed"]

    @get("/explore")
    async def explore_feed(self, runtime: Runtime, actor: Actor | None, cursor: Cursor = None, limit: Limit = 20, lat: Lat = None, lng: Lng = None) -> FeedPage:
        """The personalized two-column explore feed. Without a cursor a new session starts
        (pull to refresh); pass `next_cursor` to scroll on. Anonymous viewers get popular
        and fresh notes. `lat`/`lng` (both or neither) add nearby notes."""
        return await explore.explore_page(runtime, actor.user_id if actor else None, cursor=cursor, limit=limit, lat=lat, lng=lng)

    @get("/following", guards=[login_required])
    async def following_feed(self, runtime: Runtime, session: AsyncSession, actor: Actor, cursor: Cursor = None, limit: Limit = 20) -> FeedPage:
        """Notes of the authors you follow and notes about the brands you follow, newest first."""
        return await service.following_page(runtime, session, actor.user_id, cursor=cursor, limit=limit)

    @get("/topics/suggested")
    async def suggested_topics(self, runtime: Runtime, session: AsyncSession, limit: Annotated[int, Parameter(ge=1, le=100)] = 30) -> SuggestedTopicsOut:
        """Topics to pick from at sign-up (those with the most notes)."""
        return SuggestedTopicsOut(items=await service.suggested_topics(runtime, session, limit=limit))

    @get("/topics/{key:str}/notes")
    async def topic_feed(self, key: str, runtime: Runtime, session: AsyncSession, actor: Actor | None, cursor: Cursor = None, limit: Limit = 20) -> TopicFeedPage:
        """A topic's channel (by key or name, any case: 护肤, skincare): the topic and its
        notes, newest first; pass `next_cursor` to scroll on."""
        return await service.topic_page(runtime, session, actor.user_id if actor else None, key, cursor=cursor, limit=limit)

    @get("/topics", guards=[login_required])
    async def my_topics(self, runtime: Runtime, session: AsyncSession, actor: Actor) -> TopicPicksOut:
        """The topics you picked."""
        return TopicPicksOut(topics=await service.picked_topics(runtime, session, actor.user_id))

    @put("/topics", guards=[login_required])
    async def pick_topics(self, data: TopicPicksIn, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor) -> TopicPicksOut:
        """Pick the topics your feed starts with (replaces earlier picks; [] clears them)."""
        data = await strict_body(request, data)
        topics = await service.pick_topics(runtime, session, actor.user_id, data.topic_ids)
        await session.commit()
        return TopicPicksOut(topics=topics)


FEED_CONTROLLERS = (FeedController,)
