"""Collaborations: the whole life of one creator in one campaign through the API, the
zero-price sample order, content and disclosure, the fixed fee, deadlines, and who may
see and do what."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from core import hookimpl
from core.campaigns import collaborations as collabs
from core.campaigns.collaborations import ContentInfo
from core.campaigns.models import Collaboration
from core.db import utcnow
from core.inventory import service as inventory
from core.ledger import service as ledger
from core.ledger.models import AccountKind, LedgerTransaction
from core.orders.models import Checkout, Order, OrderLine
from core.testing import ADDRESS, api_token
from tests.core.test_api_conventions import assert_problem
from tests.core.test_campaigns import API, brand_member, creator, events, open_campaign

NOTES: dict[str, ContentInfo] = {}


class NotesStandIn:
    """Resolves the notes a test puts in NOTES, as the notes plugin will."""

    @hookimpl
    async def resolve_content(self, kind: str, ref: str, runtime) -> ContentInfo | None:
        return NOTES.get(ref) if kind == "note" else None


@pytest.fixture
def zc_extra_plugins():
    NOTES.clear()
    yield [("notes_stand_in", NotesStandIn())]
    NOTES.clear()


def note(author: int, *, sponsored: bool = True, published: bool = False, at: datetime | None = None) -> ContentInfo:
    return ContentInfo(url="https://example.com/n", author_user_id=author, title="我的晚间修护", sponsored_label=sponsored, published=published, published_at=at, engagement=120)


async def accepted_collaboration(zc_client, zc_make_user, zc_make_product, *, samples: int = 2, handle: str = "mia.skin", **campaign) -> dict:
    """A brand, an open campaign, and a creator whose application the brand accepted."""
    brand = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", price=16800, stock=10)
    opened = await open_campaign(zc_client, brand, "glow-lab", variant, samples=samples, **campaign)
    auth, user_id = await creator(zc_client, zc_make_user, handle)
    r = await zc_client.post(f"{API}/campaigns/{opened['id']}/apply", json={"message": "敏感肌，想试试", "shipping_address": ADDRESS}, headers=auth)
    assert r.status_code == 201, r.text
    r = await zc_client.post(f"{API}/collaborations/{r.json()['id']}/accept", headers=brand)
    assert r.json()["status"] == "accepted", r.text
    return {"brand": brand, "creator": auth, "creator_id": user_id, "campaign": opened, "variant": variant, "id": r.json()["id"]}


async def delivered_collaboration(zc_client, zc_make_user, zc_make_product, **kwargs) -> dict:
    """...whose sample shipped and arrived: the creator can submit content."""
    c = await accepted_collaboration(zc_client, zc_make_user, zc_make_product, **kwargs)
    r = await zc_client.post(f"{API}/collaborations/{c['id']}/ship", json={"carrier": "顺丰 SF Express", "tracking_number": "SF1234567890"}, headers=c["brand"])
    assert r.status_code == 200, r.text
    r = await zc_client.post(f"{API}/collaborations/{c['id']}/delivered", headers=c["creator"])
    assert r.json()["status"] == "sample_delivered", r.text
    return c


async def fee_balances(runtime, brand_id: int, creator_id: int) -> tuple[int, int, int]:
    async with runtime.db.read_session() as s:
        count = (await s.execute(select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "fixed_fee"))).scalar_one()
        return (await ledger.balance(s, AccountKind.BRAND_PAYABLE, brand_id, "CNY"), await ledger.balance(s, AccountKind.CREATOR_AVAILABLE, creator_id, "CNY"), count)


async def brand_id_of(runtime, slug: str) -> int:
    from core.catalog.models import Brand

    async with runtime.db.read_session() as s:
        return (await s.execute(select(Brand.id).where(Brand.slug == slug))).scalar_one()


# ---------------------------------------------------------------- the whole life


async def test_the_whole_life_of_a_collaboration_through_the_api(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await accepted_collaboration(zc_client, zc_make_user, zc_make_product)
    cid, brand, mia = c["id"], c["brand"], c["creator"]

    # the sample ships as a zero-price order from the campaign's pool, with tracking
    r = await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "顺丰 SF Express", "tracking_number": "SF1234567890"}, headers=brand)
    assert r.status_code == 200, r.text
    shipped = r.json()
    sample = shipped["sample_order"]
    assert shipped["status"] == "sample_shipped" and shipped["shipped_at"] and shipped["shipping_address"]["city"] == "上海"
    assert (sample["status"], sample["carrier"], sample["tracking_number"]) == ("fulfilled", "顺丰 SF Express", "SF1234567890") and sample["number"].endswith("-S")
    order = (await zc_client.get(f"{API}/orders/{sample['id']}", headers=mia)).json()  # the creator's own order
    assert (order["total_minor"], order["subtotal_minor"], order["shipping_minor"], order["tax_minor"]) == (0, 0, 0, 0)
    assert [(ln["variant_id"], ln["quantity"], ln["unit_price_minor"], ln["total_minor"]) for ln in order["lines"]] == [(c["variant"].id, 1, 0, 0)]
    assert [o["id"] for o in (await zc_client.get(f"{API}/brands/glow-lab/orders", headers=brand)).json()] == [sample["id"]]
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, c["variant"].id)
        assert (snap.on_hand, snap.available, snap.pooled, snap.reserved, snap.committed) == (9, 8, 1, 0, 0)
        assert await collabs.is_sample_order(s, sample["id"])
    assert [t for t, _ in await events(zc_runtime, "order.")] == ["order.placed", "order.paid", "order.fulfilled"]

    # delivered: the posting deadline starts, the sample order completes
    r = await zc_client.post(f"{API}/collaborations/{cid}/delivered", headers=mia)
    delivered = r.json()
    assert delivered["status"] == "sample_delivered" and delivered["sample_order"]["status"] == "completed"
    assert datetime.fromisoformat(delivered["deadline_at"]) - datetime.fromisoformat(delivered["delivered_at"]) == timedelta(days=14)

    # the creator submits their note; it carries the sponsored label
    NOTES["n-1001"] = note(c["creator_id"])
    r = await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "note", "ref": "n-1001"}, headers=mia)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["content_kind"], r.json()["content_ref"], r.json()["disclosure_ok"], r.json()["on_time"]) == ("content_submitted", "note", "n-1001", True, True)

    # approved: the fixed fee is owed by the brand and payable to the creator, once
    brand_id = await brand_id_of(zc_runtime, "glow-lab")
    assert await fee_balances(zc_runtime, brand_id, c["creator_id"]) == (0, 0, 0)
    r = await zc_client.post(f"{API}/collaborations/{cid}/approve", json={"comment": "很好"}, headers=brand)
    assert r.json()["status"] == "approved", r.text  # the note is not live yet
    assert await fee_balances(zc_runtime, brand_id, c["creator_id"]) == (30_000, -30_000, 1)

    # published once the note is live; the note is protected for 30 days from then
    assert "not published" in assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/publish", headers=mia), 409)["detail"]
    live_at = utcnow() - timedelta(hours=1)
    NOTES["n-1001"] = note(c["creator_id"], published=True, at=live_at)
    r = await zc_client.post(f"{API}/collaborations/{cid}/publish", headers=mia)
    published = r.json()
    assert published["status"] == "published" and published["on_time"] is True
    assert datetime.fromisoformat(published["published_at"]) == live_at
    assert datetime.fromisoformat(published["protected_until"]) == live_at + timedelta(days=30)
    async with zc_runtime.db.read_session() as s:
        assert await collabs.note_protected_until(s, "n-1001") == live_at + timedelta(days=30)
        assert await collabs.note_protected_until(s, "n-1001", now=live_at + timedelta(days=31)) is None
        assert await collabs.note_protected_until(s, "n-other") is None
    assert await fee_balances(zc_runtime, brand_id, c["creator_id"]) == (30_000, -30_000, 1)

    r = await zc_client.post(f"{API}/collaborations/{cid}/complete", headers=brand)
    assert r.json()["status"] == "completed" and r.json()["completed_at"]

    steps = [(t["from_status"], t["to_status"], t["actor_kind"]) for t in r.json()["transitions"]]
    assert steps == [
        (None, "applied", "creator"), ("applied", "accepted", "brand"), ("accepted", "sample_shipped", "brand"), ("sample_shipped", "sample_delivered", "creator"),
        ("sample_delivered", "content_submitted", "creator"), ("content_submitted", "approved", "brand"), ("approved", "published", "creator"), ("published", "completed", "brand"),
    ]
    assert all(t["at"] for t in r.json()["transitions"])
    assert [t for t, _ in await events(zc_runtime, "collaboration.")] == [f"collaboration.{to}" for _, to, _ in steps]
    fulfilment = (await zc_client.get(f"{API}/creators/mia.skin/fulfilment")).json()
    assert fulfilment == {"handle": "mia.skin", "on_time": 1, "total": 1, "rate_ppm": 1_000_000}
    # lists: the creator's own, and the campaign's for its brand
    assert [x["id"] for x in (await zc_client.get(f"{API}/collaborations", headers=mia)).json()] == [cid]
    listed = (await zc_client.get(f"{API}/campaigns/{c['campaign']['id']}/collaborations", headers=brand)).json()
    assert [(x["id"], x["creator"]["handle"], x["transitions"]) for x in listed] == [(cid, "mia.skin", None)]


async def test_an_invited_creator_posts_an_external_url_the_brand_confirms_its_disclosure(zc_client, zc_runtime, zc_make_user, zc_make_product):
    brand = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=10)
    campaign = await open_campaign(zc_client, brand, "glow-lab", variant, recruitment="invite", fixed_fee_minor=None)
    mia, _ = await creator(zc_client, zc_make_user, "mia.skin", followers=500)  # invitations skip the eligibility rules
    r = await zc_client.post(f"{API}/campaigns/{campaign['id']}/invitations", json={"handle": "Mia.Skin", "message": "来试试我们的面霜"}, headers=brand)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert (r.json()["status"], r.json()["origin"]) == ("invited", "invited")
    assert (await zc_client.post(f"{API}/campaigns/{campaign['id']}/invitations", json={"handle": "mia.skin"}, headers=brand)).json()["id"] == cid
    # only the creator accepts an invitation, giving where the sample goes
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/accept", headers=brand), 403)
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "SF1"}, headers=brand), 409)
    r = await zc_client.post(f"{API}/collaborations/{cid}/accept", json={"shipping_address": {**ADDRESS, "country": "cn"}}, headers=mia)
    assert r.json()["status"] == "accepted" and r.json()["shipping_address"]["country"] == "CN"
    assert (await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "SF2"}, headers=brand)).status_code == 200
    r = await zc_client.post(f"{API}/collaborations/{cid}/delivered", headers=brand)  # the brand may mark it too
    assert r.json()["transitions"][-1]["actor_kind"] == "brand"

    url = "https://www.xiaohongshu.com/explore/6650a1b2c3"
    r = await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "url", "ref": url}, headers=mia)
    assert (r.json()["status"], r.json()["disclosure_ok"]) == ("content_submitted", None)
    # approving an external post needs the brand's explicit confirmation of the label
    problem = assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/approve", headers=brand), 422)
    assert "disclosure_confirmed" in problem["detail"]
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/approve", json={"disclosure_confirmed": False}, headers=brand), 422)
    r = await zc_client.post(f"{API}/collaborations/{cid}/request-changes", json={"comment": "请在开头加上 #广告"}, headers=brand)
    assert (r.json()["status"], r.json()["review_comment"]) == ("changes_requested", "请在开头加上 #广告")
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/request-changes", json={"comment": ""}, headers=brand), 422)
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/request-changes", json={"comment": "another thought"}, headers=brand), 409)
    r = await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "url", "ref": url + "?v=2"}, headers=mia)
    assert r.json()["status"] == "content_submitted"
    r = await zc_client.post(f"{API}/collaborations/{cid}/approve", json={"disclosure_confirmed": True}, headers=brand)
    assert (r.json()["status"], r.json()["disclosure_ok"]) == ("approved", True)
    assert (await fee_balances(zc_runtime, await brand_id_of(zc_runtime, "glow-lab"), 0))[2] == 0  # no fixed fee in this campaign
    r = await zc_client.post(f"{API}/collaborations/{cid}/publish", headers=mia)
    assert r.json()["status"] == "published" and r.json()["on_time"] is True
    async with zc_runtime.db.read_session() as s:
        assert await collabs.note_protected_until(s, url + "?v=2") is None  # only notes are protected through this


async def test_a_note_is_approved_only_with_the_sponsored_label_and_only_by_its_author(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await delivered_collaboration(zc_client, zc_make_user, zc_make_product)
    cid, brand, mia = c["id"], c["brand"], c["creator"]
    _, someone_else = await creator(zc_client, zc_make_user, "ann.beauty")
    NOTES["theirs"] = note(someone_else)
    NOTES["mine"] = note(c["creator_id"], sponsored=False, published=True, at=utcnow())

    assert "not yours" in assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "note", "ref": "theirs"}, headers=mia), 422)["detail"]
    assert "no such note" in assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "note", "ref": "nowhere"}, headers=mia), 422)["detail"]
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "note", "ref": "bad id!"}, headers=mia), 422)
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "url", "ref": "javascript:alert(1)"}, headers=mia), 422)
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "video", "ref": "x"}, headers=mia), 422)
    r = await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "note", "ref": "mine"}, headers=mia)
    assert (r.json()["status"], r.json()["disclosure_ok"]) == ("content_submitted", False)

    problem = assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/approve", json={"disclosure_confirmed": True}, headers=brand), 422)
    assert "sponsored" in problem["detail"] and problem["fields"] == {"disclosure": "missing"}
    brand_id = await brand_id_of(zc_runtime, "glow-lab")
    assert await fee_balances(zc_runtime, brand_id, c["creator_id"]) == (0, 0, 0)
    assert (await zc_client.get(f"{API}/collaborations/{cid}", headers=mia)).json()["status"] == "content_submitted"

    # the creator adds the label: approval goes through, and the live note publishes at once
    NOTES["mine"] = note(c["creator_id"], sponsored=True, published=True, at=utcnow())
    r = await zc_client.post(f"{API}/collaborations/{cid}/approve", headers=brand)
    assert (r.json()["status"], r.json()["disclosure_ok"]) == ("published", True)
    assert [t["actor_kind"] for t in r.json()["transitions"][-2:]] == ["brand", "system"]
    assert await fee_balances(zc_runtime, brand_id, c["creator_id"]) == (30_000, -30_000, 1)
    # a second click changes nothing, and posts no second fee
    r = await zc_client.post(f"{API}/collaborations/{cid}/approve", headers=brand)
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert await fee_balances(zc_runtime, brand_id, c["creator_id"]) == (30_000, -30_000, 1)
    async with zc_runtime.db.read_session() as s:
        collab = await s.get(Collaboration, cid)
        assert await collabs.disclosure_holds(zc_runtime, collab)
        NOTES["mine"] = note(c["creator_id"], sponsored=False, published=True)
        assert not await collabs.disclosure_holds(zc_runtime, collab)  # checked again before payout


async def test_without_review_a_labelled_note_is_approved_on_submission(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await delivered_collaboration(zc_client, zc_make_user, zc_make_product, review_required=False)
    NOTES["n-7"] = note(c["creator_id"], published=False)
    r = await zc_client.post(f"{API}/collaborations/{c['id']}/content", json={"kind": "note", "ref": "n-7"}, headers=c["creator"])
    assert r.json()["status"] == "approved" and r.json()["transitions"][-1]["actor_kind"] == "system"


# ---------------------------------------------------------------- who may join


async def test_applying_is_refused_to_closed_invite_only_and_ineligible_campaigns(zc_client, zc_make_user, zc_make_product):
    brand = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=20)
    open_one = await open_campaign(zc_client, brand, "glow-lab", variant, eligibility={"tiers": ["micro"], "categories": ["skincare"], "regions": ["CN"], "min_followers": 20_000})
    invite_only = await open_campaign(zc_client, brand, "glow-lab", variant, recruitment="invite")
    closed = await open_campaign(zc_client, brand, "glow-lab", variant)
    await zc_client.post(f"{API}/campaigns/{closed['id']}/close", headers=brand)

    fits, _ = await creator(zc_client, zc_make_user, "mia.skin")
    assert "closed" in assert_problem(await zc_client.post(f"{API}/campaigns/{closed['id']}/apply", headers=fits), 409)["detail"]
    assert "invitation only" in assert_problem(await zc_client.post(f"{API}/campaigns/{invite_only['id']}/apply", headers=fits), 409)["detail"]
    assert_problem(await zc_client.post(f"{API}/campaigns/{10**9}/apply", headers=fits), 404)

    abroad, _ = await creator(zc_client, zc_make_user, "la.glow", region="US-CA", followers=15_000, categories=["beauty"])
    problem = assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=abroad), 422)
    assert problem["reasons"] == ["for creators in skincare", "needs at least 20000 followers", "for creators in CN"]
    assert problem["detail"].startswith("you are not eligible for this campaign")
    star, _ = await creator(zc_client, zc_make_user, "big.star", followers=600_000)
    assert assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=star), 422)["reasons"] == ["for micro creators (you are macro)"]

    no_profile = await zc_make_user("newbie@example.com", roles=("creator",))
    problem = assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=await api_token(zc_client, no_profile.email)), 422)
    assert "profile" in problem["detail"]
    shopper = await zc_make_user("shopper@example.com")
    assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=await api_token(zc_client, shopper.email)), 403)
    assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", json={"shipping_address": {"name": "x"}}, headers=fits), 422)

    r = await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=fits)
    assert r.status_code == 201, r.text
    again = await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=fits)  # a double click
    assert again.json()["id"] == r.json()["id"]
    # the brand declines; the creator cannot apply again
    assert (await zc_client.post(f"{API}/collaborations/{r.json()['id']}/decline", json={"reason": "not this time"}, headers=brand)).json()["status"] == "declined"
    assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/apply", headers=fits), 409)
    assert_problem(await zc_client.post(f"{API}/campaigns/{closed['id']}/invitations", json={"handle": "la.glow"}, headers=brand), 409)
    assert_problem(await zc_client.post(f"{API}/campaigns/{open_one['id']}/invitations", json={"handle": "nobody.here"}, headers=brand), 404)


# ---------------------------------------------------------------- samples


async def test_shipping_more_samples_than_the_pool_holds_is_refused_and_writes_nothing(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await accepted_collaboration(zc_client, zc_make_user, zc_make_product, samples=1)
    ann, _ = await creator(zc_client, zc_make_user, "ann.beauty")
    second = (await zc_client.post(f"{API}/campaigns/{c['campaign']['id']}/apply", json={"shipping_address": ADDRESS}, headers=ann)).json()
    await zc_client.post(f"{API}/collaborations/{second['id']}/accept", headers=c["brand"])

    first = await zc_client.post(f"{API}/collaborations/{c['id']}/ship", json={"carrier": "SF", "tracking_number": "SF-1"}, headers=c["brand"])
    assert first.status_code == 200, first.text
    again = await zc_client.post(f"{API}/collaborations/{c['id']}/ship", json={"carrier": "SF", "tracking_number": "SF-1"}, headers=c["brand"])  # a double click
    assert again.status_code == 200 and again.json()["sample_order"]["id"] == first.json()["sample_order"]["id"]
    assert_problem(await zc_client.post(f"{API}/collaborations/{c['id']}/ship", json={"carrier": "SF", "tracking_number": "SF-other"}, headers=c["brand"]), 409)

    problem = assert_problem(await zc_client.post(f"{API}/collaborations/{second['id']}/ship", json={"carrier": "SF", "tracking_number": "SF-2"}, headers=c["brand"]), 409)
    assert "no samples left" in problem["detail"]
    assert (await zc_client.get(f"{API}/collaborations/{second['id']}", headers=ann)).json()["status"] == "accepted"
    async with zc_runtime.db.read_session() as s:
        assert [(await s.execute(select(func.count()).select_from(t))).scalar_one() for t in (Order, OrderLine, Checkout)] == [1, 1, 1]
        snap = await inventory.snapshot(s, c["variant"].id)
        assert (snap.on_hand, snap.available, snap.pooled) == (9, 9, 0)
    assert [t for t, _ in await events(zc_runtime, "collaboration.sample_shipped")] == ["collaboration.sample_shipped"]


async def test_shipping_needs_an_address_and_a_tracking_number(zc_client, zc_make_user, zc_make_product):
    brand = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=10)
    campaign = await open_campaign(zc_client, brand, "glow-lab", variant)
    mia, _ = await creator(zc_client, zc_make_user, "mia.skin")
    cid = (await zc_client.post(f"{API}/campaigns/{campaign['id']}/apply", headers=mia)).json()["id"]  # no address given
    await zc_client.post(f"{API}/collaborations/{cid}/accept", headers=brand)
    problem = assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "SF-1"}, headers=brand), 422)
    assert problem["fields"] == {"address": "required"}
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "  ", "address": ADDRESS}, headers=brand), 422)
    # the creator adds it; then it ships
    r = await zc_client.put(f"{API}/collaborations/{cid}/shipping-address", json={"shipping_address": ADDRESS}, headers=mia)
    assert r.json()["shipping_address"]["name"] == ADDRESS["name"]
    r = await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "SF-1"}, headers=brand)
    assert r.json()["status"] == "sample_shipped", r.text
    assert_problem(await zc_client.put(f"{API}/collaborations/{cid}/shipping-address", json={"shipping_address": ADDRESS}, headers=mia), 409)


# ---------------------------------------------------------------- who may see and act


async def test_other_brands_and_other_creators_see_nothing(zc_client, zc_make_user, zc_make_product):
    c = await accepted_collaboration(zc_client, zc_make_user, zc_make_product)
    cid = c["id"]
    other_brand = await brand_member(zc_client, zc_make_user, "other-brand")
    other_creator, _ = await creator(zc_client, zc_make_user, "ann.beauty")
    for auth in (other_brand, other_creator):
        assert_problem(await zc_client.get(f"{API}/collaborations/{cid}", headers=auth), 404)
        assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "X"}, headers=auth), 404)
        assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/approve", headers=auth), 404)
        assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/cancel", headers=auth), 404)
        assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "url", "ref": "https://x.example"}, headers=auth), 404)
        assert (await zc_client.get(f"{API}/collaborations", headers=auth)).json() == []
    assert_problem(await zc_client.get(f"{API}/collaborations/{cid}"), 401)
    assert_problem(await zc_client.get(f"{API}/collaborations/{10**9}", headers=c["brand"]), 404)
    # the two parties each do only their part
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/ship", json={"carrier": "SF", "tracking_number": "X"}, headers=c["creator"]), 403)
    assert_problem(await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "url", "ref": "https://x.example"}, headers=c["brand"]), 403)


async def test_who_may_cancel_when(zc_client, zc_make_user, zc_make_product):
    c = await accepted_collaboration(zc_client, zc_make_user, zc_make_product)
    ann, _ = await creator(zc_client, zc_make_user, "ann.beauty")
    applied = (await zc_client.post(f"{API}/campaigns/{c['campaign']['id']}/apply", headers=ann)).json()
    r = await zc_client.post(f"{API}/collaborations/{applied['id']}/cancel", json={"reason": "changed my mind"}, headers=ann)  # the creator withdraws
    assert (r.json()["status"], r.json()["transitions"][-1]["note"]) == ("cancelled", "changed my mind")
    await zc_client.post(f"{API}/collaborations/{c['id']}/ship", json={"carrier": "SF", "tracking_number": "SF-1"}, headers=c["brand"])
    # once shipped, neither side cancels
    assert_problem(await zc_client.post(f"{API}/collaborations/{c['id']}/cancel", headers=c["creator"]), 409)
    assert_problem(await zc_client.post(f"{API}/collaborations/{c['id']}/cancel", headers=c["brand"]), 409)
    assert_problem(await zc_client.post(f"{API}/collaborations/{c['id']}/complete", headers=c["brand"]), 409)
    # the brand cancels an accepted collaboration before its sample ships; an invitation is declined, not cancelled, by the creator
    bo, _ = await creator(zc_client, zc_make_user, "bo.skin")
    agreed = (await zc_client.post(f"{API}/campaigns/{c['campaign']['id']}/apply", headers=bo)).json()
    await zc_client.post(f"{API}/collaborations/{agreed['id']}/accept", headers=c["brand"])
    r = await zc_client.post(f"{API}/collaborations/{agreed['id']}/cancel", headers=c["brand"])
    assert (r.json()["status"], r.json()["transitions"][-1]["actor_kind"]) == ("cancelled", "brand")
    assert (await zc_client.post(f"{API}/collaborations/{agreed['id']}/cancel", headers=c["brand"])).status_code == 200  # again: no change
    cy, _ = await creator(zc_client, zc_make_user, "cy.glow")
    invited = (await zc_client.post(f"{API}/campaigns/{c['campaign']['id']}/invitations", json={"handle": "cy.glow"}, headers=c["brand"])).json()
    assert "decline" in assert_problem(await zc_client.post(f"{API}/collaborations/{invited['id']}/cancel", headers=cy), 409)["detail"]
    assert (await zc_client.post(f"{API}/collaborations/{invited['id']}/decline", headers=cy)).json()["status"] == "declined"


# ---------------------------------------------------------------- deadlines


async def test_reminders_go_once_each_then_overdue_and_a_late_post_is_not_on_time(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await delivered_collaboration(zc_client, zc_make_user, zc_make_product)
    cid = c["id"]
    deadline = datetime.fromisoformat((await zc_client.get(f"{API}/collaborations/{cid}", headers=c["creator"])).json()["deadline_at"])

    async def run(at):
        return await collabs.run_deadlines(zc_runtime, now=at)

    nothing = {"reminded_3d": 0, "reminded_1d": 0, "overdue": 0, "completed": 0}
    assert await run(deadline - timedelta(days=4)) == nothing
    assert await run(deadline - timedelta(days=2)) == {**nothing, "reminded_3d": 1}
    assert await run(deadline - timedelta(days=2)) == nothing  # the job runs again: nothing twice
    assert await run(deadline - timedelta(hours=12)) == {**nothing, "reminded_1d": 1}
    assert await run(deadline - timedelta(hours=1)) == nothing
    assert await run(deadline + timedelta(minutes=1)) == {**nothing, "overdue": 1}
    assert await run(deadline + timedelta(minutes=2)) == nothing
    reminders = [p for _, p in await events(zc_runtime, "collaboration.reminder")]
    assert [(p["which"], p["collaboration_id"]) for p in reminders] == [("3d", cid), ("1d", cid)]
    body = (await zc_client.get(f"{API}/collaborations/{cid}", headers=c["brand"])).json()
    assert (body["status"], body["reminders_sent"], body["transitions"][-1]["actor_kind"]) == ("overdue", 3, "system")
    assert (await zc_client.get(f"{API}/creators/mia.skin/fulfilment")).json() == {"handle": "mia.skin", "on_time": 0, "total": 1, "rate_ppm": 0}

    # a late post is still taken, and counts as late
    r = await zc_client.post(f"{API}/collaborations/{cid}/content", json={"kind": "url", "ref": "https://www.xiaohongshu.com/explore/late"}, headers=c["creator"])
    assert (r.json()["status"], r.json()["on_time"]) == ("content_submitted", False)
    await zc_client.post(f"{API}/collaborations/{cid}/approve", json={"disclosure_confirmed": True}, headers=c["brand"])
    r = await zc_client.post(f"{API}/collaborations/{cid}/publish", headers=c["creator"])
    assert (r.json()["status"], r.json()["on_time"]) == ("published", False)
    assert (await zc_client.get(f"{API}/creators/mia.skin/fulfilment")).json()["rate_ppm"] == 0
    # the job completes it once the protection period ends
    protected_until = datetime.fromisoformat(r.json()["protected_until"])
    assert await run(protected_until - timedelta(minutes=1)) == nothing
    assert await run(protected_until + timedelta(minutes=1)) == {**nothing, "completed": 1}
    assert (await zc_client.get(f"{API}/collaborations/{cid}", headers=c["brand"])).json()["status"] == "completed"


async def test_a_short_deadline_gets_only_the_last_reminder(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await delivered_collaboration(zc_client, zc_make_user, zc_make_product, posting_days=1)
    deadline = datetime.fromisoformat((await zc_client.get(f"{API}/collaborations/{c['id']}", headers=c["creator"])).json()["deadline_at"])
    assert (await collabs.run_deadlines(zc_runtime, now=deadline - timedelta(hours=6)))["reminded_1d"] == 1
    assert (await collabs.run_deadlines(zc_runtime, now=deadline - timedelta(hours=5))) == {"reminded_3d": 0, "reminded_1d": 0, "overdue": 0, "completed": 0}
    assert [p["which"] for _, p in await events(zc_runtime, "collaboration.reminder")] == ["1d"]
    # on time: the submission before the deadline stops the clock
    NOTES["n-9"] = note(c["creator_id"], published=True, at=utcnow())
    await zc_client.post(f"{API}/collaborations/{c['id']}/content", json={"kind": "note", "ref": "n-9"}, headers=c["creator"])
    assert (await collabs.run_deadlines(zc_runtime, now=deadline + timedelta(days=1)))["overdue"] == 0
    r = await zc_client.post(f"{API}/collaborations/{c['id']}/approve", headers=c["brand"])
    assert (r.json()["status"], r.json()["on_time"]) == ("published", True)
    assert (await zc_client.get(f"{API}/creators/mia.skin/fulfilment")).json()["rate_ppm"] == 1_000_000


# ---------------------------------------------------------------- the demo


async def test_the_demo_seeds_mias_collaboration_once(zc_client, zc_runtime):
    from core.cli import seed
    from core.defaults.demo import DEMO_CAMPAIGN_TITLE, demo_collaboration

    await seed(zc_runtime)
    await seed(zc_runtime)  # idempotent
    brand = await api_token(zc_client, "brand@demo.zhongcao.dev", "zhongcao-demo")
    mia = await api_token(zc_client, "creator@demo.zhongcao.dev", "zhongcao-demo")
    [campaign] = [c for c in (await zc_client.get(f"{API}/campaigns", headers=brand)).json() if c["title"] == DEMO_CAMPAIGN_TITLE]
    [item] = campaign["products"]
    assert (campaign["status"], campaign["fixed_fee_minor"], campaign["recruitment"], campaign["eligibility"]) == ("open", 30_000, "open", {"tiers": ["micro", "mid"], "categories": ["beauty", "skincare"]})
    assert (item["sample_sku"], item["sample_quantity"], item["samples_left"], item["commission"]["rate_percent"], item["commission"]["new_buyer_rate_percent"]) == ("CS-CREAM-50", 10, 9, "12", "15")
    async with zc_runtime.db.read_session() as s:
        found = await demo_collaboration(s)
    body = (await zc_client.get(f"{API}/collaborations/{found.id}", headers=mia)).json()
    assert (body["status"], body["content_kind"], body["disclosure_ok"], body["on_time"]) == ("published", "url", True, True)
    assert (body["sample_order"]["status"], body["sample_order"]["tracking_number"]) == ("completed", "SF1400000001")
    assert (await zc_client.get(f"{API}/orders/{body['sample_order']['id']}", headers=mia)).json()["total_minor"] == 0
    assert [t["to_status"] for t in body["transitions"]] == ["applied", "accepted", "sample_shipped", "sample_delivered", "content_submitted", "approved", "published"]
    async with zc_runtime.db.read_session() as s:
        fees = (await s.execute(select(LedgerTransaction).where(LedgerTransaction.key == f"fixed_fee:{found.id}"))).scalars().all()
    assert len(fees) == 1
