"""A room on air is an explore-feed card (through the feed plugin's `feed_candidates`) and a
LIVE badge on its host's profile (the notes plugin's `profile_badges` slot); an ended room
is neither."""

from __future__ import annotations

from plugins.live import service
from plugins.live.feed import feed_candidates
from tests.plugins.live.helpers import live_room


class Viewer:
    user_id = None


async def test_a_room_on_air_is_a_feed_card_and_a_badge_on_its_hosts_profile(zc_client, zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    async with zc_runtime.db.session() as s:
        await service.pin(s, owner, room.id, variant.product_id)
        await s.commit()
    [card] = await feed_candidates(Viewer(), None, 5, zc_runtime)
    assert (card.kind, card.ref, card.url, card.author.user_id) == ("live", str(room.id), f"/live/{room.id}", owner.user_id)
    assert "周五直播" in card.title  # "LIVE · " or "直播中 · ", in the default language

    # the host's notes profile shows the badge (a notes profile exists once she has a handle)
    from plugins.notes import profiles as notes_profiles

    async with zc_runtime.db.session() as s:
        handle = (await notes_profiles.ensure_profile(s, owner.user_id)).handle
        await s.commit()
    page = await zc_client.get(f"/notes/people/{handle}", headers={"accept-language": "en"})
    assert page.status_code == 200 and f'href="/live/{room.id}" data-testid="profile-live-badge"' in page.text

    async with zc_runtime.db.session() as s:
        await service.end_room(s, zc_runtime, owner, room.id)
        await s.commit()
    assert await feed_candidates(Viewer(), None, 5, zc_runtime) == []
    page = await zc_client.get(f"/notes/people/{handle}", headers={"accept-language": "en"})
    assert page.status_code == 200 and 'data-testid="profile-live-badge"' not in page.text
