"""`feed_candidates`: another plugin injects cards into the explore feed."""

from __future__ import annotations

import pytest

from core import hookimpl
from core.plugin_manager import PluginError
from core.testing import api_token
from plugins.feed.cards import FeedCard, FeedPosition, FeedViewer
from tests.plugins.feed.helpers import feed_settings_for, note, pages


class LiveRooms:
    """A stand-in for the live plugin: every call offers its rooms, best first."""

    def __init__(self) -> None:
        self.calls: list[tuple[FeedViewer, FeedPosition, int]] = []
        self.broken = False

    @hookimpl(optionalhook=True)
    async def feed_candidates(self, viewer: FeedViewer, cursor: FeedPosition, limit: int, runtime: object) -> list[FeedCard]:
        self.calls.append((viewer, cursor, limit))
        if self.broken:
            return [{"kind": "live", "ref": "x"}]  # type: ignore[list-item]
        return [FeedCard(kind="live", ref=f"room-{i}", title=f"Live {i}", url=f"/live/{i}", extra={"viewers": 10 + i}) for i in range(5)]


ROOMS = LiveRooms()


@pytest.fixture
def zc_extra_plugins():
    ROOMS.calls.clear()
    ROOMS.broken = False
    return [("livetest", ROOMS)]


async def test_hook_feed_candidates_injects_cards_once_per_session(zc_client, zc_runtime, zc_make_user):
    feed_settings_for(zc_runtime)  # batches of 20, one injected card in every 10 slots
    author = await zc_make_user("author@example.com", roles=("creator",))
    viewer = await zc_make_user("viewer@example.com")
    for i in range(30):
        await note(zc_runtime, author.id, title=f"n{i}", topics=("tea",), likes=i)
    headers = await api_token(zc_client, "viewer@example.com")
    cards = await pages(zc_client, "/api/v1/feed/explore", headers, limit=20)
    live = [(i, c) for i, c in enumerate(cards) if c["kind"] == "live"]
    assert [i for i, _ in live][:3] == [3, 13, 23]
    refs = [c["ref"] for _, c in live]
    assert len(refs) == len(set(refs)) and refs[:3] == ["room-0", "room-1", "room-2"]
    first = live[0][1]
    assert first == {
        "kind": "live", "ref": "room-0", "title": "Live 0", "note_id": None, "cover": None, "author": None, "like_count": 0,
        "sponsored": False, "source": "livetest", "url": "/live/0", "extra": {"viewers": 10},
    }
    assert len([c for c in cards if c["kind"] == "note"]) == 30
    viewer_seen, position, limit = ROOMS.calls[0]
    assert viewer_seen.user_id == viewer.id and position.position == 0 and position.batch == 0 and limit >= 2
    assert ROOMS.calls[1][1].position == 20 and ROOMS.calls[1][1].batch == 1
    assert ROOMS.calls[1][1].session_id == position.session_id


async def test_hook_feed_candidates_must_return_cards(zc_runtime, zc_make_user):
    from plugins.feed.explore import explore_page

    feed_settings_for(zc_runtime)
    author = await zc_make_user("author@example.com", roles=("creator",))
    await note(zc_runtime, author.id)
    ROOMS.broken = True
    with pytest.raises(PluginError, match="livetest.*feed_candidates"):
        await explore_page(zc_runtime, None, cursor=None, limit=10)
