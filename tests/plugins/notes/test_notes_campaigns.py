"""Notes and brand collaborations: the sponsored label that the author cannot take off,
a note as a collaboration's content (resolve_content) and its protection period,
buying from a note credited to its author with a commission (attribute_sale), and the
audience figures the notes plugin gives creator profiles (creator_stats)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import msgspec
import pytest
from sqlalchemy import select, update

from core.campaigns.attribution import attribute_order
from core.campaigns.collaborations import ContentInfo, note_protected_until, resolve_content
from core.campaigns.models import Attribution, Collaboration, Commission
from core.campaigns.profiles import CreatorStats, plugin_stats
from core.db import utcnow
from core.events import Event
from core.testing import api_token
from plugins.notes.hooks import handle_note_event
from plugins.notes.models import Note, NotesProfile, NoteTouch
from plugins.notes.notes import stats_of
from tests.core.attribution_helpers import checkout_and_pay, seed_collaboration, settle
from tests.core.test_api_conventions import assert_problem
from tests.core.test_campaigns import API as CORE_API
from tests.core.test_collaborations import delivered_collaboration
from tests.plugins.notes.notes_helpers import API, count, create_note


@pytest.fixture(autouse=True)
def _default_moderation(monkeypatch):
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)


async def creator_with_token(client, make_user, email: str):
    user = await make_user(email, roles=("creator",))
    return user, await api_token(client, email)


# ---------------------------------------------------------------- disclosure


async def test_a_collaborators_note_is_labelled_sponsored_and_the_label_stays(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=16800)
    tent = await zc_make_product("north-trail", price=59900)
    mia, auth = await creator_with_token(zc_client, zc_make_user, "mia-s@example.com")
    seeded = await seed_collaboration(zc_runtime, creator_id=mia.id, variants=[cream], status="accepted")

    # tagging the brand she collaborates with labels the note, with the brand
    note = await create_note(zc_client, auth, title="修护霜", tags=[{"variant_id": cream.id}], publish=True)
    assert (note["sponsored"], note["sponsored_label"], [b["id"] for b in note["sponsors"]]) == (True, {"zh-CN": "广告", "en": "Sponsored"}, [seeded.brand_id])
    assert (await zc_client.get(f"{API}/{note['id']}")).json()["sponsored"] is True  # readers see it
    # she cannot take it off: refused, and nothing changes
    refused = assert_problem(await zc_client.patch(f"{API}/{note['id']}", json={"sponsored": False, "title": "不是广告"}, headers=auth), 422)
    assert refused["fields"] == {"sponsored": "required"} and refused["brand_ids"] == [seeded.brand_id] and "Camellia" in refused["detail"]
    got = (await zc_client.get(f"{API}/{note['id']}", headers=auth)).json()
    assert (got["title"], got["sponsored"], got["version"]) == ("修护霜", True, 1)
    assert_problem(await post_sponsored_false(zc_client, auth, cream.id), 422)

    # another brand she has no collaboration with: no label; the label follows the tags
    plain = await create_note(zc_client, auth, title="帐篷", tags=[{"variant_id": tent.id}], publish=True)
    assert (plain["sponsored"], plain["sponsors"]) == (False, [])
    r = await zc_client.put(f"{API}/{plain['id']}/tags", json={"tags": [{"variant_id": tent.id}, {"variant_id": cream.id}]}, headers=auth)
    assert (r.json()["sponsored"], [b["id"] for b in r.json()["sponsors"]]) == (True, [seeded.brand_id])
    r = await zc_client.put(f"{API}/{plain['id']}/tags", json={"tags": [{"variant_id": tent.id}]}, headers=auth)
    assert (r.json()["sponsored"], r.json()["sponsors"]) == (False, [])
    # an author may label a note of her own accord, and take her own label off again
    r = await zc_client.patch(f"{API}/{plain['id']}", json={"sponsored": True}, headers=auth)
    assert (r.json()["sponsored"], r.json()["sponsors"]) == (True, [])
    r = await zc_client.put(f"{API}/{plain['id']}/tags", json={"tags": []}, headers=auth)
    assert r.json()["sponsored"] is True  # a tag change keeps a declared label
    assert (await zc_client.patch(f"{API}/{plain['id']}", json={"sponsored": False}, headers=auth)).json()["sponsored"] is False

    # a declined or cancelled collaboration labels nothing
    async with zc_runtime.db.session() as s:
        await s.execute(update(Collaboration).where(Collaboration.id == seeded.collaboration_id).values(status="cancelled"))
        await s.commit()
    assert (await create_note(zc_client, auth, title="取消后", tags=[{"variant_id": cream.id}], publish=True))["sponsored"] is False


async def post_sponsored_false(client, auth, variant_id):
    from tests.plugins.notes.notes_helpers import post_note

    return await post_note(client, auth, {"title": "x", "tags": [{"variant_id": variant_id}], "sponsored": False, "publish": True})


async def test_a_collaboration_that_starts_later_labels_the_notes_already_written(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=16800)
    mia, auth = await creator_with_token(zc_client, zc_make_user, "mia-later@example.com")
    note = await create_note(zc_client, auth, title="先写的", tags=[{"variant_id": cream.id}], publish=True)
    assert note["sponsored"] is False
    seeded = await seed_collaboration(zc_runtime, creator_id=mia.id, variants=[cream], status="accepted")
    event = Event(id=str(uuid.uuid4()), type="collaboration.accepted", payload={"creator_user_id": mia.id, "brand_id": seeded.brand_id, "collaboration_id": seeded.collaboration_id}, occurred_at=utcnow())
    await handle_note_event(event, zc_runtime)
    await handle_note_event(event, zc_runtime)  # redelivered: the same result
    got = (await zc_client.get(f"{API}/{note['id']}")).json()
    assert (got["sponsored"], [b["id"] for b in got["sponsors"]], got["version"]) == (True, [seeded.brand_id], 2)


# ---------------------------------------------------------------- content and protection


async def test_a_note_is_a_collaborations_content_and_is_protected_while_the_campaign_says(zc_client, zc_runtime, zc_make_user, zc_make_product):
    c = await delivered_collaboration(zc_client, zc_make_user, zc_make_product)  # glow-lab, creator mia.skin
    mia = c["creator"]
    # a note without the brand's product carries no label
    bare = await create_note(zc_client, mia, title="没有标注", publish=True)
    assert (await resolve_content(zc_runtime, "note", str(bare["id"]))).sponsored_label is False

    # the note that tags the seeded product is labelled by itself, and resolves
    note = await create_note(zc_client, mia, title="夜间修护七天记录", body="#护肤", tags=[{"variant_id": c["variant"].id}], publish=True)
    assert note["sponsored"] is True
    info = await resolve_content(zc_runtime, "note", str(note["id"]))
    assert info == ContentInfo(
        url=f"http://127.0.0.1:8000/notes/{note['id']}", author_user_id=c["creator_id"], title="夜间修护七天记录", sponsored_label=True, published=True,
        published_at=info.published_at, engagement=0,
    ) and info.published_at is not None
    for ref in ("hook-note", "0", str(note["id"] + 1000), "１２"):
        assert await resolve_content(zc_runtime, "note", ref) is None
    assert await resolve_content(zc_runtime, "url", str(note["id"])) is None
    r = await zc_client.post(f"{CORE_API}/collaborations/{c['id']}/content", json={"kind": "note", "ref": str(note["id"])}, headers=mia)
    assert (r.json()["status"], r.json()["disclosure_ok"]) == ("content_submitted", True), r.text
    r = await zc_client.post(f"{CORE_API}/collaborations/{c['id']}/approve", headers=c["brand"])
    assert r.json()["status"] == "published", r.text  # the note is live: published at once, and protected

    async with zc_runtime.db.read_session() as s:
        until = await note_protected_until(s, str(note["id"]))
    assert until is not None and until > utcnow() + timedelta(days=29)
    got = (await zc_client.get(f"{API}/{note['id']}", headers=mia)).json()
    assert got["protected_until"] is not None
    # while protected: no deleting, no making it private; ordinary edits are fine
    refused = assert_problem(await zc_client.delete(f"{API}/{note['id']}", headers=mia), 409)
    assert refused["protected_until"] and "protected" in refused["detail"]
    assert_problem(await zc_client.patch(f"{API}/{note['id']}", json={"visibility": "private"}, headers=mia), 409)
    assert_problem(await zc_client.patch(f"{API}/{note['id']}", json={"sponsored": False}, headers=mia), 422)
    assert (await zc_client.patch(f"{API}/{note['id']}", json={"body": "#护肤 第八天"}, headers=mia)).status_code == 200
    # the collaboration's note keeps its label even without the brand's product
    r = await zc_client.put(f"{API}/{note['id']}/tags", json={"tags": []}, headers=mia)
    assert (r.json()["sponsored"], [b["slug"] for b in r.json()["sponsors"]], r.json()["products"]) == (True, ["glow-lab"], [])
    assert_problem(await zc_client.patch(f"{API}/{note['id']}", json={"sponsored": False}, headers=mia), 422)
    async with zc_runtime.db.read_session() as s:
        row = await s.get(Note, note["id"])
        assert (row.status, row.visibility) == ("published", "public")

    # the protection ends: the author may delete it; it no longer resolves
    async with zc_runtime.db.session() as s:
        await s.execute(update(Collaboration).where(Collaboration.id == c["id"]).values(protected_until=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert (await zc_client.delete(f"{API}/{note['id']}", headers=mia)).status_code == 204
    assert await resolve_content(zc_runtime, "note", str(note["id"])) is None


# ---------------------------------------------------------------- buying from a note


async def test_a_purchase_from_a_note_is_credited_to_its_author_with_a_commission(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=10_000, stock=20)
    balm = await zc_make_product("camellia", price=2_000, stock=20)
    other = await zc_make_product("camellia", price=3_000, stock=20)
    mia, auth = await creator_with_token(zc_client, zc_make_user, "mia-buy@example.com")
    seeded = await seed_collaboration(zc_runtime, creator_id=mia.id, variants=[cream, balm], rate_ppm=100_000)  # 10%
    note = await create_note(zc_client, auth, title="修护霜和润唇膏", tags=[{"variant_id": cream.id}, {"variant_id": balm.id}], publish=True)

    # a guest adds two jars from the note: a new cart, and a visitor cookie for the touch
    r = await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": cream.id, "quantity": 2})
    assert r.status_code == 200, r.text
    cart = r.json()
    visitor = zc_client.cookies.get("zc_vid")
    assert visitor and [(ln["variant_id"], ln["quantity"]) for g in cart["groups"] for ln in g["lines"]] == [(cream.id, 2)]
    # the same cart again (buy now = this, then checkout); then an untagged product straight from the catalogue
    r = await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": balm.id, "quantity": 1, "cart_token": cart["token"]})
    assert r.json()["token"] == cart["token"] and zc_client.cookies.get("zc_vid") == visitor
    r = await zc_client.post(f"/api/v1/carts/{cart['token']}/lines", json={"variant_id": other.id, "quantity": 1})
    assert r.status_code == 200
    # refused: a product the note does not tag, a cart that is not yours, a bad visitor id, a note you cannot read
    assert_problem(await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": other.id, "quantity": 1}), 422)
    assert_problem(await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": cream.id, "cart_token": str(uuid.uuid4())}), 404)
    assert_problem(await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": cream.id, "visitor_id": "nope"}), 422)
    assert_problem(await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": cream.id, "quantity": "2"}), 400)
    draft = await create_note(zc_client, auth, title="草稿", tags=[{"variant_id": cream.id}])
    assert_problem(await zc_client.post(f"{API}/{draft['id']}/cart-lines", json={"variant_id": cream.id}), 404)
    assert await count(zc_runtime, NoteTouch) == 2

    paid = await checkout_and_pay(zc_client, cart["token"], email="guest@example.com")
    order_id = paid["orders"][0]["id"]
    await attribute_order(zc_runtime, order_id)
    await settle(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        rows = (await s.execute(select(Attribution).where(Attribution.order_id == order_id).order_by(Attribution.order_line_id))).scalars().all()
        commissions = (await s.execute(select(Commission).where(Commission.order_id == order_id).order_by(Commission.order_line_id))).scalars().all()
    # the two lines bought from the note are Mia's; the product she did not tag is nobody's
    assert [(a.creator_user_id, a.source, a.ref, a.collaboration_id, a.blocked_reason) for a in rows] == [
        (mia.id, "note", str(note["id"]), seeded.collaboration_id, None), (mia.id, "note", str(note["id"]), seeded.collaboration_id, None),
    ]
    assert [(c.base_minor, c.rate_ppm, c.amount_minor, c.status) for c in commissions] == [(20_000, 100_000, 2_000, "pending"), (2_000, 100_000, 200, "pending")]

    # a signed-in shopper: the touch is theirs by user id (no cart token, no cookie needed)
    zc_client.cookies.clear()
    lin = await zc_make_user("lin-buy@example.com")
    lin_auth = await api_token(zc_client, lin.email)
    r = await zc_client.post(f"{API}/{note['id']}/cart-lines", json={"variant_id": cream.id}, headers=lin_auth)
    assert r.status_code == 200, r.text
    zc_client.cookies.clear()  # checking out from another device: no visitor cookie
    paid = await checkout_and_pay(zc_client, r.json()["token"], headers=lin_auth, email=lin.email)
    await attribute_order(zc_runtime, paid["orders"][0]["id"])
    async with zc_runtime.db.read_session() as s:
        [attr] = (await s.execute(select(Attribution).where(Attribution.order_id == paid["orders"][0]["id"]))).scalars().all()
        [commission] = (await s.execute(select(Commission).where(Commission.order_id == paid["orders"][0]["id"]))).scalars().all()
    assert (attr.creator_user_id, attr.source, attr.ref, commission.amount_minor) == (mia.id, "note", str(note["id"]), 1_000)

    # a touch older than the campaign's attribution window (30 days) earns nothing
    async with zc_runtime.db.session() as s:
        await s.execute(update(NoteTouch).values(created_at=utcnow() - timedelta(days=31)))
        await s.commit()
    zc_client.cookies.clear()
    r = await zc_client.post("/api/v1/carts", json={}, headers=lin_auth)
    await zc_client.post(f"/api/v1/carts/{r.json()['token']}/lines", json={"variant_id": cream.id, "quantity": 1}, headers=lin_auth)
    paid = await checkout_and_pay(zc_client, r.json()["token"], headers=lin_auth, email=lin.email)
    await attribute_order(zc_runtime, paid["orders"][0]["id"])
    assert await count(zc_runtime, Attribution, Attribution.order_id == paid["orders"][0]["id"]) == 0


async def test_attribute_sale_proposes_the_first_and_last_touch_of_each_note(zc_runtime, zc_make_user, zc_make_product):
    from core.campaigns.attribution import SaleContext, SaleLine
    from plugins.notes.notes import sale_candidates

    cream = await zc_make_product("camellia", price=10_000)
    author = await zc_make_user("author-touch@example.com")
    buyer = await zc_make_user("buyer-touch@example.com")
    now = utcnow()
    async with zc_runtime.db.session() as s:
        note = Note(author_user_id=author.id, kind="image", title="t", body="", status="published", visibility="public", published_at=now)
        s.add(note)
        await s.flush()
        for days in (5, 3, 1):
            s.add(NoteTouch(note_id=note.id, variant_id=cream.id, user_id=buyer.id, created_at=now - timedelta(days=days)))
        s.add(NoteTouch(note_id=note.id, variant_id=cream.id, visitor_id="v-other", created_at=now - timedelta(days=2)))  # someone else
        s.add(NoteTouch(note_id=note.id, variant_id=cream.id, user_id=buyer.id, created_at=now + timedelta(hours=1)))  # after the payment
        await s.commit()
    order = SaleContext(
        order_id=1, order_number="N1", brand_id=1, checkout_id=1, user_id=buyer.id, email="b@example.com", currency="CNY", paid_at=now, codes=(), visitor_id=None,
        lines=(SaleLine(order_line_id=1, variant_id=cream.id, product_id=cream.product_id, quantity=1, paid_minor=10_000),),
    )
    got = await sale_candidates(zc_runtime, order)
    assert [(c.creator_user_id, c.source, c.ref, c.variant_ids, c.priority, round((now - c.touched_at).total_seconds() / 86400)) for c in got] == [
        (author.id, "note", str(note.id), (cream.id,), 50, 5), (author.id, "note", str(note.id), (cream.id,), 50, 1),
    ]
    assert await sale_candidates(zc_runtime, msgspec.structs.replace(order, user_id=None)) == []  # a guest without a visitor id
    by_visitor = await sale_candidates(zc_runtime, msgspec.structs.replace(order, user_id=None, visitor_id="v-other"))
    assert [round((now - c.touched_at).total_seconds() / 86400) for c in by_visitor] == [2]  # one touch: first and last are the same


# ---------------------------------------------------------------- creator stats


async def test_creator_stats_come_from_followers_and_recent_notes(zc_client, zc_runtime, zc_make_user):
    mia = await zc_make_user("mia-stats@example.com", roles=("creator",))
    assert await stats_of(zc_runtime, mia.id) is None  # no notes profile: nothing to say
    now = utcnow()
    async with zc_runtime.db.session() as s:
        s.add(NotesProfile(user_id=mia.id, handle="mia.stats", bio="", follower_count=4_000))
        for i, (likes, collects, status) in enumerate([(100, 20, "published"), (50, 31, "published"), (9_999, 0, "draft"), (7, 0, "published")]):
            s.add(Note(author_user_id=mia.id, kind="image", title=f"n{i}", body="", status=status, visibility="public",
                       published_at=now - timedelta(hours=i) if status == "published" else None, like_count=likes, collect_count=collects, comment_count=1_000))
        await s.commit()
    stats = await stats_of(zc_runtime, mia.id)
    # (120 + 81 + 7) / 3 = 69.33 -> 69; 69 / 4000 = 17250 ppm; comments and drafts do not count
    assert stats == CreatorStats(followers=4_000, avg_engagement=69, engagement_rate_ppm=17_250)
    assert await plugin_stats(zc_runtime, mia.id) == ("notes", stats)
    # the creator profile shows them as computed by the notes plugin
    auth = await api_token(zc_client, mia.email)
    r = await zc_client.put(f"{CORE_API}/me/creator-profile", json={"handle": "mia.stats", "categories": ["skincare"]}, headers=auth)
    card = r.json()["profile"]
    assert (card["followers"], card["avg_engagement"], card["engagement_rate_ppm"], card["stats_source"], card["tier"]) == (4_000, 69, 17_250, "notes", "koc")
