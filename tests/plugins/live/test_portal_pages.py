"""The room console in the creator portal: a brand schedules a room hosted by a creator,
the creator goes live, pins, launches the brand's flash deal and ends the room; another
brand's staff and a stranger get 404; bad input keeps the console with its message."""

from __future__ import annotations

import re

from core.campaigns import profiles
from core.testing import post_form
from plugins.live.models import FlashDeal
from tests.creator_portal.test_commerce_pages import portal_login
from tests.plugins.live.helpers import actor_of


async def test_a_brand_and_its_creator_run_a_room_from_the_portal(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("glow-live", "owner"))
    variant = await zc_make_product("glow-live", price=16800, stock=20, title="Night cream")
    host_user = await zc_make_user("mia-live@example.com", roles=("creator",))
    async with zc_runtime.db.session() as s:
        await profiles.save_profile(s, zc_runtime, await actor_of(zc_runtime, host_user), {"handle": "mia.live", "followers": 5000, "avg_engagement": 100})
        await s.commit()
    rival = await zc_make_user(brand=("rival-live", "owner"))

    await portal_login(zc_client, owner.email)
    rooms = await zc_client.get("/creator/live/brands/glow-live/rooms", headers={"accept-language": "en"})
    assert rooms.status_code == 200 and 'data-testid="live-room-form"' in rooms.text and 'data-testid="brand-live-tab"' in rooms.text
    bad = await post_form(zc_client, "/creator/live/brands/glow-live/rooms", {"title": "Night routine live", "host": "nobody.here"})
    assert bad.status_code == 422 and "no creator has that handle" in bad.text
    made = await post_form(zc_client, "/creator/live/brands/glow-live/rooms", {"title": "Night routine live", "host": "@mia.live", "scheduled_at": "2026-12-01T20:00"})
    assert made.status_code == 303, made.text
    room_id = int(re.search(r"/creator/live/rooms/(\d+)", made.headers["location"]).group(1))
    console = await zc_client.get(f"/creator/live/rooms/{room_id}", headers={"accept-language": "en"})
    assert 'data-testid="live-deal-form"' in console.text and 'data-testid="live-stream-key"' in console.text
    deal = await post_form(zc_client, f"/creator/live/rooms/{room_id}/deals", {"variant_id": str(variant.id), "deal_price": "99", "quantity": "30", "per_customer_limit": "1"})
    assert deal.status_code == 422 and "only 20 units" in deal.text  # more than in stock: the console again, with why
    deal = await post_form(zc_client, f"/creator/live/rooms/{room_id}/deals", {"variant_id": str(variant.id), "deal_price": "99", "quantity": "10", "per_customer_limit": "1", "countdown_seconds": "10", "duration_minutes": "2"})
    assert deal.status_code == 303, deal.text

    # another brand's staff: 404 everywhere
    zc_client.cookies.clear()
    await portal_login(zc_client, rival.email)
    assert (await zc_client.get(f"/creator/live/rooms/{room_id}")).status_code == 404
    assert (await post_form(zc_client, f"/creator/live/rooms/{room_id}/live", {})).status_code == 404
    assert (await zc_client.get("/creator/live/brands/glow-live/rooms")).status_code == 404

    # the creator hosts: her rooms, go live, pin, launch, end
    zc_client.cookies.clear()
    await portal_login(zc_client, host_user.email)
    mine = await zc_client.get("/creator/live/me/rooms", headers={"accept-language": "en"})
    assert f'data-room-id="{room_id}"' in mine.text and 'data-testid="creator-live-tab"' in mine.text
    console = await zc_client.get(f"/creator/live/rooms/{room_id}", headers={"accept-language": "en"})
    assert 'data-testid="live-deal-form"' not in console.text  # deals are the brand's to define
    assert (await post_form(zc_client, f"/creator/live/rooms/{room_id}/live", {})).status_code == 303
    assert (await post_form(zc_client, f"/creator/live/rooms/{room_id}/pins", {"product_id": str(variant.product_id)})).status_code == 303
    console = await zc_client.get(f"/creator/live/rooms/{room_id}", headers={"accept-language": "en"})
    assert 'data-testid="live-unpin"' in console.text and 'data-testid="live-deal-launch"' in console.text
    async with zc_runtime.db.read_session() as s:
        from sqlalchemy import select

        deal_id = (await s.execute(select(FlashDeal.id).where(FlashDeal.room_id == room_id))).scalar_one()
    assert (await post_form(zc_client, f"/creator/live/rooms/{room_id}/deals/{deal_id}/launch", {})).status_code == 303
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(FlashDeal, deal_id)).starts_at is not None
    assert (await post_form(zc_client, f"/creator/live/rooms/{room_id}/end", {})).status_code == 303
    async with zc_runtime.db.read_session() as s:
        ended = await s.get(FlashDeal, deal_id)
        assert ended.ended_at is not None and ended.returned == 10  # nothing sold: every unit back in stock
    viewer_page = await zc_client.get(f"/live/{room_id}")
    assert 'data-testid="live-replay-link"' in viewer_page.text
