"""Members are told how their team ended: a core notice (core.notices) per member holding
a seat when it closed, saying what it means for her, counted in the top bar and listed
under "Notices"; the same through /api/v1/me/notices. Older deployments' unseen team
notices move into the core's table with the migration."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text, update

from core import migrate
from core.auth.models import User
from core.db import utcnow
from core.notices.models import Notice
from core.testing import ADDRESS, api_token, html_login
from plugins.group_buy import service
from plugins.group_buy.models import Team
from tests.plugins.group_buy.helpers import actor_of, join_and_pay, make_offer, open_and_pay, settle

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


async def notices_of(runtime, user) -> list[Notice]:
    async with runtime.db.read_session() as s:
        return list((await s.execute(select(Notice).where(Notice.user_id == user.id).order_by(Notice.id))).scalars())


async def test_a_filled_team_tells_each_member_once(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    assert await notices_of(zc_runtime, leader) == []  # open: nothing to tell yet
    await join_and_pay(zc_runtime, friend, seat.team_id)  # the last seat: the team succeeds
    await settle(zc_runtime)

    for member in (leader, friend):
        (notice,) = await notices_of(zc_runtime, member)
        assert (notice.kind, notice.key, notice.url) == ("group_buy.team_closed", f"group_buy.team:{seat.team_id}", f"/group-buy/teams/{seat.team_id}")
        assert notice.message == service.TEAM_FILLED and notice.args["product"]
    async with zc_runtime.db.session() as s:  # closing again (a retried job) tells nobody twice
        assert await service._close(s, zc_runtime, seat.team_id, "succeeded", "full") is False  # noqa: SLF001
        await s.commit()
    assert len(await notices_of(zc_runtime, friend)) == 1

    friend_api = await api_token(zc_client, friend.email)
    [item] = (await zc_client.get("/api/v1/me/notices", headers=friend_api)).json()["items"]
    assert item["text"].startswith("你参加的「") and item["text"].endswith("」拼团已成团：订单已付款。")

    # the top bar counts it; the notices page shows it in her language, then it is seen
    await _in_english(zc_runtime, leader)
    await html_login(zc_client, leader.email)
    assert 'data-testid="notice-count">1<' in (await zc_client.get("/account", headers=EN)).text
    page = (await zc_client.get("/account/notices", headers=EN)).text
    assert "filled: your order is paid." in page and f'href="/group-buy/teams/{seat.team_id}"' in page
    assert 'data-testid="notice-count"' not in (await zc_client.get("/account", headers=EN)).text
    assert len((await zc_client.get("/api/v1/me/notices", headers=friend_api, params={"unseen_only": "true"})).json()["items"]) == 1, "hers alone"
    mine = (await zc_client.get("/group-buy/me", headers=EN)).text
    assert f'data-team-id="{seat.team_id}"' in mine and "Team succeeded" in mine


async def test_an_expired_team_tells_the_members_holding_a_seat_not_one_who_left(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader, friend, quitter = await zc_make_user(), await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    await join_and_pay(zc_runtime, friend, seat.team_id)
    gave_up = await service.join_team(zc_runtime, await actor_of(zc_runtime, quitter), seat.team_id, address=ADDRESS)
    assert await service.leave_seat(zc_runtime, gave_up.member_id)  # she never paid
    await _expire(zc_runtime, seat.team_id)

    assert [len(await notices_of(zc_runtime, u)) for u in (leader, friend, quitter)] == [1, 1, 0]
    (notice,) = await notices_of(zc_runtime, friend)
    assert notice.message == service.TEAM_FAILED
    await _in_english(zc_runtime, friend)
    await html_login(zc_client, friend.email)
    assert "did not fill: you were not charged." in (await zc_client.get("/account/notices", headers=EN)).text


async def test_unseen_team_notices_move_to_the_core_with_the_migration(zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    await join_and_pay(zc_runtime, friend, seat.team_id)
    await settle(zc_runtime)
    await migrate.downgrade(zc_runtime, "0003_group_buy_notices")
    try:
        async with zc_runtime.db.engine.begin() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM notice WHERE kind = 'group_buy.team_closed'"))).scalar_one() == 0
            await conn.execute(text("UPDATE group_buy_member SET notice_seen_at = notified_at WHERE user_id = :u"), {"u": leader.id})  # she had seen hers
    finally:
        await migrate.upgrade(zc_runtime)
    assert await notices_of(zc_runtime, leader) == []
    (carried,) = await notices_of(zc_runtime, friend)
    assert (carried.message, carried.key, carried.url, carried.seen_at) == (service.TEAM_FILLED, f"group_buy.team:{seat.team_id}", f"/group-buy/teams/{seat.team_id}", None)
    assert carried.args["product"] and carried.created_at is not None
    assert await migrate.check(zc_runtime) is None
