"""Members are told how their team ended: a notice per member holding a seat when it
closed, shown on "my teams" (then seen) and counted in the account menu; the same
through the API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from core.auth.models import User
from core.db import utcnow
from core.testing import ADDRESS, api_token, html_login
from plugins.group_buy import service
from plugins.group_buy.models import Team
from tests.plugins.group_buy.helpers import actor_of, join_and_pay, make_offer, open_and_pay, settle

API = "/api/v1/group-buy"
EN = {"accept-language": "en"}


async def _in_english(runtime, *users) -> None:
    """Signed-in pages speak the account's language (zh-CN by default)."""
    async with runtime.db.session() as s:
        await s.execute(update(User).where(User.id.in_([u.id for u in users])).values(locale="en"))
        await s.commit()


async def _expire(runtime, team_id: int) -> None:
    async with runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == team_id).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert await service.expire_team(runtime, team_id) == "failed"
    await settle(runtime)


async def test_a_filled_team_tells_each_member_once_and_the_page_clears_it(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    async with zc_runtime.db.read_session() as s:
        assert await service.count_unseen_notices(s, leader.id) == 0  # open: nothing to tell yet
    await join_and_pay(zc_runtime, friend, seat.team_id)  # the last seat: the team succeeds

    friend_api = await api_token(zc_client, friend.email)
    [notice] = (await zc_client.get(f"{API}/me/notices", headers=friend_api)).json()
    assert (notice["team"]["id"], notice["team"]["status"], notice["me"]["status"], notice["me"]["is_leader"]) == (seat.team_id, "succeeded", "paid", False)
    assert notice["me"]["checkout_token"] is None and notice["notified_at"]

    # the account menu counts it (in her language); "my teams" shows it once, then it is seen
    await html_login(zc_client, leader.email)
    account = (await zc_client.get("/account")).text
    assert 'data-testid="group-buy-unseen"' in account and "1 条新消息" in account
    await _in_english(zc_runtime, leader)
    assert "1 new" in (await zc_client.get("/account")).text
    mine = (await zc_client.get("/group-buy/me", headers=EN)).text
    assert 'data-testid="group-buy-notices"' in mine and f'data-team-id="{seat.team_id}"' in mine
    assert "Team succeeded" in mine and "The team filled: every member&#39;s order is paid." in mine
    assert 'data-testid="group-buy-notice"' not in (await zc_client.get("/group-buy/me", headers=EN)).text
    assert 'data-testid="group-buy-unseen"' not in (await zc_client.get("/account", headers=EN)).text

    # the friend's notice is hers alone: the leader's visit did not clear it
    assert len((await zc_client.get(f"{API}/me/notices", headers=friend_api)).json()) == 1
    r = await zc_client.post(f"{API}/me/notices/seen", json={}, headers=friend_api)
    assert r.status_code == 200 and r.json() == {"marked": 1}
    assert (await zc_client.post(f"{API}/me/notices/seen", json={}, headers=friend_api)).json() == {"marked": 0}  # again: nothing
    assert (await zc_client.get(f"{API}/me/notices", headers=friend_api)).json() == []


async def test_an_expired_team_tells_the_members_holding_a_seat_not_one_who_left(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader, friend, quitter = await zc_make_user(), await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    await join_and_pay(zc_runtime, friend, seat.team_id)
    gave_up = await service.join_team(zc_runtime, await actor_of(zc_runtime, quitter), seat.team_id, address=ADDRESS)
    assert await service.leave_seat(zc_runtime, gave_up.member_id)  # she never paid
    await _expire(zc_runtime, seat.team_id)

    async with zc_runtime.db.read_session() as s:
        assert [await service.count_unseen_notices(s, u.id) for u in (leader, friend, quitter)] == [1, 1, 0]
    [notice] = (await zc_client.get(f"{API}/me/notices", headers=await api_token(zc_client, friend.email))).json()
    assert (notice["team"]["status"], notice["me"]["status"]) == ("failed", "refunded")

    await _in_english(zc_runtime, friend)
    await html_login(zc_client, friend.email)
    mine = (await zc_client.get("/group-buy/me", headers=EN)).text
    assert "Team failed" in mine and "nobody was charged" in mine and "Refunded: your card was not charged." in mine


async def test_marking_seen_by_team_touches_only_the_callers_notices(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2, per_user_limit=2)
    leader, friend = await zc_make_user(), await zc_make_user()
    first = await open_and_pay(zc_runtime, leader, offer.id)
    second = await open_and_pay(zc_runtime, leader, offer.id)
    await join_and_pay(zc_runtime, friend, first.team_id)
    await _expire(zc_runtime, second.team_id)
    leader_api, friend_api = await api_token(zc_client, leader.email), await api_token(zc_client, friend.email)
    assert {n["team"]["id"] for n in (await zc_client.get(f"{API}/me/notices", headers=leader_api)).json()} == {first.team_id, second.team_id}

    # the friend names both teams: only hers (the first) is marked; the leader's stay
    r = await zc_client.post(f"{API}/me/notices/seen", json={"team_ids": [first.team_id, second.team_id, 0, 2**70]}, headers=friend_api)
    assert r.json() == {"marked": 1}
    assert len((await zc_client.get(f"{API}/me/notices", headers=leader_api)).json()) == 2
    assert (await zc_client.post(f"{API}/me/notices/seen", json={"team_ids": [second.team_id]}, headers=leader_api)).json() == {"marked": 1}
    assert [n["team"]["id"] for n in (await zc_client.get(f"{API}/me/notices", headers=leader_api)).json()] == [first.team_id]

    # bad input and strangers
    bad = await zc_client.post(f"{API}/me/notices/seen", json={"team_ids": "all"}, headers=leader_api)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert (await zc_client.get(f"{API}/me/notices")).status_code == 401
    assert (await zc_client.post(f"{API}/me/notices/seen", json={})).status_code == 401
