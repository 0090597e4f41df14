"""Explore-feed cards for teams about to fill, read through the feed plugin's API: open
teams whose leader paid, fewest seats left first; not a full, failed or expiring team,
nor the viewer's own."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.db import utcnow
from core.orders import checkout as checkouts
from core.testing import ADDRESS, api_token
from plugins.group_buy import service
from plugins.group_buy.models import Team
from tests.plugins.feed.helpers import feed_settings_for
from tests.plugins.group_buy.helpers import actor_of, join_and_pay, make_offer, open_and_pay, settle


async def _team_cards(client, headers=None) -> list[dict]:
    page = (await client.get("/api/v1/feed/explore", params={"limit": 20}, headers=headers or {})).json()
    return [c for c in page["items"] if c["kind"] == "group_buy"]


async def _expires_in(runtime, team_id: int, delta: timedelta) -> None:
    async with runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == team_id).values(expires_at=utcnow() + delta))
        await s.commit()


async def test_teams_about_to_fill_are_cards_in_the_explore_feed(zc_client, zc_runtime, zc_make_user, zc_make_product):
    feed_settings_for(zc_runtime)  # batches of 20: up to three cards of other plugins
    trio, _v, _o = await make_offer(zc_runtime, zc_make_user, zc_make_product, brand="trio-brand", size=3, price=9900, team_price=6900)
    pair, _v, _o = await make_offer(zc_runtime, zc_make_user, zc_make_product, brand="pair-brand", size=2)
    users = [await zc_make_user(f"shopper{i}@example.com") for i in range(9)]
    one_left = await open_and_pay(zc_runtime, users[0], trio.id)
    await join_and_pay(zc_runtime, users[1], one_left.team_id)
    two_left = await open_and_pay(zc_runtime, users[2], trio.id)
    closing = await open_and_pay(zc_runtime, users[3], trio.id)
    await _expires_in(zc_runtime, closing.team_id, timedelta(seconds=30))  # nobody could pay in time
    full = await open_and_pay(zc_runtime, users[4], pair.id)
    await join_and_pay(zc_runtime, users[5], full.team_id)
    failed = await open_and_pay(zc_runtime, users[6], pair.id)
    await _expires_in(zc_runtime, failed.team_id, -timedelta(seconds=1))
    await service.expire_team(zc_runtime, failed.team_id)  # (or the sweep did, meanwhile)
    await service.open_team(zc_runtime, await actor_of(zc_runtime, users[7]), pair.id, address=ADDRESS)  # its leader has not paid: nobody can join yet
    await settle(zc_runtime)

    viewer = await api_token(zc_client, "shopper8@example.com")
    cards = await _team_cards(zc_client, viewer)
    assert [c["ref"] for c in cards] == [str(one_left.team_id), str(two_left.team_id)]
    first = cards[0]
    assert first["url"] == f"/group-buy/teams/{one_left.team_id}" and first["source"] == "group_buy"
    assert first["extra"]["seats_left"] == 1 and first["extra"]["size"] == 3
    assert (first["extra"]["team_price_minor"], first["extra"]["solo_price_minor"], first["extra"]["currency"]) == (6900, 9900, "CNY")
    assert "1" in first["title"] and "¥69.00" in first["title"] and first["author"]["user_id"] == users[0].id

    # the explore page draws it as a card linking to the team page (the feed's own card template)
    html = (await zc_client.get("/feed/", headers={"accept-language": "en"})).text
    assert 'data-kind="group_buy"' in html and f'href="/group-buy/teams/{one_left.team_id}"' in html

    # her own team is not offered to a member; a guest sees the same teams
    member = await api_token(zc_client, "shopper1@example.com")
    assert [c["ref"] for c in await _team_cards(zc_client, member)] == [str(two_left.team_id)]
    assert [c["ref"] for c in await _team_cards(zc_client)] == [str(one_left.team_id), str(two_left.team_id)]

    # a seat taken (being paid for) fills the team for now; given up unpaid, it is back, for her too
    quitter = await actor_of(zc_runtime, users[8])
    seat = await service.join_team(zc_runtime, quitter, one_left.team_id, address=ADDRESS)
    assert [c["ref"] for c in await _team_cards(zc_client)] == [str(two_left.team_id)]
    await checkouts.cancel_checkout(zc_runtime, seat.checkout_token, quitter)
    await settle(zc_runtime)
    assert [c["ref"] for c in await _team_cards(zc_client, viewer)] == [str(one_left.team_id), str(two_left.team_id)]

    # the last seat taken and paid: the team is full, and gone from new feeds
    await join_and_pay(zc_runtime, users[8], one_left.team_id)
    assert [c["ref"] for c in await _team_cards(zc_client)] == [str(two_left.team_id)]

