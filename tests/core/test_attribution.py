"""Tracked links, discount codes and attribution at payment (issue 4, part 4)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from core.campaigns.attribution import attribute_order
from core.campaigns.models import Attribution, Campaign, Click, Collaboration, Commission, DiscountCode, TrackedLink
from core.db import utcnow
from core.ledger.models import LedgerTransaction
from core.ledger.service import check
from core.orders.models import Checkout, Order
from core.payments.models import Payment
from core.testing import api_token
from tests.core.attribution_helpers import buy, click, new_cart, seed_collaboration, settle
from tests.core.test_api_conventions import assert_problem

OTHER_CARD = "5555 5555 5555 4444"


async def creator_and_collab(zc_make_user, zc_runtime, variants, **kwargs):
    creator = await zc_make_user(roles=("creator",))
    seeded = await seed_collaboration(zc_runtime, creator_id=creator.id, variants=variants, **kwargs)
    return creator, seeded


async def rows(runtime, model, *where):
    async with runtime.db.read_session() as s:
        return list((await s.execute(select(model).where(*where).order_by(model.id))).scalars())


async def pay_and_attribute(client, runtime, lines, **kwargs):
    paid = await buy(client, lines, **kwargs)
    for order in paid["orders"]:
        await attribute_order(runtime, order["id"])
    await settle(runtime)
    return paid


# ---------------------------------------------------------------- links


async def test_link_redirects_sets_visitor_cookie_and_attributes_the_sale(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=12_900, stock=10)
    other = await zc_make_product("camellia", price=5_000, stock=10)  # not in the campaign
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [cream])
    auth = await api_token(zc_client, creator.email)

    r = await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id, "target": "product", "product_id": cream.product_id}, headers=auth)
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"].endswith(f"/r/{link['code']}") and link["target_url"].startswith("/products/p-") and link["clicks"] == 0

    # the storefront redirect: a new visitor gets a long-lived first-party cookie
    r = await zc_client.get(f"/r/{link['code']}", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == link["target_url"]
    visitor = r.cookies.get("zc_vid")
    assert visitor and str(uuid.UUID(visitor)) == visitor
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Max-Age=31536000" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    again = await zc_client.get(f"/r/{link['code']}", follow_redirects=False)
    assert again.status_code == 302 and "zc_vid" not in again.headers.get("set-cookie", "")  # kept, not replaced
    clicks = await rows(zc_runtime, Click)
    assert [(c.visitor_id, c.link_id) for c in clicks] == [(visitor, clicks[0].link_id)] * 2

    # an unknown code: the storefront's friendly 404 page
    missing = await zc_client.get("/r/nosuchcode", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]

    # the visitor buys the product and another one: only the campaign's product is attributed
    paid = await pay_and_attribute(zc_client, zc_runtime, [(cream.id, 2), (other.id, 1)], visitor=visitor)
    order_id = paid["orders"][0]["id"]
    attributions = await rows(zc_runtime, Attribution)
    assert [(a.source, a.ref, a.creator_user_id, a.collaboration_id, a.blocked_reason) for a in attributions] == [("link", link["code"], creator.id, seeded.collaboration_id, None)]
    [commission] = await rows(zc_runtime, Commission)
    assert (commission.base_minor, commission.rate_ppm, commission.amount_minor, commission.status, commission.order_id) == (25_800, 100_000, 2_580, "pending", order_id)
    assert commission.approve_after is None  # not shipped yet

    listed = (await zc_client.get("/api/v1/links", headers=auth)).json()
    assert [(x["code"], x["clicks"]) for x in listed] == [(link["code"], 2)]


async def test_click_api_for_headless_front_ends(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea", price=4_900, stock=5)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [tea])
    auth = await api_token(zc_client, creator.email)
    link = (await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id}, headers=auth)).json()
    assert link["target"] == "campaign" and link["target_url"].startswith("/products/")
    note = (await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id, "target": "note", "note_ref": "n-42"}, headers=auth)).json()
    assert note["target_url"] == "/notes/n-42"

    visitor = str(uuid.uuid4())
    out = await click(zc_client, link["code"], visitor)
    assert out == {"code": link["code"], "target": "campaign", "target_url": link["target_url"], "visitor_id": visitor}
    assert_problem(await zc_client.post("/api/v1/links/nosuch/clicks", json={"visitor_id": visitor}), 404)
    assert_problem(await zc_client.post(f"/api/v1/links/{link['code']}/clicks", json={"visitor_id": "not-a-uuid"}), 422)
    assert_problem(await zc_client.post(f"/api/v1/links/{link['code']}/clicks", json={"visitor_id": 5}), 400)

    # bad link requests
    assert_problem(await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id, "target": "product", "product_id": 10**9}, headers=auth), 422)
    assert_problem(await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id, "target": "note", "note_ref": "bad ref!"}, headers=auth), 422)
    assert_problem(await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id}), 401)
    # someone else's collaboration does not exist for you
    stranger = await zc_make_user(roles=("creator",))
    other_auth = await api_token(zc_client, stranger.email)
    assert_problem(await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id}, headers=other_auth), 404)
    assert (await zc_client.get("/api/v1/links", headers=other_auth)).json() == []
    # only accepted (or later) collaborations get links
    applied = await seed_collaboration(zc_runtime, creator_id=stranger.id, variants=[tea], status="applied", campaign_id=seeded.campaign_id)
    assert_problem(await zc_client.post("/api/v1/links", json={"collaboration_id": applied.collaboration_id}, headers=other_auth), 409)

    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    [a] = await rows(zc_runtime, Attribution)
    assert (a.source, a.creator_user_id) == ("link", creator.id)


# ---------------------------------------------------------------- codes


async def test_code_discounts_the_campaigns_products_and_beats_a_link(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=12_900, stock=10)
    balm = await zc_make_product("camellia", price=3_900, stock=10)  # not seeded: no discount
    mia, mia_collab = await creator_and_collab(zc_make_user, zc_runtime, [cream])
    leo = await zc_make_user(roles=("creator",))
    leo_collab = await seed_collaboration(zc_runtime, creator_id=leo.id, variants=[cream], campaign_id=mia_collab.campaign_id)
    mia_auth, leo_auth = await api_token(zc_client, mia.email), await api_token(zc_client, leo.email)

    r = await zc_client.post("/api/v1/codes", json={"collaboration_id": mia_collab.collaboration_id, "code": "mia15", "discount_ppm": 150_000}, headers=mia_auth)
    assert r.status_code == 201, r.text
    assert (r.json()["code"], r.json()["discount_ppm"], r.json()["active"]) == ("MIA15", 150_000, True)
    assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": leo_collab.collaboration_id, "code": "MIA15"}, headers=leo_auth), 409)
    assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": leo_collab.collaboration_id, "code": "no"}, headers=leo_auth), 422)
    assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": leo_collab.collaboration_id, "code": "LEO 10"}, headers=leo_auth), 422)
    assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": leo_collab.collaboration_id, "code": "LEO10", "discount_ppm": 1_000_001}, headers=leo_auth), 400)
    assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": mia_collab.collaboration_id, "code": "LEO10"}, headers=leo_auth), 404)
    link = (await zc_client.post("/api/v1/links", json={"collaboration_id": leo_collab.collaboration_id}, headers=leo_auth)).json()

    visitor = str(uuid.uuid4())
    await click(zc_client, link["code"], visitor)  # Leo's link, then Mia's code: the code wins
    token = await new_cart(zc_client, [(cream.id, 1), (balm.id, 2)])
    bad = await zc_client.post(f"/api/v1/carts/{token}/codes", json={"code": "NOPE1"})
    assert_problem(bad, 422)
    r = await zc_client.post(f"/api/v1/carts/{token}/codes", json={"code": " mia15 "})
    assert r.status_code == 200, r.text
    cart = r.json()
    assert cart["codes"] == ["MIA15"]
    lines = {ln["variant_id"]: ln for g in cart["groups"] for ln in g["lines"]}
    assert lines[cream.id]["discount_minor"] == 1_935 and lines[cream.id]["line_total_minor"] == 10_965  # 15% of 129.00, half up
    assert lines[cream.id]["adjustments"] == [{"code": "creator-code:MIA15", "label": "MIA15 -15%", "amount_minor": -1_935, "source": "core"}]
    assert lines[balm.id]["discount_minor"] == 0
    # applying it twice changes nothing
    assert (await zc_client.post(f"/api/v1/carts/{token}/codes", json={"code": "MIA15"})).json()["codes"] == ["MIA15"]
    r = await zc_client.put(f"/api/v1/carts/{token}/visitor", json={"visitor_id": visitor})
    assert r.status_code == 204
    from tests.core.attribution_helpers import checkout_and_pay

    paid = await checkout_and_pay(zc_client, token)
    order = paid["orders"][0]
    assert order["discount_minor"] == 1_935 and order["total_minor"] == 10_965 + 7_800
    await attribute_order(zc_runtime, order["id"])
    [a] = await rows(zc_runtime, Attribution)
    assert (a.source, a.ref, a.creator_user_id) == ("code", "MIA15", mia.id)
    [c] = await rows(zc_runtime, Commission)
    assert (c.base_minor, c.amount_minor, c.creator_user_id) == (10_965, 1_097, mia.id)  # 10% of what the line paid, half up


async def test_code_rules(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=10_000, stock=10)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [cream])
    owner = await zc_make_user(brand=("camellia", "owner"))
    outsider = await zc_make_user(brand=("other-brand", "owner"))
    auth, owner_auth, outsider_auth = [await api_token(zc_client, u.email) for u in (creator, owner, outsider)]
    # the brand can make codes for its creators; another brand cannot see the collaboration
    r = await zc_client.post("/api/v1/codes", json={"collaboration_id": seeded.collaboration_id, "code": "CAMELLIA-20", "discount_ppm": 200_000}, headers=owner_auth)
    assert r.status_code == 201 and r.json()["creator_user_id"] == creator.id
    assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": seeded.collaboration_id, "code": "SNEAKY"}, headers=outsider_auth), 404)
    assert [c["code"] for c in (await zc_client.get("/api/v1/codes", headers=auth)).json()] == ["CAMELLIA-20"]
    assert [c["code"] for c in (await zc_client.get("/api/v1/brands/camellia/codes", headers=owner_auth)).json()] == ["CAMELLIA-20"]
    assert_problem(await zc_client.get("/api/v1/brands/camellia/codes", headers=outsider_auth), 404)
    assert_problem(await zc_client.patch("/api/v1/codes/CAMELLIA-20", json={"active": False}, headers=outsider_auth), 404)

    token = await new_cart(zc_client, [(cream.id, 1)])
    # switched off: refused (422), and a cart already holding it loses the discount
    assert (await zc_client.post(f"/api/v1/carts/{token}/codes", json={"code": "camellia-20"})).status_code == 200
    r = await zc_client.patch("/api/v1/codes/camellia-20", json={"active": False}, headers=auth)
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await zc_client.get(f"/api/v1/carts/{token}")).json()["total_minor"] == 10_000
    assert_problem(await zc_client.post(f"/api/v1/carts/{token}/codes", json={"code": "CAMELLIA-20"}), 422)
    await zc_client.patch("/api/v1/codes/CAMELLIA-20", json={"active": True}, headers=owner_auth)
    assert (await zc_client.get(f"/api/v1/carts/{token}")).json()["total_minor"] == 8_000
    r = await zc_client.delete(f"/api/v1/carts/{token}/codes/camellia-20")
    assert r.status_code == 200 and r.json()["codes"] == [] and r.json()["total_minor"] == 10_000
    # a code of a closed or completed campaign is refused
    for status in ("closed", "completed"):
        async with zc_runtime.db.session() as s:
            await s.execute(update(Campaign).where(Campaign.id == seeded.campaign_id).values(status=status))
            await s.commit()
        problem = assert_problem(await zc_client.post(f"/api/v1/carts/{token}/codes", json={"code": "CAMELLIA-20"}), 422)
        assert "ended" in problem["detail"]
        assert_problem(await zc_client.post("/api/v1/codes", json={"collaboration_id": seeded.collaboration_id, "code": "LATE-ONE"}, headers=auth), 409)
    # a cart that is not yours: 404
    shopper = await zc_make_user()
    mine = await new_cart(zc_client, [(cream.id, 1)], await api_token(zc_client, shopper.email))
    assert_problem(await zc_client.post(f"/api/v1/carts/{mine}/codes", json={"code": "CAMELLIA-20"}), 404)


async def test_storefront_cart_code_form(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=10_000, stock=10)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [cream])
    async with zc_runtime.db.session() as s:
        s.add(DiscountCode(code="MIA15", collaboration_id=seeded.collaboration_id, discount_ppm=150_000, active=True))
        link = TrackedLink(code="abc12345", collaboration_id=seeded.collaboration_id, target_kind="campaign")
        s.add(link)
        await s.commit()
    r = await zc_client.get("/r/abc12345", follow_redirects=False)
    visitor = r.cookies.get("zc_vid")
    page = await zc_client.get("/cart")
    csrf = zc_client.cookies.get("zc_csrf")
    r = await zc_client.post("/cart/lines", data={"variant_id": str(cream.id), "quantity": "1", "_csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = await zc_client.get("/cart")
    assert 'name="code"' in page.text and 'action="/cart/codes"' in page.text
    r = await zc_client.post("/cart/codes", data={"code": "nope", "_csrf_token": csrf})
    assert r.status_code == 422 and "not a valid code" in r.text
    r = await zc_client.post("/cart/codes", data={"code": "mia15", "_csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = await zc_client.get("/cart")
    assert "MIA15 -15%" in page.text and 'data-testid="applied-code"' in page.text
    r = await zc_client.post("/checkout", data={**{k: v for k, v in __import__("core.testing", fromlist=["ADDRESS"]).ADDRESS.items()}, "email": "guest@example.com", "_csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    [checkout] = await rows(zc_runtime, Checkout)
    assert checkout.visitor_id == visitor and [c["code"] for c in checkout.codes] == ["MIA15"]
    assert checkout.total_minor == 8_500
    r = await zc_client.post("/cart/codes/MIA15/remove", data={"_csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 409  # in checkout: the cart is frozen


# ---------------------------------------------------------------- resolution


async def add_click(runtime, link_code, visitor, at):
    async with runtime.db.session() as s:
        link = (await s.execute(select(TrackedLink).where(TrackedLink.code == link_code))).scalar_one()
        s.add(Click(link_id=link.id, visitor_id=visitor, at=at))
        await s.commit()


async def test_the_same_link_asked_for_twice_is_one_link(zc_client, zc_runtime, zc_make_user, zc_make_product):
    """A double POST (or a retried request) answers 200 with the link made by the first
    (201); two at once still make one: the collaboration's row is locked until the first
    commits (on SQLite the second writer waits anyway)."""
    from core.auth.permissions import Actor
    from core.campaigns.attribution import create_link

    tea = await zc_make_product("tea", price=4_900, stock=5)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [tea])
    auth = await api_token(zc_client, creator.email)
    body = {"collaboration_id": seeded.collaboration_id, "target": "product", "product_id": tea.product_id}
    first = await zc_client.post("/api/v1/links", json=body, headers=auth)
    assert first.status_code == 201, first.text
    await click(zc_client, first.json()["code"], str(uuid.uuid4()))
    again = await zc_client.post("/api/v1/links", json=body, headers=auth)
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "clicks": 1}
    other = await zc_client.post("/api/v1/links", json={**body, "target": "note", "note_ref": "n-1"}, headers=auth)
    assert other.status_code == 201 and other.json()["code"] != first.json()["code"]
    assert len(await rows(zc_runtime, TrackedLink)) == 2

    actor = Actor(user_id=creator.id, email=creator.email, display_name="c", locale="en", roles=frozenset({"creator"}))

    async def make() -> str:
        async with zc_runtime.db.session() as s:
            link = await create_link(s, actor, collaboration_id=seeded.collaboration_id, target="note", note_ref="n-2")
            await s.commit()
            return link.code

    async with zc_runtime.db.session() as s:
        first = await create_link(s, actor, collaboration_id=seeded.collaboration_id, target="note", note_ref="n-2")
        second = asyncio.create_task(make())  # the same request, while the first is not committed yet
        await asyncio.sleep(0.3)
        assert not second.done()  # it waits for the first (without the lock it would make its own link)
        await s.commit()
    assert await second == first.code and len(await rows(zc_runtime, TrackedLink, TrackedLink.note_ref == "n-2")) == 1


async def two_links(zc_client, zc_runtime, zc_make_user, variant, **campaign):
    a, seeded = await creator_and_collab(zc_make_user, zc_runtime, [variant], **campaign)
    b = await zc_make_user(roles=("creator",))
    b_collab = await seed_collaboration(zc_runtime, creator_id=b.id, variants=[variant], campaign_id=seeded.campaign_id)
    codes = []
    for user, collab in ((a, seeded), (b, b_collab)):
        auth = await api_token(zc_client, user.email)
        codes.append((await zc_client.post("/api/v1/links", json={"collaboration_id": collab.collaboration_id}, headers=auth)).json()["code"])
    return a, b, codes


async def test_last_touch_by_default(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea", price=1_000, stock=10)
    a, b, (code_a, code_b) = await two_links(zc_client, zc_runtime, zc_make_user, tea)
    visitor = str(uuid.uuid4())
    await add_click(zc_runtime, code_a, visitor, utcnow() - timedelta(days=3))
    await add_click(zc_runtime, code_b, visitor, utcnow() - timedelta(days=1))
    await add_click(zc_runtime, code_a, str(uuid.uuid4()), utcnow())  # someone else's click
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    [attr] = await rows(zc_runtime, Attribution)
    assert (attr.creator_user_id, attr.ref) == (b.id, code_b)


async def test_first_touch_when_the_campaign_says_so(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea", price=1_000, stock=10)
    a, b, (code_a, code_b) = await two_links(zc_client, zc_runtime, zc_make_user, tea, attribution_model="first")
    visitor = str(uuid.uuid4())
    await add_click(zc_runtime, code_a, visitor, utcnow() - timedelta(days=3))
    await add_click(zc_runtime, code_b, visitor, utcnow() - timedelta(days=1))
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    [attr] = await rows(zc_runtime, Attribution)
    assert (attr.creator_user_id, attr.ref) == (a.id, code_a)


async def test_clicks_outside_the_window_count_for_nothing(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea", price=1_000, stock=10)
    a, b, (code_a, code_b) = await two_links(zc_client, zc_runtime, zc_make_user, tea, attribution_days=7)
    visitor = str(uuid.uuid4())
    await add_click(zc_runtime, code_a, visitor, utcnow() - timedelta(days=8))  # outside: ignored even though it is the first
    await add_click(zc_runtime, code_b, visitor, utcnow() - timedelta(days=6))
    late = str(uuid.uuid4())
    await add_click(zc_runtime, code_a, late, utcnow() - timedelta(days=7, minutes=5))
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=late)
    attrs = await rows(zc_runtime, Attribution)
    assert [(x.creator_user_id, x.ref) for x in attrs] == [(b.id, code_b)]  # the late visitor's order: nobody


async def test_only_earning_collaborations_of_live_campaigns_count(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea", price=1_000, stock=20)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [tea])
    auth = await api_token(zc_client, creator.email)
    code = (await zc_client.post("/api/v1/links", json={"collaboration_id": seeded.collaboration_id}, headers=auth)).json()["code"]
    visitor = str(uuid.uuid4())
    await click(zc_client, code, visitor)

    async def set_state(collab=None, campaign=None):
        async with zc_runtime.db.session() as s:
            if collab:
                await s.execute(update(Collaboration).where(Collaboration.id == seeded.collaboration_id).values(status=collab))
            if campaign:
                await s.execute(update(Campaign).where(Campaign.id == seeded.campaign_id).values(status=campaign))
            await s.commit()

    await set_state(collab="cancelled")
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    await set_state(collab="published", campaign="completed")
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    assert await rows(zc_runtime, Attribution) == []
    await set_state(campaign="closed")  # closed: running collaborations still earn
    await pay_and_attribute(zc_client, zc_runtime, [(tea.id, 1)], visitor=visitor)
    assert [a.source for a in await rows(zc_runtime, Attribution)] == ["link"]


# ---------------------------------------------------------------- self-referral


async def test_self_referral_is_blocked(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=10_000, stock=20)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [cream])
    auth = await api_token(zc_client, creator.email)
    await zc_client.post("/api/v1/codes", json={"collaboration_id": seeded.collaboration_id, "code": "SELF10", "discount_ppm": 100_000}, headers=auth)

    # the creator buys with their own code (signed in) ...
    await pay_and_attribute(zc_client, zc_runtime, [(cream.id, 1)], headers=auth, code="SELF10", card=OTHER_CARD)
    # ... or as a guest with their email
    await pay_and_attribute(zc_client, zc_runtime, [(cream.id, 1)], code="SELF10", email=creator.email.upper(), card=OTHER_CARD)
    # ... or a "friend" pays with the card the creator paid with before (OTHER_CARD above)
    await pay_and_attribute(zc_client, zc_runtime, [(cream.id, 1)], code="SELF10", email="friend@example.com", card=OTHER_CARD)
    # a real shopper with another card earns the creator a commission
    await pay_and_attribute(zc_client, zc_runtime, [(cream.id, 1)], code="SELF10", email="shopper@example.com")

    attrs = await rows(zc_runtime, Attribution)
    assert [a.blocked_reason for a in attrs] == ["self_referral:user", "self_referral:email", "self_referral:payment", None]
    assert all(a.creator_user_id == creator.id and a.source == "code" for a in attrs)
    commissions = await rows(zc_runtime, Commission)
    assert [(c.order_id, c.amount_minor) for c in commissions] == [(attrs[3].order_id, 900)]
    fingerprints = [p.fingerprint for p in await rows(zc_runtime, Payment)]
    assert fingerprints[0] == fingerprints[1] == fingerprints[2] != fingerprints[3] and all(fp and fp.startswith("sbx_fp_") for fp in fingerprints)


# ---------------------------------------------------------------- idempotence, events, API


async def test_attribution_is_idempotent_and_runs_from_the_paid_event(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea", price=2_000, stock=10)
    creator, seeded = await creator_and_collab(zc_make_user, zc_runtime, [tea])
    auth = await api_token(zc_client, creator.email)
    await zc_client.post("/api/v1/codes", json={"collaboration_id": seeded.collaboration_id, "code": "TEA-TIME"}, headers=auth)  # 0%: attribution only
    paid = await buy(zc_client, [(tea.id, 3)], code="TEA-TIME")
    assert paid["orders"][0]["discount_minor"] == 0
    order_id = paid["orders"][0]["id"]
    # the app is running: the outbox delivers order.paid to the core's handler
    for _ in range(150):
        if await rows(zc_runtime, Commission):
            break
        await asyncio.sleep(0.1)
    [c] = await rows(zc_runtime, Commission)
    assert (c.order_id, c.amount_minor) == (order_id, 600)
    assert await attribute_order(zc_runtime, order_id) == 0  # a second run writes nothing
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(Attribution))).scalar_one() == 1
        keys = list((await s.execute(select(LedgerTransaction.key))).scalars())
        assert keys == [f"commission:accrued:{c.id}"]
        assert await check(s) == []

    # the brand sees how its order was attributed; nobody else does
    owner = await zc_make_user(brand=(await brand_slug(zc_runtime, order_id), "staff"))
    owner_auth = await api_token(zc_client, owner.email)
    r = await zc_client.get(f"/api/v1/orders/{order_id}/attribution", headers=owner_auth)
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert (row["source"], row["ref"], row["creator_user_id"], row["commission_net_minor"], row["commission_status"]) == ("code", "TEA-TIME", creator.id, 600, "pending")
    assert_problem(await zc_client.get(f"/api/v1/orders/{order_id}/attribution", headers=auth), 404)
    assert_problem(await zc_client.get("/api/v1/orders/999999/attribution", headers=owner_auth), 404)


async def brand_slug(runtime, order_id):
    from core.catalog.models import Brand

    async with runtime.db.read_session() as s:
        order = await s.get(Order, order_id)
        return (await s.get(Brand, order.brand_id)).slug


async def test_stripe_gives_card_fingerprints():
    """StripeProvider reads payment_method.card.fingerprint (against localstripe; skips without it)."""
    import pytest

    from tests.core import test_stripe as stripe_tests

    if not stripe_tests.API_BASE:
        pytest.skip("needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")
    provider = stripe_tests.make_provider()
    prints = []
    for number in ("4242424242424242", "4242424242424242", "5555555555554444"):
        intent = await stripe_tests.new_intent(provider)
        paid = await provider.confirm(intent.ref, payment_method=await stripe_tests.payment_method(provider, number), idempotency_key=stripe_tests.key())
        assert paid.status == "succeeded"
        prints.append(paid.fingerprint)
        assert (await provider.retrieve(intent.ref)).fingerprint == paid.fingerprint
    assert prints[0] and prints[0] == prints[1] != prints[2]
