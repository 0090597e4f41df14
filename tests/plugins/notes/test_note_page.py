"""The note page over HTTP, as a browser uses it: reading (carousel, linked topics and
mentions, the sponsored label, the product sheet), buying from the note (the touch that
credits the author), like / collect / comment / reply / follow / share forms with CSRF,
who may read what, text that stays text, friendly errors, the page vanishing with the
plugin, and a query count that does not grow with the page."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from html import unescape
from typing import Any

import pytest
from litestar.exceptions import NoRouteMatchFoundException
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from core.campaigns.attribution import attribute_order
from core.campaigns.models import Attribution
from core.catalog.models import Product, Variant, VariantPrice
from core.inventory import service as inventory
from core.orders.models import Cart, CartLine, Order
from core.testing import ADDRESS, api_token, csrf, html_login, post_form
from plugins.notes.models import (
    Board,
    Collect,
    Comment,
    CommentLike,
    Follow,
    Like,
    NoteTouch,
    Share,
)
from plugins.notes.pages_note import TRANSLATIONS
from tests.core.attribution_helpers import seed_collaboration, settle
from tests.plugins.notes.notes_helpers import count, create_note

API = "/api/v1/notes"
EN = {"accept-language": "en"}


@pytest.fixture(autouse=True)
def _defaults(monkeypatch):
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)
    monkeypatch.setenv("ZHONGCAO_NOTES_LIVE_SECONDS", "0")  # counters read afresh: deterministic pages and query counts


# ---------------------------------------------------------------- helpers


async def author_and_note(client: Any, make_user: Any, make_product: Any, **note: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Mia (a creator) and her published note tagging a cream; Jun is mentioned in it."""
    mia = await make_user(f"mia-{uuid.uuid4().hex[:6]}@example.com", roles=("creator",))
    jun = await make_user(f"jun-{uuid.uuid4().hex[:6]}@example.com")
    mia_auth, jun_auth = await api_token(client, mia.email), await api_token(client, jun.email)
    assert (await client.get(f"{API}/me/profile", headers=jun_auth)).status_code == 200  # Jun's profile: a handle to mention
    cream = await make_product("camellia", price=16_800, stock=5, title="修护面霜 Repair Cream")
    note.setdefault("body", f"三步搞定 #护肤 #Skincare\n谢谢 @u{jun.id} 推荐")
    note.setdefault("tags", [{"variant_id": cream.id}])
    note.setdefault("publish", True)
    made = await create_note(client, mia_auth, images=note.pop("images", 2), title=note.pop("title", "夜间修护"), **note)
    client.cookies.clear()  # the API calls set no session; start as a fresh browser
    return mia, made, {"cream": cream, "jun": jun, "mia_auth": mia_auth}


async def sign_in(client: Any, user: Any) -> None:
    client.cookies.clear()
    await html_login(client, user.email)
    client.cookies.set("zc_lang", "en")


async def page(client: Any, note_id: int, status: int = 200, **params: Any) -> str:
    r = await client.get(f"/notes/{note_id}", params=params, headers={**EN, "accept": "text/html"})
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def section(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"(.*?)</section>', html, re.DOTALL)
    assert found, testid
    return found.group(1)


def counter(html: str, name: str) -> int:
    return int(re.search(rf'data-count="{name}">(\d+)<', html).group(1))


def shown(html: str, testid: str) -> bool:
    """Whether the form holding `testid` is visible (not `hidden`)."""
    found = re.search(rf'<(form|details)([^>]*)>(?:(?!</\1>).)*?data-testid="{testid}"', html, re.DOTALL)
    assert found, testid
    return " hidden" not in found.group(2)


BACKGROUND = ("search_queue", "search_alias", "outbox", "job_")  # the relay and the search indexer poll meanwhile


@contextmanager
def selects():
    """The SELECTs a page sends (the background pollers' excepted)."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not any(t in statement for t in BACKGROUND):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", before)  # the app's engine lives on the test client's loop
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", before)


# ---------------------------------------------------------------- reading


async def test_the_page_shows_the_note_its_links_label_and_products(zc_client, zc_runtime, zc_make_user, zc_make_product):
    mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product, sponsored=True)
    html = await page(zc_client, note["id"])
    assert 'data-testid="note-page"' in html
    # the carousel: every image, with alt text, the first eager and the others lazy; dots to each
    images = re.findall(r"<img [^>]*data-testid=\"note-image\"[^>]*>", html, re.DOTALL)
    assert len(images) == 2 and all(re.search(r'alt="[^"]+"', i) for i in images)
    assert "loading=" not in images[0] and 'loading="lazy"' in images[1]
    assert all("/media/notes/" in i for i in images) and "srcset=" in images[0]
    assert html.count('href="#note-slide-') == 2 and 'id="note-slide-2"' in html
    # title, body with linked topics and the mention, the sponsored label
    assert re.search(r'data-testid="note-title">夜间修护</h1>', html)
    assert 'href="/feed/topics/%E6%8A%A4%E8%82%A4"' in html and ">#护肤</a>" in html  # the topic's channel (feed plugin)
    assert 'href="/feed/topics/skincare"' in html and ">#Skincare</a>" in html
    jun = made["jun"]
    assert f'href="/notes/people/u{jun.id}" data-testid="mention-link">@u{jun.id}</a>' in html
    assert 'data-testid="sponsored-label"' in html and "Sponsored" in html
    # the author, linked, and a follow button
    author = re.search(r'data-testid="note-author"(.*?)</header>', html, re.DOTALL).group(1)
    assert f'href="/notes/people/u{mia.id}"' in author and mia.display_name in author and 'data-testid="follow-button"' in author
    # the tagged product with its price, and both ways to buy
    sheet = section(html, "product-sheet")
    assert "修护面霜 Repair Cream" in sheet and "¥168.00" in sheet and "Camellia" in sheet
    assert f'action="/notes/{note["id"]}/cart"' in sheet and 'value="cart"' in sheet and 'value="checkout"' in sheet
    assert f'name="variant_id" value="{made["cream"].id}"' in sheet
    # counts, slots' places, the page's own assets; a guest is offered to log in
    assert counter(html, "likes") == 0 and counter(html, "comments") == 0
    assert "/notes/static/note.js" in html and "/notes/static/note.css" in html
    assert 'data-testid="login-to-engage"' in html and "/login?next=/notes/" in html
    assert (await zc_client.get("/notes/static/note.js")).status_code == 200
    # the search page links its note cards here (the route is named `note_page`)
    assert zc_client.app.route_reverse("note_page", note_id=note["id"]) == f"/notes/{note['id']}"

    zh = (await zc_client.get(f"/notes/{note['id']}", headers={"accept-language": "zh-CN"})).text
    assert "广告" in zh and "加入购物车" in zh and "立即购买" in zh and "笔记中的商品" in zh


async def test_a_product_with_several_options_offers_a_choice_and_disables_sold_out_ones(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product, publish=False)
    cream = made["cream"]
    async with zc_runtime.db.session() as s:  # a second size of the same cream, sold out; a third with stock
        small = Variant(product_id=cream.product_id, sku=f"S-{uuid.uuid4().hex[:6]}", options={"size": "S"})
        large = Variant(product_id=cream.product_id, sku=f"L-{uuid.uuid4().hex[:6]}", options={"size": "L"})
        s.add_all([small, large])
        await s.flush()
        s.add_all([VariantPrice(variant_id=small.id, currency="CNY", amount_minor=9_900), VariantPrice(variant_id=large.id, currency="CNY", amount_minor=25_800)])
        location = await inventory.ensure_location(s, (await s.get(Product, cream.product_id)).brand_id)
        await inventory.receive_stock(s, variant_id=large.id, location_id=location.id, quantity=2)
        await s.commit()
        small_id, large_id = small.id, large.id
    tags = [{"variant_id": cream.id}, {"variant_id": small_id}, {"variant_id": large_id}]
    assert (await zc_client.put(f"{API}/{note['id']}/tags", json={"tags": tags}, headers=made["mia_auth"])).status_code == 200
    assert (await zc_client.post(f"{API}/{note['id']}/publish", headers=made["mia_auth"])).status_code == 200
    zc_client.cookies.clear()

    sheet = section(await page(zc_client, note["id"]), "product-sheet")
    assert sheet.count('data-testid="tagged-product"') == 1, "one entry per product"
    assert sheet.count('type="radio"') == 3 and "¥99.00" in sheet and "¥258.00" in sheet
    assert re.search(rf'value="{small_id}"[^>]*disabled', sheet), "the sold-out size cannot be chosen"
    assert re.search(rf'value="{cream.id}"[^>]*checked', sheet) and "Only 2 left" in sheet and "Sold out" in sheet
    # the last size left is chosen when the first is sold out
    async with zc_runtime.db.session() as s:
        from sqlalchemy import update

        from core.inventory.models import StockLevel

        await s.execute(update(StockLevel).where(StockLevel.variant_id == cream.id).values(available=0))
        await s.commit()
    sheet = section(await page(zc_client, note["id"]), "product-sheet")
    assert re.search(rf'value="{large_id}"[^>]*checked', sheet) and "¥258.00</b>" in sheet


async def test_a_video_note_shows_the_video_with_its_poster(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from tests.plugins.notes.notes_helpers import image_bytes, post_note

    mia = await zc_make_user("mia-video@example.com", roles=("creator",))
    auth = await api_token(zc_client, mia.email)
    r = await post_note(zc_client, auth, {"kind": "video", "title": "开箱", "video_url": "https://cdn.example.com/v.mp4", "publish": True}, images=[], poster=image_bytes(640, 360))
    assert r.status_code == 201, r.text
    html = await page(zc_client, r.json()["id"])
    video = re.search(r"<video [^>]*>", html, re.DOTALL).group(0)
    assert 'src="https://cdn.example.com/v.mp4"' in video and 'poster="/media/notes/' in video and "aria-label=" in video
    assert 'data-testid="note-carousel"' not in html and 'data-testid="note-image"' not in html


# ---------------------------------------------------------------- buying


async def test_add_to_cart_and_buy_now_put_the_line_in_the_cart_and_credit_the_author(zc_client, zc_runtime, zc_make_user, zc_make_product):
    mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product)
    cream = made["cream"]
    seeded = await seed_collaboration(zc_runtime, creator_id=mia.id, variants=[cream], rate_ppm=100_000)
    await page(zc_client, note["id"])

    added = await post_form(zc_client, f"/notes/{note['id']}/cart", {"variant_id": str(cream.id), "quantity": "2", "then": "cart"})
    assert added.status_code == 303 and added.headers["location"] == "/cart"
    visitor, cart_token = zc_client.cookies.get("zc_vid"), zc_client.cookies.get("zc_cart")
    assert visitor and cart_token, "a guest keeps the cart and the visitor id"
    now = await post_form(zc_client, f"/notes/{note['id']}/cart", {"variant_id": str(cream.id), "then": "checkout"})
    assert now.status_code == 303 and now.headers["location"] == "/checkout"
    assert zc_client.cookies.get("zc_cart") == cart_token and zc_client.cookies.get("zc_vid") == visitor, "the same cart and visitor"
    async with zc_runtime.db.read_session() as s:
        cart = (await s.execute(select(Cart).where(Cart.token == cart_token))).scalar_one()
        assert (await s.execute(select(CartLine.variant_id, CartLine.quantity).where(CartLine.cart_id == cart.id))).all() == [(cream.id, 3)]
        touches = (await s.execute(select(NoteTouch.note_id, NoteTouch.variant_id, NoteTouch.visitor_id, NoteTouch.user_id))).all()
    assert touches == [(note["id"], cream.id, visitor, None)] * 2
    assert "修护面霜" in (await zc_client.get("/cart", headers=EN)).text

    # checkout through the storefront, the sandbox card: the order is credited to Mia
    started = await post_form(zc_client, "/checkout", {**ADDRESS, "email": "guest@example.com"})
    assert started.status_code == 303, started.text
    token = started.headers["location"].rsplit("/", 1)[1]
    paid = await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4242 4242 4242 4242"})
    assert paid.status_code == 303 and paid.headers["location"].endswith("/done")
    async with zc_runtime.db.read_session() as s:
        order_id = (await s.execute(select(Order.id))).scalar_one()
    await attribute_order(zc_runtime, order_id)
    await settle(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        [credit] = (await s.execute(select(Attribution).where(Attribution.order_id == order_id))).scalars().all()
    assert (credit.creator_user_id, credit.source, credit.ref, credit.collaboration_id) == (mia.id, "note", str(note["id"]), seeded.collaboration_id)


async def test_a_signed_in_shopper_buys_into_their_own_cart(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product)
    lin = await zc_make_user("lin@example.com")
    await sign_in(zc_client, lin)
    r = await post_form(zc_client, f"/notes/{note['id']}/cart", {"variant_id": str(made["cream"].id), "then": "cart"})
    assert r.status_code == 303 and "zc_cart=" not in r.headers.get("set-cookie", "")
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(Cart.user_id))).scalars().all() == [lin.id]
        assert (await s.execute(select(NoteTouch.user_id))).scalars().all() == [lin.id]


async def test_bad_purchases_re_render_the_note_with_a_message(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product)
    other = await zc_make_product("camellia", price=100)
    path = f"/notes/{note['id']}/cart"
    for data, status, message in (
        ({"variant_id": str(other.id)}, 422, "that product is not tagged on this note"),
        ({"variant_id": "abc"}, 422, "the option must be a whole number"),
        ({"variant_id": ""}, 422, "choose an option first"),
        ({"variant_id": str(made["cream"].id), "quantity": "0"}, 422, "quantity must be between 1 and 999"),
        ({"variant_id": str(made["cream"].id), "quantity": "lots"}, 422, "quantity must be a whole number"),
    ):
        r = await post_form(zc_client, path, data)
        assert r.status_code == status, (data, r.status_code)
        assert 'data-testid="note-page"' in r.text and message in unescape(section(r.text, "product-sheet")), data
    assert await count(zc_runtime, NoteTouch) == 0 and await count(zc_runtime, CartLine) == 0
    zh = await zc_client.post(path, data={"variant_id": str(other.id), "_csrf_token": csrf(zc_client)}, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 422 and "这篇笔记没有标记该商品" in zh.text
    assert (await post_form(zc_client, "/notes/999999/cart", {"variant_id": str(made["cream"].id)})).status_code == 404


# ---------------------------------------------------------------- engagement


async def test_like_collect_follow_and_share_round_trips_and_double_posts(zc_client, zc_runtime, zc_make_user, zc_make_product):
    mia, note, _ = await author_and_note(zc_client, zc_make_user, zc_make_product)
    lin = await zc_make_user("lin@example.com")
    nid = note["id"]

    # a guest is sent to log in, and comes back to the note
    await page(zc_client, nid)
    for action in ("like", "collect", "follow", "comments", "share"):
        r = await post_form(zc_client, f"/notes/{nid}/{action}", {"body": "hi"})
        assert r.status_code == 303 and r.headers["location"] == f"/login?next=/notes/{nid}", action
    json_guest = await post_form(zc_client, f"/notes/{nid}/like", headers={"accept": "application/json"})
    assert json_guest.status_code == 401
    assert await count(zc_runtime, Like) == 0

    await sign_in(zc_client, lin)
    for _ in range(2):  # a double click likes once
        r = await post_form(zc_client, f"/notes/{nid}/like")
        assert r.status_code == 303 and r.headers["location"] == f"/notes/{nid}#actions"
    html = await page(zc_client, nid)
    assert counter(html, "likes") == 1 and shown(html, "unlike-button") and not shown(html, "like-button")
    assert await count(zc_runtime, Like) == 1
    for _ in range(2):
        await post_form(zc_client, f"/notes/{nid}/unlike")
    assert counter(await page(zc_client, nid), "likes") == 0

    # collect: into a new board by name, then moved into another of mine; uncollect twice
    for _ in range(2):
        r = await post_form(zc_client, f"/notes/{nid}/collect", {"board_id": "", "board_name": "护肤清单"})
        assert r.status_code == 303 and r.headers["location"] == f"/notes/{nid}#actions"
    async with zc_runtime.db.read_session() as s:
        board = (await s.execute(select(Board).where(Board.owner_user_id == lin.id))).scalar_one()
    html = await page(zc_client, nid)
    assert counter(html, "collects") == 1 and shown(html, "uncollect-button") and not shown(html, "collect-button")
    assert f'<option value="{board.id}"' in html and "护肤清单" in html
    r = await post_form(zc_client, f"/notes/{nid}/collect", {"board_id": ""})  # the default board
    assert r.status_code == 303
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(Board.name).join(Collect, Collect.board_id == Board.id))).scalars().all() == ["Saved"]
    for _ in range(2):
        await post_form(zc_client, f"/notes/{nid}/uncollect")
    assert await count(zc_runtime, Collect) == 0 and counter(await page(zc_client, nid), "collects") == 0

    # follow the author (twice is once), unfollow
    for _ in range(2):
        r = await post_form(zc_client, f"/notes/{nid}/follow")
        assert r.status_code == 303 and r.headers["location"] == f"/notes/{nid}#author"
    html = await page(zc_client, nid)
    assert shown(html, "unfollow-button") and not shown(html, "follow-button")
    assert await count(zc_runtime, Follow, Follow.followee_user_id == mia.id) == 1
    await post_form(zc_client, f"/notes/{nid}/unfollow")
    assert await count(zc_runtime, Follow) == 0

    # share: counted once for a double click; the link is on the page to copy
    for _ in range(2):
        r = await post_form(zc_client, f"/notes/{nid}/share")
        assert r.status_code == 303 and r.headers["location"].endswith("#share") and "notice=" in r.headers["location"]
    assert await count(zc_runtime, Share) == 1
    html = (await zc_client.get(r.headers["location"], headers=EN)).text
    assert "Thanks for sharing!" in html and 'value="http' in section(html, "note-actions") and f'/notes/{nid}"' in html

    # note.js asks for JSON: the new state, no redirect
    r = await post_form(zc_client, f"/notes/{nid}/like", headers={"accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"liked": True, "like_count": 1}
    r = await post_form(zc_client, f"/notes/{nid}/collect", {"board_name": "护肤清单"}, headers={"accept": "application/json"})
    assert r.json() == {"collected": True, "board_id": board.id, "collect_count": 1}
    r = await post_form(zc_client, f"/notes/{nid}/follow", headers={"accept": "application/json"})
    assert r.json()["following"] is True and r.json()["follower_count"] == 1


async def test_comments_replies_likes_and_deleting(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, note, _ = await author_and_note(zc_client, zc_make_user, zc_make_product)
    lin, kai = await zc_make_user("lin@example.com"), await zc_make_user("kai@example.com")
    nid = note["id"]
    await sign_in(zc_client, lin)
    r = await post_form(zc_client, f"/notes/{nid}/comments", {"body": "求链接！"})
    assert r.status_code == 303
    async with zc_runtime.db.read_session() as s:
        first = (await s.execute(select(Comment))).scalar_one()
    assert r.headers["location"] == f"/notes/{nid}#c{first.id}"

    await sign_in(zc_client, kai)
    r = await post_form(zc_client, f"/notes/{nid}/comments", {"body": "同问", "parent_id": str(first.id)})
    assert r.status_code == 303
    for _ in range(2):  # liking a comment twice is once
        assert (await post_form(zc_client, f"/notes/{nid}/comments/{first.id}/like")).headers["location"] == f"/notes/{nid}#c{first.id}"
    html = await page(zc_client, nid)
    comments = section(html, "comments")
    assert "求链接！" in comments and "同问" in comments and counter(html, "comments") == 2
    assert comments.index("求链接！") < comments.index("同问"), "the reply sits under its comment"
    assert counter(html, f"clike-{first.id}") == 1 and shown(html, "comment-unlike")
    assert comments.count('data-testid="comment-delete"') == 1, "kai may delete only his own reply"
    await post_form(zc_client, f"/notes/{nid}/comments/{first.id}/unlike")
    assert await count(zc_runtime, CommentLike) == 0

    # kai cannot delete lin's comment: nothing changes, a friendly message
    refused = await post_form(zc_client, f"/notes/{nid}/comments/{first.id}/delete")
    assert refused.status_code == 422 and 'data-testid="comment-error"' in refused.text
    # lin deletes hers (its reply goes with it); deleting again changes nothing
    await sign_in(zc_client, lin)
    for _ in range(2):
        r = await post_form(zc_client, f"/notes/{nid}/comments/{first.id}/delete")
        assert r.status_code == 303 and r.headers["location"].endswith("#comments")
    html = await page(zc_client, nid)
    assert "求链接！" not in html and counter(html, "comments") == 0 and 'data-testid="no-comments"' in html

    # many replies: the first three show, then a link opens the whole thread
    r = await post_form(zc_client, f"/notes/{nid}/comments", {"body": "top"})
    top_id = int(r.headers["location"].rsplit("#c", 1)[1])
    for i in range(5):
        await post_form(zc_client, f"/notes/{nid}/comments", {"body": f"reply {i}", "parent_id": str(top_id)})
    html = await page(zc_client, nid)
    assert "reply 2" in html and "reply 3" not in html and "Show all 5 replies" in html
    assert "reply 4" in await page(zc_client, nid, thread=top_id)

    # a long discussion pages on, 20 top-level comments at a time
    async with zc_runtime.db.session() as s:
        s.add_all([Comment(note_id=nid, author_user_id=kai.id, body=f"old {i:02d}", status="visible", like_count=0, reply_count=0) for i in range(20)])
        await s.commit()
    first_page = await page(zc_client, nid)
    assert first_page.count('data-testid="comment"') == 20 and 'data-testid="older-comments"' in first_page
    older = re.search(r'href="([^"]+)" rel="next" data-testid="older-comments"', first_page).group(1).replace("&amp;", "&")
    second_page = (await zc_client.get(older, headers=EN)).text
    assert "top" in section(second_page, "comments") and 'rel="prev"' in second_page and 'data-testid="older-comments"' not in second_page


async def test_bad_engagement_input_gives_a_friendly_page(zc_client, zc_runtime, zc_make_user, zc_make_product):
    mia, note, _ = await author_and_note(zc_client, zc_make_user, zc_make_product)
    lin, kai = await zc_make_user("lin@example.com"), await zc_make_user("kai@example.com")
    async with zc_runtime.db.session() as s:
        kais = Board(owner_user_id=kai.id, name="kai's", private=True)
        s.add(kais)
        await s.commit()
    nid = note["id"]
    await sign_in(zc_client, lin)
    empty = await post_form(zc_client, f"/notes/{nid}/comments", {"body": "   "})
    assert empty.status_code == 422 and "comment: 1-1000 characters" in section(empty.text, "comments")
    for board in (str(kais.id), "999999", "x"):  # another user's board is unknown, like a missing one
        r = await post_form(zc_client, f"/notes/{nid}/collect", {"board_id": board})
        assert r.status_code == 422 and "no such board" in section(r.text, "note-actions"), board
    reply = await post_form(zc_client, f"/notes/{nid}/comments", {"body": "hi", "parent_id": "424242"})
    assert reply.status_code == 422 and "no such comment" in reply.text
    long_board = await post_form(zc_client, f"/notes/{nid}/collect", {"board_name": "x" * 41})
    assert long_board.status_code == 422 and 'value="' + "x" * 41 + '"' in long_board.text, "the form keeps what was typed"
    await sign_in(zc_client, mia)
    self_follow = await post_form(zc_client, f"/notes/{nid}/follow")
    assert self_follow.status_code == 422
    assert await count(zc_runtime, Comment) == 0 and await count(zc_runtime, Collect) == 0 and await count(zc_runtime, Follow) == 0
    zc_client.cookies.delete("zc_lang")
    zh = await zc_client.post(f"/notes/{nid}/comments", data={"body": "", "_csrf_token": csrf(zc_client)}, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 422 and "评论：1-1000 个字符，不含控制字符" in zh.text


# ---------------------------------------------------------------- who may read, what renders


async def test_a_private_or_draft_note_is_404_for_others_and_shown_to_its_author(zc_client, zc_runtime, zc_make_user, zc_make_product):
    mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product, visibility="private")
    draft = await create_note(zc_client, made["mia_auth"], title="草稿", publish=False)
    zc_client.cookies.clear()
    lin = await zc_make_user("lin@example.com")
    for nid in (note["id"], draft["id"], 999_999):
        html = await page(zc_client, nid, 404)
        assert 'data-testid="error-page"' in html
    await sign_in(zc_client, lin)
    await page(zc_client, note["id"], 404)
    assert (await post_form(zc_client, f"/notes/{note['id']}/like")).status_code == 404
    assert (await post_form(zc_client, f"/notes/{note['id']}/comments", {"body": "hi"})).status_code == 404
    assert await count(zc_runtime, Like) == 0

    await sign_in(zc_client, mia)
    html = await page(zc_client, note["id"])
    assert 'data-testid="note-status"' in html and "Only you can see this note." in html
    assert (await post_form(zc_client, f"/notes/{note['id']}/like")).status_code == 303, "its author may like her own private note"
    html = await page(zc_client, draft["id"])
    assert "Draft" in re.search(r'data-testid="note-status"(.*?)</p>', html, re.DOTALL).group(1)
    assert 'data-testid="like-button"' not in html, "a draft cannot be engaged with"


async def test_script_in_a_body_or_comment_renders_as_text(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, note, _ = await author_and_note(zc_client, zc_make_user, zc_make_product, body='<script>alert("note")</script> #护肤 <img src=x onerror=alert(1)>')
    lin = await zc_make_user("lin@example.com")
    await sign_in(zc_client, lin)
    await post_form(zc_client, f"/notes/{note['id']}/comments", {"body": "<script>alert('comment')</script>"})
    html = await page(zc_client, note["id"])
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;note&#34;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(&#39;comment&#39;)&lt;/script&gt;" in html


async def test_posts_without_the_csrf_token_are_refused(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, note, made = await author_and_note(zc_client, zc_make_user, zc_make_product)
    lin = await zc_make_user("lin@example.com")
    await sign_in(zc_client, lin)
    for path, data in (("like", {}), ("comments", {"body": "hi"}), ("cart", {"variant_id": str(made["cream"].id)}), ("follow", {})):
        r = await zc_client.post(f"/notes/{note['id']}/{path}", data=data, follow_redirects=False)
        assert r.status_code == 403, path
    assert await count(zc_runtime, Like) == 0 and await count(zc_runtime, Comment) == 0 and await count(zc_runtime, NoteTouch) == 0


@pytest.mark.parametrize("zc_settings", ["feed"], indirect=True)
async def test_without_the_feed_plugin_a_topic_links_to_the_notes_search(zc_client, zc_make_user, zc_make_product):
    _mia, note, _made = await author_and_note(zc_client, zc_make_user, zc_make_product)
    html = await page(zc_client, note["id"])
    assert 'href="/search?tab=notes&amp;topics=%E6%8A%A4%E8%82%A4"' in html and ">#护肤</a>" in html
    assert "/feed/topics/" not in html


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_with_the_notes_plugin_disabled_the_page_is_gone(zc_client, zc_runtime):
    r = await zc_client.get("/notes/1", headers={"accept": "text/html"})
    assert r.status_code == 404
    assert (await zc_client.get("/notes/static/note.js")).status_code == 404
    with pytest.raises(NoRouteMatchFoundException):  # the search page's note links vanish with the route
        zc_client.app.route_reverse("note_page", note_id=1)


# ---------------------------------------------------------------- speed


async def test_queries_do_not_grow_with_comments_or_images(zc_client, zc_runtime, zc_make_user, zc_make_product):
    _mia, small, made = await author_and_note(zc_client, zc_make_user, zc_make_product, images=1)
    big = await create_note(zc_client, made["mia_auth"], images=6, title="很多图", body="#护肤", tags=[{"variant_id": made["cream"].id}], publish=True)
    zc_client.cookies.clear()
    lin = await zc_make_user("lin@example.com")
    await sign_in(zc_client, lin)
    await post_form(zc_client, f"/notes/{small['id']}/comments", {"body": "one"})
    for i in range(12):
        r = await post_form(zc_client, f"/notes/{big['id']}/comments", {"body": f"c{i}"})
        top = r.headers["location"].rsplit("#c", 1)[1]
        await post_form(zc_client, f"/notes/{big['id']}/comments", {"body": f"r{i}", "parent_id": top})
    await post_form(zc_client, f"/notes/{big['id']}/like")
    await post_form(zc_client, f"/notes/{big['id']}/comments/{top}/like")

    measured = {}
    for name, nid in (("small", small["id"]), ("big", big["id"])):
        await page(zc_client, nid)  # builds the note's read model
        with selects() as seen:
            html = await page(zc_client, nid)
        measured[name] = len(seen)
    assert html.count('data-testid="comment"') == 24 and html.count('data-testid="note-image"') == 6
    assert measured["big"] == measured["small"], measured
    # the viewer (3), the note's live row, stock, liked, collected, following, boards, the
    # note check, comments, their replies, comment likes, their authors, the top bar's notices
    assert measured["big"] <= 15, measured


def test_every_string_has_a_chinese_translation():
    """Each `_("...")` of the page's templates is in the module's zh-CN catalog."""
    from pathlib import Path

    import plugins.notes as pkg

    folder = Path(pkg.__file__).parent / "templates" / "notes"
    used = set()
    for path in [folder / "note.html", *folder.glob("_note_*.html")]:
        used |= set(re.findall(r"""_\(\s*["']([^"']+)["']""", path.read_text()))
    missing = sorted(s for s in used if s not in TRANSLATIONS["zh-CN"])
    assert not missing, missing
