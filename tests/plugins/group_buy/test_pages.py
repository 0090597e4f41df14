"""The shopper's team pages over HTTP, as a browser uses them: the product-page card (only
while an offer is live), opening a team and joining it through forms with CSRF that end
on the core's payment page, the public team page (the share link) and its states, errors
with their status codes, "my teams", zh-CN, and the plugin switched off."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from core.catalog.models import Product, Variant
from core.db import utcnow
from core.testing import ADDRESS, html_login, post_form
from plugins.group_buy import service
from plugins.group_buy.models import Team
from tests.plugins.group_buy.helpers import CARD, make_offer, open_and_pay, settle

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-CN"}


async def product_path(runtime: Any, variant: Any) -> str:
    async with runtime.db.read_session() as s:
        slug = (await s.execute(select(Product.slug).join(Variant, Variant.product_id == Product.id).where(Variant.id == variant.id))).scalar_one()
    return f"/products/{slug}"


async def page(client: Any, path: str, status: int = 200, headers: dict[str, str] | None = None) -> str:
    r = await client.get(path, headers=headers or EN, follow_redirects=False)
    assert r.status_code == status, (path, r.status_code, r.text[:800])
    return r.text


class Browser:
    """One shopper's browser on the shared test client: her own cookies, swapped in for
    each request (a second client would run the app's lifespan again, and stop its
    worker when it closes)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.cookies = httpx.Cookies({"zc_lang": "en"})
        self.app = client.app

    async def _send(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.client.cookies = self.cookies
        try:
            return await getattr(self.client, method)(*args, **kwargs)
        finally:
            self.cookies = httpx.Cookies(self.client.cookies)
            self.client.cookies = httpx.Cookies()

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._send("get", *args, **kwargs)

    async def post(self, *args: Any, **kwargs: Any) -> Any:
        return await self._send("post", *args, **kwargs)


async def pay(client: Any, runtime: Any, location: str) -> None:
    """The core's payment page with the sandbox card, then the events run."""
    assert re.fullmatch(r"/checkout/[\w-]+", location), location
    r = await post_form(client, f"{location}/pay", {"card": CARD})
    assert r.status_code == 303, r.text[:500]
    await settle(runtime)


@pytest.fixture
def browsers(zc_client):
    async def make(make_user: Any, name: str) -> tuple[Any, Browser]:
        user = await make_user(f"{name}@example.com")
        browser = Browser(zc_client)
        await html_login(browser, user.email)
        return user, browser

    return make


# ---------------------------------------------------------------- the product card


async def test_the_card_shows_only_while_an_offer_is_live(zc_client, zc_runtime, zc_make_user, zc_make_product):
    plain = await zc_make_product("team-brand", price=9900)
    path = await product_path(zc_runtime, plain)
    html = await page(zc_client, path)
    assert 'data-testid="group-buy-card"' not in html
    offer, variant, owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, price=9900, team_price=6900, size=3)
    html = await page(zc_client, await product_path(zc_runtime, variant))
    assert 'data-testid="group-buy-card"' in html
    assert "Team price ¥69.00 · team of 3" in html and "Solo price ¥99.00" in html
    assert f'action="/group-buy/offers/{offer.id}/open"' in html
    assert "No open teams yet" in html
    zh = await page(zc_client, await product_path(zc_runtime, variant), headers=ZH)
    assert "拼团价 ¥69.00 · 3人团" in zh and "发起拼团" in zh and "单买价 ¥99.00" in zh
    async with zc_runtime.db.session() as s:
        await service.update_offer(s, zc_runtime, owner, offer.id, {"active": False})
        await s.commit()
    assert 'data-testid="group-buy-card"' not in await page(zc_client, await product_path(zc_runtime, variant))
    async with zc_runtime.db.session() as s:
        await service.update_offer(s, zc_runtime, owner, offer.id, {"active": True, "ends_at": utcnow() + timedelta(minutes=1)})
        await s.commit()
    assert 'data-testid="group-buy-card"' in await page(zc_client, await product_path(zc_runtime, variant))


async def test_open_teams_show_faces_seats_and_a_countdown_but_not_unpaid_ones(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader = await zc_make_user("lin@example.com")
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    unpaid = await zc_make_user("zoe@example.com")
    from tests.plugins.group_buy.helpers import actor_of

    await service.open_team(zc_runtime, await actor_of(zc_runtime, unpaid), offer.id, address=ADDRESS)  # seat taken, not paid: nobody can join it yet
    html = await page(zc_client, await product_path(zc_runtime, variant))
    teams = re.findall(r'data-testid="group-buy-team" data-team-id="(\d+)"', html)
    assert teams == [str(seat.team_id)]
    assert ">L</span>" in html and "Avatar of lin" in html and "lin@example.com" not in html
    assert "2 seats left" in html
    assert re.search(r'data-testid="gb-countdown".*?<b>23:5\d:\d\d</b>', html, re.DOTALL)
    assert f'href="/group-buy/teams/{seat.team_id}/join"' in html


# ---------------------------------------------------------------- opening and joining


async def test_a_guest_is_sent_to_log_in_before_opening_a_team(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product)
    r = await post_form(zc_client, f"/group-buy/offers/{offer.id}/open", {"start": "1"})
    assert r.status_code == 303 and r.headers["location"] == f"/login?next=/group-buy/offers/{offer.id}/open"
    r = await zc_client.get(f"/group-buy/offers/{offer.id}/open", headers=EN, follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]


async def test_open_then_join_through_the_pages_and_the_team_succeeds(zc_runtime, zc_make_user, zc_make_product, browsers):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2, price=9900, team_price=6900)
    _lin, a = await browsers(zc_make_user, "lin")
    _zoe, b = await browsers(zc_make_user, "zoe")

    # the product card's button: the address form, then the core's payment page
    r = await post_form(a, f"/group-buy/offers/{offer.id}/open", {"start": "1"})
    assert r.status_code == 200 and 'data-testid="group-buy-address-form"' in r.text and 'value="CN"' in r.text
    r = await post_form(a, f"/group-buy/offers/{offer.id}/open", ADDRESS)
    assert r.status_code == 303 and r.headers["location"].startswith("/checkout/")
    checkout = r.headers["location"]
    async with zc_runtime.db.read_session() as s:
        team_id = (await service.teams_of_user(s, _lin.id))[0][0].id
    # before the leader pays, only she sees the team
    await page(b, f"/group-buy/teams/{team_id}", 404)
    html = await page(a, f"/group-buy/teams/{team_id}")
    assert "Your seat is held while you pay." in html and f'href="{checkout}"' in html
    pay_page = await page(a, checkout)
    assert "¥69.00" in pay_page
    await pay(a, zc_runtime, checkout)
    r = await a.get(checkout, headers=EN, follow_redirects=False)  # authorized: the payment page sends her to the team
    assert r.status_code == 303 and r.headers["location"] == f"/group-buy/teams/{team_id}"
    html = await page(a, f"/group-buy/teams/{team_id}")
    assert "Your card is authorized: you pay only when the team fills." in html
    assert 'data-testid="group-buy-share-url"' in html and f"http://testserver.local/group-buy/teams/{team_id}" in html
    assert 'data-testid="group-buy-join"' not in html  # not for herself

    # the share link, as a guest and as a friend
    html = await page(Browser(a.client), f"/group-buy/teams/{team_id}")
    assert "1 seat left" in html and 'data-testid="group-buy-join"' in html and "lin@example.com" not in html
    html = await page(b, f"/group-buy/teams/{team_id}")
    assert f'href="/group-buy/teams/{team_id}/join"' in html
    form = await page(b, f"/group-buy/teams/{team_id}/join")
    assert 'data-testid="group-buy-address-form"' in form and f'action="/group-buy/teams/{team_id}/join"' in form
    r = await post_form(b, f"/group-buy/teams/{team_id}/join", ADDRESS)
    assert r.status_code == 303 and r.headers["location"].startswith("/checkout/")
    await pay(b, zc_runtime, r.headers["location"])

    for client in (a, b):
        html = await page(client, f"/group-buy/teams/{team_id}")
        assert 'data-team-status="succeeded"' in html and "Team succeeded" in html
        assert "Paid: the team filled and your order is confirmed." in html
        orders = await page(client, "/account/orders")
        assert "Paid" in orders
    mine = await page(b, "/group-buy/me")
    assert f'data-team-id="{team_id}"' in mine and variant.sku not in mine
    b.cookies.set("zc_lang", "zh-CN")
    zh = await page(b, f"/group-buy/teams/{team_id}", headers=ZH)
    assert "拼团成功" in zh and "已付款：拼团成功，订单已确认。" in zh


async def test_join_errors_rerender_with_a_message_and_the_right_status(zc_runtime, zc_make_user, zc_make_product, browsers):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2)
    lin, a = await browsers(zc_make_user, "lin")
    _zoe, b = await browsers(zc_make_user, "zoe")
    _max, c = await browsers(zc_make_user, "max")
    seat = await open_and_pay(zc_runtime, lin, offer.id)
    team = f"/group-buy/teams/{seat.team_id}/join"

    r = await post_form(a, team, ADDRESS)  # her own team
    assert r.status_code == 409 and "this is your own team" in r.text and 'data-testid="group-buy-error"' in r.text
    r = await post_form(b, team, {**ADDRESS, "name": "", "line1": ""})  # a bad address: the seat is given back
    assert r.status_code == 422 and 'data-testid="group-buy-address-form"' in r.text and 'aria-invalid="true"' in r.text
    r = await post_form(b, team, ADDRESS, token=False)
    assert r.status_code == 403
    r = await post_form(b, team, ADDRESS)
    assert r.status_code == 303
    r = await post_form(c, team, ADDRESS)  # every seat is taken (zoe is paying)
    assert r.status_code == 409 and "this team is full" in r.text
    c.cookies.set("zc_lang", "zh-CN")
    zh = await c.post(team, data={**ADDRESS, "_csrf_token": c.cookies.get("zc_csrf")}, headers=ZH, follow_redirects=False)
    assert zh.status_code == 409
    assert "这个团已满员" in zh.text
    await page(c, "/group-buy/teams/999999/join", 404)
    r = await post_form(c, "/group-buy/teams/999999/join", ADDRESS)
    assert r.status_code == 404


async def test_the_per_user_limit_and_an_expired_team(zc_runtime, zc_make_user, zc_make_product, browsers):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3, per_user_limit=1)
    lin, a = await browsers(zc_make_user, "lin")
    seat = await open_and_pay(zc_runtime, lin, offer.id)
    r = await post_form(a, f"/group-buy/offers/{offer.id}/open", ADDRESS)
    assert r.status_code == 409 and "Teams per shopper in this offer: at most 1. You have reached that." in r.text
    async with zc_runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == seat.team_id).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    _zoe, b = await browsers(zc_make_user, "zoe")
    r = await post_form(b, f"/group-buy/teams/{seat.team_id}/join", ADDRESS)
    assert r.status_code == 409 and "this team&#39;s time has run out" in r.text
    assert await service.expire_team(zc_runtime, seat.team_id) == "failed"
    await settle(zc_runtime)
    html = await page(a, f"/group-buy/teams/{seat.team_id}")
    assert 'data-team-status="failed"' in html and "nobody was charged" in html
    assert "Refunded: your card was not charged." in html and 'data-testid="gb-face"' in html
    assert 'data-testid="group-buy-share"' not in html
    join = await page(b, f"/group-buy/teams/{seat.team_id}/join")
    assert "This team cannot be joined right now." in join and 'data-testid="group-buy-address-form"' not in join
    await page(b, f"/group-buy/offers/{offer.id + 1000}/open", 404)


# ---------------------------------------------------------------- my teams and the account menu


async def test_my_teams_needs_a_login_and_the_account_menu_links_it(zc_client, zc_runtime, zc_make_user, zc_make_product):
    r = await zc_client.get("/group-buy/me", headers=EN, follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
    user = await zc_make_user("lin@example.com")
    zc_client.cookies.set("zc_lang", "en")  # the account's language would win over Accept-Language
    await html_login(zc_client, user.email)
    assert 'href="/group-buy/me"' in await page(zc_client, "/account")
    assert 'data-testid="group-buy-no-teams"' in await page(zc_client, "/group-buy/me")
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product)
    seat = await open_and_pay(zc_runtime, user, offer.id)
    html = await page(zc_client, "/group-buy/me")
    assert f'data-team-id="{seat.team_id}"' in html and "Leader of this team" in html and "Authorized" in html
    zc_client.cookies.set("zc_lang", "zh-CN")
    zh = await page(zc_client, "/group-buy/me", headers=ZH)
    assert "我的拼团" in zh and "我是团长" in zh and "已预授权" in zh


@pytest.mark.parametrize("zc_settings", ["group_buy"], indirect=True)
async def test_without_the_plugin_the_card_pages_and_menu_vanish(zc_client, zc_runtime, zc_make_user, zc_make_product):
    assert zc_runtime.pm.get_plugin("group_buy") is None
    variant = await zc_make_product("team-brand")
    user = await zc_make_user("lin@example.com")
    await html_login(zc_client, user.email)
    assert 'data-testid="group-buy-card"' not in await page(zc_client, await product_path(zc_runtime, variant))
    assert "/group-buy/me" not in await page(zc_client, "/account")
    for path in ("/group-buy/me", "/group-buy/teams/1", "/group-buy/static/group_buy.css"):
        assert (await zc_client.get(path, headers={**EN, "accept": "text/html"})).status_code == 404, path


async def test_a_shopper_who_gave_up_paying_can_take_a_seat_again(zc_runtime, zc_make_user, zc_make_product, browsers):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2)
    lin, _a = await browsers(zc_make_user, "lin")
    _zoe, b = await browsers(zc_make_user, "zoe")
    seat = await open_and_pay(zc_runtime, lin, offer.id)
    r = await post_form(b, f"/group-buy/teams/{seat.team_id}/join", ADDRESS)
    checkout = r.headers["location"]
    r = await post_form(b, f"{checkout}/cancel", {})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/group-buy/teams/{seat.team_id}")
    await settle(zc_runtime)
    html = await page(b, f"/group-buy/teams/{seat.team_id}")
    assert "1 seat left" in html and 'data-testid="group-buy-join"' in html
    r = await post_form(b, f"/group-buy/teams/{seat.team_id}/join", ADDRESS)
    assert r.status_code == 303 and r.headers["location"] != checkout
    await pay(b, zc_runtime, r.headers["location"])
    assert 'data-team-status="succeeded"' in await page(b, f"/group-buy/teams/{seat.team_id}")
